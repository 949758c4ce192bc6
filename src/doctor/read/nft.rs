//! Reads one nftables table of the current network namespace with
//! `nft -j list table ip NAME` (the child inherits the calling thread's
//! netns), reduced to its chains and its DNAT rules.

use std::net::Ipv4Addr;
use std::process::Command;

use serde_json::Value;

use crate::spec::ports::{GuestPort, Protocol};

/// A base chain and how many rules it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Chain name.
    pub name: String,
    /// Netfilter hook (`prerouting`, `output`, …).
    pub hook: Option<String>,
    /// Number of rules.
    pub rules: usize,
}

/// A rule that DNATs ports to an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dnat {
    /// Chain it is in.
    pub chain: String,
    /// The ports it matches.
    pub ports: Vec<GuestPort>,
    /// Where it sends them.
    pub to: Option<Ipv4Addr>,
}

/// What the table holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Its chains.
    pub chains: Vec<Chain>,
    /// Its DNAT rules.
    pub dnats: Vec<Dnat>,
}

/// The table as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NftView {
    /// nft says there is no such table.
    Absent,
    /// The table.
    Present(Table),
    /// nft could not be asked (missing binary, unparsable output, …).
    Unreadable(String),
}

/// Lists table `ip <name>`.
pub fn read(name: &str) -> NftView {
    let out = match Command::new("nft")
        .args(["-j", "list", "table", "ip", name])
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return NftView::Unreadable("nft not found (install the nftables package)".into())
        }
        Err(e) => return NftView::Unreadable(format!("nft: {e}")),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return if stderr.contains("No such file or directory") {
            NftView::Absent
        } else {
            NftView::Unreadable(format!(
                "nft: {}",
                stderr.lines().next().unwrap_or("failed")
            ))
        };
    }
    match serde_json::from_slice::<Value>(&out.stdout) {
        Ok(doc) => NftView::Present(parse(&doc)),
        Err(e) => NftView::Unreadable(format!("nft -j output: {e}")),
    }
}

/// Reduces nft's JSON document to chains and DNAT rules.
pub fn parse(doc: &Value) -> Table {
    let items: Vec<&Value> = doc["nftables"].as_array().into_iter().flatten().collect();
    let mut chains: Vec<Chain> = items
        .iter()
        .filter_map(|item| item.get("chain"))
        .map(|c| Chain {
            name: c["name"].as_str().unwrap_or_default().to_owned(),
            hook: c["hook"].as_str().map(str::to_owned),
            rules: 0,
        })
        .collect();
    let rules: Vec<&Value> = items.iter().filter_map(|item| item.get("rule")).collect();
    for rule in &rules {
        if let Some(chain) = chains.iter_mut().find(|c| rule["chain"] == c.name.as_str()) {
            chain.rules += 1;
        }
    }
    let dnats = rules.iter().filter_map(|rule| dnat(rule)).collect();
    Table { chains, dnats }
}

fn dnat(rule: &Value) -> Option<Dnat> {
    let exprs = rule["expr"].as_array()?;
    let target = exprs.iter().find_map(|e| e.get("dnat"))?;
    let ports = exprs
        .iter()
        .filter_map(|e| e.get("match"))
        .filter(|m| m["left"]["payload"]["field"] == "dport")
        .flat_map(|m| {
            let protocol = match m["left"]["payload"]["protocol"].as_str() {
                Some("udp") => Protocol::Udp,
                _ => Protocol::Tcp,
            };
            numbers(&m["right"])
                .into_iter()
                .map(move |port| GuestPort { port, protocol })
        })
        .collect();
    Some(Dnat {
        chain: rule["chain"].as_str().unwrap_or_default().to_owned(),
        ports,
        to: target["addr"].as_str().and_then(|a| a.parse().ok()),
    })
}

/// A port number, or the numbers of an anonymous set.
fn numbers(right: &Value) -> Vec<u16> {
    match right {
        Value::Object(o) => o
            .get("set")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(numbers)
            .collect(),
        other => other
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .into_iter()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_rule_counts_and_dnat_ports() {
        let doc = serde_json::json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "ip", "name": "t", "handle": 1}},
            {"chain": {"family": "ip", "table": "t", "name": "output", "hook": "output"}},
            {"chain": {"family": "ip", "table": "t", "name": "output_nat", "hook": "output"}},
            {"rule": {"chain": "output", "expr": [{"drop": null}]}},
            {"rule": {"chain": "output_nat", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "127.0.0.1"}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [8080, 9090]}}},
                {"dnat": {"addr": "10.88.0.5"}}]}},
            {"rule": {"chain": "output_nat", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 5353}},
                {"dnat": {"addr": "10.88.0.5"}}]}}
        ]});
        let table = parse(&doc);
        assert_eq!(
            table
                .chains
                .iter()
                .map(|c| (c.name.as_str(), c.rules))
                .collect::<Vec<_>>(),
            vec![("output", 1), ("output_nat", 2)]
        );
        let ports: Vec<String> = table
            .dnats
            .iter()
            .flat_map(|d| d.ports.iter().map(ToString::to_string))
            .collect();
        assert_eq!(ports, vec!["8080/tcp", "9090/tcp", "5353/udp"]);
        assert_eq!(table.dnats[0].to, Some(Ipv4Addr::new(10, 88, 0, 5)));
    }
}
