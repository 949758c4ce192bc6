//! The test bed on its own, without ukrun: a node whose `ukrun` handler is
//! plain runc. When this fails, the end-to-end tests of ukrun cannot be
//! trusted either; when it passes, their failures are ukrun's. Its pods
//! run under the runc shim of the containerd `UKRUN_CONTAINERD` picks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::cri::ContainerSpec;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};
use ukrun_testbed::{http, images, wait};

/// runc as found on PATH.
fn runc() -> Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("runc"))
        .find(|candidate| candidate.is_file())
        .context("runc is not on PATH (testbed/install-deps.sh installs it)")
}

/// A busybox container serving `hello` over HTTP on :8080.
fn web_server() -> ContainerSpec {
    images::busybox_httpd("web", 8080, "hello")
}

#[test]
fn node_runs_runc_pods_and_cleans_up() -> Result<()> {
    let node = Node::start(&runc()?)?;
    let mut footprint = Footprint::new(&node)?;
    for handler in ["", UKRUN_HANDLER] {
        let pod = Pod::run(&node, &format!("runc-{}", handler.len()), handler)?;
        footprint.add_pod(&pod)?;
        let web = pod.start(&web_server())?;
        footprint.add_container(&web);
        let shim = node.containerd().shim()?;
        let shims = node.shim_binaries();
        ensure!(
            !shims.is_empty() && shims.iter().all(|exe| *exe == shim),
            "containerd {} runs shims {shims:?}, not {}",
            node.containerd(),
            shim.display()
        );
        // The leftover check must see a running pod, or it proves nothing.
        ensure!(!footprint.processes().is_empty(), "processes unseen");
        let in_ukrun_root = handler == UKRUN_HANDLER;
        ensure!(
            footprint.state().is_empty() != in_ukrun_root,
            "state unseen"
        );

        let out = node
            .cri()
            .exec_sync(&web, &["echo", "hi"], Duration::from_secs(10))?;
        ensure!(out.exit_code == 0 && out.stdout == "hi\n", "exec: {out:?}");

        serves_hello(&node, &pod)?;

        pod.remove_container(&web)?;
        pod.remove()?;
    }
    footprint.assert_gone()
}

/// Waits (bounded) until `pod`'s web server answers its page.
fn serves_hello(node: &Node, pod: &Pod) -> Result<()> {
    let addr: SocketAddr = format!("{}:8080", pod.ip()?).parse()?;
    let page = wait::poll(
        "busybox httpd",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || node.netns().within(move || http::get(addr, "/")).map(Some),
    )?;
    ensure!(page == "hello\n", "page: {page:?}");
    Ok(())
}

/// `node.sh restart` (what ukrun-deploy runs on the node to restart
/// containerd) replaces containerd in place: a new process on the same
/// socket and state, while the pod started before goes on running and
/// serving, and the CRI still drives it.
#[test]
fn pods_outlive_a_containerd_restart() -> Result<()> {
    let node = Node::start(&runc()?)?;
    let pod = Pod::run(&node, "restart", "")?;
    let web = pod.start(&web_server())?;
    let before = node.containerd_pid()?;
    node.restart_containerd()?;
    let after = node.containerd_pid()?;
    ensure!(
        after != before && !PathBuf::from(format!("/proc/{before}")).exists(),
        "containerd {before} is still there (now recorded: {after})"
    );
    ensure!(pod.is_ready()?, "the pod is no longer ready");
    pod.wait_running(&web)?;
    serves_hello(&node, &pod)?;
    pod.remove_container(&web)?;
    pod.remove()
}
