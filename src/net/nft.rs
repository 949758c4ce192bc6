//! The nftables table of routed mode (rendered as text, pure) and the thin
//! wrapper that loads or deletes it through libnftables in this process
//! ([`libnftables`]).
//!
//! It marks in conntrack the connections that belong to the pod netns itself
//! (sidecars): every connection it originates (output, new) and every new
//! inbound connection that finds a local socket (prerouting, new, `socket`;
//! both wildcard-bound and address-bound listeners). Every other IP packet
//! that arrives on the pod interface for the pod IP gets the guest mark, and
//! a routing rule sends it to the tap. ARP is never marked, so the pod
//! interface keeps answering the node's ARP for the pod IP.
//! Syntax: nft(8), "SOCKET EXPRESSION", "CONNTRACK EXPRESSIONS".

use std::net::Ipv4Addr;

use super::ifname::IfName;
use super::libnftables;
use crate::spec::ports::{GuestPort, Protocol};

/// Conntrack mark of the pod's own (sidecar) connections.
pub const SIDECAR_MARK: u32 = 0x0080_0000;
/// Packet mark of what goes to the guest.
pub const GUEST_MARK: u32 = 0x0040_0000;

/// Why nft failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NftError {
    /// The binary is missing.
    #[error("libnftables not found: routed mode needs nftables (install the nftables package) or use the annotation ukrun.dev/network-mode: tc")]
    Missing,
    /// nft refused the request.
    #[error("nft: {0}")]
    Failed(String),
}

/// Table name for a container's tap (nft identifiers: letters, digits, `_`).
pub fn table_name(tap: &str) -> String {
    let safe: String = tap
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("ukrun_{safe}")
}

/// What the routed-mode ruleset is rendered from.
#[derive(Clone, Debug)]
pub struct RoutedRules<'a> {
    /// Table name.
    pub table: &'a str,
    /// Pod interface.
    pub pod_if: &'a IfName,
    /// The guest's tap.
    pub tap: &'a str,
    /// The pod IP (also the guest's).
    pub pod_ip: Ipv4Addr,
    /// The pod-loopback address (on the tap).
    pub pod_loopback: Ipv4Addr,
    /// Guest ports forwarded from the pod's 127.0.0.1.
    pub localhost_ports: &'a [GuestPort],
    /// Whether the DNS relay listens on the pod-loopback address's port 53
    /// (then that port is not DNATed to the pod's 127.0.0.1).
    pub dns_relay: bool,
}

/// Conntrack mark of connections the guest opens to the pod-loopback
/// address (their replies are routed back to the tap).
pub const GUEST_TO_LOOPBACK_MARK: u32 = 0x0020_0000;

/// The routed-mode ruleset.
///
/// - Sidecar connections (opened in the pod, or new ones that find a local
///   socket) are marked in conntrack; every other packet for the pod IP from
///   the pod interface gets the guest mark.
/// - Packets to the pod-loopback address from the pod interface are dropped;
///   from the tap they are DNATed to 127.0.0.1 (any port), and their
///   connection's replies get the guest mark.
/// - Declared localhost ports: 127.0.0.1:PORT is DNATed to the guest in
///   output (the route chain marks every packet, since NAT chains see only a
///   connection's first one), and the source becomes the pod-loopback
///   address on the way out of the tap.
pub fn routed_ruleset(r: &RoutedRules<'_>) -> String {
    let (m, g, l) = (
        format!("{SIDECAR_MARK:#010x}"),
        format!("{GUEST_MARK:#010x}"),
        format!("{GUEST_TO_LOOPBACK_MARK:#010x}"),
    );
    let (pod_if, tap, pod_ip, lo) = (r.pod_if.nft_quoted(), r.tap, r.pod_ip, r.pod_loopback);
    let port_matches: Vec<String> = [(Protocol::Tcp, "tcp"), (Protocol::Udp, "udp")]
        .iter()
        .filter_map(|(proto, name)| {
            let ports: Vec<String> = r
                .localhost_ports
                .iter()
                .filter(|p| p.protocol == *proto)
                .map(|p| p.port.to_string())
                .collect();
            (!ports.is_empty())
                .then(|| format!("ip daddr 127.0.0.1 {name} dport {{ {} }}", ports.join(", ")))
        })
        .collect();
    let output_marks: String = port_matches
        .iter()
        .map(|m| format!("\t\t{m} meta mark set meta mark or {g}\n"))
        .collect();
    let relay_accept = if r.dns_relay {
        format!(
            "\t\tiifname \"{tap}\" ip daddr {lo} meta l4proto {{ tcp, udp }} th dport 53 accept\n"
        )
    } else {
        String::new()
    };
    let output_dnat: String = port_matches
        .iter()
        .map(|m| format!("\t\t{m} dnat to {pod_ip}\n"))
        .collect();
    format!(
        "table ip {table} {{
\tchain prerouting {{
\t\ttype filter hook prerouting priority mangle; policy accept;
\t\tiifname {pod_if} ip daddr {lo} drop
\t\tiifname {pod_if} ip daddr {pod_ip} ct state new socket wildcard 0 ct mark set ct mark or {m}
\t\tiifname {pod_if} ip daddr {pod_ip} ct state new socket wildcard 1 ct mark set ct mark or {m}
\t\tiifname {pod_if} ip daddr {pod_ip} ct mark and {m} == 0 meta mark set meta mark or {g}
\t\tiifname \"{tap}\" ip daddr {lo} ct state new ct mark set ct mark or {l}
\t}}
\tchain prerouting_nat {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
{relay_accept}\t\tiifname \"{tap}\" ip daddr {lo} dnat to 127.0.0.1
\t}}
\tchain output {{
\t\ttype route hook output priority mangle; policy accept;
\t\tct state new ct mark set ct mark or {m}
\t\tct mark and {l} != 0 meta mark set meta mark or {g}
{output_marks}\t}}
\tchain output_nat {{
\t\ttype nat hook output priority -100; policy accept;
{output_dnat}\t}}
\tchain postrouting_nat {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname \"{tap}\" ip saddr 127.0.0.1 snat to {lo}
\t}}
}}
",
        table = r.table
    )
}

/// Loads `ruleset` (in the calling thread's netns) as one transaction.
pub fn load(ruleset: &str) -> Result<(), NftError> {
    libnftables::run(ruleset)
}

/// Deletes table `ip <table>`; a table that is already gone is fine.
pub fn delete_table(table: &str) -> Result<(), NftError> {
    match libnftables::run(&format!("delete table ip {table}")) {
        Err(NftError::Failed(msg)) if msg.contains("No such file or directory") => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_nft_identifiers() {
        assert_eq!(table_name("uk-c1"), "ukrun_uk_c1");
    }

    fn rules(ports: &[GuestPort]) -> String {
        routed_ruleset(&RoutedRules {
            table: "ukrun_uk_c1",
            pod_if: &IfName::new("eth0").unwrap(),
            tap: "uk-c1",
            pod_ip: Ipv4Addr::new(10, 88, 0, 5),
            pod_loopback: Ipv4Addr::new(169, 254, 1, 1),
            localhost_ports: ports,
            dns_relay: false,
        })
    }

    #[test]
    fn ruleset_golden_with_localhost_ports() {
        let tcp = |port| GuestPort {
            port,
            protocol: Protocol::Tcp,
        };
        let ports = [
            tcp(8080),
            tcp(9090),
            GuestPort {
                port: 5353,
                protocol: Protocol::Udp,
            },
        ];
        assert_eq!(
            rules(&ports),
            "table ip ukrun_uk_c1 {
\tchain prerouting {
\t\ttype filter hook prerouting priority mangle; policy accept;
\t\tiifname \"eth0\" ip daddr 169.254.1.1 drop
\t\tiifname \"eth0\" ip daddr 10.88.0.5 ct state new socket wildcard 0 ct mark set ct mark or 0x00800000
\t\tiifname \"eth0\" ip daddr 10.88.0.5 ct state new socket wildcard 1 ct mark set ct mark or 0x00800000
\t\tiifname \"eth0\" ip daddr 10.88.0.5 ct mark and 0x00800000 == 0 meta mark set meta mark or 0x00400000
\t\tiifname \"uk-c1\" ip daddr 169.254.1.1 ct state new ct mark set ct mark or 0x00200000
\t}
\tchain prerouting_nat {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tiifname \"uk-c1\" ip daddr 169.254.1.1 dnat to 127.0.0.1
\t}
\tchain output {
\t\ttype route hook output priority mangle; policy accept;
\t\tct state new ct mark set ct mark or 0x00800000
\t\tct mark and 0x00200000 != 0 meta mark set meta mark or 0x00400000
\t\tip daddr 127.0.0.1 tcp dport { 8080, 9090 } meta mark set meta mark or 0x00400000
\t\tip daddr 127.0.0.1 udp dport { 5353 } meta mark set meta mark or 0x00400000
\t}
\tchain output_nat {
\t\ttype nat hook output priority -100; policy accept;
\t\tip daddr 127.0.0.1 tcp dport { 8080, 9090 } dnat to 10.88.0.5
\t\tip daddr 127.0.0.1 udp dport { 5353 } dnat to 10.88.0.5
\t}
\tchain postrouting_nat {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname \"uk-c1\" ip saddr 127.0.0.1 snat to 169.254.1.1
\t}
}
"
        );
    }

    #[test]
    fn the_relay_keeps_its_port_from_the_loopback_dnat() {
        let text = routed_ruleset(&RoutedRules {
            table: "t",
            pod_if: &IfName::new("eth0").unwrap(),
            tap: "uk-c1",
            pod_ip: Ipv4Addr::new(10, 88, 0, 5),
            pod_loopback: Ipv4Addr::new(169, 254, 1, 1),
            localhost_ports: &[],
            dns_relay: true,
        });
        assert!(text.contains("\t\tiifname \"uk-c1\" ip daddr 169.254.1.1 meta l4proto { tcp, udp } th dport 53 accept\n\t\tiifname \"uk-c1\" ip daddr 169.254.1.1 dnat to 127.0.0.1\n"), "{text}");
    }

    #[test]
    fn no_ports_means_no_port_rules() {
        let text = rules(&[]);
        assert!(!text.contains("dport"));
        assert!(text.contains(
            "chain output_nat {\n\t\ttype nat hook output priority -100; policy accept;\n\t}"
        ));
    }
}
