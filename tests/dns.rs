//! The pod's DNS in the guest (routed mode, Linux guest under qemu TCG):
//! files delivery puts the pod's resolv.conf, hosts and hostname in the
//! guest byte for byte so its resolver applies the search list; boot
//! arguments give the nameservers; no nameserver gives none; a bad
//! resolv.conf fails create.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::dns_server::DnsServer;
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::topology::{Shape, NODE_IP};
use ukrun_testbed::wait;

const RESOLV: &str = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.77.0.1\noptions ndots:5\n";
const HOSTS: &str = "127.0.0.1\tlocalhost\n10.77.0.2\tguest-pod\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.remote\n";
const PROBES: &str = "quiet ukrun.probe.file=/etc/resolv.conf ukrun.probe.file=/etc/hosts ukrun.probe.file=/etc/hostname \
                      ukrun.probe.dns=kubernetes ukrun.probe.dns=kubernetes.default.svc.cluster.local";

/// A guest fixture whose bundle mounts the given pod files, as containerd
/// mounts kubelet's.
fn fixture(tag: &str, files: &[(&str, &str)]) -> Result<Fixture> {
    let fx = Fixture::new(
        Path::new(env!("CARGO_BIN_EXE_ukrun")),
        tag,
        Shape::Bridge { mtu: 1500 },
    )?;
    fx.bundle.mount_pod_files(files)?;
    fx.bundle
        .edit(|c| c["annotations"]["com.urunc.unikernel.cmdline"] = PROBES.into())?;
    Ok(fx)
}

/// The value after `prefix` on the guest console's probe line, waited for.
fn probe(fx: &Fixture, id: &str, prefix: &str) -> Result<String> {
    let console = fx.runtime.console_path(id);
    wait::poll(
        prefix,
        Duration::from_secs(90),
        Duration::from_millis(250),
        || {
            let text = std::fs::read_to_string(&console)?;
            Ok(text
                .lines()
                .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_owned)))
        },
    )
}

/// Waits for the guest's DNS probe of `name` and checks its one address.
fn resolves(fx: &Fixture, name: &str, address: &str) -> Result<()> {
    let got = probe(fx, "g1", &format!("UKRUN-GUEST-PROBE dns {name} "))?;
    ensure!(got == format!("addresses={address}"), "{name}: {got}");
    Ok(())
}

fn sha256(bytes: &str) -> Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("sha256sum")?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes.as_bytes())?;
    let out = child.wait_with_output()?;
    Ok(String::from_utf8(out.stdout)?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

fn cluster_dns(fx: &Fixture) -> Result<DnsServer> {
    DnsServer::cluster(&fx.topo.node_netns(), NODE_IP)
}

#[test]
fn files_delivery_gives_the_guest_the_pods_files_and_search_list() -> Result<()> {
    let fx = fixture(
        "df",
        &[
            ("/etc/resolv.conf", RESOLV),
            ("/etc/hosts", HOSTS),
            ("/etc/hostname", "guest-pod\n"),
        ],
    )?;
    let _dns = cluster_dns(&fx)?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    fx.start("g1")?;
    for (path, contents) in [
        ("/etc/resolv.conf", RESOLV),
        ("/etc/hosts", HOSTS),
        ("/etc/hostname", "guest-pod\n"),
    ] {
        let got = probe(&fx, "g1", &format!("UKRUN-GUEST-PROBE file {path} "))?;
        ensure!(
            got == format!("sha256={}", sha256(contents)?),
            "{path} byte for byte: {got}"
        );
    }
    // busybox's resolver applies the search list to dot-less names only
    // (unlike glibc's ndots): `kubernetes` → kubernetes.default.svc.cluster.local.
    let short = probe(&fx, "g1", "UKRUN-GUEST-PROBE dns kubernetes ")?;
    ensure!(
        short == "addresses=10.96.0.1",
        "search list applied: {short}"
    );
    resolves(&fx, "kubernetes.default.svc.cluster.local", "10.96.0.1")?;
    let log = std::fs::read_to_string(fx.runtime.log_path())?;
    ensure!(
        log.contains("appended to the initrd"),
        "the log says how DNS was delivered"
    );
    fx.delete_and_check("g1", &before)
}

#[test]
fn boot_arguments_give_the_nameservers() -> Result<()> {
    let fx = fixture("db", &[("/etc/resolv.conf", RESOLV)])?;
    fx.bundle
        .edit(|c| c["annotations"]["ukrun.dev/dns-delivery"] = "bootargs".into())?;
    let _dns = cluster_dns(&fx)?;
    fx.create("g1")?;
    fx.start("g1")?;
    resolves(&fx, "kubernetes.default.svc.cluster.local", "10.96.0.1")?;
    let config = fx.vmm_config("g1")?;
    ensure!(
        config.contains(":eth0:off:10.77.0.1"),
        "dns0 in ip=: {config}"
    );
    Ok(())
}

#[test]
fn the_relay_applies_the_search_list_and_answers_from_the_pods_hosts() -> Result<()> {
    let fx = fixture("dr", &[("/etc/resolv.conf", RESOLV), ("/etc/hosts", HOSTS)])?;
    fx.bundle.edit(|c| {
        c["annotations"]["ukrun.dev/dns-delivery"] = "relay".into();
        c["annotations"]["com.urunc.unikernel.cmdline"] =
            "quiet ukrun.probe.dns=kubernetes.default ukrun.probe.dns=foo.remote ukrun.probe.dns=guest-pod".into();
    })?;
    let _dns = cluster_dns(&fx)?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    fx.start("g1")?;
    for (name, expected) in [
        ("kubernetes.default", "10.96.0.1"),
        ("foo.remote", "10.1.2.3"),
        ("guest-pod", "10.77.0.2"),
    ] {
        let got = probe(&fx, "g1", &format!("UKRUN-GUEST-PROBE dns {name} "))?;
        ensure!(got == format!("addresses={expected}"), "{name}: {got}");
    }
    let config = fx.vmm_config("g1")?;
    ensure!(
        config.contains("ip=10.77.0.2::10.77.0.1:255.255.255.252:")
            && config.contains(":eth0:off:169.254.1.1"),
        "the guest's resolver is the relay: {config}"
    );
    fx.delete_and_check("g1", &before)
}

#[test]
fn loopback_only_resolvers_are_reached_through_the_relay() -> Result<()> {
    for (tag, resolver) in [("dd", "127.0.0.11"), ("dl", "127.0.0.53")] {
        let resolv = format!("search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver {resolver}\noptions ndots:5\n");
        let fx = fixture(tag, &[("/etc/resolv.conf", resolv.as_str())])?;
        fx.bundle.edit(|c| {
            c["annotations"]["com.urunc.unikernel.cmdline"] =
                "quiet ukrun.probe.dns=kubernetes.default".into()
        })?;
        let _loopback_dns = DnsServer::start(
            &fx.topo.pod_netns(),
            resolver,
            "cluster.local",
            &[("kubernetes.default.svc.cluster.local", "10.96.0.1")],
        )?;
        fx.create("g1")?;
        fx.start("g1")?;
        let got = probe(&fx, "g1", "UKRUN-GUEST-PROBE dns kubernetes.default ")?;
        ensure!(
            got == "addresses=10.96.0.1",
            "{resolver} through the relay: {got}"
        );
        ensure!(
            node_gets_no_dns_answer(&fx, "169.254.1.1")?,
            "the relay does not answer the node on the pod-loopback address"
        );
        let listening = fx
            .topo
            .pod_netns()
            .run("ss", &["-Hlntu", "sport", "=", ":53"])?;
        let relay = listening
            .lines()
            .filter(|l| l.contains("169.254.1.1:53"))
            .count();
        let elsewhere = ["10.77.0.2:53", "0.0.0.0:53", "*:53"]
            .iter()
            .any(|a| listening.contains(a));
        ensure!(
            relay == 2 && !elsewhere,
            "the relay listens (UDP and TCP) on the pod-loopback address only, never on the pod IP or a wildcard:\n{listening}"
        );
    }
    Ok(())
}

/// Whether a DNS query from the node netns to `ip:53` (sent into the pod
/// interface) goes unanswered.
fn node_gets_no_dns_answer(fx: &Fixture, ip: &str) -> Result<bool> {
    let node = fx.topo.node_netns();
    if ip.starts_with("169.254.") {
        let veth = node.run("ip", &["-o", "link", "show", "type", "veth"])?;
        let dev = veth
            .split(':')
            .nth(1)
            .and_then(|d| d.trim().split('@').next())
            .unwrap_or("")
            .to_owned();
        let _ = node.run(
            "ip",
            &["route", "replace", &format!("{ip}/32"), "dev", &dev],
        );
    }
    let target: std::net::SocketAddr = format!("{ip}:53").parse()?;
    node.within(move || {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        socket.send_to(&dns_query("kubernetes.default.svc.cluster.local"), target)?;
        let mut buf = [0u8; 512];
        Ok(socket.recv_from(&mut buf).is_err())
    })
}

/// A minimal DNS query (A record, recursion desired) for `name`.
fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn a_pod_without_nameservers_gives_the_guest_none() -> Result<()> {
    let fx = fixture("dn", &[("/etc/resolv.conf", "search example.test\n")])?;
    fx.create("g1")?;
    fx.start("g1")?;
    let got = probe(&fx, "g1", "UKRUN-GUEST-PROBE file /etc/resolv.conf ")?;
    ensure!(got == "missing", "no made-up resolver: {got}");
    let log = std::fs::read_to_string(fx.runtime.log_path())?;
    ensure!(
        log.contains("the guest gets no resolver: the pod has no nameserver"),
        "{log}"
    );
    Ok(())
}

#[test]
fn a_bad_resolv_conf_or_delivery_fails_create() -> Result<()> {
    let fx = fixture(
        "dx",
        &[(
            "/etc/resolv.conf",
            "nameserver 10.0.0.1 \nsearch ok.example bad:arg\n",
        )],
    )?;
    let before = fx.topo.pod_network_view()?;
    let out = fx.runtime.create(&fx.bundle.dir, "bad")?;
    let error = fx.runtime.last_error();
    ensure!(
        !out.status.success()
            && error.contains("resolv.conf line 2: \"bad:arg\" is not a valid domain name"),
        "{error}"
    );
    std::fs::write(fx.bundle.dir.join("resolv.conf"), RESOLV)?;
    fx.bundle
        .edit(|c| c["annotations"]["ukrun.dev/dns-delivery"] = "dhcp".into())?;
    let out = fx.runtime.create(&fx.bundle.dir, "bad")?;
    let error = fx.runtime.last_error();
    ensure!(
        !out.status.success() && error.contains("unknown delivery \"dhcp\""),
        "{error}"
    );
    fx.assert_nothing_left(&before)
}
