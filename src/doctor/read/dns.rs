//! DNS probes from the calling thread's network namespace: one query over
//! UDP to a server (the relay, or one of the pod's nameservers), answered
//! or not within a second. The queries run at once, each on its own thread
//! (threads start in the namespace of the thread that spawns them), so a
//! silent server costs one second, not one per query.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};

/// How long a server may take to answer.
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// A query to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsQuery {
    /// Where to.
    pub server: SocketAddr,
    /// The name asked for (A records); `.` asks for the root's NS records,
    /// which any recursive server answers.
    pub name: String,
}

/// How a query went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsProbe {
    /// A response came back.
    Answered {
        /// Its response code (NoError, NXDomain, ServFail, …).
        rcode: String,
        /// The addresses it carries.
        addresses: Vec<IpAddr>,
    },
    /// Nothing within [`ANSWER_WAIT`].
    NoAnswer,
    /// The query could not be sent or the server refused it (ICMP).
    Failed(String),
}

impl DnsProbe {
    /// Whether a response came back, whatever it says.
    pub fn answered(&self) -> bool {
        matches!(self, DnsProbe::Answered { .. })
    }

    /// Whether the response names at least one address.
    pub fn resolved(&self) -> bool {
        matches!(self, DnsProbe::Answered { addresses, .. } if !addresses.is_empty())
    }
}

impl std::fmt::Display for DnsProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsProbe::Answered { rcode, addresses } if addresses.is_empty() => {
                write!(f, "answered {rcode}")
            }
            DnsProbe::Answered { rcode, addresses } => {
                let list: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
                write!(f, "answered {rcode}: {}", list.join(" "))
            }
            DnsProbe::NoAnswer => write!(f, "no answer within {} s", ANSWER_WAIT.as_secs()),
            DnsProbe::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// Sends every query at once; the results are in the queries' order.
pub fn ask_all(queries: &[DnsQuery]) -> Vec<DnsProbe> {
    std::thread::scope(|scope| {
        let running: Vec<_> = queries
            .iter()
            .map(|q| scope.spawn(move || ask(q)))
            .collect();
        running
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| DnsProbe::Failed("the probe panicked".into()))
            })
            .collect()
    })
}

/// The query's message, with a random id.
fn message(query: &DnsQuery) -> Result<(u16, Vec<u8>), String> {
    let (name, kind) = if query.name == "." {
        (Name::root(), RecordType::NS)
    } else {
        let mut name = Name::from_ascii(&query.name).map_err(|e| e.to_string())?;
        name.set_fqdn(true);
        (name, RecordType::A)
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // An unguessable id is not needed here: the socket is connected to the
    // server, and only its answer is looked at.
    let id = (nanos ^ std::process::id()) as u16;
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name, kind));
    let bytes = message.to_vec().map_err(|e| e.to_string())?;
    Ok((id, bytes))
}

/// The A and AAAA addresses of a response's answer section, in order.
pub fn answer_addresses(response: &Message) -> Vec<IpAddr> {
    response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

fn ask(query: &DnsQuery) -> DnsProbe {
    match try_ask(query) {
        Ok(probe) => probe,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            DnsProbe::NoAnswer
        }
        Err(e) => DnsProbe::Failed(e.to_string()),
    }
}

fn try_ask(query: &DnsQuery) -> std::io::Result<DnsProbe> {
    let (id, bytes) = message(query).map_err(std::io::Error::other)?;
    let local: SocketAddr = match query.server {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(query.server)?;
    socket.send(&bytes)?;
    let deadline = Instant::now() + ANSWER_WAIT;
    let mut buffer = vec![0u8; u16::MAX as usize];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(DnsProbe::NoAnswer);
        }
        socket.set_read_timeout(Some(left))?;
        let length = socket.recv(&mut buffer)?;
        let Ok(response) = Message::from_vec(&buffer[..length]) else {
            continue;
        };
        if response.metadata.id != id {
            continue;
        }
        return Ok(DnsProbe::Answered {
            rcode: format!("{:?}", response.metadata.response_code),
            addresses: answer_addresses(&response),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_server(answer: bool) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            let (length, peer) = socket.recv_from(&mut buffer).unwrap();
            if answer {
                let query = Message::from_vec(&buffer[..length]).unwrap();
                let mut response = query.clone();
                response.metadata.message_type = hickory_proto::op::MessageType::Response;
                response.metadata.response_code = hickory_proto::op::ResponseCode::NXDomain;
                socket.send_to(&response.to_vec().unwrap(), peer).unwrap();
            }
        });
        (addr, server)
    }

    #[test]
    fn an_answer_a_silent_server_and_a_closed_port_are_told_apart() {
        let (answering, a) = local_server(true);
        let (silent, s) = local_server(false);
        let closed = {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap()
        };
        let queries: Vec<DnsQuery> = [answering, silent, closed]
            .into_iter()
            .map(|server| DnsQuery {
                server,
                name: "kubernetes.default.svc.cluster.local".into(),
            })
            .collect();
        let probes = ask_all(&queries);
        a.join().unwrap();
        s.join().unwrap();
        assert_eq!(
            probes[0],
            DnsProbe::Answered {
                rcode: "NXDomain".into(),
                addresses: Vec::new()
            }
        );
        assert_eq!(probes[1], DnsProbe::NoAnswer);
        assert!(
            matches!(&probes[2], DnsProbe::Failed(e) if e.contains("refused")),
            "{:?}",
            probes[2]
        );
    }

    #[test]
    fn the_root_is_asked_for_its_name_servers() {
        let (_, bytes) = message(&DnsQuery {
            server: "127.0.0.1:53".parse().unwrap(),
            name: ".".into(),
        })
        .unwrap();
        let parsed = Message::from_vec(&bytes).unwrap();
        assert_eq!(parsed.queries[0].query_type(), RecordType::NS);
        assert!(parsed.queries[0].name().is_root());
    }
}
