//! Localhost checks (routed mode, declared ports): the 127.0.0.1 DNAT
//! rules, the ::1 forwarders listening, and a TCP connect through each.

use std::net::{IpAddr, Ipv6Addr};

use super::Input;
use crate::doctor::check::{Check, Verdict};
use crate::doctor::read::nft::NftView;
use crate::doctor::read::tcp::TcpProbe;
use crate::spec::ports::{GuestPort, Protocol};

/// The chain that holds the DNAT of declared ports.
const DNAT_CHAIN: &str = "output_nat";

/// The localhost checks; `conclusive` is false when an earlier check
/// failed (or the VMM is not running), so a failed connect says nothing new.
pub fn checks(input: &Input<'_>, conclusive: bool) -> Vec<Check> {
    let ports = &input.expect.localhost_ports;
    if ports.is_empty() {
        return Vec::new();
    }
    let mut checks = vec![dnat(input, ports)];
    let unheld = unheld_ipv6_ports(input);
    checks.extend(ipv6_listeners(input, &unheld));
    checks.extend(input.snap.tcp.iter().map(|(addr, probe)| {
        // A ::1 port without its forwarder fails above, not here again.
        let tcp = GuestPort {
            port: addr.port(),
            protocol: Protocol::Tcp,
        };
        let forwarder_gone = addr.is_ipv6() && unheld.contains(&tcp);
        connect(&addr.to_string(), probe, conclusive && !forwarder_gone)
    }));
    checks
}

/// Ports (or anything shown) as a comma-separated list.
fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn dnat(input: &Input<'_>, ports: &[GuestPort]) -> Check {
    let expected = format!("127.0.0.1 {} DNATed to the guest", list(ports));
    let name = "localhost.127.0.0.1";
    let Some(NftView::Present(table)) = &input.snap.nft else {
        return Check::new(
            name,
            Verdict::Warn,
            expected,
            "no nft table",
            "not checked: see routed.nft",
        );
    };
    let found: Vec<GuestPort> = table
        .dnats
        .iter()
        .filter(|d| d.chain == DNAT_CHAIN)
        .flat_map(|d| d.ports.iter().copied())
        .collect();
    let missing: Vec<GuestPort> = ports
        .iter()
        .filter(|p| !found.contains(p))
        .copied()
        .collect();
    Check::judge(
        name,
        missing.is_empty(),
        expected,
        if found.is_empty() {
            "no DNAT rule".to_owned()
        } else {
            format!("DNAT of {}", list(&found))
        },
        format!(
            "{} not DNATed: the nft table lost rules; recreate the container",
            list(&missing)
        ),
    )
}

/// Declared ports (TCP and UDP) with no forwarder listening on ::1 (none
/// when the pod has no ::1).
fn unheld_ipv6_ports(input: &Input<'_>) -> Vec<GuestPort> {
    if !input.snap.view.has_ipv6_loopback() {
        return Vec::new();
    }
    let listening = |p: &GuestPort| {
        input.snap.listeners.iter().any(|l| {
            l.protocol == p.protocol
                && l.address == IpAddr::V6(Ipv6Addr::LOCALHOST)
                && l.port == p.port
        })
    };
    input
        .expect
        .localhost_ports
        .iter()
        .filter(|p| !listening(p))
        .copied()
        .collect()
}

fn ipv6_listeners(input: &Input<'_>, missing: &[GuestPort]) -> Option<Check> {
    let ports = &input.expect.localhost_ports;
    if ports.is_empty() {
        return None;
    }
    let expected = format!("the supervisor listening on [::1] port {}", list(ports));
    if !input.snap.view.has_ipv6_loopback() {
        return Some(Check::pass(
            "localhost.::1",
            expected,
            "the pod has no ::1: nothing to forward",
        ));
    }
    let found: Vec<GuestPort> = ports
        .iter()
        .filter(|p| !missing.contains(p))
        .copied()
        .collect();
    Some(Check::judge(
        "localhost.::1",
        missing.is_empty(),
        expected,
        if found.is_empty() { "no listener".to_owned() } else { format!("listening on {}", list(&found)) },
        format!(
            "the ::1 forwarder of port {} is gone (a sidecar bound it first?): recreate the container",
            list(missing)
        ),
    ))
}

fn connect(addr: &str, probe: &TcpProbe, conclusive: bool) -> Check {
    let name = format!("localhost.connect.{addr}");
    let expected = "a TCP connection to the guest's declared port";
    let (found, hint) = match probe {
        TcpProbe::Connected => return Check::pass(name, expected, "connected"),
        TcpProbe::Refused => (
            "refused".to_owned(),
            "the guest does not listen on this port: its application is down or serves another port than ukrun.dev/localhost-ports says",
        ),
        TcpProbe::TimedOut => (
            "no answer within 1 s".to_owned(),
            "nothing answers through the localhost path: check the guest's console and the routed.* checks",
        ),
        TcpProbe::Failed(e) => (e.clone(), "the connect failed in the pod netns itself"),
    };
    if conclusive {
        Check::new(name, Verdict::Fail, expected, found, hint)
    } else {
        Check::new(
            name,
            Verdict::Warn,
            expected,
            found,
            "not conclusive: fix the failed checks above first",
        )
    }
}
