//! Fuzz target for the DNS relay's packet handling, driven as the guest
//! drives it: every datagram and TCP stream a guest sends is hostile, and
//! so is, for robustness, every answer of the upstream (a fake one on
//! loopback whose answers each case chooses). Properties: nothing panics
//! (a panic hook counts panics in the relay's tasks too); every reply the
//! relay sends is a DNS response to the query it answers (its id and
//! question) that fits the transport's limit; and after every hostile
//! input the relay still answers the next query. Loopback only, every wait
//! bounded. Short run in `cargo test`; `PROPTEST_CASES=N` for a long one
//! (docs/fuzzing.md).

mod fuzz_support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use fuzz_support::{config, hostile_bytes, hostile_text, hostile_value, spliced};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use proptest::prelude::*;
use ukrun::net::dns_relay::{Relay, RelayConfig};

/// Bound on every wait for the relay.
const WAIT: Duration = Duration::from_secs(5);
/// Largest UDP answer the relay offers (its EDNS payload size).
const EDNS_PAYLOAD: usize = 1232;
/// A name the relay answers from the pod's hosts file, without upstream.
const HOSTS_NAME: &str = "mypod.";

/// How the fake upstream answers the next query it gets.
#[derive(Clone, Debug)]
enum Upstream {
    /// These bytes, whatever was asked.
    Raw(Vec<u8>),
    /// A response to the query: its code, TC bit and records.
    Answer(u16, bool, Vec<(u8, Vec<u8>, String)>),
}

static PANICS: AtomicUsize = AtomicUsize::new(0);
static NEXT_ANSWER: Mutex<Option<Upstream>> = Mutex::new(None);

/// The relay (and its upstream) on loopback, shared by every case, with a
/// panic hook that counts panics anywhere in the process.
fn relay() -> SocketAddr {
    static RELAY: OnceLock<SocketAddr> = OnceLock::new();
    *RELAY.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info)
        }));
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || serve_upstream(upstream));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let relay = Relay::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                tx.send(relay.local_addr()).unwrap();
                relay
                    .serve(RelayConfig {
                        upstreams: vec![upstream_addr],
                        search: vec!["ns.svc.cluster.local".into(), "cluster.local".into()],
                        ndots: 2,
                        timeout: Duration::from_millis(50),
                        attempts: 1,
                        apply_search: true,
                        hosts: vec![("mypod".into(), "10.244.0.5".parse().unwrap())],
                        max_in_flight: 64,
                    })
                    .await
            })
        });
        rx.recv().unwrap()
    })
}

fn serve_upstream(socket: UdpSocket) {
    let mut buffer = vec![0u8; 65535];
    while let Ok((length, from)) = socket.recv_from(&mut buffer) {
        let Ok(query) = Message::from_vec(&buffer[..length]) else {
            continue;
        };
        let recipe = NEXT_ANSWER.lock().unwrap().clone();
        let bytes = match recipe {
            Some(Upstream::Raw(bytes)) => bytes,
            Some(Upstream::Answer(code, truncated, records)) => {
                answer(&query, code, truncated, &records)
            }
            None => continue,
        };
        let _ = socket.send_to(&bytes, from);
    }
}

fn answer(
    query: &Message,
    code: u16,
    truncated: bool,
    records: &[(u8, Vec<u8>, String)],
) -> Vec<u8> {
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.response_code = ResponseCode::from_low(code as u8 & 0xf);
    response.metadata.truncation = truncated;
    response.queries = query.queries.clone();
    let owner = query
        .queries
        .first()
        .map(|q| q.name().clone())
        .unwrap_or_default();
    for (kind, data, text) in records {
        let rdata = match kind % 4 {
            0 => RData::A(A(Ipv4Addr::new(
                10,
                0,
                0,
                data.first().copied().unwrap_or(0),
            ))),
            1 => RData::AAAA(AAAA(Ipv6Addr::new(
                0xfd00,
                0,
                0,
                0,
                0,
                0,
                0,
                data.len() as u16,
            ))),
            2 => RData::TXT(TXT::new(vec![text.clone(); data.len() % 8 + 1])),
            _ => match Name::from_utf8(text) {
                Ok(name) => RData::CNAME(CNAME(name)),
                Err(_) => continue,
            },
        };
        response.add_answer(Record::from_rdata(owner.clone(), 30, rdata));
    }
    response.to_vec().unwrap_or_default()
}

fn upstream() -> impl Strategy<Value = Upstream> {
    let record = (
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..32),
        hostile_text(6),
    );
    prop_oneof![
        hostile_bytes().prop_map(Upstream::Raw),
        (
            prop_oneof![3 => Just(0u16), 1 => 0u16..16],
            any::<bool>(),
            proptest::collection::vec(record, 0..40)
        )
            .prop_map(|(code, tc, records)| Upstream::Answer(code, tc, records)),
    ]
}

/// A query the guest may send: a name (plain, spliced or hostile), any
/// type, class, op code and EDNS size, sometimes several questions.
fn query() -> impl Strategy<Value = Message> {
    let plain = "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,3}";
    let name = prop_oneof![
        2 => plain.prop_map(|s| s),
        2 => spliced(plain.prop_map(|s| s)),
        1 => hostile_value(300),
        1 => Just(HOSTS_NAME.to_owned()),
    ];
    (
        any::<u16>(),
        prop_oneof![
            3 => (name.clone(), any::<u16>()).prop_map(|q| vec![q]),
            1 => proptest::collection::vec((name, any::<u16>()), 0..3),
        ],
        proptest::option::of(any::<u16>()),
        prop_oneof![3 => Just(0u8), 1 => 0u8..16],
        any::<bool>(),
    )
        .prop_map(|(id, questions, edns, op_code, rd)| {
            let mut message = Message::query();
            message.metadata.id = id;
            message.metadata.op_code = OpCode::from_u8(op_code);
            message.metadata.recursion_desired = rd;
            for (name, kind) in questions {
                if let Ok(name) = Name::from_utf8(&name) {
                    message.add_query(Query::query(name, RecordType::from(kind)));
                }
            }
            message.edns = edns.map(|size| {
                let mut e = Edns::new();
                e.set_max_payload(size);
                e
            });
            message
        })
}

/// What the guest sends: a query as is, a query with bytes changed or cut,
/// or hostile bytes.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => query().prop_map(|q| q.to_vec().unwrap_or_default()),
        1 => (
            query(),
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            any::<prop::sample::Index>()
        )
            .prop_map(|(q, flips, cut)| {
                let mut bytes = q.to_vec().unwrap_or_default();
                for (at, byte) in flips {
                    if !bytes.is_empty() {
                        let i = at.index(bytes.len());
                        bytes[i] ^= byte;
                    }
                }
                let keep = cut.index(bytes.len() + 1);
                bytes.truncate(keep.max(bytes.len().min(12)));
                bytes
            }),
        1 => hostile_bytes(),
    ]
}

/// The largest UDP reply `request` may get.
fn udp_limit(request: &Message) -> usize {
    request.edns.as_ref().map_or(512, |e| {
        usize::from(e.max_payload()).clamp(512, EDNS_PAYLOAD)
    })
}

/// Checks that `reply` answers `request`.
fn answers(request: &Message, reply: &[u8], limit: usize) -> Result<(), TestCaseError> {
    prop_assert!(reply.len() <= limit, "{} bytes over {limit}", reply.len());
    let reply = Message::from_vec(reply).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(reply.metadata.message_type, MessageType::Response);
    prop_assert_eq!(reply.metadata.id, request.metadata.id);
    prop_assert_eq!(&reply.queries, &request.queries);
    Ok(())
}

/// Asks the relay for the hosts name on `socket` (over UDP, id `id`) and
/// reads every reply up to the probe's answer, which must come: a reply to
/// anything else must answer `request`, and one must when it is a query.
fn still_answers(
    relay: SocketAddr,
    socket: &UdpSocket,
    id: u16,
    request: Option<&Message>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic in the relay");
    let probe = ukrun_testbed::fake_dns::query(id, HOSTS_NAME, RecordType::A, None);
    socket.send_to(&probe.to_vec().unwrap(), relay).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut buffer = vec![0u8; 65535];
    let (mut probed, mut answered) = (false, request.is_none());
    while !(probed && answered) {
        let length = socket
            .recv(&mut buffer)
            .map_err(|e| TestCaseError::fail(format!("no answer (probe {probed}): {e}")))?;
        let reply = &buffer[..length];
        if !probed && reply.get(..2) == Some(&id.to_be_bytes()[..]) {
            answers(&probe, reply, 512)?;
            probed = true;
        } else {
            let request = request.ok_or(TestCaseError::fail("a reply to what is not a query"))?;
            prop_assert!(!answered, "two replies");
            answers(request, reply, udp_limit(request))?;
            answered = true;
        }
    }
    prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic in the relay");
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn udp_datagrams_get_a_fitting_answer_or_none(bytes in datagram(), reply in upstream()) {
        let relay = relay();
        *NEXT_ANSWER.lock().unwrap() = Some(reply);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(&bytes, relay).unwrap();
        let request = Message::from_vec(&bytes).ok().filter(|m| m.metadata.message_type == MessageType::Query);
        let id = request.as_ref().map_or(0, |r| r.metadata.id.wrapping_add(1));
        still_answers(relay, &socket, id, request.as_ref())?;
    }

    #[test]
    fn tcp_streams_get_answers_in_order_or_are_closed(
        frames in proptest::collection::vec(datagram(), 1..4),
        tail in hostile_bytes(),
    ) {
        let relay = relay();
        let mut stream = TcpStream::connect(relay).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut wire = Vec::new();
        for frame in &frames {
            wire.extend_from_slice(&(frame.len() as u16).to_be_bytes());
            wire.extend_from_slice(frame);
        }
        wire.extend_from_slice(&tail);
        let _ = stream.write_all(&wire);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut replies = Vec::new();
        let _ = stream.read_to_end(&mut replies);
        let mut rest = &replies[..];
        let mut asked = frames.iter().map(|f| Message::from_vec(f));
        while let [high, low, after @ ..] = rest {
            let length = usize::from(u16::from_be_bytes([*high, *low]));
            prop_assert!(after.len() >= length, "a cut frame");
            let request = asked.next().and_then(Result::ok);
            prop_assert!(request.is_some(), "a reply to what is not a query");
            answers(&request.unwrap(), &after[..length], 65535)?;
            rest = &after[length..];
        }
        prop_assert!(rest.is_empty(), "a cut length");
        still_answers(relay, &UdpSocket::bind("127.0.0.1:0").unwrap(), 1, None)?;
    }
}
