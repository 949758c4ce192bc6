//! End-to-end: the test bed's node on each pod network shape besides the
//! default bridge (bridge with MTU 1450, as under Flannel VXLAN; Calico's
//! /32 behind 169.254.1.1), through containerd's CRI with a plain runc pod,
//! so a guest test on these shapes can trust the shape it runs on. Each
//! test checks the shape from inside the pod and on the node, traffic both
//! ways between the pod and the node's 10.88.0.1 (a TCP server and the
//! cluster DNS), and that teardown leaves no process, veth or address
//! allocation. They need root and containerd, and fail (never skip) when
//! something is missing.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use ukrun_testbed::cluster_pod::{sh, CLUSTER_DNS, KUBERNETES};
use ukrun_testbed::cri::ContainerSpec;
use ukrun_testbed::dns_server::DnsServer;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::network_shape::{check_node_side, check_pod_side, pod_veths};
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::Pod;
use ukrun_testbed::pod_network::{addresses_in_use, PodNetwork, NODE_IP};
use ukrun_testbed::{http, images, sidecar, wait};

/// containerd's default runtime handler: runc.
const RUNC_HANDLER: &str = "";
/// The port of the one-shot TCP server in the node netns.
const NODE_PORT: u16 = 9100;
/// What that server answers.
const NODE_REPLY: &[u8] = b"hello from the node\n";

/// A busybox container serving `hello` over HTTP on :8080 (for the node to
/// reach the pod) and running the checks through ExecSync.
fn web_server() -> ContainerSpec {
    ContainerSpec::new("web", images::BUSYBOX).command(&[
        "sh",
        "-c",
        "mkdir -p /www && echo hello >/www/index.html && exec httpd -f -p 8080 -h /www",
    ])
}

/// One runc pod on a node whose pods get `network`: shape, traffic both
/// ways, clean teardown.
fn pod_on(network: PodNetwork) -> Result<()> {
    let ukrun = Path::new(env!("CARGO_BIN_EXE_ukrun"));
    Node::run_on(ukrun, network, |node| {
        ensure!(
            node.pod_network() == network,
            "node built {}",
            node.pod_network()
        );
        let mut footprint = Footprint::new(node)?;
        let pod = Pod::run(node, "net-shape", RUNC_HANDLER).context("RunPodSandbox (runc)")?;
        footprint.add_pod(&pod)?;
        let web = pod.start(&web_server())?;
        footprint.add_container(&web);
        let ip = pod.ip()?;
        ensure!(
            ip.starts_with("10.88.0."),
            "pod IP {ip} is not in 10.88.0.0/24"
        );
        let held = addresses_in_use(node.state_dir())?;
        ensure!(
            held.iter().map(ToString::to_string).eq([ip.clone()]),
            "the CNI's allocations are {held:?}, not just the pod's {ip}"
        );

        check_pod_side(node, &web, &ip).context("the pod's view")?;
        check_node_side(node, &ip).context("the node's side")?;
        pod_reaches_the_node(node, &web)?;
        node_reaches_the_pod(node, &ip)?;

        pod.remove_container(&web)?;
        pod.remove()?;
        footprint.assert_gone()?;
        let veths = pod_veths(node)?;
        ensure!(veths.is_empty(), "pod veths left on the node: {veths:?}");
        let held = addresses_in_use(node.state_dir())?;
        ensure!(held.is_empty(), "addresses still allocated: {held:?}");
        Ok(())
    })
}

/// The pod reaches a TCP server and the cluster DNS at the node's
/// 10.88.0.1.
fn pod_reaches_the_node(node: &Node, container: &str) -> Result<()> {
    let server =
        sidecar::serve_tcp_once(&node.netns(), &format!("{NODE_IP}:{NODE_PORT}"), NODE_REPLY)?;
    let got = sh(
        node,
        container,
        &format!("nc -w 5 {NODE_IP} {NODE_PORT} </dev/null"),
    )?;
    server
        .join()
        .map_err(|_| anyhow!("the node's TCP server panicked"))?
        .context("the node's TCP server")?;
    ensure!(
        got.stdout.as_bytes() == NODE_REPLY,
        "from {NODE_IP}:{NODE_PORT} the pod got {:?}",
        got.stdout
    );

    let _dns = DnsServer::cluster(&node.netns(), CLUSTER_DNS)?;
    let answer = sh(
        node,
        container,
        &format!("nslookup -type=A {} {CLUSTER_DNS}", KUBERNETES.0),
    )?;
    ensure!(
        answer.stdout.contains(KUBERNETES.1),
        "the cluster DNS did not answer the pod: {answer:?}"
    );
    Ok(())
}

/// The node netns reaches the pod's HTTP server at the pod IP.
fn node_reaches_the_pod(node: &Node, ip: &str) -> Result<()> {
    let addr: SocketAddr = format!("{ip}:8080").parse()?;
    let page = wait::poll(
        "the pod's httpd from the node",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || node.netns().within(move || http::get(addr, "/")).map(Some),
    )?;
    ensure!(page == "hello\n", "page from the pod: {page:?}");
    Ok(())
}

/// Flannel VXLAN's shape: the bridge with veths of MTU 1450.
#[test]
fn bridge_with_mtu_1450() -> Result<()> {
    pod_on(PodNetwork::Bridge { mtu: 1450 })
}

/// Calico's shape: a /32 behind 169.254.1.1, proxy ARP and host routes.
#[test]
fn calico_style() -> Result<()> {
    pod_on(PodNetwork::Calico)
}
