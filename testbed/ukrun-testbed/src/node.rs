//! One hermetic Kubernetes-like node: a containerd with the CRI plugin in
//! its own network namespace, started by `testbed/node.sh up` and removed by
//! `testbed/node.sh down` when the [`Node`] is dropped (also when a test
//! panics).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::containerd_version::{self, Containerd};
use crate::cri::Cri;
use crate::netns::Netns;
use crate::node_env::NodeEnv;
use crate::pod_network::PodNetwork;
use crate::{diagnostics, images, procs, repo, script, wait};

/// Where nodes keep their state; each node gets a short sub-folder.
const STATE_BASE: &str = "/run/ukrun-testbed";

/// The default runtime handler of a node started without one named.
const DEFAULT_RUNTIME: &str = "runc";

/// How long containerd gets to answer its first CRI call.
const CRI_READY: Duration = Duration::from_secs(30);

/// A running node. Dropping it removes every pod, containerd, the node netns
/// and the state folder.
pub struct Node {
    cri: Cri,
    env: NodeEnv,
    unikraft: bool,
    teardown: Teardown,
    // Last field: released only after the node is gone.
    _turn: MutexGuard<'static, ()>,
}

impl Node {
    /// Builds the images (cached), starts a fresh node whose runtime handler
    /// `ukrun` runs `ukrun_bin`, and waits until its CRI answers; pods get
    /// the default network ([`PodNetwork::default`], the CNI bridge). The
    /// node runs the containerd `UKRUN_CONTAINERD` picks
    /// ([`Containerd::from_env`]); it fails to start when the running
    /// server reports another version.
    ///
    /// Nodes of one process run one at a time: each guest is a qemu under
    /// TCG, and two cores booting several at once would make the bounded
    /// waits of the tests flaky.
    pub fn start(ukrun_bin: &Path) -> Result<Node> {
        Node::start_on(ukrun_bin, PodNetwork::default())
    }

    /// Like [`Node::start`], with pods plugged in as `network` says: how a
    /// test runs the same pod on each network shape a cluster may have.
    pub fn start_on(ukrun_bin: &Path, network: PodNetwork) -> Result<Node> {
        Node::start_node(ukrun_bin, network, Handlers::RuncAndUkrun, DEFAULT_RUNTIME)
    }

    /// Like [`Node::start`], with `runtime` (`runc` or
    /// [`crate::pod::UKRUN_HANDLER`]) as containerd's default runtime
    /// handler: how a kubelet without RuntimeClass (a standalone one with
    /// static pods) runs its pods under ukrun.
    pub fn start_with_default_runtime(ukrun_bin: &Path, runtime: &str) -> Result<Node> {
        Node::start_node(
            ukrun_bin,
            PodNetwork::default(),
            Handlers::RuncAndUkrun,
            runtime,
        )
    }

    /// Like [`Node::start`], on a node whose containerd has runc's handler
    /// alone: a node to install ukrun into (`ukrun-deploy install`, which
    /// runs [`Node::restart_command`]). `ukrun_bin` is the binary the
    /// installer will put there; it names the processes teardown kills.
    pub fn start_without_ukrun(ukrun_bin: &Path) -> Result<Node> {
        Node::start_node(
            ukrun_bin,
            PodNetwork::default(),
            Handlers::Runc,
            DEFAULT_RUNTIME,
        )
    }

    /// Starts a node whose pods get `network`, with runtime `handlers`, and
    /// whose default runtime handler is `default_runtime`.
    fn start_node(
        ukrun_bin: &Path,
        network: PodNetwork,
        handlers: Handlers,
        default_runtime: &str,
    ) -> Result<Node> {
        check_prerequisites(ukrun_bin)?;
        let turn = one_at_a_time();
        let images = images::build().context("building the test-bed images")?;
        let unikraft = images.unikraft;
        let teardown = Teardown::create()?;
        let dir = teardown.state_dir.clone();
        let ukrun_bin = ukrun_bin
            .canonicalize()
            .with_context(|| format!("resolving {}", ukrun_bin.display()))?;
        let containerd = Containerd::from_env()?;
        script::run_with_env(
            "node.sh",
            &[Path::new("up"), &dir, &ukrun_bin, &images.dir],
            &[
                ("UKRUN_NODE_NETWORK", network.to_string().as_ref()),
                (containerd_version::ENV, containerd.to_string().as_ref()),
                ("UKRUN_NODE_DEFAULT_RUNTIME", default_runtime.as_ref()),
                (HANDLERS_ENV, handlers.as_str().as_ref()),
            ],
            &dir.join("node-up.log"),
        )
        .context("starting the node")?;
        let env = NodeEnv::load(&dir.join("node.env"))?;
        check_env(&env, network, containerd)?;
        if env.default_runtime != default_runtime {
            bail!(
                "node.sh up made {} the default runtime, not {default_runtime}",
                env.default_runtime
            );
        }
        let cri = Cri::connect(&env.containerd_socket)?;
        wait_cri(&cri)?;
        for image in images::expected(unikraft) {
            if !cri.has_image(image)? {
                bail!("node.sh up did not import {image}");
            }
        }
        Ok(Node {
            cri,
            env,
            unikraft,
            teardown,
            _turn: turn,
        })
    }

    /// Starts a node, runs `scenario` on it and tears the node down; when
    /// the scenario fails or panics, the node's logs are printed first
    /// (teardown deletes them).
    pub fn run(ukrun_bin: &Path, scenario: impl FnOnce(&Node) -> Result<()>) -> Result<()> {
        Node::run_on(ukrun_bin, PodNetwork::default(), scenario)
    }

    /// Like [`Node::run`], on a node without ukrun's handler
    /// ([`Node::start_without_ukrun`]).
    pub fn run_without_ukrun(
        ukrun_bin: &Path,
        scenario: impl FnOnce(&Node) -> Result<()>,
    ) -> Result<()> {
        Node::start_without_ukrun(ukrun_bin)?.run_scenario(scenario)
    }

    /// Like [`Node::run`], on a node whose pods get `network`.
    pub fn run_on(
        ukrun_bin: &Path,
        network: PodNetwork,
        scenario: impl FnOnce(&Node) -> Result<()>,
    ) -> Result<()> {
        Node::start_on(ukrun_bin, network)?.run_scenario(scenario)
    }

    /// Like [`Node::run`], on a node whose default runtime handler is
    /// `runtime` (see [`Node::start_with_default_runtime`]).
    pub fn run_with_default_runtime(
        ukrun_bin: &Path,
        runtime: &str,
        scenario: impl FnOnce(&Node) -> Result<()>,
    ) -> Result<()> {
        Node::start_with_default_runtime(ukrun_bin, runtime)?.run_scenario(scenario)
    }

    /// Runs `scenario` on this node, printing the node's logs first when it
    /// fails, then tears the node down.
    fn run_scenario(self, scenario: impl FnOnce(&Node) -> Result<()>) -> Result<()> {
        let outcome = scenario(&self);
        if outcome.is_err() {
            diagnostics::print(self.state_dir());
        }
        outcome
    }

    /// The node's CRI client.
    pub fn cri(&self) -> &Cri {
        &self.cri
    }

    /// Whether the node has the Unikraft images ([`images::UNIKRAFT_NETTEST`]
    /// and the others); they are missing only outside CI, where the
    /// Unikraft kernels were not found (and that was said on stderr).
    pub fn has_unikraft(&self) -> bool {
        self.unikraft
    }

    /// What `node.sh up` reported about the node.
    pub fn env(&self) -> &NodeEnv {
        &self.env
    }

    /// The shape the node's CNI gives pods.
    pub fn pod_network(&self) -> PodNetwork {
        self.env.pod_network
    }

    /// The containerd the node runs (checked against the version the
    /// running server reports when the node started).
    pub fn containerd(&self) -> Containerd {
        self.env.containerd
    }

    /// The programs of the node's running runc shims, as
    /// `/proc/PID/exe` names them: which shim containerd really started.
    pub fn shim_binaries(&self) -> Vec<PathBuf> {
        let socket = self.env.containerd_socket.to_string_lossy().into_owned();
        procs::all()
            .into_iter()
            .filter(|p| p.program().starts_with("containerd-shim") && p.cmdline.contains(&socket))
            .filter_map(|p| std::fs::read_link(format!("/proc/{}/exe", p.pid)).ok())
            .collect()
    }

    /// The command line that restarts the node's containerd in place
    /// (`testbed/node.sh restart STATE_DIR`, waiting until it answers):
    /// what `ukrun-deploy --restart` runs on this node. Its words hold no
    /// spaces.
    pub fn restart_command(&self) -> Result<String> {
        let line = format!(
            "{} restart {}",
            repo::script("node.sh")?.display(),
            self.state_dir().display()
        );
        if line.split_whitespace().count() != 3 {
            bail!("the path of node.sh or of the node has a space: {line}");
        }
        Ok(line)
    }

    /// Restarts the node's containerd in place (`node.sh restart`): pods
    /// and their shims go on running, and the CRI answers again before
    /// this returns.
    pub fn restart_containerd(&self) -> Result<()> {
        let dir = self.state_dir();
        script::run(
            "node.sh",
            &[Path::new("restart"), dir],
            &dir.join("node-restart.log"),
        )
        .context("restarting the node's containerd")?;
        self.wait_cri_ready()
    }

    /// Waits until the node's CRI answers again after something else
    /// restarted its containerd (ukrun-deploy, through
    /// [`Node::restart_command`]).
    pub fn wait_cri_ready(&self) -> Result<()> {
        wait_cri(&self.cri)
    }

    /// The pid of the node's running containerd, as `node.sh` last
    /// recorded it (a restart changes it; [`Node::env`] keeps the first).
    pub fn containerd_pid(&self) -> Result<u32> {
        Ok(NodeEnv::load(&self.state_dir().join("node.env"))?.containerd_pid)
    }

    /// The node's state folder (containerd's root/state, logs, ukrun's root).
    pub fn state_dir(&self) -> &Path {
        &self.teardown.state_dir
    }

    /// ukrun's `--root` (runc's state for delegated containers lives there too).
    pub fn ukrun_root(&self) -> PathBuf {
        self.state_dir().join("ukrun-root")
    }

    /// Whether container `id` of the `ukrun` handler was handed to runc:
    /// runc keeps a container's state at `<root>/<namespace>/<id>/state.json`,
    /// and under ukrun's root only runc writes that layout.
    pub fn delegated_to_runc(&self, id: &str) -> bool {
        let Ok(namespaces) = std::fs::read_dir(self.ukrun_root()) else {
            return false;
        };
        namespaces
            .flatten()
            .any(|ns| ns.path().join(id).join("state.json").is_file())
    }

    /// A log folder for pod `name`, created on demand.
    pub fn pod_log_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.state_dir().join("pods").join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// The node network namespace (where the CNI bridge and containerd live).
    pub fn netns(&self) -> Netns {
        Netns::new(&self.env.netns_path)
    }

    /// Best effort: stops and removes every pod through the CRI, so the
    /// runtime tears its guests down before containerd is killed (and a
    /// stopped kubelet's pods do not outlive it).
    pub fn remove_all_pods(&self) {
        let Ok(pods) = self.cri.list_pods() else {
            return;
        };
        for pod in pods {
            let _ = self.cri.stop_pod(&pod);
            if let Err(err) = self.cri.remove_pod(&pod) {
                eprintln!("node cleanup: removing pod {pod}: {err:#}");
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            diagnostics::print(self.state_dir());
        }
        self.remove_all_pods();
        // `teardown` runs `node.sh down` when the fields drop.
    }
}

/// The environment variable that tells `node.sh up` which runtime
/// handlers containerd gets.
const HANDLERS_ENV: &str = "UKRUN_NODE_HANDLERS";

/// The runtime handlers a node's containerd configuration has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handlers {
    /// runc (the default) and ukrun.
    RuncAndUkrun,
    /// runc alone.
    Runc,
}

impl Handlers {
    /// As `UKRUN_NODE_HANDLERS` spells it.
    fn as_str(self) -> &'static str {
        match self {
            Handlers::RuncAndUkrun => "runc,ukrun",
            Handlers::Runc => "runc",
        }
    }
}

/// Waits until containerd's CRI answers through `cri`.
fn wait_cri(cri: &Cri) -> Result<()> {
    wait::poll(
        "containerd's CRI",
        CRI_READY,
        Duration::from_millis(200),
        || cri.version().map(Some),
    )?;
    Ok(())
}

/// Owns a node's state folder: runs `node.sh down` on drop, whether or not
/// `node.sh up` got far.
struct Teardown {
    state_dir: PathBuf,
}

impl Teardown {
    /// Creates a fresh, uniquely and briefly named state folder (its name
    /// also names the node netns, so it stays within 8 characters).
    fn create() -> Result<Teardown> {
        let state_dir = Path::new(STATE_BASE).join(unique_name());
        if state_dir.exists() {
            bail!(
                "{} exists already (left by a crashed run?)",
                state_dir.display()
            );
        }
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        Ok(Teardown { state_dir })
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        // Logged beside the state folder, which `down` removes.
        let log = self.state_dir.with_extension("down.log");
        match script::run("node.sh", &[Path::new("down"), &self.state_dir], &log) {
            Ok(()) => {
                let _ = std::fs::remove_file(&log);
            }
            Err(err) => eprintln!("node teardown: {err:#}"),
        }
    }
}

/// `n` + the process id and a per-process counter in base 36: unique among
/// concurrent processes and at most 8 characters.
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "n{}{}",
        base36(std::process::id()),
        base36(count % (36 * 36))
    )
}

/// `n` written in base 36 (digits and lower-case letters).
fn base36(mut n: u32) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit(n % 36, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// Hands out the process-wide node turn (a panicking test does not block
/// the ones after it).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fails unless `node.sh up` built the pod network and ran the
/// containerd it was asked for (the server's own version decides).
fn check_env(env: &NodeEnv, network: PodNetwork, containerd: Containerd) -> Result<()> {
    if env.pod_network != network {
        bail!(
            "node.sh up built pod network {}, not {network}",
            env.pod_network
        );
    }
    if env.containerd != containerd || !containerd.runs(&env.containerd_server_version) {
        bail!(
            "node.sh up started containerd {} (server version {:?}), not {containerd}",
            env.containerd,
            env.containerd_server_version
        );
    }
    Ok(())
}

/// Fails with a clear message when the node cannot possibly start.
fn check_prerequisites(ukrun_bin: &Path) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the test-bed node needs root (containerd, network namespaces, qemu)");
    }
    if !ukrun_bin.is_file() {
        bail!("ukrun binary {} does not exist", ukrun_bin.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(containerd: Containerd, server_version: &str) -> NodeEnv {
        NodeEnv {
            netns: "n".into(),
            netns_path: "/run/netns/n".into(),
            containerd_socket: "/run/n/containerd.sock".into(),
            containerd_pid: 1,
            containerd_bin: "/usr/bin/containerd".into(),
            pod_network: PodNetwork::default(),
            containerd,
            containerd_server_version: server_version.into(),
            default_runtime: "runc".into(),
        }
    }

    #[test]
    fn refuses_another_containerd_than_asked() {
        let net = PodNetwork::default();
        check_env(&env(Containerd::V2_3, "v2.3.4"), net, Containerd::V2_3).unwrap();
        check_env(&env(Containerd::V1_6, "1.6.20~ds1"), net, Containerd::V1_6).unwrap();
        // Asked for 2.3, but Debian's 1.6 answered (e.g. a PATH mix-up).
        let err = check_env(&env(Containerd::V2_3, "1.6.20~ds1"), net, Containerd::V2_3);
        assert!(format!("{:#}", err.unwrap_err()).contains("1.6.20~ds1"));
        assert!(check_env(&env(Containerd::V1_6, "1.6.20~ds1"), net, Containerd::V2_3).is_err());
    }

    #[test]
    fn names_fit_eight_characters() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        // The largest pid Linux hands out (pid_max limit, 2^22).
        let longest = format!("n{}{}", base36(4_194_304), base36(36 * 36 - 1));
        assert!(longest.len() <= 8, "{longest}");
        assert!(unique_name().len() <= 8);
    }
}
