//! Asking the pod's nameservers, as glibc's `res_send` does: each in order,
//! `attempts` rounds, `timeout` per try, on to the next one on silence,
//! SERVFAIL, NOTIMP or REFUSED; over UDP, and again over TCP when the
//! answer comes back truncated.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::net::{TcpStream, UdpSocket};

use super::framing::{read_frame, write_frame};

/// Largest datagram read from an upstream.
const UDP_BUFFER: usize = u16::MAX as usize;

/// Where and how long to ask.
#[derive(Clone, Debug)]
pub(super) struct Upstreams {
    /// The nameservers, in order.
    pub(super) servers: Vec<SocketAddr>,
    /// Per-try timeout.
    pub(super) timeout: Duration,
    /// Rounds over the servers.
    pub(super) attempts: u32,
}

impl Upstreams {
    /// The first answer that is not a failure; else the last failure
    /// (SERVFAIL, NOTIMP, REFUSED) any server gave; `None` when none
    /// answered at all.
    pub(super) async fn exchange(&self, query: &Message) -> Option<Message> {
        let wire = query.to_vec().ok()?;
        let mut failure = None;
        for _ in 0..self.attempts {
            for server in &self.servers {
                let Ok(answer) = self.ask(*server, query, &wire).await else {
                    continue;
                };
                match answer.response_code {
                    ResponseCode::ServFail | ResponseCode::NotImp | ResponseCode::Refused => {
                        failure = Some(answer)
                    }
                    _ => return Some(answer),
                }
            }
        }
        failure
    }

    /// One try at one server: UDP, then TCP if the answer was truncated.
    async fn ask(&self, server: SocketAddr, query: &Message, wire: &[u8]) -> io::Result<Message> {
        let answer = self.bounded(ask_udp(server, query, wire)).await?;
        if !answer.metadata.truncation {
            return Ok(answer);
        }
        self.bounded(ask_tcp(server, query, wire)).await
    }

    async fn bounded(
        &self,
        work: impl std::future::Future<Output = io::Result<Message>>,
    ) -> io::Result<Message> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
}

/// Sends over UDP from a fresh socket and waits for the matching answer;
/// anything else arriving on the socket is ignored.
async fn ask_udp(server: SocketAddr, query: &Message, wire: &[u8]) -> io::Result<Message> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any).await?;
    socket.connect(server).await?;
    socket.send(wire).await?;
    let mut buffer = vec![0u8; UDP_BUFFER];
    loop {
        let length = socket.recv(&mut buffer).await?;
        if let Some(answer) = matching(query, &buffer[..length]) {
            return Ok(answer);
        }
    }
}

/// Sends over a fresh TCP connection and reads the matching answer.
async fn ask_tcp(server: SocketAddr, query: &Message, wire: &[u8]) -> io::Result<Message> {
    let mut stream = TcpStream::connect(server).await?;
    write_frame(&mut stream, wire).await?;
    loop {
        let frame = read_frame(&mut stream)
            .await?
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        if let Some(answer) = matching(query, &frame) {
            return Ok(answer);
        }
    }
}

/// The answer in `bytes` if it answers `query`: same id, a response, the
/// same question.
fn matching(query: &Message, bytes: &[u8]) -> Option<Message> {
    let answer = Message::from_vec(bytes).ok()?;
    let same = answer.metadata.id == query.metadata.id
        && answer.metadata.message_type == MessageType::Response
        && answer.queries == query.queries;
    same.then_some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::{Name, RecordType};

    #[test]
    fn only_the_answer_to_the_query_matches() {
        let mut query = Message::query();
        query.add_query(Query::query(
            Name::from_ascii("a.example.").unwrap(),
            RecordType::A,
        ));
        let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
        answer.add_query(Query::query(
            Name::from_ascii("A.Example.").unwrap(),
            RecordType::A,
        ));
        assert!(matching(&query, &answer.to_vec().unwrap()).is_some());

        let mut other_id = answer.clone();
        other_id.metadata.id = query.metadata.id.wrapping_add(1);
        assert!(matching(&query, &other_id.to_vec().unwrap()).is_none());

        let mut other_type = answer.clone();
        other_type.queries[0].set_query_type(RecordType::AAAA);
        assert!(matching(&query, &other_type.to_vec().unwrap()).is_none());

        assert!(matching(&query, &query.to_vec().unwrap()).is_none());
        assert!(matching(&query, b"junk").is_none());
    }
}
