//! The changes ukrun makes in a pod netns, as data: the plan lists them, the
//! state records them as they are applied, and undo walks them backwards.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// One change in the pod netns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NetStep {
    /// A tap owned by the supervisor's file descriptor (it vanishes with the
    /// last descriptor; undo deletes it by name in case it did not).
    Tap {
        /// Interface name.
        name: String,
        /// MTU, the pod interface's.
        mtu: u32,
    },
    /// An ingress qdisc that ukrun added. Attaching it raises a tx queue
    /// length of 0 (a CNI-made veth's) to 1000, which deleting it does not
    /// undo: the length found is recorded before it is attached, and restored.
    IngressQdisc {
        /// Interface name.
        interface: String,
        /// The interface's tx queue length before, filled in (and saved)
        /// before the qdisc is attached.
        #[serde(default)]
        previous_txqueuelen: Option<u32>,
    },
    /// A u32 match-all filter with a mirred egress redirect.
    Redirect {
        /// Interface whose ingress is redirected.
        from: String,
        /// Interface the packets leave by.
        to: String,
    },
    /// An IPv4 address (/32) on an interface.
    Address {
        /// Interface name.
        interface: String,
        /// The address.
        address: Ipv4Addr,
    },
    /// A sysctl value; `previous` is filled in (and saved) before the value
    /// is written, and restored.
    Sysctl {
        /// Path under /proc/sys (e.g. `net/ipv4/ip_forward`).
        key: String,
        /// Value to set.
        value: String,
        /// Value found before, restored on undo.
        previous: Option<String>,
    },
    /// A host route in a routing table.
    Route {
        /// Routing table.
        table: u32,
        /// Destination (/32).
        destination: Ipv4Addr,
        /// Output interface.
        interface: String,
        /// Preferred source address.
        source: Ipv4Addr,
    },
    /// A policy routing rule.
    Rule(RoutingRule),
    /// The kernel's `lookup local` rule moved from one priority to another,
    /// so rules can be placed before it.
    LocalRule {
        /// Priority it had.
        from: u32,
        /// Priority it gets.
        to: u32,
    },
    /// An nftables table ukrun owns (deleting it removes all its chains).
    Nftables {
        /// Table name (family `ip`).
        table: String,
        /// The ruleset text loaded with `nft -f -`.
        ruleset: String,
    },
    /// The TCP connections that the nftables table forwards from the pod's
    /// 127.0.0.1 to the guest. Nothing to set up; undo aborts them, so that
    /// their peers learn at once that the guest is gone.
    LoopbackConnections {
        /// The guest's TCP ports declared for localhost.
        ports: Vec<u16>,
    },
}

/// A policy routing rule: `from all [fwmark M/M] [iif I] [to D/32] lookup T`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// Priority.
    pub priority: u32,
    /// Firewall mark (matched under the same mask).
    pub fwmark: Option<u32>,
    /// Input interface.
    pub iif: Option<String>,
    /// Destination host.
    pub to: Option<Ipv4Addr>,
    /// Table looked up.
    pub table: u32,
}

impl NetStep {
    /// One-line description for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            NetStep::Tap { name, mtu } => format!("tap {name} (mtu {mtu})"),
            NetStep::IngressQdisc { interface, .. } => format!("ingress qdisc on {interface}"),
            NetStep::Redirect { from, to } => format!("tc redirect {from} -> {to}"),
            NetStep::Address { interface, address } => {
                format!("address {address}/32 on {interface}")
            }
            NetStep::Sysctl { key, value, .. } => format!("sysctl {key}={value}"),
            NetStep::Route {
                table,
                destination,
                interface,
                source,
            } => {
                format!("route {destination}/32 dev {interface} src {source} table {table}")
            }
            NetStep::Rule(r) => format!("rule priority {} lookup {}", r.priority, r.table),
            NetStep::LocalRule { from, to } => format!("local rule priority {from} -> {to}"),
            NetStep::Nftables { table, .. } => format!("nftables table ip {table}"),
            NetStep::LoopbackConnections { ports } => format!(
                "connections to 127.0.0.1 port {}",
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_serialize_with_a_kind_tag() {
        let s = NetStep::Redirect {
            from: "eth0".into(),
            to: "tap".into(),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"kind":"redirect","from":"eth0","to":"tap"}"#);
        assert_eq!(serde_json::from_str::<NetStep>(&json).unwrap(), s);
        assert_eq!(s.describe(), "tc redirect eth0 -> tap");
    }
}
