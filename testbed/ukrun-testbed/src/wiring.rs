//! The ways ukrun wires a guest into its pod that endurance runs rotate
//! through (tc mode; routed mode alone, with a localhost port, with the DNS
//! relay), as the annotations and mounts of a bundle's config.json.

use std::path::Path;

use serde_json::{json, Value};

use crate::unikraft::NETTEST_PORT;

/// One wiring of a guest into its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wiring {
    /// tc mode: mirred between the pod interface and the tap.
    Tc,
    /// Routed mode without extras.
    Routed,
    /// Routed mode with the nettest port declared on the pod's localhost.
    RoutedLocalhost,
    /// Routed mode with the DNS relay (a loopback-only nameserver).
    RoutedRelay,
}

/// Every wiring, in rotation order.
pub const ALL: [Wiring; 4] = [
    Wiring::Tc,
    Wiring::Routed,
    Wiring::RoutedLocalhost,
    Wiring::RoutedRelay,
];

/// The nameserver the relay wiring's resolv.conf names: loopback-only, so
/// only the relay reaches it.
pub const LOOPBACK_NAMESERVER: &str = "127.0.0.53";

impl Wiring {
    /// The wiring of cycle `n` of a rotation.
    pub fn nth(n: usize) -> Wiring {
        ALL[n % ALL.len()]
    }

    /// Whether the guest's port is declared on the pod's localhost.
    pub fn has_localhost_port(self) -> bool {
        self == Wiring::RoutedLocalhost
    }

    /// Sets `config`'s ukrun annotations and mounts to this wiring (and
    /// nothing of another); `resolv` is a resolv.conf that names
    /// [`LOOPBACK_NAMESERVER`], mounted for the relay.
    pub fn apply(self, config: &mut Value, resolv: &Path) {
        let mode = if self == Wiring::Tc { "tc" } else { "routed" };
        config["mounts"] = json!([]);
        let annotations = &mut config["annotations"];
        annotations["ukrun.dev/network-mode"] = mode.into();
        if let Some(map) = annotations.as_object_mut() {
            map.remove("ukrun.dev/localhost-ports");
            map.remove("ukrun.dev/dns-delivery");
        }
        match self {
            Wiring::RoutedLocalhost => {
                annotations["ukrun.dev/localhost-ports"] = NETTEST_PORT.to_string().into();
            }
            Wiring::RoutedRelay => {
                annotations["ukrun.dev/dns-delivery"] = "relay".into();
                config["mounts"] = json!([{"destination": "/etc/resolv.conf", "type": "bind",
                    "source": resolv, "options": ["rbind", "ro"]}]);
            }
            Wiring::Tc | Wiring::Routed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wiring_undoes_the_previous_one() {
        let mut config = json!({"annotations": {"com.urunc.unikernel.unikernelType": "unikraft"}});
        let resolv = Path::new("/tmp/resolv.conf");
        for n in 0..ALL.len() {
            Wiring::nth(n).apply(&mut config, resolv);
        }
        Wiring::Tc.apply(&mut config, resolv);
        assert_eq!(
            config,
            json!({"annotations": {"com.urunc.unikernel.unikernelType": "unikraft",
                "ukrun.dev/network-mode": "tc"}, "mounts": []})
        );
    }
}
