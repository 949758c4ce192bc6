//! The guest's data path on every CNI shape in both network modes, with the
//! Linux guest under qemu TCG: node → guest HTTP, a 4 MiB download each way
//! checked byte for byte (sha256), ping both ways, the pod MTU inside the
//! guest, and a pod netns that shows only what the CNI created after delete.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::blob_server::BlobServer;
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::guest::PAGE_TEXT;
use ukrun_testbed::probes::{self, HttpProbe, BLOB_BYTES, BLOB_PATH};
use ukrun_testbed::topology::{Shape, NODE_IP, POD_IP};
use ukrun_testbed::wait;

/// Port of the node's blob server.
const NODE_BLOB_PORT: u16 = 8090;

/// Runs every data path check for one shape and mode; `mtu` is the pod
/// interface's MTU, which the guest must have too.
fn check_datapath(tag: &str, shape: Shape, mode: &str, mtu: u32) -> Result<()> {
    let fx = Fixture::new(Path::new(env!("CARGO_BIN_EXE_ukrun")), tag, shape)?;
    let node = fx.topo.node_netns();
    let server = BlobServer::start(&node, format!("{NODE_IP}:{NODE_BLOB_PORT}").parse()?)?;
    let url = server.url();
    let cmdline = format!(
        "quiet {} {}",
        probes::http_arg(&url),
        probes::ping_arg(NODE_IP)
    );
    fx.bundle.edit(|c| {
        c["annotations"]["ukrun.dev/network-mode"] = mode.into();
        c["annotations"]["com.urunc.unikernel.cmdline"] = cmdline.into();
    })?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    let during = fx.topo.pod_network_view()?;
    for trace in plumbing_traces(mode) {
        ensure!(
            during.contains(trace),
            "the pod netns view shows {trace:?} while the guest runs:\n{during}"
        );
    }
    fx.start("g1")?;
    let ready = fx.wait_ready("g1")?;
    ensure!(
        ready.contains(&format!(" mtu={mtu}")),
        "the guest's interface has the pod MTU {mtu}: {ready}"
    );

    let page = fx.fetch_from_node()?;
    ensure!(page.contains(PAGE_TEXT), "node -> guest HTTP");

    let printed = fx.wait_console("g1", "the guest's blob checksum", probes::blob_sha256)?;
    let blob = fx.fetch_bytes_from_node(BLOB_PATH)?;
    ensure!(
        blob.len() == BLOB_BYTES && probes::sha256_hex(&blob) == printed,
        "guest -> node 4 MiB: got {} bytes, sha256 {}, the guest printed {printed}",
        blob.len(),
        probes::sha256_hex(&blob)
    );

    let fetched = fx.wait_console("g1", "the guest's HTTP probe", |text| {
        probes::http_result(text, &url)
    })?;
    ensure!(
        fetched
            == HttpProbe::Fetched {
                sha256: server.sha256.clone(),
                bytes: BLOB_BYTES
            },
        "node -> guest 4 MiB: the guest reported {fetched:?}, the node served sha256 {}",
        server.sha256
    );

    wait::poll(
        "a ping answer from the guest",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            node.run("busybox", &["ping", "-c", "1", "-W", "2", POD_IP])
                .map(Some)
        },
    )
    .context("node -> guest ping")?;
    let pinged = fx.wait_console("g1", "the guest's ping probe", |text| {
        probes::ping_result(text, NODE_IP)
    })?;
    ensure!(pinged, "guest -> node ping failed");

    let out = fx.runtime.run(&["delete", "--force", "g1"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    fx.assert_nothing_left(&before)
}

/// What each mode adds to the pod netns, as the view shows it: proof that
/// the before/after comparison would see it left behind.
fn plumbing_traces(mode: &str) -> &'static [&'static str] {
    match mode {
        "tc" => &[
            "qdisc ingress ffff: dev eth0",
            "qdisc ingress ffff: dev uk-g1",
        ],
        _ => &[
            "table ip ukrun_uk_g1",
            "fwmark 0x400000/0x400000 lookup 7547",
            "100:\tfrom all lookup local",
            "table 7547",
            "net.ipv4.ip_forward = 1",
            "net.ipv4.conf.eth0.arp_ignore = 1",
        ],
    }
}

/// One `#[test]` per shape and mode.
macro_rules! datapath_tests {
    ($($name:ident: $tag:literal, $shape:expr, $mode:literal, $mtu:literal;)*) => {$(
        #[test]
        fn $name() -> Result<()> {
            check_datapath($tag, $shape, $mode, $mtu)
        }
    )*};
}

datapath_tests! {
    cni_bridge_mtu_1450_tc: "dbt", Shape::CniBridge { mtu: 1450 }, "tc", 1450;
    cni_bridge_mtu_1450_routed: "dbr", Shape::CniBridge { mtu: 1450 }, "routed", 1450;
    calico_tc: "dct", Shape::Calico, "tc", 1500;
    calico_routed: "dcr", Shape::Calico, "routed", 1500;
    cni_ptp_tc: "dpt", Shape::CniPtp, "tc", 1500;
    cni_ptp_routed: "dpr", Shape::CniPtp, "routed", 1500;
}
