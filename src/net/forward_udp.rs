//! UDP on the pod's ::1, forwarded in user space to the guest's IPv4
//! address. UDP has no connections, so the forwarder keeps flows: one per
//! client peer (its address and port on ::1), each with its own upstream
//! socket (bound to the pod-loopback address, with the guest mark, connected
//! to the guest's port), so the guest's replies go back to the peer that
//! asked. A flow ends after [`IDLE_TIMEOUT`] without a datagram either way;
//! at most [`MAX_FLOWS`] exist per port, and datagrams of new peers past
//! that are dropped.
//!
//! The flow table ([`FlowTable`]) is pure (time is passed in) and tested on
//! its own; the sockets and tasks around it are thin.

use std::collections::HashMap;
use std::hash::Hash;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::net::destroyed;
use crate::net::nft::GUEST_MARK;

/// How long a flow lives without a datagram in either direction.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many flows (client peers) one forwarded port keeps at most.
pub const MAX_FLOWS: usize = 1024;

/// The largest UDP payload a datagram can carry; the receive buffers hold
/// it whole, so nothing is truncated (what the guest's IPv4 cannot carry
/// fails at send and is dropped).
const MAX_DATAGRAM: usize = 65_536;

/// The bounds of a forwarder's flow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A flow without a datagram for this long is closed.
    pub idle: Duration,
    /// At most this many flows at once.
    pub max_flows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle: IDLE_TIMEOUT,
            max_flows: MAX_FLOWS,
        }
    }
}

/// What the table says about a client's datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<'a, F> {
    /// The peer has a flow (now touched): relay through it.
    Existing(&'a F),
    /// The peer has none and there is room: open one and [`FlowTable::insert`] it.
    Room,
    /// The peer has none and the table is full (even after expiring idle
    /// flows): drop the datagram.
    Full,
}

/// Flows keyed by client peer, each with the time of its last datagram.
/// Generic over the flow's payload so that the logic is tested without
/// sockets. Dropping an entry drops its payload (which closes its socket and
/// stops its task).
#[derive(Debug)]
pub struct FlowTable<K, F> {
    limits: Limits,
    flows: HashMap<K, (F, Instant)>,
}

impl<K: Eq + Hash + Copy, F> FlowTable<K, F> {
    /// An empty table.
    pub fn new(limits: Limits) -> Self {
        FlowTable {
            limits,
            flows: HashMap::new(),
        }
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether there are no flows.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// A datagram from `peer` at `now`: touches its flow, or tells whether a
    /// new one fits (expiring idle flows first when the table is full).
    pub fn admit(&mut self, peer: K, now: Instant) -> Admission<'_, F> {
        if !self.flows.contains_key(&peer) && self.flows.len() >= self.limits.max_flows {
            self.expire(now);
        }
        let room = self.flows.len() < self.limits.max_flows;
        match self.flows.get_mut(&peer) {
            Some((flow, last)) => {
                *last = now;
                Admission::Existing(flow)
            }
            None if room => Admission::Room,
            None => Admission::Full,
        }
    }

    /// Adds the flow of `peer` (after [`Admission::Room`]); returns it back
    /// if the table is full or the peer already has one.
    pub fn insert(&mut self, peer: K, flow: F, now: Instant) -> Result<(), F> {
        if self.flows.len() >= self.limits.max_flows || self.flows.contains_key(&peer) {
            return Err(flow);
        }
        self.flows.insert(peer, (flow, now));
        Ok(())
    }

    /// A datagram for `peer` from the guest at `now` keeps its flow alive.
    pub fn touch(&mut self, peer: &K, now: Instant) {
        if let Some((_, last)) = self.flows.get_mut(peer) {
            *last = now;
        }
    }

    /// Removes (and returns) the flows idle for at least the idle timeout
    /// at `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<(K, F)> {
        let idle = self.limits.idle;
        let gone: Vec<K> = self
            .flows
            .iter()
            .filter(|(_, (_, last))| now.saturating_duration_since(*last) >= idle)
            .map(|(peer, _)| *peer)
            .collect();
        gone.into_iter()
            .filter_map(|peer| self.flows.remove(&peer).map(|(flow, _)| (peer, flow)))
            .collect()
    }
}

/// A flow's upstream socket and the task relaying the guest's replies
/// (aborted when the flow is dropped).
#[derive(Debug)]
struct Flow {
    upstream: Arc<UdpSocket>,
    replies: JoinHandle<()>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.replies.abort();
    }
}

type Table = Arc<Mutex<FlowTable<SocketAddr, Flow>>>;

/// Serves one bound [::1] socket: relays each peer's datagrams to `target`
/// through its flow and the replies back, until the task is aborted (which
/// drops the table, so every flow's socket and task with it).
pub async fn serve(listener: UdpSocket, target: SocketAddrV4, source: Ipv4Addr, limits: Limits) {
    let listener = Arc::new(listener);
    let table: Table = Arc::new(Mutex::new(FlowTable::new(limits)));
    let _closer = CloseOnDrop(table.clone());
    let mut sweep = tokio::time::interval(sweep_period(limits.idle));
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            received = listener.recv_from(&mut buf) => {
                match received {
                    Ok((len, peer)) => {
                        relay_up(&table, &listener, &buf[..len], peer, target, source).await;
                    }
                    Err(e) if destroyed::datagram_socket_destroyed(&e) => return,
                    Err(_) => {}
                }
            }
            _ = sweep.tick() => {
                drop(lock(&table).expire(Instant::now()));
            }
        }
    }
}

/// How often idle flows are looked for: a flow lives between the idle
/// timeout and 1.5 times it.
fn sweep_period(idle: Duration) -> Duration {
    (idle / 2).max(Duration::from_millis(10))
}

/// Empties the table when the serving task ends (the reply tasks hold the
/// table too, so dropping the serving task's handle alone would not).
struct CloseOnDrop(Table);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let flows = std::mem::replace(&mut *lock(&self.0), FlowTable::new(Limits::default()));
        drop(flows);
    }
}

fn lock(table: &Table) -> std::sync::MutexGuard<'_, FlowTable<SocketAddr, Flow>> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends a client's datagram through its flow, opening the flow if there is
/// room; drops it otherwise or when the guest's side cannot take it.
async fn relay_up(
    table: &Table,
    listener: &Arc<UdpSocket>,
    datagram: &[u8],
    peer: SocketAddr,
    target: SocketAddrV4,
    source: Ipv4Addr,
) {
    let now = Instant::now();
    let upstream = {
        let mut flows = lock(table);
        match flows.admit(peer, now) {
            Admission::Existing(flow) => Some(flow.upstream.clone()),
            Admission::Full => return,
            Admission::Room => None,
        }
    };
    let upstream = match upstream {
        Some(u) => u,
        None => {
            let Ok(socket) = upstream_socket(target, source) else {
                return;
            };
            let upstream = Arc::new(socket);
            let replies = tokio::spawn(relay_down(
                upstream.clone(),
                listener.clone(),
                peer,
                table.clone(),
            ));
            let flow = Flow {
                upstream: upstream.clone(),
                replies,
            };
            if lock(table).insert(peer, flow, now).is_err() {
                return;
            }
            upstream
        }
    };
    // An ICMP error from the guest (port unreachable) is reported once, at
    // the next operation on the connected socket, and costs that send: retry
    // once.
    if let Err(e) = upstream.send(datagram).await {
        if e.kind() == ErrorKind::ConnectionRefused {
            let _ = upstream.send(datagram).await;
        }
    }
}

/// Relays the guest's replies on one flow back to its peer, keeping the
/// flow alive; runs until the flow is dropped (which aborts it).
async fn relay_down(
    upstream: Arc<UdpSocket>,
    listener: Arc<UdpSocket>,
    peer: SocketAddr,
    table: Table,
) {
    loop {
        // Allocated per datagram (capacity only, not zeroed), so that idle
        // flows hold no buffer.
        let mut buf = Vec::with_capacity(MAX_DATAGRAM);
        match upstream.recv_buf(&mut buf).await {
            Ok(_) => {
                lock(&table).touch(&peer, Instant::now());
                let _ = listener.send_to(&buf, peer).await;
            }
            // The guest's ICMP error on an earlier datagram.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(_) => return,
        }
    }
}

/// A UDP socket to the guest's port with the guest mark, from the
/// pod-loopback address.
fn upstream_socket(target: SocketAddrV4, source: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_mark(GUEST_MARK)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect(&SocketAddr::V4(target).into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        idle: Duration::from_secs(10),
        max_flows: 2,
    };

    fn secs(start: Instant, s: u64) -> Instant {
        start + Duration::from_secs(s)
    }

    #[test]
    fn a_new_peer_gets_room_and_then_its_flow() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(LIMITS);
        assert_eq!(table.admit(1, t0), Admission::Room);
        table.insert(1, "a", t0).unwrap();
        assert_eq!(table.admit(1, t0), Admission::Existing(&"a"));
        assert_eq!(table.insert(1, "again", t0), Err("again"));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_flow_expires_after_the_idle_timeout_and_not_before() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(LIMITS);
        table.insert(1, "a", t0).unwrap();
        assert!(table.expire(secs(t0, 9)).is_empty());
        assert_eq!(table.expire(secs(t0, 10)), vec![(1, "a")]);
        assert!(table.is_empty());
        assert_eq!(table.admit(1, secs(t0, 11)), Admission::Room);
    }

    #[test]
    fn datagrams_either_way_keep_a_flow_alive() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(LIMITS);
        table.insert(1, "from the client", t0).unwrap();
        table.insert(2, "answered by the guest", t0).unwrap();
        assert_eq!(
            table.admit(1, secs(t0, 8)),
            Admission::Existing(&"from the client")
        );
        table.touch(&2, secs(t0, 8));
        assert!(table.expire(secs(t0, 17)).is_empty());
        let mut gone = table.expire(secs(t0, 18));
        gone.sort();
        assert_eq!(
            gone,
            vec![(1, "from the client"), (2, "answered by the guest")]
        );
        table.touch(&3, secs(t0, 18));
        assert!(table.is_empty(), "touching an unknown peer adds nothing");
    }

    #[test]
    fn past_the_bound_new_peers_are_refused_but_known_ones_are_served() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(LIMITS);
        table.insert(1, "a", t0).unwrap();
        table.insert(2, "b", t0).unwrap();
        assert_eq!(table.admit(3, secs(t0, 1)), Admission::Full);
        assert_eq!(table.insert(3, "c", secs(t0, 1)), Err("c"));
        assert_eq!(table.admit(1, secs(t0, 5)), Admission::Existing(&"a"));
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn a_full_table_makes_room_by_expiring_idle_flows() {
        let t0 = Instant::now();
        let mut table = FlowTable::new(LIMITS);
        table.insert(1, "a", t0).unwrap();
        table.insert(2, "b", secs(t0, 5)).unwrap();
        assert_eq!(table.admit(3, secs(t0, 10)), Admission::Room);
        assert_eq!(table.len(), 1, "only the idle flow went");
        table.insert(3, "c", secs(t0, 10)).unwrap();
        assert_eq!(table.admit(4, secs(t0, 12)), Admission::Full);
    }

    /// A stand-in for the guest on 127.0.0.1: answers each datagram with
    /// the source port it came from.
    async fn port_echo() -> (SocketAddrV4, JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let SocketAddr::V4(addr) = socket.local_addr().unwrap() else {
            unreachable!("bound on IPv4")
        };
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            while let Ok((_, from)) = socket.recv_from(&mut buf).await {
                let _ = socket.send_to(&from.port().to_be_bytes(), from).await;
            }
        });
        (addr, task)
    }

    /// Sends `datagram` from `client` and returns the upstream source port
    /// the stand-in saw.
    async fn upstream_port(client: &UdpSocket, datagram: &[u8]) -> u16 {
        client.send(datagram).await.unwrap();
        let mut reply = [0u8; 2];
        assert_eq!(client.recv(&mut reply).await.unwrap(), 2);
        u16::from_be_bytes(reply)
    }

    /// A forwarder on [::1] to a fresh stand-in, and a client for it.
    struct Rig {
        front: SocketAddr,
        tasks: [JoinHandle<()>; 2],
    }

    impl Rig {
        async fn start(limits: Limits) -> Rig {
            let (guest, echo) = port_echo().await;
            let listener = UdpSocket::bind("[::1]:0").await.unwrap();
            let front = listener.local_addr().unwrap();
            let forwarder = tokio::spawn(serve(listener, guest, Ipv4Addr::LOCALHOST, limits));
            Rig {
                front,
                tasks: [forwarder, echo],
            }
        }

        async fn client(&self) -> UdpSocket {
            let c = UdpSocket::bind("[::1]:0").await.unwrap();
            c.connect(self.front).await.unwrap();
            c
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            self.tasks.iter().for_each(JoinHandle::abort);
        }
    }

    /// Over real sockets on the host's loopback (needs CAP_NET_ADMIN for
    /// the mark, as every forwarder does): replies reach the right peer,
    /// each peer keeps its own upstream socket, and a datagram IPv4 cannot
    /// carry does not disturb the flow.
    #[tokio::test]
    async fn relays_both_ways_with_a_flow_per_peer() {
        let rig = Rig::start(Limits::default()).await;
        let (a, b) = (rig.client().await, rig.client().await);
        let port_a = upstream_port(&a, b"query").await;
        assert_eq!(upstream_port(&a, b"").await, port_a, "the flow is kept");
        assert_ne!(upstream_port(&b, b"query").await, port_a, "a flow per peer");
        a.send(&vec![0u8; 65_527]).await.unwrap();
        assert_eq!(upstream_port(&a, b"after").await, port_a, "still served");
    }

    /// With a short idle timeout, a client that pauses longer gets a new
    /// flow (a new upstream socket): the old one was closed.
    #[tokio::test]
    async fn an_idle_flow_is_replaced() {
        let idle = Duration::from_millis(50);
        let rig = Rig::start(Limits { idle, max_flows: 8 }).await;
        let a = rig.client().await;
        let first = upstream_port(&a, b"query").await;
        let mut replaced = false;
        for _ in 0..100 {
            tokio::time::sleep(idle * 4).await;
            if upstream_port(&a, b"later").await != first {
                replaced = true;
                break;
            }
        }
        assert!(replaced, "an idle flow is closed and a new one opened");
    }

    #[test]
    fn the_sweep_runs_at_half_the_idle_timeout() {
        assert_eq!(sweep_period(IDLE_TIMEOUT), Duration::from_secs(30));
        assert_eq!(sweep_period(Duration::ZERO), Duration::from_millis(10));
    }
}
