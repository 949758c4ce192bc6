//! The network plan (pure): from the observed pod interface to what the
//! guest is told and what must change in the pod netns.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::nft;
use super::steps::{NetStep, RoutingRule};
use super::PodInterface;
use crate::spec::ports::{GuestPort, Protocol};

/// How the guest is wired to the pod network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Every packet redirected between pod interface and tap (tc mirred):
    /// fastest, but sidecars lose their network.
    Tc,
    /// The pod netns routes between pod interface and tap; sidecars keep
    /// their connections and listeners, netfilter sees the guest.
    Routed,
}

impl NetworkMode {
    /// Parses the annotation value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "tc" => Some(Self::Tc),
            "routed" => Some(Self::Routed),
            _ => None,
        }
    }
}

/// Routing table that sends the pod IP to the tap (routed mode).
pub const GUEST_TABLE: u32 = 7547;
/// The kernel's local routing table.
pub const LOCAL_TABLE: u32 = 255;
/// Priority of the rule sending guest-marked packets to the guest.
pub const GUEST_RULE_PRIORITY: u32 = 20;
/// Where the `lookup local` rule moves to (from 0), below ukrun's rules.
pub const LOCAL_RULE_PRIORITY: u32 = 100;

/// The guest's network configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestNet {
    /// The pod IP: the cluster sees the guest at it.
    pub ip: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// Default gateway, if the pod has one (may lie outside the subnet).
    pub gateway: Option<Ipv4Addr>,
    /// The pod interface's MAC (neighbour entries on the node stay valid).
    pub mac: [u8; 6],
    /// The pod interface's MTU.
    pub mtu: u32,
}

/// What to create in the pod netns and what the guest is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetPlan {
    /// Tap interface name.
    pub tap: String,
    /// Guest network configuration.
    pub guest: GuestNet,
    /// Changes to apply, in order.
    pub steps: Vec<NetStep>,
}

/// Tap name for a container: unique per container id, at most 15 bytes
/// (IFNAMSIZ - 1), so several guests can share a pod netns.
pub fn tap_name(container_id: &str) -> String {
    let safe: String = container_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("uk-{safe}")
}

/// Plans tc mode: the guest takes the pod IP and MAC, and every packet is
/// redirected between the pod interface and the tap (u32 + mirred).
pub fn plan_tc(pod: &PodInterface, container_id: &str) -> NetPlan {
    let tap = tap_name(container_id);
    let steps = vec![
        NetStep::Tap {
            name: tap.clone(),
            mtu: pod.mtu,
        },
        NetStep::IngressQdisc {
            interface: pod.name.to_string(),
            previous_txqueuelen: None,
        },
        NetStep::Redirect {
            from: pod.name.to_string(),
            to: tap.clone(),
        },
        NetStep::IngressQdisc {
            interface: tap.clone(),
            previous_txqueuelen: None,
        },
        NetStep::Redirect {
            from: tap.clone(),
            to: pod.name.to_string(),
        },
    ];
    NetPlan {
        tap,
        guest: GuestNet {
            ip: pod.ipv4,
            prefix: pod.prefix,
            gateway: pod.gateway,
            mac: pod.mac,
            mtu: pod.mtu,
        },
        steps,
    }
}

/// Plans routed mode: the pod IP stays on the pod interface; the guest gets
/// it as a /32 behind the pod-loopback address, which the tap holds; marks
/// and policy routing send everything for the pod IP to the guest except
/// the sidecars' connections, which stay local.
pub fn plan_routed(pod: &PodInterface, container_id: &str, wiring: &Wiring) -> NetPlan {
    let pod_loopback = wiring.pod_loopback;
    let tap = tap_name(container_id);
    let sysctl = |key: String, value: &str| NetStep::Sysctl {
        key,
        value: value.to_owned(),
        previous: None,
    };
    let tap_conf = |name: &str, value: &str| sysctl(format!("net/ipv4/conf/{tap}/{name}"), value);
    let table = nft::table_name(&tap);
    let loopback_tcp: Vec<u16> = wiring
        .localhost_ports
        .iter()
        .filter(|p| p.protocol == Protocol::Tcp)
        .map(|p| p.port)
        .collect();
    let mut steps = vec![
        NetStep::Tap {
            name: tap.clone(),
            mtu: pod.mtu,
        },
        NetStep::Address {
            interface: tap.clone(),
            address: pod_loopback,
        },
        sysctl("net/ipv4/ip_forward".into(), "1"),
        tap_conf("accept_local", "1"),
        tap_conf("route_localnet", "1"),
        tap_conf("proxy_arp", "1"),
        tap_conf("rp_filter", "2"),
        sysctl(format!("net/ipv4/neigh/{tap}/proxy_delay"), "0"),
        sysctl(format!("net/ipv4/conf/{}/arp_ignore", pod.name), "1"),
        NetStep::Route {
            table: GUEST_TABLE,
            destination: pod.ipv4,
            interface: tap.clone(),
            source: pod_loopback,
        },
        NetStep::Nftables {
            ruleset: nft::routed_ruleset(&nft::RoutedRules {
                table: &table,
                pod_if: &pod.name,
                tap: &tap,
                pod_ip: pod.ipv4,
                pod_loopback,
                localhost_ports: &wiring.localhost_ports,
                dns_relay: wiring.dns_relay,
            }),
            table,
        },
    ];
    if !loopback_tcp.is_empty() {
        steps.push(NetStep::LoopbackConnections {
            ports: loopback_tcp,
        });
    }
    steps.extend([
        NetStep::LocalRule {
            from: 0,
            to: LOCAL_RULE_PRIORITY,
        },
        NetStep::Rule(RoutingRule {
            priority: GUEST_RULE_PRIORITY,
            fwmark: Some(nft::GUEST_MARK),
            iif: None,
            to: None,
            table: GUEST_TABLE,
        }),
    ]);
    NetPlan {
        tap,
        guest: GuestNet {
            ip: pod.ipv4,
            prefix: 32,
            gateway: Some(pod_loopback),
            mac: pod.mac,
            mtu: pod.mtu,
        },
        steps,
    }
}

/// The container's choices that shape its network plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wiring {
    /// Network mode.
    pub mode: NetworkMode,
    /// Pod-loopback address (routed mode).
    pub pod_loopback: Ipv4Addr,
    /// Guest ports forwarded from the pod's loopback (routed mode).
    pub localhost_ports: Vec<GuestPort>,
    /// Whether the DNS relay serves the guest on the pod-loopback address
    /// (its port 53 is then not passed on to the pod's 127.0.0.1).
    pub dns_relay: bool,
}

/// Why a wiring cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WiringError {
    /// A feature that needs routed mode.
    #[error("{feature} needs network mode routed (this container uses tc: set ukrun.dev/network-mode: routed)")]
    NeedsRouted {
        /// The feature.
        feature: &'static str,
    },
}

impl Wiring {
    /// Checks that the mode can provide every feature asked for (tc mode
    /// has no routing in the pod netns, so no localhost forwarding).
    pub fn check(&self) -> Result<(), WiringError> {
        if self.mode == NetworkMode::Tc && !self.localhost_ports.is_empty() {
            return Err(WiringError::NeedsRouted {
                feature: "ukrun.dev/localhost-ports",
            });
        }
        Ok(())
    }
}

/// Plans the network of a container.
pub fn plan(wiring: &Wiring, pod: &PodInterface, container_id: &str) -> NetPlan {
    match wiring.mode {
        NetworkMode::Tc => plan_tc(pod, container_id),
        NetworkMode::Routed => plan_routed(pod, container_id, wiring),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ifname::IfName;

    fn pod(prefix: u8, gateway: Option<Ipv4Addr>, mtu: u32) -> PodInterface {
        PodInterface {
            name: IfName::new("net1").unwrap(),
            index: 3,
            mac: [2, 0, 0, 0, 0, 9],
            mtu,
            ipv4: Ipv4Addr::new(10, 88, 0, 5),
            prefix,
            gateway,
        }
    }

    #[test]
    fn tap_names_fit_ifnamsiz_and_differ_per_container() {
        let a = tap_name("0123456789abcdef0123");
        assert_eq!(a, "uk-0123456789ab");
        assert!(a.len() <= 15);
        assert_ne!(tap_name("aaa"), tap_name("aab"));
        assert_eq!(tap_name("x/../y"), "uk-xy");
    }

    #[test]
    fn bridge_pod_keeps_ip_gateway_mac_and_mtu() {
        let p = pod(24, Some(Ipv4Addr::new(10, 88, 0, 1)), 1450);
        let plan = plan_tc(&p, "c1");
        assert_eq!(plan.guest.ip, p.ipv4);
        assert_eq!(plan.guest.prefix, 24);
        assert_eq!(plan.guest.gateway, Some(Ipv4Addr::new(10, 88, 0, 1)));
        assert_eq!(plan.guest.mac, p.mac);
        assert_eq!(plan.guest.mtu, 1450);
    }

    #[test]
    fn calico_pod_keeps_off_subnet_gateway() {
        let p = pod(32, Some(Ipv4Addr::new(169, 254, 1, 1)), 1500);
        let plan = plan_tc(&p, "c1");
        assert_eq!(plan.guest.prefix, 32);
        assert_eq!(plan.guest.gateway, Some(Ipv4Addr::new(169, 254, 1, 1)));
    }

    #[test]
    fn routed_guest_is_a_host_behind_the_pod_loopback_address() {
        let p = pod(24, Some(Ipv4Addr::new(10, 88, 0, 1)), 1450);
        let plan = plan_routed(&p, "c1", &routed());
        assert_eq!(plan.guest.ip, p.ipv4);
        assert_eq!(plan.guest.prefix, 32);
        assert_eq!(plan.guest.gateway, Some(Ipv4Addr::new(169, 254, 1, 1)));
        assert_eq!(plan.guest.mtu, 1450);
        assert_eq!(plan.guest.mac, p.mac);
    }

    #[test]
    fn routed_steps_build_the_path_before_the_rules_flip_traffic() {
        let plan = plan_routed(
            &pod(32, Some(Ipv4Addr::new(169, 254, 1, 1)), 1500),
            "c1",
            &routed(),
        );
        let described: Vec<String> = plan.steps.iter().map(NetStep::describe).collect();
        assert_eq!(
            described,
            vec![
                "tap uk-c1 (mtu 1500)",
                "address 169.254.1.1/32 on uk-c1",
                "sysctl net/ipv4/ip_forward=1",
                "sysctl net/ipv4/conf/uk-c1/accept_local=1",
                "sysctl net/ipv4/conf/uk-c1/route_localnet=1",
                "sysctl net/ipv4/conf/uk-c1/proxy_arp=1",
                "sysctl net/ipv4/conf/uk-c1/rp_filter=2",
                "sysctl net/ipv4/neigh/uk-c1/proxy_delay=0",
                "sysctl net/ipv4/conf/net1/arp_ignore=1",
                "route 10.88.0.5/32 dev uk-c1 src 169.254.1.1 table 7547",
                "nftables table ip ukrun_uk_c1",
                "local rule priority 0 -> 100",
                "rule priority 20 lookup 7547",
            ]
        );
        assert!(
            matches!(&plan.steps[12], NetStep::Rule(r) if r.fwmark == Some(nft::GUEST_MARK) && r.iif.is_none())
        );
    }

    fn routed() -> Wiring {
        Wiring {
            mode: NetworkMode::Routed,
            pod_loopback: Ipv4Addr::new(169, 254, 1, 1),
            localhost_ports: Vec::new(),
            dns_relay: false,
        }
    }

    #[test]
    fn tc_mode_refuses_localhost_ports() {
        let port = GuestPort {
            port: 80,
            protocol: crate::spec::ports::Protocol::Tcp,
        };
        let wiring = |mode| Wiring {
            mode,
            pod_loopback: Ipv4Addr::new(169, 254, 1, 1),
            localhost_ports: vec![port],
            dns_relay: false,
        };
        assert!(wiring(NetworkMode::Routed).check().is_ok());
        let e = wiring(NetworkMode::Tc).check().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("ukrun.dev/localhost-ports needs network mode routed"),
            "{e}"
        );
    }

    #[test]
    fn mode_names() {
        assert_eq!(NetworkMode::parse("tc"), Some(NetworkMode::Tc));
        assert_eq!(NetworkMode::parse("routed"), Some(NetworkMode::Routed));
        assert_eq!(NetworkMode::parse("bridge"), None);
    }

    #[test]
    fn tc_steps_redirect_both_ways_after_their_qdiscs() {
        let plan = plan_tc(&pod(24, None, 1500), "c1");
        assert_eq!(
            plan.steps,
            vec![
                NetStep::Tap {
                    name: "uk-c1".into(),
                    mtu: 1500
                },
                NetStep::IngressQdisc {
                    interface: "net1".into(),
                    previous_txqueuelen: None
                },
                NetStep::Redirect {
                    from: "net1".into(),
                    to: "uk-c1".into()
                },
                NetStep::IngressQdisc {
                    interface: "uk-c1".into(),
                    previous_txqueuelen: None
                },
                NetStep::Redirect {
                    from: "uk-c1".into(),
                    to: "net1".into()
                },
            ]
        );
    }
}
