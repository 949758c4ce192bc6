//! The nftables table of routed mode (rendered as text, pure) and the thin
//! wrapper that loads or deletes it with the `nft` binary.
//!
//! It marks in conntrack the connections that belong to the pod netns itself
//! (sidecars): every connection it originates (output, new) and every new
//! inbound connection that finds a local socket (prerouting, new, `socket`;
//! both wildcard-bound and address-bound listeners). Every other IP packet
//! that arrives on the pod interface for the pod IP gets the guest mark, and
//! a routing rule sends it to the tap. ARP is never marked, so the pod
//! interface keeps answering the node's ARP for the pod IP.
//! Syntax: nft(8), "SOCKET EXPRESSION", "CONNTRACK EXPRESSIONS".

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// Conntrack mark of the pod's own (sidecar) connections.
pub const SIDECAR_MARK: u32 = 0x0080_0000;
/// Packet mark of what goes to the guest.
pub const GUEST_MARK: u32 = 0x0040_0000;

/// Why nft failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NftError {
    /// The binary is missing.
    #[error("nft not found: routed mode needs nftables (install the nftables package) or use the annotation ukrun.dev/network-mode: tc")]
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

/// The routed-mode ruleset for pod interface `pod_if`, pod IP `pod_ip` and
/// pod-loopback address `pod_loopback` (reachable only from the guest's tap:
/// packets to it arriving on the pod interface are dropped).
pub fn routed_ruleset(
    table: &str,
    pod_if: &str,
    pod_ip: Ipv4Addr,
    pod_loopback: Ipv4Addr,
) -> String {
    let m = format!("{SIDECAR_MARK:#010x}");
    let g = format!("{GUEST_MARK:#010x}");
    format!(
        "table ip {table} {{
\tchain prerouting {{
\t\ttype filter hook prerouting priority mangle; policy accept;
\t\tiifname \"{pod_if}\" ip daddr {pod_loopback} drop
\t\tiifname \"{pod_if}\" ip daddr {pod_ip} ct state new socket wildcard 0 ct mark set ct mark or {m}
\t\tiifname \"{pod_if}\" ip daddr {pod_ip} ct state new socket wildcard 1 ct mark set ct mark or {m}
\t\tiifname \"{pod_if}\" ip daddr {pod_ip} ct mark and {m} == 0 meta mark set meta mark or {g}
\t}}
\tchain output {{
\t\ttype route hook output priority mangle; policy accept;
\t\tct state new ct mark set ct mark or {m}
\t}}
}}
"
    )
}

/// Loads `ruleset` (in the current netns).
pub fn load(ruleset: &str) -> Result<(), NftError> {
    run(&["-f", "-"], Some(ruleset))
}

/// Deletes table `ip <table>`; a table that is already gone is fine.
pub fn delete_table(table: &str) -> Result<(), NftError> {
    match run(&["delete", "table", "ip", table], None) {
        Err(NftError::Failed(msg)) if msg.contains("No such file or directory") => Ok(()),
        other => other,
    }
}

fn run(args: &[&str], stdin: Option<&str>) -> Result<(), NftError> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => NftError::Missing,
            _ => NftError::Failed(e.to_string()),
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| NftError::Failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NftError::Failed(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        let msg = String::from_utf8_lossy(&out.stderr);
        Err(NftError::Failed(
            msg.lines().next().unwrap_or("failed").trim().to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_nft_identifiers() {
        assert_eq!(table_name("uk-c1"), "ukrun_uk_c1");
    }

    #[test]
    fn ruleset_golden() {
        let text = routed_ruleset(
            "ukrun_uk_c1",
            "eth0",
            Ipv4Addr::new(10, 88, 0, 5),
            Ipv4Addr::new(169, 254, 1, 1),
        );
        assert_eq!(
            text,
            "table ip ukrun_uk_c1 {
\tchain prerouting {
\t\ttype filter hook prerouting priority mangle; policy accept;
\t\tiifname \"eth0\" ip daddr 169.254.1.1 drop
\t\tiifname \"eth0\" ip daddr 10.88.0.5 ct state new socket wildcard 0 ct mark set ct mark or 0x00800000
\t\tiifname \"eth0\" ip daddr 10.88.0.5 ct state new socket wildcard 1 ct mark set ct mark or 0x00800000
\t\tiifname \"eth0\" ip daddr 10.88.0.5 ct mark and 0x00800000 == 0 meta mark set meta mark or 0x00400000
\t}
\tchain output {
\t\ttype route hook output priority mangle; policy accept;
\t\tct state new ct mark set ct mark or 0x00800000
\t}
}
"
        );
    }
}
