//! What must exist in the pod netns: the steps the state recorded as
//! applied (a known container), or the plan rebuilt from the ukrun tap found
//! in a bare pod netns (`--netns`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::read::view::NetView;
use crate::net::plan::{self, NetworkMode, Wiring};
use crate::net::steps::NetStep;
use crate::spec::ports::{GuestPort, Protocol};

/// Prefix of the taps ukrun creates (see `plan::tap_name`).
const TAP_PREFIX: &str = "uk-";

/// The expected state of the pod netns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectation {
    /// Network mode (`None`: no ukrun guest found).
    pub mode: Option<NetworkMode>,
    /// The guest's tap.
    pub tap: Option<String>,
    /// Every change that must be in place.
    pub steps: Vec<NetStep>,
    /// Guest ports forwarded from the pod's loopback.
    pub localhost_ports: Vec<GuestPort>,
}

impl Expectation {
    /// The recorded steps of a container and its declared localhost ports.
    pub fn recorded(steps: &[NetStep], localhost_ports: Vec<GuestPort>) -> Self {
        let mode = if steps.iter().any(|s| matches!(s, NetStep::Nftables { .. })) {
            Some(NetworkMode::Routed)
        } else if steps.iter().any(|s| matches!(s, NetStep::Redirect { .. })) {
            Some(NetworkMode::Tc)
        } else {
            None
        };
        let tap = steps.iter().find_map(|s| match s {
            NetStep::Tap { name, .. } => Some(name.clone()),
            _ => None,
        });
        Self {
            mode,
            tap,
            steps: steps.to_vec(),
            localhost_ports,
        }
    }

    /// The plan of the ukrun tap found in `view`: tc mode if the tap has an
    /// ingress qdisc, else routed with the tap's address as pod-loopback
    /// (`default_loopback` if it has none). Localhost ports and the DNS
    /// relay are unknown: planned without them.
    pub fn inferred(view: &NetView, default_loopback: Ipv4Addr) -> Self {
        let Some(tap) = view
            .links
            .iter()
            .find(|l| l.tun && l.summary.name.starts_with(TAP_PREFIX))
        else {
            return Self::default();
        };
        let name = tap.summary.name.clone();
        let Ok(pod) = view.pod_interface(Some(&name)) else {
            return Self {
                tap: Some(name),
                ..Self::default()
            };
        };
        let mode = if view.ingress.contains(&tap.summary.index) {
            NetworkMode::Tc
        } else {
            NetworkMode::Routed
        };
        let wiring = Wiring {
            mode,
            pod_loopback: view.ipv4_of(&name).unwrap_or(default_loopback),
            localhost_ports: Vec::new(),
            dns_relay: false,
        };
        let id = &name[TAP_PREFIX.len()..];
        Self {
            mode: Some(mode),
            steps: plan::plan(&wiring, &pod, id).steps,
            tap: Some(name),
            localhost_ports: Vec::new(),
        }
    }

    /// The nftables table that must exist (routed mode).
    pub fn nft_table(&self) -> Option<&str> {
        self.steps.iter().find_map(|s| match s {
            NetStep::Nftables { table, .. } => Some(table.as_str()),
            _ => None,
        })
    }

    /// The recorded ruleset of that table.
    pub fn nft_ruleset(&self) -> Option<&str> {
        self.steps.iter().find_map(|s| match s {
            NetStep::Nftables { ruleset, .. } => Some(ruleset.as_str()),
            _ => None,
        })
    }

    /// The sysctls that must hold their values.
    pub fn sysctl_keys(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                NetStep::Sysctl { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect()
    }

    /// The pod-loopback address (the tap's, routed mode).
    pub fn pod_loopback(&self) -> Option<Ipv4Addr> {
        self.steps.iter().find_map(|s| match s {
            NetStep::Address { address, .. } => Some(*address),
            _ => None,
        })
    }

    /// The declared TCP ports.
    pub fn tcp_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.localhost_ports
            .iter()
            .filter(|p| p.protocol == Protocol::Tcp)
            .map(|p| p.port)
    }

    /// Where the localhost probes connect: 127.0.0.1 and (when the pod has
    /// it) ::1 on each declared TCP port.
    pub fn localhost_targets(&self, ipv6_loopback: bool) -> Vec<SocketAddr> {
        self.tcp_ports()
            .flat_map(|port| {
                let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                let v6 = ipv6_loopback.then(|| SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
                std::iter::once(v4).chain(v6)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::PodInterface;

    fn pod() -> PodInterface {
        PodInterface {
            name: crate::net::ifname::IfName::new("eth0").unwrap(),
            index: 2,
            mac: [2, 0, 0, 0, 0, 2],
            mtu: 1500,
            ipv4: Ipv4Addr::new(10, 77, 0, 2),
            prefix: 24,
            gateway: Some(Ipv4Addr::new(10, 77, 0, 1)),
        }
    }

    #[test]
    fn recorded_steps_tell_the_mode_tap_and_routed_objects() {
        let lo = Ipv4Addr::new(169, 254, 1, 1);
        let wiring = Wiring {
            mode: NetworkMode::Routed,
            pod_loopback: lo,
            localhost_ports: vec![],
            dns_relay: false,
        };
        let routed = plan::plan(&wiring, &pod(), "g1");
        let e = Expectation::recorded(&routed.steps, vec![]);
        assert_eq!(e.mode, Some(NetworkMode::Routed));
        assert_eq!(e.tap.as_deref(), Some("uk-g1"));
        assert_eq!(e.nft_table(), Some("ukrun_uk_g1"));
        assert_eq!(e.pod_loopback(), Some(lo));
        assert!(e.sysctl_keys().contains(&"net/ipv4/ip_forward".to_owned()));
        let tc = Expectation::recorded(&plan::plan_tc(&pod(), "g1").steps, vec![]);
        assert_eq!(tc.mode, Some(NetworkMode::Tc));
        assert_eq!(tc.nft_table(), None);
    }

    #[test]
    fn localhost_targets_cover_both_loopbacks_for_tcp_ports_only() {
        let ports = vec![
            GuestPort {
                port: 8080,
                protocol: Protocol::Tcp,
            },
            GuestPort {
                port: 53,
                protocol: Protocol::Udp,
            },
        ];
        let e = Expectation::recorded(&[], ports);
        let shown: Vec<String> = e
            .localhost_targets(true)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, vec!["127.0.0.1:8080", "[::1]:8080"]);
        assert_eq!(e.localhost_targets(false).len(), 1);
    }
}
