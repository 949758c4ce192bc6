//! The network plan (pure): from the observed pod interface to what the
//! guest is told and what must change in the pod netns.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::steps::NetStep;
use super::PodInterface;

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
            interface: pod.name.clone(),
        },
        NetStep::Redirect {
            from: pod.name.clone(),
            to: tap.clone(),
        },
        NetStep::IngressQdisc {
            interface: tap.clone(),
        },
        NetStep::Redirect {
            from: tap.clone(),
            to: pod.name.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(prefix: u8, gateway: Option<Ipv4Addr>, mtu: u32) -> PodInterface {
        PodInterface {
            name: "net1".into(),
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
                    interface: "net1".into()
                },
                NetStep::Redirect {
                    from: "net1".into(),
                    to: "uk-c1".into()
                },
                NetStep::IngressQdisc {
                    interface: "uk-c1".into()
                },
                NetStep::Redirect {
                    from: "uk-c1".into(),
                    to: "net1".into()
                },
            ]
        );
    }
}
