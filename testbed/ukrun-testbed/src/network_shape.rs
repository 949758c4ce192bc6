//! Whether a pod and its node show the network shape the node was asked
//! for ([`PodNetwork`]): what the pod sees through ExecSync in a busybox
//! container (its address and prefix, its routes, its MTU) and what the
//! node netns holds for it (the bridge, or the Calico-style veth with its
//! host route and proxy ARP). A test on a shape calls these first, so it
//! fails when the node did not build that shape.

use anyhow::{bail, ensure, Result};

use crate::cluster_pod::sh;
use crate::node::Node;
use crate::pod_network::{PodNetwork, CALICO_GATEWAY, CNI_BRIDGE, NODE_IP};

/// Checks, from inside the pod through busybox container `container`, that
/// pod IP `pod_ip` sits on eth0 as the node's shape puts it.
pub fn check_pod_side(node: &Node, container: &str, pod_ip: &str) -> Result<()> {
    let addrs = sh(node, container, "ip -4 addr show dev eth0")?.stdout;
    let routes = sh(node, container, "ip -4 route show")?.stdout;
    let mtu = sh(node, container, "cat /sys/class/net/eth0/mtu")?.stdout;
    pod_view_matches(node.pod_network(), pod_ip, &addrs, &routes, &mtu)
}

/// Whether busybox's `ip -4 addr show dev eth0`, `ip -4 route show` and
/// eth0's MTU, as seen in a pod with `pod_ip`, are `network`'s shape.
pub fn pod_view_matches(
    network: PodNetwork,
    pod_ip: &str,
    addrs: &str,
    routes: &str,
    mtu: &str,
) -> Result<()> {
    let routes = normalized(routes);
    let (prefix, expected_routes) = match network {
        PodNetwork::Bridge { .. } => (
            24,
            vec![
                format!("default via {NODE_IP} dev eth0"),
                "10.88.0.0/24 dev eth0 scope link src POD".replace("POD", pod_ip),
            ],
        ),
        PodNetwork::Calico => (
            32,
            vec![
                format!("default via {CALICO_GATEWAY} dev eth0"),
                format!("{CALICO_GATEWAY} dev eth0 scope link"),
            ],
        ),
    };
    ensure!(
        normalized(addrs)
            .iter()
            .any(|line| line.starts_with(&format!("inet {pod_ip}/{prefix} "))),
        "eth0 of the pod lacks {pod_ip}/{prefix} ({network}): {addrs:?}"
    );
    ensure!(
        routes == expected_routes,
        "the pod's routes are not those of {network}: {routes:?}, expected {expected_routes:?}"
    );
    ensure!(
        mtu.trim() == network.mtu().to_string(),
        "eth0 of the pod has MTU {}, not {network}'s {}",
        mtu.trim(),
        network.mtu()
    );
    Ok(())
}

/// Checks that the node netns holds the node side of the pod with
/// `pod_ip` as its shape has it: the route to the pod's subnet on the
/// bridge (with the shape's MTU), or the host route to the pod IP on a
/// `cali…` veth with proxy ARP and no bridge at all.
pub fn check_node_side(node: &Node, pod_ip: &str) -> Result<()> {
    let netns = node.netns();
    let routes = netns.run("ip", &["-4", "route", "show", "table", "main"])?;
    let routes = normalized(&routes);
    let bridge = netns.run("ip", &["-o", "link", "show", "type", "bridge"])?;
    match node.pod_network() {
        PodNetwork::Bridge { mtu } => {
            let subnet = format!("10.88.0.0/24 dev {CNI_BRIDGE} ");
            ensure!(
                routes.iter().any(|route| route.starts_with(&subnet)),
                "the node has no route {subnet}: {routes:?}"
            );
            ensure!(
                bridge.contains(&format!("{CNI_BRIDGE}: "))
                    && bridge.contains(&format!(" mtu {mtu} ")),
                "the node's bridge {CNI_BRIDGE} is missing or not of MTU {mtu}: {bridge:?}"
            );
        }
        PodNetwork::Calico => {
            ensure!(
                bridge.trim().is_empty(),
                "a Calico-style node has a bridge: {bridge:?}"
            );
            let host_route = format!("{pod_ip} dev cali");
            let Some(route) = routes.iter().find(|r| r.starts_with(&host_route)) else {
                bail!("the node has no route {pod_ip} dev cali…: {routes:?}");
            };
            let veth = route.split(' ').nth(2).unwrap_or_default();
            let key = format!("net.ipv4.conf.{veth}.proxy_arp");
            let proxy_arp = netns.run("sysctl", &["-n", &key])?;
            ensure!(proxy_arp.trim() == "1", "{key} is {}", proxy_arp.trim());
        }
    }
    Ok(())
}

/// The veths of the node netns other than its uplink stand-in: the node
/// sides of pods, which must go with their pods.
pub fn pod_veths(node: &Node) -> Result<Vec<String>> {
    let links = node
        .netns()
        .run("ip", &["-o", "link", "show", "type", "veth"])?;
    Ok(links
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .filter(|name| !name.starts_with("ukrun-up"))
        .collect())
}

/// `text`'s non-empty lines with their whitespace collapsed.
fn normalized(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALICO_ADDRS: &str =
        "2: eth0@if4: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500\n    \
                                inet 10.88.0.2/32 scope global eth0\n       valid_lft forever\n";
    const CALICO_ROUTES: &str =
        "default via 169.254.1.1 dev eth0 \n169.254.1.1 dev eth0 scope link \n";

    #[test]
    fn a_calico_pod_has_a_32_behind_169_254_1_1() {
        let view = |addrs, routes, mtu| {
            pod_view_matches(PodNetwork::Calico, "10.88.0.2", addrs, routes, mtu)
        };
        view(CALICO_ADDRS, CALICO_ROUTES, "1500\n").unwrap();
        let bridged = CALICO_ADDRS.replace("/32", "/24");
        assert!(view(&bridged, CALICO_ROUTES, "1500\n").is_err());
        assert!(view(CALICO_ADDRS, "default via 10.88.0.1 dev eth0\n", "1500").is_err());
        assert!(view(CALICO_ADDRS, CALICO_ROUTES, "1450").is_err());
    }

    #[test]
    fn a_bridge_pod_has_a_24_and_the_shapes_mtu() {
        let addrs =
            "2: eth0@if5: <UP> mtu 1450\n    inet 10.88.0.3/24 brd 10.88.0.255 scope global eth0\n";
        let routes =
            "default via 10.88.0.1 dev eth0 \n10.88.0.0/24 dev eth0 scope link  src 10.88.0.3 \n";
        let bridge = PodNetwork::Bridge { mtu: 1450 };
        pod_view_matches(bridge, "10.88.0.3", addrs, routes, "1450").unwrap();
        assert!(pod_view_matches(bridge, "10.88.0.3", addrs, routes, "1500").is_err());
        assert!(pod_view_matches(PodNetwork::Calico, "10.88.0.3", addrs, routes, "1500").is_err());
    }
}
