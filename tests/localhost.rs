//! Localhost between the guest and the pod (routed mode): sidecars reach the
//! guest's declared ports on 127.0.0.1 and ::1, the node cannot reach those
//! paths, and bad declarations fail create with nothing left behind.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Result};
use ukrun_testbed::dns_server::DnsServer;
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::guest::PAGE_TEXT;
use ukrun_testbed::probes::{self, HttpProbe};
use ukrun_testbed::topology::Shape;
use ukrun_testbed::{http, sidecar, wait};

const PORTS: &str = "ukrun.dev/localhost-ports";

fn fixture(tag: &str, ports: &str) -> Result<Fixture> {
    let fx = Fixture::new(
        Path::new(env!("CARGO_BIN_EXE_ukrun")),
        tag,
        Shape::Bridge { mtu: 1500 },
    )?;
    fx.bundle.edit(|c| c["annotations"][PORTS] = ports.into())?;
    Ok(fx)
}

/// GETs `/` at `addr` from the pod netns (a sidecar's view), retried while
/// the guest boots.
fn fetch_in_pod(fx: &Fixture, addr: &str) -> Result<String> {
    let addr: SocketAddr = addr.parse()?;
    fx.topo.pod_netns().within(move || {
        wait::poll(
            "the guest's page through localhost",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || http::get(addr, "/").map(Some),
        )
    })
}

#[test]
fn sidecars_reach_the_guest_on_127_0_0_1_and_ipv6_loopback() -> Result<()> {
    let fx = fixture("lh", "8080, 9999/udp")?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    fx.start("g1")?;
    fx.wait_ready("g1")?;
    ensure!(fetch_in_pod(&fx, "127.0.0.1:8080")?.contains(PAGE_TEXT));
    ensure!(fetch_in_pod(&fx, "[::1]:8080")?.contains(PAGE_TEXT));
    let parallel: Vec<Result<String>> = fx.topo.pod_netns().within(|| {
        let workers: Vec<_> = (0..50)
            .map(|_| std::thread::spawn(|| http::get("127.0.0.1:8080".parse()?, "/")))
            .collect();
        Ok(workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect())
    })?;
    let failed: Vec<String> = parallel
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| format!("{e:#}")))
        .collect();
    ensure!(
        failed.is_empty(),
        "50 parallel connections all complete: {failed:?}"
    );
    ensure!(
        fx.fetch_from_node()?.contains(PAGE_TEXT),
        "the pod IP still reaches the guest itself"
    );
    let out = fx.runtime.run(&["delete", "--force", "g1"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    fx.assert_nothing_left(&before)?;
    let listeners = fx.topo.pod_netns().run("ss", &["-Hltnu"])?;
    ensure!(listeners.trim().is_empty(), "no listener left: {listeners}");
    Ok(())
}

#[test]
fn the_node_cannot_use_the_pod_loopback_path() -> Result<()> {
    let fx = fixture("ln", "8080")?;
    fx.create("g1")?;
    fx.start("g1")?;
    fx.wait_ready("g1")?;
    let sidecar = sidecar::serve_tcp_once(&fx.topo.pod_netns(), "0.0.0.0:9000", b"loopback-only")?;
    let node = fx.topo.node_netns();
    let veth = node.run("ip", &["-o", "link", "show", "type", "veth"])?;
    let dev = veth
        .split(':')
        .nth(1)
        .map(|d| d.trim().split('@').next().unwrap_or("").to_owned())
        .unwrap_or_default();
    node.run("ip", &["route", "add", "169.254.1.1/32", "dev", &dev])?;
    let reached = node.within(|| sidecar::read_tcp("169.254.1.1:9000".parse()?));
    ensure!(
        reached.is_err(),
        "169.254.1.1 sent into the pod interface is dropped: {reached:?}"
    );
    let answer = fx
        .topo
        .pod_netns()
        .within(|| sidecar::read_tcp("127.0.0.1:9000".parse()?))?;
    ensure!(
        answer == "loopback-only",
        "the sidecar itself still serves on its loopback"
    );
    sidecar.join().expect("sidecar")?;
    Ok(())
}

/// A sidecar's HTTP server listening only on the pod's 127.0.0.1:9000.
struct LoopbackHttpd(std::process::Child);

impl LoopbackHttpd {
    fn start(fx: &Fixture, page: &str) -> Result<Self> {
        let root = fx.bundle.dir.join("sidecar-www");
        std::fs::create_dir_all(&root)?;
        std::fs::write(root.join("index.html"), page)?;
        let child = fx
            .topo
            .pod_netns()
            .command("busybox")
            .args(["httpd", "-f", "-p", "127.0.0.1:9000", "-h"])
            .arg(&root)
            .spawn()?;
        Ok(LoopbackHttpd(child))
    }
}

impl Drop for LoopbackHttpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_guest_reaches_loopback_only_sidecars_at_the_pod_loopback_address() -> Result<()> {
    let fx = fixture("lg", "8080")?;
    let page = "from a loopback-only sidecar\n";
    let _httpd = LoopbackHttpd::start(&fx, page)?;
    let resolv = fx.bundle.dir.join("resolv.conf");
    std::fs::write(&resolv, "nameserver 169.254.1.1\n")?;
    let _dns = DnsServer::start(
        &fx.topo.pod_netns(),
        "127.0.0.1",
        "cluster.local",
        &[("kubernetes.default.svc.cluster.local", "10.96.0.1")],
    )?;
    fx.bundle.edit(|c| {
        c["mounts"] = serde_json::json!([{"destination": "/etc/resolv.conf", "type": "bind", "source": resolv, "options": ["rbind", "ro"]}]);
        c["annotations"]["ukrun.dev/dns-delivery"] = "bootargs".into();
        c["annotations"]["com.urunc.unikernel.cmdline"] =
            "quiet ukrun.probe.http=http://169.254.1.1:9000/ ukrun.probe.dns=kubernetes.default.svc.cluster.local".into();
    })?;
    fx.create("g1")?;
    fx.start("g1")?;
    let console = fx.runtime.console_path("g1");
    let fetched = wait::poll(
        "the guest's HTTP probe",
        Duration::from_secs(90),
        Duration::from_millis(250),
        || {
            Ok(probes::http_result(
                &std::fs::read_to_string(&console)?,
                "http://169.254.1.1:9000/",
            ))
        },
    )?;
    ensure!(
        fetched
            == HttpProbe::Fetched {
                sha256: probes::sha256_hex(page.as_bytes()),
                bytes: page.len()
            },
        "the sidecar's page through 169.254.1.1:9000: {fetched:?}"
    );
    let resolved = wait::poll(
        "the guest's DNS probe",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || {
            let text = std::fs::read_to_string(&console)?;
            Ok(text.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("UKRUN-GUEST-PROBE dns kubernetes.default.svc.cluster.local ")
                    .map(str::to_owned)
            }))
        },
    )?;
    ensure!(
        resolved == "addresses=10.96.0.1",
        "a DNS server on the pod's 127.0.0.1:53 through 169.254.1.1:53: {resolved}"
    );
    Ok(())
}

/// How a held connection ended: `None` while it is still open.
fn ended(stream: &mut TcpStream) -> Option<String> {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => Some("closed".into()),
        Ok(_) => Some("data".into()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(e) => Some(e.to_string()),
    }
}

#[test]
fn killing_the_guest_closes_every_forwarded_connection_and_the_listeners() -> Result<()> {
    let fx = fixture("lk", "8080")?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    fx.start("g1")?;
    fx.wait_ready("g1")?;
    ensure!(fetch_in_pod(&fx, "127.0.0.1:8080")?.contains(PAGE_TEXT));
    // Idle connections, as a sidecar or `kubectl port-forward` holds them:
    // the guest's server waits for a request that never comes.
    let mut held: Vec<(&str, TcpStream)> = fx.topo.pod_netns().within(|| {
        ["127.0.0.1:8080", "[::1]:8080"]
            .into_iter()
            .map(|addr| {
                let stream = TcpStream::connect(addr)?;
                stream.set_read_timeout(Some(Duration::from_millis(100)))?;
                Ok((addr, stream))
            })
            .collect()
    })?;
    for (addr, stream) in &mut held {
        ensure!(ended(stream).is_none(), "{addr} is open before the kill");
    }
    let vmm = fx.runtime.recorded_pid("g1", "vmm")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(vmm),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let killed = std::time::Instant::now();
    for (addr, stream) in &mut held {
        let how = wait::poll(
            "the forwarded connection to end",
            Duration::from_secs(10),
            Duration::from_millis(10),
            || Ok(ended(stream)),
        )?;
        eprintln!(
            "{addr}: {how} {} ms after the kill",
            killed.elapsed().as_millis()
        );
    }
    wait::poll(
        "the container to stop",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || Ok((fx.runtime.state("g1")?["status"] == "stopped").then_some(())),
    )?;
    let refused: Vec<String> = fx.topo.pod_netns().within(|| {
        Ok(["127.0.0.1:8080", "[::1]:8080"]
            .into_iter()
            .filter_map(|addr| {
                let addr: SocketAddr = addr.parse().ok()?;
                let tried = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
                (!matches!(&tried, Err(e) if e.kind() == ErrorKind::ConnectionRefused))
                    .then(|| format!("{addr}: {tried:?}"))
            })
            .collect())
    })?;
    ensure!(
        refused.is_empty(),
        "nothing listens for the dead guest: {refused:?}"
    );
    fx.delete_and_check("g1", &before)
}

#[test]
fn a_port_a_sidecar_holds_and_tc_mode_are_refused_at_create() -> Result<()> {
    let fx = fixture("lc", "8080,9000")?;
    let before = fx.topo.pod_network_view()?;
    let held = fx
        .topo
        .pod_netns()
        .within(|| Ok(std::net::TcpListener::bind("127.0.0.1:9000")?))?;
    let out = fx.runtime.create(&fx.bundle.dir, "g1")?;
    ensure!(!out.status.success());
    let error = fx.runtime.last_error();
    ensure!(
        error.contains("port 9000/tcp is already in use on 127.0.0.1 in the pod"),
        "{error}"
    );
    fx.assert_nothing_left(&before)?;
    drop(held);
    fx.bundle
        .edit(|c| c["annotations"]["ukrun.dev/network-mode"] = "tc".into())?;
    let out = fx.runtime.create(&fx.bundle.dir, "g2")?;
    ensure!(!out.status.success());
    let error = fx.runtime.last_error();
    ensure!(
        error.contains("ukrun.dev/localhost-ports needs network mode routed"),
        "{error}"
    );
    fx.assert_nothing_left(&before)
}

#[test]
fn malformed_declarations_fail_create() -> Result<()> {
    let cases = [
        (PORTS, "80,abc", "\"abc\" is not a port"),
        (PORTS, "0", "port 0 is out of range"),
        (PORTS, "70000", "port 70000 is out of range"),
        (PORTS, "80,80", "port 80/tcp is declared twice"),
        (
            "ukrun.dev/pod-loopback",
            "10.0.0.1",
            "is not a link-local IPv4 address",
        ),
    ];
    let fx = fixture("lm", "8080")?;
    let before = fx.topo.pod_network_view()?;
    for (key, value, expected) in cases {
        fx.bundle.edit(|c| c["annotations"][key] = value.into())?;
        let out = fx.runtime.create(&fx.bundle.dir, "bad")?;
        let error = fx.runtime.last_error();
        ensure!(
            !out.status.success() && error.contains(expected),
            "{key}={value}: {error}"
        );
        fx.bundle.edit(|c| c["annotations"][key] = "8080".into())?;
        if key != PORTS {
            fx.bundle.edit(|c| {
                c["annotations"].as_object_mut().map(|a| a.remove(key));
            })?;
        }
    }
    fx.assert_nothing_left(&before)
}

/// An nftables table of the test's own in the pod netns that counts UDP
/// datagrams to port 7777 leaving through the guest's tap from the
/// pod-loopback address, and collects their source ports (one per flow).
/// Deleted on drop.
struct UdpToGuestCounter(ukrun_testbed::netns::Netns);

impl UdpToGuestCounter {
    const TABLE: &'static str = "ukrun_test_udp";

    fn add(fx: &Fixture, tap: &str) -> Result<Self> {
        let pod = fx.topo.pod_netns();
        let ruleset = format!(
            "table inet {t} {{
\tset sports {{ type inet_service; flags dynamic; }}
\tchain out {{
\t\ttype filter hook postrouting priority filter; policy accept;
\t\toifname \"{tap}\" ip saddr 169.254.1.1 udp dport 7777 counter add @sports {{ udp sport }}
\t}}
}}
",
            t = Self::TABLE
        );
        let path = fx.bundle.dir.join("udp-counter.nft");
        std::fs::write(&path, ruleset)?;
        pod.run("nft", &["-f", &path.to_string_lossy()])?;
        Ok(UdpToGuestCounter(pod))
    }

    /// (datagrams counted, distinct source ports seen).
    fn read(&self) -> Result<(u64, usize)> {
        let table = self.0.run("nft", &["list", "table", "inet", Self::TABLE])?;
        let packets = table
            .split_once("counter packets ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no counter in {table}"))?;
        let sports = table
            .split_once("elements = {")
            .and_then(|(_, rest)| rest.split_once('}'))
            .map_or(0, |(elements, _)| elements.split(',').count());
        Ok((packets, sports))
    }

    /// Waits until at least `packets` datagrams from at least `sports`
    /// source ports were counted, sending `datagram` from `client` (in the
    /// pod netns) to [::1]:7777 each round.
    fn wait_for(
        &self,
        (packets, sports): (u64, usize),
        client: &Arc<UdpSocket>,
        datagram: &[u8],
    ) -> Result<()> {
        wait::poll(
            "UDP to [::1]:7777 leaving through the tap",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                client.send_to(datagram, "[::1]:7777")?;
                let (counted, seen) = self.read()?;
                Ok((counted >= packets && seen >= sports).then_some(()))
            },
        )
    }
}

impl Drop for UdpToGuestCounter {
    fn drop(&mut self) {
        let _ = self.0.run("nft", &["delete", "table", "inet", Self::TABLE]);
    }
}

/// A DNS query for `example.com. A`, as a sidecar's resolver would send.
const DNS_QUERY: &[u8] =
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";

#[test]
fn udp_on_ipv6_loopback_leaves_for_the_guest_from_the_pod_loopback_address() -> Result<()> {
    let fx = fixture("lu", "8080,7777/udp")?;
    fx.create("g1")?;
    fx.start("g1")?;
    fx.wait_ready("g1")?;
    let counter = UdpToGuestCounter::add(&fx, "uk-g1")?;
    let bind = || -> Result<Arc<UdpSocket>> { Ok(Arc::new(UdpSocket::bind("[::1]:0")?)) };
    let first = fx.topo.pod_netns().within(bind)?;
    counter.wait_for((1, 1), &first, DNS_QUERY)?;
    // The guest answered ICMP port unreachable: the flow still carries the
    // next datagram, and so does a flow for a second peer. Between them go
    // an empty datagram, garbage, and one larger than IPv4 can carry (it
    // is dropped).
    let (sent, _) = counter.read()?;
    first.send_to(&[], "[::1]:7777")?;
    first.send_to(&[0xff; 7], "[::1]:7777")?;
    first.send_to(&vec![0u8; 65_527], "[::1]:7777")?;
    let second = fx.topo.pod_netns().within(bind)?;
    counter.wait_for((sent + 3, 2), &second, DNS_QUERY)?;
    let (_, sports) = counter.read()?;
    ensure!(
        sports == 2,
        "one upstream socket per peer: {sports} source ports"
    );
    ensure!(
        fetch_in_pod(&fx, "[::1]:8080")?.contains(PAGE_TEXT),
        "the supervisor still forwards ::1 after all that"
    );
    let out = fx.runtime.run(&["delete", "--force", "g1"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    drop((first, second));
    let sockets = fx.topo.pod_netns().run("ss", &["-Hanu"])?;
    ensure!(sockets.trim().is_empty(), "no UDP socket left: {sockets}");
    Ok(())
}
