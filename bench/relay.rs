//! Benchmark: the guest DNS relay (`ukrun::net::dns_relay`) on loopback,
//! against the test bed's fake upstream nameserver asked directly, with the
//! relay's search list off and on. No root, no namespace: the upstream
//! listens on 127.0.0.2, the relays on 127.0.0.3, the clients on 127.0.0.1.
//!
//! - Latency: one client socket asks the upstream directly, the relay with
//!   search off and the relay with search on, in turn (the order rotates),
//!   one query at a time; it prints p50/p99 of each and what the relay adds.
//!   Search off asks `kubernetes.default.svc.cluster.local`, search on asks
//!   `kubernetes`, which the relay expands on its first candidate: both are
//!   one upstream exchange per query (checked), so the difference is the
//!   relay's own work. Every thread runs on one CPU meanwhile: on these VMs
//!   waking a thread on another CPU costs tens of µs, and the relay's two
//!   extra hops would each pay it (`BENCH_LATENCY_CPUS=split` measures with
//!   the relay on a CPU of its own, as for throughput).
//! - Throughput: many clients (`BENCH_CLIENTS`, default 64, one query in
//!   flight each, below the relay's bound of 256) ask for `BENCH_SECONDS`
//!   per window, in rounds that go upstream alone, relay search off, relay
//!   search on. The relay's runtime has one thread, pinned to one CPU; the
//!   clients and the upstream run on the others. It prints the median qps
//!   against the upstream alone, and the relay thread's CPU time per query
//!   (from `/proc/self/task/TID/schedstat`), i.e. what one core sustains.
//!
//! It asserts nothing about time. Run: `cargo bench --bench relay`
//! (`BENCH_QUERIES` per target, default 20000; `BENCH_ITERS` rounds,
//! default 3; `BENCH_SECONDS`, default 2; `BENCH_CLIENTS`). Its threads stop
//! when their guards drop.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};
use nix::sched::CpuSet;
use nix::unistd::Pid;
use ukrun::net::dns_relay::{Relay, RelayConfig};
use ukrun_testbed::fake_dns::{query, Mode, Upstream, SEARCH, SERVICE, SERVICE_IP};
use ukrun_testbed::runner::{self, RuntimeThread};
use ukrun_testbed::stats::{self, Summary};
use ukrun_testbed::{bench, interrupt};

/// Where the fake upstream listens.
const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Where the relays listen.
const RELAY_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// The relay's bound on queries in flight, as the supervisor sets it.
const MAX_IN_FLIGHT: usize = 256;
/// Uncounted queries per target before the latency samples.
const WARM_UP: usize = 1000;
/// How long a client waits for an answer before counting the query lost.
const LOSS_TIMEOUT: Duration = Duration::from_millis(500);
/// Datagrams a latency client reads past stale answers before giving up.
const STALE_READS: usize = 8;
/// Enough for any answer here.
const BUFFER: usize = 1500;

fn main() -> ExitCode {
    bench::main("relay", run)
}

/// Which CPUs the threads run on: the relay's on `relay`, the clients'
/// and the upstream's on `rest`.
#[derive(Clone)]
struct Placement {
    relay: CpuSet,
    rest: CpuSet,
    label: String,
}

impl Placement {
    /// For latency: every thread on one CPU (the first this process may
    /// use), so that no wake-up crosses CPUs; or, with
    /// `BENCH_LATENCY_CPUS=split`, as for throughput.
    /// For throughput: the relay alone on the last CPU, the rest on the
    /// others (all on one when there is only one).
    fn both() -> Result<(Placement, Placement)> {
        let cpus = runner::allowed_cpus()?;
        let set = runner::cpu_set;
        let (first, last) = (cpus[0], cpus[cpus.len() - 1]);
        let one = Placement {
            relay: set(&[first])?,
            rest: set(&[first])?,
            label: format!("every thread on CPU {first}"),
        };
        if cpus.len() == 1 {
            return Ok((one.clone(), one));
        }
        let split = Placement {
            relay: set(&[last])?,
            rest: set(&cpus[..cpus.len() - 1])?,
            label: format!("relay alone on CPU {last}, clients and upstream on the others"),
        };
        let latency = match std::env::var("BENCH_LATENCY_CPUS").as_deref() {
            Err(_) | Ok("one") => one,
            Ok("split") => split.clone(),
            Ok(other) => bail!("BENCH_LATENCY_CPUS={other:?}: use one or split"),
        };
        Ok((latency, split))
    }

    /// Moves the relay's and the upstream's threads and the calling one.
    fn apply(&self, relay: &RuntimeThread, upstream: &RuntimeThread) -> Result<()> {
        runner::pin(relay.tid, &self.relay)?;
        runner::pin(upstream.tid, &self.rest)?;
        runner::pin(Pid::from_raw(0), &self.rest)
    }
}

/// The relay's configuration: the pod's as kubelet writes it for the
/// default namespace, the fake upstream as its nameserver.
fn relay_config(upstream: SocketAddr, apply_search: bool) -> RelayConfig {
    RelayConfig {
        upstreams: vec![upstream],
        search: SEARCH.iter().map(|s| s.to_string()).collect(),
        ndots: 5,
        timeout: Duration::from_secs(5),
        attempts: 2,
        apply_search,
        hosts: vec![("mypod".into(), "10.244.0.5".parse().unwrap())],
        max_in_flight: MAX_IN_FLIGHT,
    }
}

/// One way of asking: where, and the query on the wire (its id is set per
/// query).
#[derive(Clone)]
struct Target {
    label: &'static str,
    addr: SocketAddr,
    wire: Vec<u8>,
}

impl Target {
    fn new(label: &'static str, addr: SocketAddr, name: &str) -> Result<Target> {
        let wire = query(0, name, RecordType::A, None).to_vec()?;
        Ok(Target { label, addr, wire })
    }
}

/// Whether `answer` (at least a header) answers query `id` with NOERROR
/// and at least one record.
fn answers(answer: &[u8], id: u16) -> bool {
    answer.len() >= 12
        && answer[..2] == id.to_be_bytes()
        && answer[3] & 0x0f == 0
        && u16::from_be_bytes([answer[6], answer[7]]) > 0
}

/// Asks each target once and checks the answer ends in SERVICE's address
/// (through the relay with search on, after a CNAME).
fn check_targets(socket: &UdpSocket, targets: &[Target]) -> Result<()> {
    let mut buffer = [0u8; BUFFER];
    for target in targets {
        socket.send_to(&target.wire, target.addr)?;
        let (length, _) = socket
            .recv_from(&mut buffer)
            .with_context(|| format!("{}: no answer", target.label))?;
        let answer = Message::from_vec(&buffer[..length])?;
        let last = answer.answers.last().map(|r| &r.data);
        ensure!(
            matches!(last, Some(RData::A(a)) if a.0 == SERVICE_IP),
            "{}: unexpected answer {answer:?}",
            target.label
        );
    }
    Ok(())
}

/// One query and its answer, timed; `None` when it was lost.
fn timed_exchange(
    socket: &UdpSocket,
    target: &Target,
    id: u16,
    wire: &mut Vec<u8>,
    buffer: &mut [u8],
) -> Result<Option<Duration>> {
    wire.clear();
    wire.extend_from_slice(&target.wire);
    wire[..2].copy_from_slice(&id.to_be_bytes());
    let start = Instant::now();
    socket.send_to(wire, target.addr)?;
    for _ in 0..STALE_READS {
        match socket.recv_from(buffer) {
            Ok((length, from)) if from == target.addr && buffer[..2] == id.to_be_bytes() => {
                let elapsed = start.elapsed();
                ensure!(
                    answers(&buffer[..length], id),
                    "{}: the answer is not NOERROR with records",
                    target.label
                );
                return Ok(Some(elapsed));
            }
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// Round-trip times per target: `warm_up` uncounted rounds, then
/// `queries`; each round asks every target once, starting one further
/// along each time.
fn latencies(targets: &[Target], warm_up: usize, queries: usize) -> Result<Vec<Vec<Duration>>> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    socket.set_read_timeout(Some(LOSS_TIMEOUT))?;
    check_targets(&socket, targets)?;
    let mut samples = vec![Vec::with_capacity(queries); targets.len()];
    let (mut wire, mut buffer) = (Vec::new(), [0u8; BUFFER]);
    let mut lost = 0usize;
    for round in 0..warm_up + queries {
        if round % 1000 == 0 {
            interrupt::check()?;
        }
        for k in 0..targets.len() {
            let i = (round + k) % targets.len();
            let id = round as u16;
            match timed_exchange(&socket, &targets[i], id, &mut wire, &mut buffer)? {
                Some(rtt) if round >= warm_up => samples[i].push(rtt),
                Some(_) => {}
                None => lost += 1,
            }
        }
    }
    ensure!(
        lost * 100 <= queries,
        "{lost} queries lost over loopback: the machine is too busy to measure"
    );
    Ok(samples)
}

/// What one throughput window gave.
struct Window {
    answered: u64,
    lost: u64,
    elapsed: Duration,
}

impl Window {
    fn qps(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` closed-loop clients asking `target` for `length`, on a
/// current-thread runtime in this thread.
fn throughput(target: &Target, clients: usize, length: Duration) -> Result<Window> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let start = Instant::now();
        let deadline = start + length;
        let lanes: Vec<_> = (0..clients)
            .map(|lane| tokio::spawn(client_lane(target.clone(), lane, deadline)))
            .collect();
        let mut window = Window {
            answered: 0,
            lost: 0,
            elapsed: Duration::ZERO,
        };
        for lane in lanes {
            let (answered, lost) = lane.await??;
            window.answered += answered;
            window.lost += lost;
        }
        window.elapsed = start.elapsed();
        Ok(window)
    })
}

/// One client: a query, its answer, the next, until `deadline`; returns
/// (answered, lost). An answer that is not NOERROR with records is an error.
async fn client_lane(target: Target, lane: usize, deadline: Instant) -> Result<(u64, u64)> {
    let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    socket.connect(target.addr).await?;
    let mut wire = target.wire.clone();
    let mut buffer = [0u8; BUFFER];
    let (mut answered, mut lost) = (0u64, 0u64);
    // Ids differ between lanes, so a late answer never matches elsewhere.
    let mut id = (lane as u16).wrapping_mul(1009);
    while Instant::now() < deadline {
        id = id.wrapping_add(1);
        wire[..2].copy_from_slice(&id.to_be_bytes());
        socket.send(&wire).await?;
        let reply = tokio::time::timeout(LOSS_TIMEOUT, async {
            loop {
                let length = socket.recv(&mut buffer).await?;
                if buffer[..2] == id.to_be_bytes() {
                    return Ok::<_, std::io::Error>(length);
                }
            }
        })
        .await;
        match reply {
            Ok(length) => {
                let length = length?;
                ensure!(
                    answers(&buffer[..length], id),
                    "{}: an answer is not NOERROR with records (past the in-flight bound?)",
                    target.label
                );
                answered += 1;
            }
            Err(_) => lost += 1,
        }
    }
    Ok((answered, lost))
}

/// `p50 23 µs, p99 80 µs`-style figures.
fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn run() -> Result<()> {
    let queries = stats::env_count("BENCH_QUERIES", 20_000)?;
    let rounds = stats::env_count("BENCH_ITERS", 3)?;
    let seconds = stats::env_count("BENCH_SECONDS", 2)?;
    let clients = stats::env_count("BENCH_CLIENTS", 64)?;
    ensure!(
        clients <= MAX_IN_FLIGHT,
        "BENCH_CLIENTS must stay within the relay's bound of {MAX_IN_FLIGHT}"
    );
    interrupt::install()?;
    let (for_latency, for_throughput) = Placement::both()?;

    let (upstream_thread, upstream) = RuntimeThread::start("upstream", None, || {
        Ok(Upstream::start(UPSTREAM_IP, Mode::Answer))
    })?;
    let upstream_addr = upstream.addr;
    let (relay_thread, (plain, searching)) = RuntimeThread::start("relay", None, move || {
        let start = |apply_search| -> Result<SocketAddr> {
            let relay = Relay::bind((RELAY_IP, 0).into())?;
            let addr = relay.local_addr();
            tokio::spawn(relay.serve(relay_config(upstream_addr, apply_search)));
            Ok(addr)
        };
        Ok((start(false)?, start(true)?))
    })?;
    let targets = [
        Target::new("direct", upstream_addr, SERVICE)?,
        Target::new("relay search off", plain, SERVICE)?,
        Target::new("relay search on", searching, "kubernetes")?,
    ];
    eprintln!(
        "relay: upstream {upstream_addr}, relay {plain} (search off) and {searching} (search on)"
    );

    for_latency.apply(&relay_thread, &upstream_thread)?;
    eprintln!(
        "relay: latency, {queries} queries per target interleaved after {WARM_UP} warm-up each; {}",
        for_latency.label
    );
    let samples = latencies(&targets, WARM_UP, queries)?;
    let asked = upstream.take_asked();
    let sent = (WARM_UP + queries + 1) * targets.len();
    ensure!(
        asked.len() <= sent && asked.iter().all(|n| n == SERVICE),
        "the upstream should have been asked {SERVICE} once per query ({sent} at most), \
         it was asked {} names",
        asked.len()
    );
    let summaries: Vec<Summary> = samples.iter().map(|s| Summary::of(s)).collect();
    let direct = summaries[0];
    for (target, relayed) in targets.iter().zip(&summaries).skip(1) {
        println!(
            "{} added latency: p50 {:.0} µs, p99 {:.0} µs (direct p50 {:.0} µs, p99 {:.0} µs; \
             relay p50 {:.0} µs, p99 {:.0} µs; goal ≤ 50 µs p50)",
            target.label,
            micros(relayed.median) - micros(direct.median),
            micros(relayed.p99) - micros(direct.p99),
            micros(direct.median),
            micros(direct.p99),
            micros(relayed.median),
            micros(relayed.p99),
        );
    }

    let length = Duration::from_secs(u64::try_from(seconds)?);
    for_throughput.apply(&relay_thread, &upstream_thread)?;
    eprintln!(
        "relay: throughput, {rounds} rounds of {seconds} s per target, {clients} clients with one \
         query in flight each; {}",
        for_throughput.label
    );
    // qps[target], cpu[target]: relay CPU time per query
    let mut qps = vec![Vec::new(); targets.len()];
    let mut cpu = vec![Vec::new(); targets.len()];
    for round in 1..=rounds {
        for (i, target) in targets.iter().enumerate() {
            interrupt::check()?;
            let before = relay_thread.cpu_time()?;
            let window = throughput(target, clients, length)?;
            let used = relay_thread.cpu_time()?.saturating_sub(before);
            upstream.take_asked();
            if window.lost > 0 {
                eprintln!("relay: {}: {} queries lost", target.label, window.lost);
            }
            qps[i].push(window.qps());
            cpu[i].push(micros(used) / window.answered.max(1) as f64);
        }
        let line: Vec<String> = targets
            .iter()
            .zip(&qps)
            .map(|(t, q)| format!("{} {:.1}k", t.label, q[round - 1] / 1e3))
            .collect();
        eprintln!("relay: round {round}/{rounds} (qps): {}", line.join(", "));
    }
    let alone = stats::median(&qps[0]);
    for i in 1..targets.len() {
        let (through, per_query) = (stats::median(&qps[i]), stats::median(&cpu[i]));
        println!(
            "{} qps (1 core): {:.1}k (upstream alone {:.1}k, {:.2}x); relay CPU {:.1} µs per query, \
             {:.1}k qps per core (goal ≥ 20k)",
            targets[i].label,
            through / 1e3,
            alone / 1e3,
            through / alone,
            per_query,
            1e3 / per_query,
        );
    }
    drop(relay_thread);
    drop(upstream_thread);
    Ok(())
}
