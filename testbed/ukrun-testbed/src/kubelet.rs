//! A real kubelet (v1.36.2, standalone: static pods, no API server) on a
//! test-bed [`Node`], started by `testbed/kubelet.sh up` in the node netns
//! and a mount namespace of its own. Pods without a runtime class run on
//! containerd's default handler, so its node has `ukrun` as that handler:
//! ukrun hands the ordinary containers to runc and runs guest images
//! itself, as on a user's node.
//!
//! The kubelet comes from `../shared/kubelet-1.36.2` beside the repository
//! or where `UKRUN_KUBELET_DIR` points; without it, a test says so in one
//! line and does nothing, except in CI, where its absence fails the run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::host_state::HostState;
use crate::kubelet_api::{KubeletApi, PodStatus};
use crate::node::Node;
use crate::pod::UKRUN_HANDLER;
use crate::static_pod::StaticPod;
use crate::{node_env, repo, script, wait};

/// Environment variable naming the kubelet's folder (kubelet.gz and
/// SHA256SUMS).
pub const DIR_ENV: &str = "UKRUN_KUBELET_DIR";

/// How often pod states are polled.
const POLL: Duration = Duration::from_millis(100);
/// How often the wait for removed pods polls (it lasts up to a minute).
const POLL_REMOVED: Duration = Duration::from_millis(500);

/// A running kubelet. Dropping it stops the kubelet, removes every pod of
/// its node through the CRI, then its mounts and cgroups (`kubelet.sh
/// down`); [`Kubelet::stop`] does the same and also fails when the host
/// changed.
pub struct Kubelet<'n> {
    api: KubeletApi,
    node_name: String,
    manifests: PathBuf,
    teardown: Teardown<'n>,
}

impl<'n> Kubelet<'n> {
    /// Starts a fresh node with `ukrun_bin` as containerd's default runtime
    /// handler and a kubelet on it, runs `scenario` and tears both down;
    /// fails when the scenario fails or the kubelet changed the host. The
    /// node's logs (the kubelet's among them) are printed on failure.
    /// Without the kubelet outside CI, says so and returns at once.
    pub fn run(ukrun_bin: &Path, scenario: impl FnOnce(&Kubelet) -> Result<()>) -> Result<()> {
        let Some(dir) = binary_dir()? else {
            return Ok(());
        };
        Node::run_with_default_runtime(ukrun_bin, UKRUN_HANDLER, |node| {
            let kubelet = Kubelet::start(node, &dir)?;
            let outcome = scenario(&kubelet);
            let stopped = kubelet.stop();
            outcome.and(stopped)
        })
    }

    /// Starts the kubelet of folder `dir` (see [`binary_dir`]) on `node`
    /// and waits until its healthz answers.
    pub fn start(node: &'n Node, dir: &Path) -> Result<Kubelet<'n>> {
        let teardown = Teardown {
            node,
            host_before: HostState::read()?,
            done: false,
        };
        let state = node.state_dir();
        script::run(
            "kubelet.sh",
            &[Path::new("up"), state, dir],
            &state.join("kubelet-up.log"),
        )
        .context("starting the kubelet")?;
        let env_file = state.join("kubelet/kubelet.env");
        let text = std::fs::read_to_string(&env_file)
            .with_context(|| format!("reading {}", env_file.display()))?;
        let vars = node_env::vars(&text);
        let get = |key: &str| {
            vars.get(key)
                .map(|value| value.to_string())
                .with_context(|| format!("{key} is missing in {}", env_file.display()))
        };
        Ok(Kubelet {
            api: KubeletApi::new(node.netns(), &get("API")?),
            node_name: get("NODE_NAME")?,
            manifests: get("MANIFESTS")?.into(),
            teardown,
        })
    }

    /// Stops the kubelet and removes its pods, mounts and cgroups; fails
    /// when any of that failed or the host's sysctls or fixed kubelet paths
    /// differ from before the kubelet started.
    pub fn stop(mut self) -> Result<()> {
        self.teardown.run()
    }

    /// The node the kubelet runs on.
    pub fn node(&self) -> &'n Node {
        self.teardown.node
    }

    /// The kubelet's API.
    pub fn api(&self) -> &KubeletApi {
        &self.api
    }

    /// The name the kubelet gives `pod`: `<name>-<node name>`, as for every
    /// static pod.
    pub fn pod_name(&self, pod: &StaticPod) -> String {
        self.full_name(pod.name())
    }

    /// The name the kubelet gives the static pod whose manifest names it
    /// `name` (for manifests put with [`Kubelet::put_file`]).
    pub fn full_name(&self, name: &str) -> String {
        format!("{name}-{}", self.node_name)
    }

    /// The kubelet's folder of the pod with UID `uid` (its `etc-hosts`,
    /// volumes, ...), under its root dir.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.node().state_dir().join("kubelet/root/pods").join(uid)
    }

    /// The folder the kubelet reads static pod manifests from.
    pub fn manifests(&self) -> &Path {
        &self.manifests
    }

    /// Puts `pod`'s manifest into the manifest folder: written as a dot
    /// file first and renamed, so the kubelet never reads half of it.
    pub fn put(&self, pod: &StaticPod) -> Result<()> {
        let hidden = self.manifests.join(format!(".{}.json", pod.name()));
        std::fs::write(&hidden, pod.to_json())
            .with_context(|| format!("writing {}", hidden.display()))?;
        std::fs::rename(&hidden, self.manifest(pod))
            .with_context(|| format!("renaming {} into place", hidden.display()))
    }

    /// Removes `pod`'s manifest: the kubelet then stops and removes the pod.
    pub fn remove(&self, pod: &StaticPod) -> Result<()> {
        let path = self.manifest(pod);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))
    }

    /// Copies the manifest file `source` (YAML or JSON, e.g. one of
    /// `deploy/examples`) byte for byte into the manifest folder under its
    /// own file name, through a dot file as [`Kubelet::put`] does; returns
    /// where it now is (remove that file to delete the pod).
    pub fn put_file(&self, source: &Path) -> Result<PathBuf> {
        let name = source
            .file_name()
            .with_context(|| format!("{} names no file", source.display()))?;
        let target = self.manifests.join(name);
        let hidden = self.manifests.join(format!(".{}", name.to_string_lossy()));
        std::fs::copy(source, &hidden)
            .with_context(|| format!("copying {} to {}", source.display(), hidden.display()))?;
        std::fs::rename(&hidden, &target)
            .with_context(|| format!("renaming {} into place", hidden.display()))?;
        Ok(target)
    }

    /// Polls the kubelet (bounded by `limit`) until it reports `pod` and
    /// `done` holds for its status; `what` names the wait. An error of
    /// `done` (a state the pod must never reach) ends the wait at once.
    pub fn wait_for(
        &self,
        pod: &StaticPod,
        what: &str,
        limit: Duration,
        done: impl Fn(&PodStatus) -> Result<bool>,
    ) -> Result<PodStatus> {
        self.wait_for_named(pod.name(), what, limit, done)
    }

    /// [`Kubelet::wait_for`] the static pod whose manifest names it `name`.
    pub fn wait_for_named(
        &self,
        name: &str,
        what: &str,
        limit: Duration,
        done: impl Fn(&PodStatus) -> Result<bool>,
    ) -> Result<PodStatus> {
        let name = self.full_name(name);
        self.poll_pods(&format!("{name} {what}"), limit, |pods| {
            let Some(status) = pods.iter().find(|status| status.name == name) else {
                return Ok(None);
            };
            let done = done(status).with_context(|| format!("{name}: {status:?}"))?;
            Ok(done.then(|| status.clone()))
        })
    }

    /// Puts the manifests of `pods` at once and waits (bounded by `limit`)
    /// until the kubelet reports each Ready with no container restarted;
    /// returns each pod's status and how long after the manifests it was
    /// first seen Ready, and prints those times.
    pub fn put_all_ready(
        &self,
        pods: &[StaticPod],
        limit: Duration,
    ) -> Result<Vec<(PodStatus, Duration)>> {
        let start = Instant::now();
        for pod in pods {
            self.put(pod)?;
        }
        let names: Vec<String> = pods.iter().map(|pod| self.pod_name(pod)).collect();
        let mut ready: Vec<Option<(PodStatus, Duration)>> = vec![None; pods.len()];
        self.poll_pods(
            &format!("{} to be Ready", names.join(", ")),
            limit,
            |known| {
                for (name, seen) in names.iter().zip(ready.iter_mut()) {
                    let Some(status) = known.iter().find(|status| &status.name == name) else {
                        continue;
                    };
                    if let Some(c) = status.containers.iter().find(|c| c.restart_count > 0) {
                        bail!("{name}: container {} was restarted: {status:?}", c.name);
                    }
                    if seen.is_none() && status.ready {
                        *seen = Some((status.clone(), start.elapsed()));
                    }
                }
                Ok(ready.iter().all(Option::is_some).then_some(()))
            },
        )?;
        let ready: Vec<(PodStatus, Duration)> = ready.into_iter().flatten().collect();
        for (status, took) in &ready {
            eprintln!(
                "{} Ready {:.2} s after its manifest appeared",
                status.name,
                took.as_secs_f64()
            );
        }
        Ok(ready)
    }

    /// [`Kubelet::put_all_ready`] for one pod.
    pub fn put_ready(&self, pod: &StaticPod, limit: Duration) -> Result<(PodStatus, Duration)> {
        let mut ready = self.put_all_ready(std::slice::from_ref(pod), limit)?;
        ready.pop().context("no pod was put")
    }

    /// Removes the manifests of `pods` and waits (bounded by `limit`) until
    /// the node is empty: the kubelet knows no pod and the CRI lists no
    /// sandbox. The kubelet's container garbage collection, which removes
    /// the sandboxes, runs once a minute. Returns and prints the time it
    /// took.
    pub fn remove_all_and_wait_empty(
        &self,
        pods: &[&StaticPod],
        limit: Duration,
    ) -> Result<Duration> {
        let start = Instant::now();
        for pod in pods {
            self.remove(pod)?;
        }
        let node = self.node();
        wait::poll(
            "the kubelet to remove every pod (CRI lists none)",
            limit,
            POLL_REMOVED,
            || {
                let known = self.api.pods()?;
                let sandboxes = node.cri().list_pods()?;
                Ok((known.is_empty() && sandboxes.is_empty()).then_some(()))
            },
        )?;
        let took = start.elapsed();
        eprintln!(
            "{} pods removed {:.1} s after their manifests",
            pods.len(),
            took.as_secs_f64()
        );
        Ok(took)
    }

    /// Polls the pods the kubelet reports (bounded by `limit`) until `check`
    /// returns a value; `what` names the wait. An error of `check` ends the
    /// wait at once; errors reading the kubelet's API are retried.
    fn poll_pods<T>(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut(&[PodStatus]) -> Result<Option<T>>,
    ) -> Result<T> {
        let mut fatal = None;
        let outcome = wait::poll(what, limit, POLL, || {
            let pods = self.api.pods()?;
            match check(&pods) {
                Ok(Some(value)) => Ok(Some(Some(value))),
                Ok(None) => Ok(None),
                Err(err) => {
                    fatal = Some(err);
                    Ok(Some(None))
                }
            }
        });
        match (fatal, outcome?) {
            (Some(err), _) => Err(err),
            (None, value) => value.with_context(|| format!("{what}: the wait ended empty")),
        }
    }

    /// Where `pod`'s manifest lives.
    fn manifest(&self, pod: &StaticPod) -> PathBuf {
        self.manifests.join(format!("{}.json", pod.name()))
    }
}

/// The folder of the kubelet (`kubelet.gz` and `SHA256SUMS`), or `None`
/// (with one line saying where to get it) when it is missing outside CI;
/// in CI (`CI` set) a missing kubelet fails the run.
pub fn binary_dir() -> Result<Option<PathBuf>> {
    repo::shared_dir(
        DIR_ENV,
        "kubelet-1.36.2",
        "kubelet.gz",
        "the kubelet v1.36.2 (kubelet.gz, SHA256SUMS) was",
        "it is built offline from source as the README beside it says",
    )
}

/// Owns a started (or half-started) kubelet: stops it, removes the node's
/// pods and runs `kubelet.sh down` once, explicitly or on drop.
struct Teardown<'n> {
    node: &'n Node,
    host_before: HostState,
    done: bool,
}

impl Teardown<'_> {
    /// Tears down (once) and checks the host is as before.
    fn run(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(());
        }
        let state = self.node.state_dir();
        let log = state.join("kubelet-down.log");
        let stopped = script::run("kubelet.sh", &[Path::new("stop"), state], &log);
        // Stopped first, or the kubelet would start its pods again.
        self.node.remove_all_pods();
        let down = script::run("kubelet.sh", &[Path::new("down"), state], &log);
        let host = HostState::read().and_then(|now| self.host_before.check_unchanged(&now));
        match (stopped, down, host) {
            (Ok(()), Ok(()), Ok(())) => Ok(()),
            (stopped, down, host) => {
                let errors: Vec<String> = [stopped, down, host]
                    .into_iter()
                    .filter_map(|r| r.err().map(|e| format!("{e:#}")))
                    .collect();
                bail!("kubelet teardown: {}", errors.join("; "))
            }
        }
    }
}

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.run() {
            eprintln!("{err:#}");
        }
    }
}
