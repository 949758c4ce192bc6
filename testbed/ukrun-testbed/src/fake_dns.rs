//! A fake upstream nameserver for the DNS relay's tests and benchmarks, in
//! process (no root): UDP and TCP on one loopback port, answering like a
//! cluster DNS (an A record for [`SERVICE`], or the A and AAAA records of a
//! zone it is given; a TXT record too big for UDP for [`BIG`], NXDOMAIN for
//! the rest) or SERVFAIL to everything, recording the names it was asked
//! for, and holding every answer while its gate is closed. Its tasks run on
//! the tokio runtime it was started in and end with it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

/// The name the fake cluster DNS knows, and its address.
pub const SERVICE: &str = "kubernetes.default.svc.cluster.local.";
/// The address of [`SERVICE`].
pub const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);
/// A name whose TXT record does not fit in any UDP answer the relay sends.
pub const BIG: &str = "big.example.";
/// The pod's search list as kubelet writes it for the default namespace.
pub const SEARCH: [&str; 3] = [
    "default.svc.cluster.local",
    "svc.cluster.local",
    "cluster.local",
];

/// What a fake upstream does with queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answers like a cluster DNS.
    Answer,
    /// SERVFAIL to everything.
    ServFail,
}

/// A running fake nameserver.
pub struct Upstream {
    /// Where it listens, UDP and TCP.
    pub addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
    gate: watch::Sender<bool>,
}

impl Upstream {
    /// Starts answering on a free port of `ip` (a loopback address), on the
    /// current tokio runtime. Panics outside a runtime or when no port is
    /// free for both UDP and TCP.
    pub fn start(ip: Ipv4Addr, mode: Mode) -> Upstream {
        Self::serve(bind_pair(ip), mode, &[(SERVICE, IpAddr::V4(SERVICE_IP))])
    }

    /// Starts answering with the records of `zone` (absolute names, any
    /// case) instead of [`SERVICE`]'s on `addr` (port 53 for glibc's
    /// resolver), on the current tokio runtime: a known name without a
    /// record of the asked type is NODATA. Panics when `addr` is taken.
    pub fn start_zone(addr: SocketAddr, zone: &[(&str, IpAddr)]) -> Upstream {
        let pair = bind_exact(addr).unwrap_or_else(|e| panic!("binding {addr}: {e}"));
        Self::serve(pair, Mode::Answer, zone)
    }

    fn serve(
        (udp, tcp): (std::net::UdpSocket, std::net::TcpListener),
        mode: Mode,
        zone: &[(&str, IpAddr)],
    ) -> Upstream {
        let addr = udp.local_addr().unwrap();
        let udp = Arc::new(UdpSocket::from_std(udp).unwrap());
        let tcp = TcpListener::from_std(tcp).unwrap();
        let (gate, open) = watch::channel(true);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let zone = zone
            .iter()
            .map(|(name, ip)| {
                (
                    format!("{}.", name.trim_end_matches('.')).to_lowercase(),
                    *ip,
                )
            })
            .collect();
        let fake = Fake {
            mode,
            zone: Arc::new(zone),
            asked: asked.clone(),
            open,
        };
        tokio::spawn(fake.clone().udp(udp));
        tokio::spawn(fake.tcp(tcp));
        Upstream { addr, asked, gate }
    }

    /// The names asked so far (lower case, absolute), in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    /// The names asked so far, forgetting them (long runs stay small).
    pub fn take_asked(&self) -> Vec<String> {
        std::mem::take(&mut *self.asked.lock().unwrap())
    }

    /// Holds (false) or releases (true) every answer.
    pub fn gate(&self, open: bool) {
        self.gate.send_replace(open);
    }
}

/// What each of a fake upstream's answering tasks needs.
#[derive(Clone)]
struct Fake {
    mode: Mode,
    /// Absolute lower-case names and their addresses.
    zone: Arc<Vec<(String, IpAddr)>>,
    asked: Arc<Mutex<Vec<String>>>,
    open: watch::Receiver<bool>,
}

impl Fake {
    async fn udp(self, socket: Arc<UdpSocket>) {
        let mut buffer = vec![0u8; 65535];
        while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
            let Ok(query) = Message::from_vec(&buffer[..length]) else {
                continue;
            };
            let (fake, socket) = (self.clone(), socket.clone());
            tokio::spawn(async move {
                let answer = fake.answer(&query).await;
                let limit = answer.max_payload().into();
                let mut bytes = answer.to_vec().unwrap();
                if bytes.len() > limit {
                    bytes = answer.truncate().to_vec().unwrap();
                }
                let _ = socket.send_to(&bytes, peer).await;
            });
        }
    }

    async fn tcp(self, listener: TcpListener) {
        while let Ok((mut stream, _)) = listener.accept().await {
            let fake = self.clone();
            tokio::spawn(async move {
                while let Some(query) = read_message(&mut stream).await {
                    let answer = fake.answer(&query).await;
                    write_message(&mut stream, &answer).await;
                }
            });
        }
    }

    async fn answer(&self, query: &Message) -> Message {
        let _ = self.open.clone().wait_for(|open| *open).await;
        let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
        answer.metadata.recursion_available = true;
        answer.queries = query.queries.clone();
        answer.edns = query.edns.clone();
        let question = &query.queries[0];
        let name = question.name().to_lowercase().to_ascii();
        self.asked.lock().unwrap().push(name.clone());
        let owner = question.name().clone();
        let kind = question.query_type();
        let known: Vec<IpAddr> = self
            .zone
            .iter()
            .filter(|(known, _)| *known == name)
            .map(|(_, ip)| *ip)
            .collect();
        answer.metadata.response_code = match (self.mode, name.as_str(), kind) {
            (Mode::ServFail, _, _) => ResponseCode::ServFail,
            (_, BIG, RecordType::TXT) => {
                let strings = vec!["t".repeat(255); 12];
                answer.add_answer(Record::from_rdata(owner, 30, RData::TXT(TXT::new(strings))));
                ResponseCode::NoError
            }
            (_, BIG, _) => ResponseCode::NoError,
            _ if !known.is_empty() => {
                for ip in known {
                    let data = match (ip, kind) {
                        (IpAddr::V4(v4), RecordType::A) => RData::A(A(v4)),
                        (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(v6)),
                        _ => continue,
                    };
                    answer.add_answer(Record::from_rdata(owner.clone(), 30, data));
                }
                ResponseCode::NoError
            }
            _ => ResponseCode::NXDomain,
        };
        answer
    }
}

/// UDP and TCP sockets on one free port of `ip`, non-blocking.
fn bind_pair(ip: Ipv4Addr) -> (std::net::UdpSocket, std::net::TcpListener) {
    for _ in 0..16 {
        if let Ok(pair) = bind_exact((ip, 0).into()) {
            return pair;
        }
    }
    panic!("no port free for both UDP and TCP on {ip}");
}

/// UDP and TCP sockets on `addr` (port 0: the port UDP picked), non-blocking.
fn bind_exact(addr: SocketAddr) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let udp = std::net::UdpSocket::bind(addr)?;
    let tcp = std::net::TcpListener::bind(udp.local_addr()?)?;
    udp.set_nonblocking(true)?;
    tcp.set_nonblocking(true)?;
    Ok((udp, tcp))
}

/// A recursive query for `name` (made absolute) of type `kind`, with EDNS
/// advertising `edns` bytes when given.
pub fn query(id: u16, name: &str, kind: RecordType, edns: Option<u16>) -> Message {
    let mut query = Message::query();
    query.metadata.id = id;
    query.metadata.recursion_desired = true;
    // On the wire every name is absolute.
    let mut name = Name::from_ascii(name).unwrap();
    name.set_fqdn(true);
    query.add_query(Query::query(name, kind));
    query.edns = edns.map(|size| {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        edns
    });
    query
}

/// The next DNS-over-TCP message on `stream`; `None` at its end or on
/// anything that does not parse.
pub async fn read_message(stream: &mut TcpStream) -> Option<Message> {
    let length = stream.read_u16().await.ok()?;
    let mut bytes = vec![0u8; length.into()];
    stream.read_exact(&mut bytes).await.ok()?;
    Message::from_vec(&bytes).ok()
}

/// Writes `message` as one DNS-over-TCP frame. Panics on a write error.
pub async fn write_message(stream: &mut TcpStream, message: &Message) {
    write_frame(stream, &message.to_vec().unwrap()).await;
}

/// Writes `bytes` behind their two-byte length. Panics on a write error.
pub async fn write_frame(stream: &mut TcpStream, bytes: &[u8]) {
    let mut frame = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(bytes);
    stream.write_all(&frame).await.unwrap();
}
