//! ukrun's own annotations (`ukrun.dev/…`): per-container choices that
//! override ukrun's configuration file.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::ports::{parse_port_list, GuestPort, PortListError};
use crate::dns::delivery::{Choice, DeliveryError, DNS_DELIVERY};
use crate::limits::excerpt;
use crate::net::plan::NetworkMode;

/// Network mode annotation: `tc` or `routed`.
pub const NETWORK_MODE: &str = "ukrun.dev/network-mode";
/// Guest ports reachable on the pod's 127.0.0.1 and ::1.
pub const LOCALHOST_PORTS: &str = "ukrun.dev/localhost-ports";
/// The pod-loopback address (link-local IPv4).
pub const POD_LOOPBACK: &str = "ukrun.dev/pod-loopback";

/// The knobs one container sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// Network mode, when the container chooses one.
    pub network_mode: Option<NetworkMode>,
    /// Guest ports forwarded from the pod's loopback.
    pub localhost_ports: Vec<GuestPort>,
    /// Pod-loopback address, when the container chooses one.
    pub pod_loopback: Option<Ipv4Addr>,
    /// How the pod's DNS reaches the guest.
    pub dns_delivery: Option<Choice>,
}

/// Why a knob was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KnobError {
    /// Unknown network mode.
    #[error("annotation {NETWORK_MODE}: unknown network mode {} (use tc or routed)", excerpt(.0))]
    NetworkMode(String),
    /// Bad port list.
    #[error("annotation {LOCALHOST_PORTS}: {0}")]
    Ports(#[from] PortListError),
    /// Unknown DNS delivery.
    #[error(transparent)]
    DnsDelivery(#[from] DeliveryError),
    /// Not a link-local IPv4 address.
    #[error("annotation {POD_LOOPBACK}: {} is not a link-local IPv4 address (169.254.0.0/16)", excerpt(.0))]
    PodLoopback(String),
}

/// Reads the knobs from the spec's annotations.
pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Result<Knobs, KnobError> {
    let network_mode = annotations
        .get(NETWORK_MODE)
        .map(|v| NetworkMode::parse(v.trim()).ok_or_else(|| KnobError::NetworkMode(v.clone())))
        .transpose()?;
    let localhost_ports = annotations
        .get(LOCALHOST_PORTS)
        .map(|v| parse_port_list(v))
        .transpose()?
        .unwrap_or_default();
    let pod_loopback = annotations
        .get(POD_LOOPBACK)
        .map(|v| {
            v.trim()
                .parse::<Ipv4Addr>()
                .ok()
                .filter(Ipv4Addr::is_link_local)
                .ok_or_else(|| KnobError::PodLoopback(v.clone()))
        })
        .transpose()?;
    let dns_delivery = annotations
        .get(DNS_DELIVERY)
        .map(|v| Choice::parse(v).ok_or_else(|| DeliveryError::Unknown(v.clone())))
        .transpose()?;
    Ok(Knobs {
        network_mode,
        localhost_ports,
        pod_loopback,
        dns_delivery,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn localhost_ports_and_pod_loopback() {
        let k = from_annotations(&ann(&[
            (LOCALHOST_PORTS, "8080"),
            (POD_LOOPBACK, "169.254.9.9"),
        ]))
        .unwrap();
        assert_eq!(k.localhost_ports.len(), 1);
        assert_eq!(k.pod_loopback, Some(Ipv4Addr::new(169, 254, 9, 9)));
        let e = from_annotations(&ann(&[(LOCALHOST_PORTS, "80,abc")])).unwrap_err();
        assert_eq!(e.to_string(), "annotation ukrun.dev/localhost-ports: \"abc\" is not a port (use PORT or PORT/tcp or PORT/udp)");
        for bad in ["10.0.0.1", "169.254.1", "fe80::1", "x"] {
            let e = from_annotations(&ann(&[(POD_LOOPBACK, bad)])).unwrap_err();
            assert!(
                e.to_string().contains("is not a link-local IPv4 address"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn dns_delivery_values() {
        let k = from_annotations(&ann(&[(DNS_DELIVERY, "files")])).unwrap();
        assert_eq!(k.dns_delivery, Some(Choice::Files));
        let e = from_annotations(&ann(&[(DNS_DELIVERY, "dhcp")])).unwrap_err();
        assert_eq!(e.to_string(), "annotation ukrun.dev/dns-delivery: unknown delivery \"dhcp\" (use auto, files, bootargs or relay)");
    }

    #[test]
    fn network_mode_values() {
        assert_eq!(from_annotations(&ann(&[])).unwrap(), Knobs::default());
        assert_eq!(
            from_annotations(&ann(&[(NETWORK_MODE, "tc")]))
                .unwrap()
                .network_mode,
            Some(NetworkMode::Tc)
        );
        assert_eq!(
            from_annotations(&ann(&[(NETWORK_MODE, "routed")]))
                .unwrap()
                .network_mode,
            Some(NetworkMode::Routed)
        );
        let e = from_annotations(&ann(&[(NETWORK_MODE, "bridge")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "annotation ukrun.dev/network-mode: unknown network mode \"bridge\" (use tc or routed)"
        );
    }
}
