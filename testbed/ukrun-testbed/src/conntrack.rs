//! Connection tracking entries of a network namespace that outlive what
//! made them: an entry whose remaining timeout is longer than a closed
//! connection's (TCP TIME_WAIT, a replied UDP flow: 120 s) belongs to a
//! connection the kernel still thinks is open, which nothing will close.

use std::path::Path;

use anyhow::{Context, Result};

use crate::netns::Netns;

/// The longest timeout (seconds) an entry of a finished exchange gets.
pub const SETTLING_SECONDS: u64 = 120;

/// The entries of `netns`'s conntrack table whose timeout exceeds
/// [`SETTLING_SECONDS`], as the kernel lists them (none where the kernel
/// tracks no connection there).
pub fn lasting(netns: &Netns) -> Result<Vec<String>> {
    let table = netns.within(|| {
        // The calling thread's namespace: /proc/net follows the main thread.
        let path = Path::new("/proc/thread-self/net/nf_conntrack");
        if !path.exists() {
            return Ok(String::new());
        }
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    })?;
    Ok(lasting_entries(&table))
}

/// The lines of an `nf_conntrack` table with a timeout above
/// [`SETTLING_SECONDS`].
fn lasting_entries(table: &str) -> Vec<String> {
    table
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .nth(4)
                .and_then(|timeout| timeout.parse::<u64>().ok())
                .is_some_and(|timeout| timeout > SETTLING_SECONDS)
        })
        .map(|line| format!("conntrack: {}", line.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_open_connections_last() {
        let table = "ipv4     2 tcp      6 117 TIME_WAIT src=10.77.0.1 dst=10.77.0.2 sport=4 dport=8080\n\
                     ipv4     2 tcp      6 431999 ESTABLISHED src=10.77.0.1 dst=10.77.0.2 sport=5 dport=8080\n\
                     ipv4     2 udp      17 29 src=169.254.1.2 dst=169.254.1.1 sport=9 dport=53\n";
        let found = lasting_entries(table);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("ESTABLISHED"), "{found:?}");
    }
}
