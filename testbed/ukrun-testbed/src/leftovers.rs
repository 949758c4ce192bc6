//! Finding what a node's pods left behind: processes, container state
//! under ukrun's root, guest network plumbing, cgroups and mounts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Result};

use ukrun::net::netns_find::nsfs_mount_points;
use ukrun::state::netns_id::NetnsId;
use ukrun::supervisor::cgroup::cgroup_mounts;

use crate::kubelet_api::PodStatus;
use crate::netns::Netns;
use crate::node::Node;
use crate::pod::Pod;
use crate::procs::{self, Process};
use crate::{netstate, wait};

/// How long teardown may lag behind the CRI call that asked for it (the
/// supervisor reaps qemu and undoes the plumbing as it exits).
const SETTLE: Duration = Duration::from_secs(10);

/// Everything that identifies one node's pods, recorded while they run so
/// their traces can be searched for after teardown.
pub struct Footprint {
    state_dir: String,
    ukrun_root: PathBuf,
    node_netns: Netns,
    node_netns_inode: u64,
    containerd_pid: u32,
    ids: Vec<String>,
    pod_netns: Vec<NetnsId>,
}

/// What a [`Footprint`] saw at one moment, to tell what an operation added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    processes: BTreeSet<(u32, String)>,
    state: BTreeSet<PathBuf>,
}

impl Footprint {
    /// The footprint of `node` with no pod recorded yet.
    pub fn new(node: &Node) -> Result<Footprint> {
        let node_netns = node.netns();
        Ok(Footprint {
            state_dir: node.state_dir().display().to_string(),
            ukrun_root: node.ukrun_root(),
            node_netns_inode: procs::netns_inode(node_netns.path())?,
            node_netns,
            containerd_pid: node.containerd_pid()?,
            ids: Vec::new(),
            pod_netns: Vec::new(),
        })
    }

    /// The footprint of a runtime driven directly, as the shim drives it
    /// (no containerd): its working folder `dir` (named on its processes'
    /// command lines), its state root `root` and the netns it serves pods
    /// from, `node_netns`.
    pub fn for_runtime(dir: &Path, root: PathBuf, node_netns: Netns) -> Result<Footprint> {
        Ok(Footprint {
            state_dir: dir.display().to_string(),
            ukrun_root: root,
            node_netns_inode: procs::netns_inode(node_netns.path())?,
            node_netns,
            containerd_pid: 0,
            ids: Vec::new(),
            pod_netns: Vec::new(),
        })
    }

    /// Records a running pod: its id and its network namespace.
    pub fn add_pod(&mut self, pod: &Pod) -> Result<()> {
        self.add_sandbox(&pod.id, &pod.netns()?)
    }

    /// Records a running pod sandbox by its id and network namespace (one
    /// a kubelet started, say).
    pub fn add_sandbox(&mut self, id: &str, netns: &Netns) -> Result<()> {
        self.ids.push(id.to_string());
        self.pod_netns
            .push(netns.within(|| Ok(NetnsId::current()?))?);
        Ok(())
    }

    /// Records a container id (its processes, state and cgroups are named
    /// by it).
    pub fn add_container(&mut self, id: &str) {
        self.ids.push(id.to_string());
    }

    /// Records a running pod of the node's kubelet as it reports it: its
    /// sandbox (found by name through the CRI) and network namespace, its
    /// containers, and its UID (the kubelet names the pod's cgroup
    /// `pod<uid>`).
    pub fn add_kubelet_pod(&mut self, node: &Node, status: &PodStatus) -> Result<()> {
        ensure!(
            !status.uid.is_empty(),
            "{} has no UID: {status:?}",
            status.name
        );
        let sandbox = node.cri().ready_pod_named(&status.name)?;
        self.add_sandbox(&sandbox, &node.cri().pod_netns(&sandbox)?)?;
        for container in status.containers.iter().filter(|c| !c.id.is_empty()) {
            self.add_container(&container.id);
        }
        self.ids.push(status.uid.clone());
        Ok(())
    }

    /// Processes of the recorded pods: anything in a pod's netns or naming
    /// one of their ids, and any qemu/ukrun of this node (containerd itself
    /// excluded).
    pub fn processes(&self) -> Vec<Process> {
        procs::all()
            .into_iter()
            .filter(|p| p.pid != self.containerd_pid && self.owns(p))
            .collect()
    }

    fn owns(&self, p: &Process) -> bool {
        let in_pod = p.netns.is_some_and(|inode| {
            self.is_pod_netns(inode, Path::new(&format!("/proc/{}/ns/net", p.pid)))
        });
        let names_id = self.ids.iter().any(|id| p.cmdline.contains(id.as_str()));
        let node_runtime = p.is_runtime()
            && (p.cmdline.contains(&self.state_dir) || p.netns == Some(self.node_netns_inode));
        in_pod || names_id || node_runtime
    }

    /// Container state under ukrun's root: every file, and every folder
    /// named like a container id (containerd's ids are 64 hex digits), which
    /// is how both ukrun and runc name a container's state.
    pub fn state(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        container_state(&self.ukrun_root, &mut found);
        found
    }

    /// Guest plumbing (tap links, added qdiscs) in the node netns and in any
    /// network namespace still mounted under the node's state folder.
    pub fn network_traces(&self) -> Result<Vec<String>> {
        let mut spaces = vec![self.node_netns.clone()];
        spaces.extend(
            nsfs_mounts_under(Path::new(&self.state_dir))
                .into_iter()
                .map(Netns::new),
        );
        let mut traces = Vec::new();
        for netns in spaces {
            for trace in netstate::guest_traces(&netns)? {
                traces.push(format!("{}: {trace}", netns.path().display()));
            }
        }
        Ok(traces)
    }

    /// cgroup folders, in every hierarchy, whose name holds a recorded id
    /// (a container's cgroup is named by its id, ukrun's VMM cgroup sits
    /// below it, a kubelet pod's is `pod<uid>`).
    pub fn cgroups(&self) -> Vec<PathBuf> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut found = Vec::new();
        for hierarchy in cgroup_mounts(&mountinfo) {
            self.named_folders(&hierarchy, &mut found);
        }
        found
    }

    /// Mounts (mount point and source) that name a recorded id (a
    /// container's rootfs, a sandbox's shm), and mounts of a recorded pod
    /// network namespace.
    pub fn mounts(&self) -> Vec<String> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let pod_netns = nsfs_mounts_under(Path::new(&self.state_dir))
            .into_iter()
            .filter(|path| {
                procs::netns_inode(path).is_ok_and(|inode| self.is_pod_netns(inode, path))
            })
            .map(|path| format!("pod netns {}", path.display()));
        let named = mountinfo
            .lines()
            .filter(|line| self.ids.iter().any(|id| line.contains(id.as_str())))
            .map(|line| line.to_string());
        named.chain(pod_netns).collect()
    }

    /// Every leftover, one per line (empty when all is gone).
    pub fn leftovers(&self) -> Result<Vec<String>> {
        let processes = self.processes().into_iter().map(|p| format!("process {p}"));
        let state = self
            .state()
            .into_iter()
            .map(|path| format!("state {}", path.display()));
        let cgroups = self
            .cgroups()
            .into_iter()
            .map(|path| format!("cgroup {}", path.display()));
        let mounts = self.mounts().into_iter().map(|m| format!("mount {m}"));
        Ok(processes
            .chain(state)
            .chain(self.network_traces()?)
            .chain(cgroups)
            .chain(mounts)
            .collect())
    }

    /// Whether the network namespace at `path`, of inode `inode`, is a
    /// recorded pod's: its inode, and its cookie where the kernel has one (a
    /// freed namespace's inode goes to the next one, say another node's,
    /// made meanwhile).
    fn is_pod_netns(&self, inode: u64, path: &Path) -> bool {
        if !self.pod_netns.iter().any(|id| id.inode == inode) {
            return false;
        }
        Netns::new(path)
            .within(|| Ok(NetnsId::current()?))
            .is_ok_and(|now| self.pod_netns.iter().any(|id| id.is(&now)))
    }

    /// Collects the folders under `dir` whose name holds a recorded id
    /// (not descending into them).
    fn named_folders(&self, dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if self.ids.iter().any(|id| name.contains(id.as_str())) {
                found.push(entry.path());
            } else {
                self.named_folders(&entry.path(), found);
            }
        }
    }

    /// Waits (bounded) until [`Footprint::leftovers`] is empty; fails with
    /// the list of what stayed.
    pub fn assert_gone(&self) -> Result<()> {
        wait::until_none_left("the pods' leftovers to go", SETTLE, || self.leftovers())
    }

    /// What exists now (processes and container state).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            processes: self
                .processes()
                .into_iter()
                .map(|p| (p.pid, p.cmdline))
                .collect(),
            state: self.state().into_iter().collect(),
        }
    }

    /// Waits (bounded) until nothing exists beyond `before`; fails with the
    /// list of what was added.
    pub fn assert_nothing_added(&self, before: &Snapshot) -> Result<()> {
        wait::until_none_left("nothing new to be left", SETTLE, || {
            Ok(self.snapshot().added_since(before))
        })
    }
}

impl Snapshot {
    /// What this snapshot holds that `before` did not, one per line.
    /// Processes are compared by pid only: a process that was still exec'ing
    /// when `before` was taken (the pod's pause: `runc init`, then
    /// `sleep infinity`) has changed its command line, not appeared.
    pub fn added_since(&self, before: &Snapshot) -> Vec<String> {
        let known: std::collections::BTreeSet<u32> =
            before.processes.iter().map(|(pid, _)| *pid).collect();
        let processes = self
            .processes
            .iter()
            .filter(|(pid, _)| !known.contains(pid))
            .map(|(pid, cmdline)| format!("process pid {pid}: {cmdline}"));
        let state = self
            .state
            .difference(&before.state)
            .map(|path| format!("state {}", path.display()));
        processes.chain(state).collect()
    }
}

/// Collects files and container-id-named folders under `dir`.
fn container_state(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || is_container_id(&entry.file_name().to_string_lossy()) {
            found.push(path);
        } else {
            container_state(&path, found);
        }
    }
}

/// Whether `name` looks like a containerd-generated id.
fn is_container_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Mount points of network namespaces (nsfs) under `dir`.
fn nsfs_mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    nsfs_mount_points(&mountinfo)
        .into_iter()
        .filter(|path| path.starts_with(dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_64_hex_digits() {
        assert!(is_container_id(&"ab12".repeat(16)));
        assert!(!is_container_id("ukrun"));
        assert!(!is_container_id(&"zz".repeat(32)));
    }

    #[test]
    fn files_and_id_folders_count_as_state() {
        let root = std::env::temp_dir().join(format!("ukrun-tb-state-{}", std::process::id()));
        let id = "0f".repeat(32);
        std::fs::create_dir_all(root.join("ukrun").join(&id)).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("ukrun/stray.lock"), "").unwrap();
        let mut found = Vec::new();
        container_state(&root, &mut found);
        found.sort();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            found,
            vec![root.join("ukrun").join(&id), root.join("ukrun/stray.lock")]
        );
    }
}
