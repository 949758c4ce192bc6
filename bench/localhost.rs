//! Benchmark: routed mode's localhost forwarding, a sidecar reaching the
//! guest on the pod's 127.0.0.1:PORT (nftables DNATs it to the guest in the
//! kernel, see `ukrun::net::nft`), against the same transfer without the
//! forwarding step and against user-space forwarders, measured in one run.
//!
//! The guest is the test bed's stand-in (`ukrun_testbed::standin`): ukrun's
//! routed plan applied to a pod netns, declared ports 5201 (iperf3) and
//! 7007 (echo), with the tap replaced by a veth into a "guest" netns. Every
//! client runs in the pod netns, as a sidecar would. The paths:
//!
//! - **direct**: to the pod IP from the pod-loopback address, which a
//!   benchmark-owned rule (`from 169.254.1.1 to POD_IP lookup 7547`) routes
//!   into ukrun's guest table: the same sockets and veth, no DNAT;
//! - **kernel**: to 127.0.0.1:PORT, ukrun's DNAT path;
//! - **socat**: `socat TCP-LISTEN:P,bind=127.0.0.1,fork,reuseaddr
//!   TCP:POD_IP:PORT,bind=169.254.1.1` (the bind reaches the guest as
//!   ukrun's ::1 proxy does), with the default buffer and `-b 262144`;
//! - **::1 proxy**: to [::1]:PORT, ukrun's own user-space forwarder
//!   (`ukrun::net::forward::spawn_ipv6_loopback`) running in this process.
//!
//! Measured: iperf3 throughput both ways (medians of interleaved runs); a
//! 1-byte ping-pong's round trip on one connection per path (interleaved,
//! every process on one CPU so that no wake-up crosses CPUs;
//! `BENCH_LATENCY_CPUS=any` leaves them to the scheduler), printed as what
//! each path adds to direct; and what 1000 idle connections cost:
//! conntrack entries in the pod netns for the kernel path (it has no
//! process), this process's RSS for the ::1 proxy.
//!
//! It asserts nothing about time. Run as root: `cargo bench --bench
//! localhost` (`BENCH_ITERS` rounds, default 5; `BENCH_SECONDS` per iperf3
//! run, default 3; `BENCH_ROUNDTRIPS` per path, default 20000;
//! `BENCH_IDLE` connections, default 1000). Everything it creates is owned
//! by Drop guards (also on Ctrl-C).

#[path = "localhost/echo.rs"]
mod echo;
#[path = "localhost/idle.rs"]
mod idle;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use ukrun::net::forward::spawn_ipv6_loopback;
use ukrun::net::plan::{NetworkMode, Wiring, GUEST_TABLE};
use ukrun::spec::ports::{GuestPort, Protocol};
use ukrun_testbed::netns::Netns;
use ukrun_testbed::runner::{self, RuntimeThread};
use ukrun_testbed::standin::{StandIn, POD_LOOPBACK};
use ukrun_testbed::stats::{self, Summary};
use ukrun_testbed::topology::{Shape, Topology, POD_IP};
use ukrun_testbed::{bench, interrupt, iperf};

use echo::Echo;

/// The guest's echo port (declared, so 127.0.0.1:7007 reaches it).
const ECHO_PORT: u16 = 7007;
/// Where socat (default buffer) listens for iperf3.
const SOCAT_IPERF: u16 = 5202;
/// Where socat with `-b 262144` listens for iperf3.
const SOCAT_IPERF_BIG: u16 = 5203;
/// Where socat (default buffer) listens for the echo server.
const SOCAT_ECHO: u16 = 7008;
/// Priority of the benchmark's direct-path rule (before `lookup local`,
/// which ukrun moves to 100, and ukrun's fwmark rule at 20).
const DIRECT_RULE_PRIORITY: &str = "30";
/// Uncounted round trips per path before the samples.
const WARM_UP: usize = 1000;
/// Bound on every read and connect, only so that a broken path fails.
const HANG: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    if let Some(code) = echo::main_if_asked() {
        return code;
    }
    bench::main("localhost", run)
}

/// One way from the pod netns to a guest port.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// To the pod IP from 169.254.1.1, through the benchmark's rule.
    Direct,
    /// To 127.0.0.1:PORT, DNATed by ukrun's ruleset.
    Kernel,
    /// Through socat with its default buffer.
    Socat,
    /// Through socat with `-b 262144`.
    SocatBig,
    /// To [::1]:PORT, through ukrun's user-space proxy.
    Ipv6Proxy,
}

impl Path {
    /// How the output names it.
    fn label(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Kernel => "kernel 127.0.0.1",
            Path::Socat => "socat",
            Path::SocatBig => "socat -b 262144",
            Path::Ipv6Proxy => "::1 proxy",
        }
    }

    /// Where a client connects for guest port `port` (5201 or 7007), and
    /// the local address it binds first, if any.
    fn target(self, port: u16) -> (SocketAddr, Option<SocketAddr>) {
        let pod_ip: Ipv4Addr = POD_IP.parse().unwrap();
        let loopback = |p| SocketAddr::from((Ipv4Addr::LOCALHOST, p));
        match self {
            Path::Direct => ((pod_ip, port).into(), Some((POD_LOOPBACK, 0).into())),
            Path::Kernel => (loopback(port), None),
            Path::Socat if port == ECHO_PORT => (loopback(SOCAT_ECHO), None),
            Path::Socat => (loopback(SOCAT_IPERF), None),
            Path::SocatBig => (loopback(SOCAT_IPERF_BIG), None),
            Path::Ipv6Proxy => ((Ipv6Addr::LOCALHOST, port).into(), None),
        }
    }

    /// iperf3's client options for this path: server address and options.
    fn iperf(self) -> (String, Vec<String>) {
        let (target, bind) = self.target(iperf::PORT);
        let mut options = vec!["-p".to_owned(), target.port().to_string()];
        if let Some(bind) = bind {
            options.extend(["-B".to_owned(), bind.ip().to_string()]);
        }
        (target.ip().to_string(), options)
    }
}

/// Opens a connection from the calling thread's netns along `path` to
/// guest port `port`, without Nagle's delay.
fn connect(path: Path, port: u16) -> Result<TcpStream> {
    let (target, bind) = path.target(port);
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(target),
        socket2::Type::STREAM,
        None,
    )?;
    if let Some(bind) = bind {
        socket.bind(&bind.into())?;
    }
    socket
        .connect_timeout(&target.into(), HANG)
        .with_context(|| format!("{}: connecting to {target}", path.label()))?;
    let stream: TcpStream = socket.into();
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANG))?;
    Ok(stream)
}

/// Sends one byte and waits for it to come back.
fn ping(stream: &mut TcpStream, byte: u8) -> Result<()> {
    stream.write_all(&[byte])?;
    let mut back = [0u8; 1];
    stream.read_exact(&mut back)?;
    ensure!(back[0] == byte, "the echo sent back another byte");
    Ok(())
}

/// A benchmark-owned routing rule in the pod netns that sends what the
/// pod-loopback address sends to the pod IP into ukrun's guest table (the
/// direct path); deleted when dropped.
struct DirectRule {
    pod: Netns,
}

impl DirectRule {
    fn args(verb: &str) -> Vec<String> {
        format!(
            "rule {verb} priority {DIRECT_RULE_PRIORITY} from {POD_LOOPBACK} to {POD_IP}/32 lookup {GUEST_TABLE}"
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect()
    }

    fn add(pod: &Netns) -> Result<DirectRule> {
        let args = Self::args("add");
        pod.run("ip", &args.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(DirectRule { pod: pod.clone() })
    }
}

impl Drop for DirectRule {
    fn drop(&mut self) {
        let args = Self::args("del");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = self.pod.run("ip", &args) {
            eprintln!("localhost: {e:#}");
        }
    }
}

/// A socat forwarder in the pod netns, in a process group of its own (it
/// forks one child per connection); the group is killed when dropped.
struct Socat {
    child: Child,
}

impl Socat {
    /// Forwards 127.0.0.1:`listen` to the guest's `port`, with `options`
    /// (e.g. `-b 262144`) before the addresses.
    fn start(pod: &Netns, listen: u16, port: u16, options: &[&str]) -> Result<Socat> {
        let child = pod
            .command("socat")
            .args(options)
            .arg(format!(
                "TCP-LISTEN:{listen},bind=127.0.0.1,fork,reuseaddr,nodelay"
            ))
            .arg(format!("TCP:{POD_IP}:{port},bind={POD_LOOPBACK},nodelay"))
            .stdin(Stdio::null())
            // Each iperf3 run ends with a reset it reports.
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting socat (testbed/install-deps.sh installs it)")?;
        let socat = Socat { child };
        pod.wait_listening((Ipv4Addr::LOCALHOST, listen).into())
            .context("socat does not listen")?;
        Ok(socat)
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }
}

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = killpg(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Everything the measurements need. Field order is drop order: servers
/// and forwarders, then the plumbing, then the namespaces.
struct Bed {
    proxy: RuntimeThread,
    socats: Vec<Socat>,
    echo: Echo,
    _iperf: iperf::Server,
    _rule: DirectRule,
    _stand_in: StandIn,
    topo: Topology,
}

impl Bed {
    fn new() -> Result<Bed> {
        ensure!(
            nix::unistd::geteuid().is_root(),
            "run as root: it creates network namespaces"
        );
        let topo = Topology::new("blh", Shape::Bridge { mtu: 1500 })?;
        let pod = topo.pod_netns();
        let tcp = |port| GuestPort {
            port,
            protocol: Protocol::Tcp,
        };
        let ports = vec![tcp(iperf::PORT), tcp(ECHO_PORT)];
        let wiring = Wiring {
            mode: NetworkMode::Routed,
            pod_loopback: POD_LOOPBACK,
            localhost_ports: ports.clone(),
            dns_relay: false,
        };
        let stand_in = StandIn::wired(&pod, "ukg-blh", wiring, "benchlh")?;
        let rule = DirectRule::add(&pod)?;
        let guest = stand_in.guest();
        let iperf = iperf::Server::start(&guest, POD_IP)?;
        let echo = Echo::start(&guest, (POD_IP.parse::<Ipv4Addr>()?, ECHO_PORT).into())?;
        let socats = vec![
            Socat::start(&pod, SOCAT_IPERF, iperf::PORT, &[])?,
            Socat::start(&pod, SOCAT_IPERF_BIG, iperf::PORT, &["-b", "262144"])?,
            Socat::start(&pod, SOCAT_ECHO, ECHO_PORT, &[])?,
        ];
        let guest_ip: Ipv4Addr = POD_IP.parse()?;
        let (proxy, listeners) = RuntimeThread::start("ipv6-proxy", Some(&pod), move || {
            Ok(spawn_ipv6_loopback(&ports, guest_ip, POD_LOOPBACK)?)
        })?;
        ensure!(
            listeners.len() == 2,
            "the pod netns has no IPv6 loopback: ::1 is not forwarded"
        );
        Ok(Bed {
            proxy,
            socats,
            echo,
            _iperf: iperf,
            _rule: rule,
            _stand_in: stand_in,
            topo,
        })
    }

    fn pod(&self) -> Netns {
        self.topo.pod_netns()
    }
}

/// The paths iperf3 runs through, in order; the first is the baseline.
const THROUGHPUT: [Path; 5] = [
    Path::Direct,
    Path::Kernel,
    Path::Socat,
    Path::SocatBig,
    Path::Ipv6Proxy,
];
/// The paths the ping-pong runs through (socat's buffer makes no
/// difference to one byte).
const PING_PONG: [Path; 4] = [Path::Direct, Path::Kernel, Path::Socat, Path::Ipv6Proxy];

/// Interleaved iperf3 rounds; prints medians and ratios per direction.
fn throughput(bed: &Bed, rounds: usize, seconds: u32) -> Result<()> {
    eprintln!(
        "localhost: throughput, {rounds} rounds of {seconds} s per path and direction, interleaved"
    );
    let pod = bed.pod();
    let names = THROUGHPUT.map(Path::label);
    // samples[direction][path]
    let samples = iperf::interleaved(
        "localhost",
        "to/from the guest",
        &names,
        rounds,
        |i, reverse| {
            let (addr, options) = THROUGHPUT[i].iperf();
            let options: Vec<&str> = options.iter().map(String::as_str).collect();
            iperf::measure_with(&pod, &addr, seconds, reverse, &options).context(names[i])
        },
    )?;
    for (direction, label) in ["sidecar->guest", "guest->sidecar"].into_iter().enumerate() {
        let medians: Vec<f64> = samples[direction]
            .iter()
            .map(|s| stats::median(s))
            .collect();
        let [direct, kernel, socat, socat_big, proxy] = medians[..] else {
            unreachable!("one median per path");
        };
        println!(
            "localhost throughput {label} (median Gbit/s): direct {direct:.1}, kernel 127.0.0.1 \
             {kernel:.1} ({:.2}x direct, goal ≥ 0.8x), socat {socat:.1} (kernel {:.1}x, goal ≥ 3x), \
             socat -b 262144 {socat_big:.1} (kernel {:.1}x), ::1 proxy {proxy:.1} ({:.2}x direct)",
            kernel / direct,
            kernel / socat,
            kernel / socat_big,
            proxy / direct,
        );
    }
    Ok(())
}

/// Pins this thread, the echo server, socat's echo forwarder and the ::1
/// proxy to the first CPU, unless `BENCH_LATENCY_CPUS=any` leaves them to
/// the scheduler; returns how they run.
fn pin_ping_pong(bed: &Bed) -> Result<&'static str> {
    match std::env::var("BENCH_LATENCY_CPUS").as_deref() {
        Err(_) | Ok("one") => {}
        Ok("any") => return Ok("processes on any CPU"),
        Ok(other) => bail!("BENCH_LATENCY_CPUS={other:?}: use one or any"),
    }
    let first = runner::cpu_set(&runner::allowed_cpus()?[..1])?;
    runner::pin(Pid::from_raw(0), &first)?;
    runner::pin(bed.echo.pid(), &first)?;
    runner::pin(bed.proxy.tid, &first)?;
    for socat in &bed.socats {
        runner::pin(socat.pid(), &first)?;
    }
    Ok("every process on one CPU")
}

/// Round trips of one byte over one connection per path, interleaved
/// (the order rotates each round); prints what each path adds to direct.
fn ping_pong(bed: &Bed, count: usize) -> Result<()> {
    let placement = pin_ping_pong(bed)?;
    eprintln!(
        "localhost: ping-pong, {count} round trips per path interleaved after {WARM_UP} warm-up \
         each, {placement}"
    );
    let mut streams = bed.pod().within(|| {
        PING_PONG
            .iter()
            .map(|&path| connect(path, ECHO_PORT))
            .collect::<Result<Vec<_>>>()
    })?;
    let mut samples = vec![Vec::with_capacity(count); PING_PONG.len()];
    for round in 0..WARM_UP + count {
        if round % 1000 == 0 {
            interrupt::check()?;
        }
        for k in 0..PING_PONG.len() {
            let i = (round + k) % PING_PONG.len();
            let start = Instant::now();
            ping(&mut streams[i], round as u8).with_context(|| PING_PONG[i].label())?;
            if round >= WARM_UP {
                samples[i].push(start.elapsed());
            }
        }
    }
    let summaries: Vec<Summary> = samples.iter().map(|s| Summary::of(s)).collect();
    let direct = summaries[0];
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    for (path, s) in PING_PONG.iter().zip(&summaries).skip(1) {
        let goal = if *path == Path::Kernel {
            "; goal ≤ 30 µs p50"
        } else {
            ""
        };
        println!(
            "localhost ping-pong added by {}: p50 {:.0} µs, p99 {:.0} µs (direct p50 {:.0} µs, \
             p99 {:.0} µs; {} p50 {:.0} µs, p99 {:.0} µs{goal})",
            path.label(),
            micros(s.median) - micros(direct.median),
            micros(s.p99) - micros(direct.p99),
            micros(direct.median),
            micros(direct.p99),
            path.label(),
            micros(s.median),
            micros(s.p99),
        );
    }
    Ok(())
}

/// The run's sizes, from the environment (see the top of this file).
struct Sizes {
    rounds: usize,
    seconds: u32,
    roundtrips: usize,
    idle: usize,
}

impl Sizes {
    fn from_env() -> Result<Sizes> {
        Ok(Sizes {
            rounds: stats::env_count("BENCH_ITERS", 5)?,
            seconds: u32::try_from(stats::env_count("BENCH_SECONDS", 3)?)?,
            roundtrips: stats::env_count("BENCH_ROUNDTRIPS", 20_000)?,
            idle: stats::env_count("BENCH_IDLE", 1000)?,
        })
    }
}

fn run() -> Result<()> {
    let sizes = Sizes::from_env()?;
    interrupt::install()?;
    runner::raise_open_files()?;
    let bed = Bed::new()?;
    throughput(&bed, sizes.rounds, sizes.seconds)?;
    ping_pong(&bed, sizes.roundtrips)?;
    idle::measure(&bed, sizes.idle)?;
    Ok(())
}
