//! Reachability without code in the guest: the ARP probe out of the tap.

use super::Input;
use crate::doctor::check::{Check, Verdict};
use crate::doctor::read::arp::ArpProbe;
use crate::net::{format_mac, PodInterface};

/// The ARP probe's verdict; `guest_running` is false when the VMM is known
/// to be down (then silence is expected, not a new finding).
pub fn checks(input: &Input<'_>, pod: &PodInterface, guest_running: bool) -> Option<Check> {
    let probe = input.snap.arp.as_ref()?;
    let name = "reach.arp";
    let tap = input.expect.tap.as_deref().unwrap_or("the tap");
    let expected = format!(
        "the guest answers ARP for {} on {tap} with the pod's MAC {}",
        pod.ipv4,
        format_mac(&pod.mac)
    );
    Some(match probe {
        Ok(ArpProbe::Answered { mac, millis }) => Check::judge(
            name,
            *mac == pod.mac,
            expected,
            format!("{} is-at {} ({millis} ms)", pod.ipv4, format_mac(mac)),
            format!(
                "the guest's NIC has another MAC than {}: the node's neighbour entries for the pod IP point at the pod interface's; the VMM's argv sets the NIC's MAC (see runtime.vmm_argv)",
                pod.name
            ),
        ),
        Ok(ArpProbe::Silent) if guest_running => Check::new(
            name,
            Verdict::Fail,
            expected,
            "no answer in 0.9 s",
            "the guest has not configured the pod IP on its NIC (its console, the container's log, says why), or the VMM does not read the tap",
        ),
        Ok(ArpProbe::Silent) => Check::new(
            name,
            Verdict::Warn,
            expected,
            "no answer in 0.9 s",
            "not conclusive: the VMM is not running (see runtime.vmm)",
        ),
        Err(e) => Check::new(name, Verdict::Fail, expected, e.clone(), "doctor needs root (CAP_NET_RAW) for the ARP probe"),
    })
}
