//! Container state under `--root`: one directory per container holding a
//! JSON record written atomically, so every command (and a crashed
//! supervisor's successor) sees either the old or the new state.

pub mod netns_id;
pub mod netns_lock;
pub mod netns_owner;
pub mod process;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dns::delivery::DnsPlan;
use crate::jail::limits::VmmLimits;
use crate::limits::excerpt;
use crate::net::journal::Journal;
use crate::net::steps::NetStep;
use crate::spec::Unikernel;
use netns_id::NetnsId;
pub use process::ProcessRef;

/// Subdirectory of `--root` that holds ukrun's containers (runc keeps its
/// own containers directly under the same root).
const UKRUN_SUBDIR: &str = ".ukrun";
const STATE_FILE: &str = "state.json";
/// A container's directory: only root enters it (its state records the
/// VMM's command and the pod's wiring; its sockets control the container).
const PRIVATE_DIR: u32 = 0o700;
/// The state file: only root reads it.
const PRIVATE_FILE: u32 = 0o600;

/// Where a container is in its life, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// `create` is preparing the supervisor.
    Creating,
    /// The supervisor is ready; the VMM has not been started.
    Created,
    /// The VMM was started.
    Running,
}

/// Everything ukrun records about one container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Root filesystem.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// The spec's annotations.
    pub annotations: BTreeMap<String, String>,
    /// Recorded stage.
    pub stage: Stage,
    /// The supervisor (the container's init as the shim sees it).
    pub supervisor: Option<ProcessRef>,
    /// The containerd shim that ran `create` (absent when no shim did),
    /// which the supervisor watches (see [`crate::supervisor::shim_watch`]).
    #[serde(default)]
    pub shim: Option<ProcessRef>,
    /// The VMM once started.
    pub vmm: Option<ProcessRef>,
    /// The VMM's argv as launched.
    pub vmm_argv: Vec<String>,
    /// The pod network namespace.
    pub netns: Option<PathBuf>,
    /// Its inode: the key of the namespace's lock and owner record (see
    /// [`netns_owner`]), recorded before the container takes either.
    #[serde(default)]
    pub netns_inode: Option<u64>,
    /// Its cookie: with the inode, what tells it from a namespace made
    /// later at the same path (see [`netns_id`]).
    #[serde(default)]
    pub netns_cookie: Option<u64>,
    /// Network changes applied in the pod netns, in order (undone in reverse).
    pub network: Vec<NetStep>,
    /// cgroup directories the supervisor created.
    pub cgroups: Vec<PathBuf>,
    /// The VMM's cgroup and its limits (absent until it has one), which
    /// `update` changes.
    #[serde(default)]
    pub vmm_cgroup: Option<VmmCgroup>,
    /// The user and group id leased to the VMM (see [`crate::jail::ids`]).
    #[serde(default)]
    pub vmm_id: Option<u32>,
    /// How the pod's DNS reaches the guest, as the supervisor decided it
    /// (absent before it has; `ukrun doctor` reports it).
    #[serde(default)]
    pub dns: Option<DnsPlan>,
    /// The validated unikernel request.
    pub unikernel: Unikernel,
}

/// The VMM's cgroup as the supervisor made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmmCgroup {
    /// Its directory in each cgroup hierarchy.
    pub dirs: Vec<PathBuf>,
    /// The limits written there.
    pub limits: VmmLimits,
}

/// runc's container status strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Being created.
    Creating,
    /// Created, not started.
    Created,
    /// Started and alive.
    Running,
    /// Its supervisor is gone.
    Stopped,
}

impl Status {
    /// runc's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

impl ContainerState {
    /// The pod netns the network steps were applied in, as recorded.
    pub fn wired_netns(&self) -> Option<NetnsId> {
        self.netns_inode.map(|inode| NetnsId {
            inode,
            cookie: self.netns_cookie,
        })
    }

    /// Records the pod netns the network steps are applied in.
    pub fn set_wired_netns(&mut self, netns: NetnsId) {
        self.netns_inode = Some(netns.inode);
        self.netns_cookie = netns.cookie;
    }

    /// The status runc would report: recorded stage, unless the supervisor died.
    pub fn status(&self) -> Status {
        let alive = self.supervisor.is_some_and(|p| p.is_alive());
        match (self.stage, alive) {
            (Stage::Creating, _) => Status::Creating,
            (_, false) => Status::Stopped,
            (Stage::Created, true) => Status::Created,
            (Stage::Running, true) => Status::Running,
        }
    }
}

/// Why state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not one of ukrun's containers.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// The id is taken.
    #[error("container with id {0} already exists")]
    Exists(String),
    /// The id could escape the state directory or is otherwise invalid.
    #[error("invalid container id {}: use letters, digits, '_', '+', '-' and '.'", excerpt(.0))]
    BadId(String),
    /// Filesystem error.
    #[error("state of container {id}: {source}")]
    Io {
        /// Container id.
        id: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The state cannot be written as JSON (a path that is not UTF-8).
    #[error("state of container {id} cannot be recorded: {message}")]
    Unserializable {
        /// Container id.
        id: String,
        /// Serializer's explanation.
        message: String,
    },
    /// Corrupt state file.
    #[error("state of container {id} is corrupt: {message}")]
    Corrupt {
        /// Container id.
        id: String,
        /// Parser's explanation.
        message: String,
    },
}

/// The state directories under one `--root`.
#[derive(Clone, Debug)]
pub struct Store {
    base: PathBuf,
}

impl Store {
    /// The store for runtime root `root`.
    pub fn new(root: &Path) -> Self {
        Self {
            base: std::path::absolute(root)
                .unwrap_or_else(|_| root.to_path_buf())
                .join(UKRUN_SUBDIR),
        }
    }

    /// The state root this store was made for (`--root`).
    pub fn root(&self) -> &Path {
        self.base.parent().unwrap_or(&self.base)
    }

    /// The directory of container `id` (control socket, QMP socket, state).
    pub fn dir(&self, id: &str) -> Result<PathBuf, StateError> {
        validate_id(id)?;
        Ok(self.base.join(id))
    }

    /// Whether `id` is one of ukrun's containers.
    pub fn owns(&self, id: &str) -> bool {
        self.dir(id).is_ok_and(|d| d.join(STATE_FILE).exists())
    }

    /// Claims the id by creating its directory; fails if it exists.
    pub fn claim(&self, id: &str) -> Result<PathBuf, StateError> {
        let dir = self.dir(id)?;
        let io = |source| StateError::Io {
            id: id.to_owned(),
            source,
        };
        std::fs::create_dir_all(&self.base).map_err(io)?;
        match std::fs::DirBuilder::new().mode(PRIVATE_DIR).create(&dir) {
            Ok(()) => {
                // The umask may have taken bits away; none may be added.
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(PRIVATE_DIR))
                    .map_err(io)?;
                Ok(dir)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StateError::Exists(id.to_owned()))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Reads the state of `id`.
    pub fn load(&self, id: &str) -> Result<ContainerState, StateError> {
        let path = self.dir(id)?.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_owned()))
            }
            Err(source) => {
                return Err(StateError::Io {
                    id: id.to_owned(),
                    source,
                })
            }
        };
        serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            id: id.to_owned(),
            message: e.to_string(),
        })
    }

    /// Writes the state atomically (temporary file, rename): a reader, or a
    /// ukrun killed half-way, sees the old document or the new one, never
    /// a part. There is no fsync, as in runc: the state describes processes
    /// and namespaces that a power loss ends too, and it lives in the
    /// shim's root under /run, a tmpfs; on a disk root an fsync per record
    /// cost milliseconds each on the create path, which records often.
    pub fn save(&self, state: &ContainerState) -> Result<(), StateError> {
        let dir = self.dir(&state.id)?;
        let io = |source| StateError::Io {
            id: state.id.clone(),
            source,
        };
        let tmp = dir.join(format!(".{STATE_FILE}.{}", std::process::id()));
        let json = serde_json::to_vec_pretty(state).map_err(|e| StateError::Unserializable {
            id: state.id.clone(),
            message: e.to_string(),
        })?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(PRIVATE_FILE)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(&json).map_err(io)?;
        std::fs::rename(&tmp, dir.join(STATE_FILE)).map_err(io)
    }

    /// Which container owns which pod netns.
    pub fn netns_owners(&self) -> netns_owner::NetnsOwners {
        netns_owner::NetnsOwners::new(&self.base)
    }

    /// Removes every trace of `id` (idempotent).
    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        let dir = self.dir(id)?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                id: id.to_owned(),
                source,
            }),
        }
    }
}

/// A container's state as the journal of its network steps: each save
/// writes the state file, so that `delete` (or a successor) finds every
/// step that may have changed the pod netns.
pub struct StateJournal<'a> {
    /// Where the state is saved.
    pub store: &'a Store,
    /// The state whose `network` records the steps.
    pub state: &'a mut ContainerState,
}

impl Journal for StateJournal<'_> {
    fn steps(&mut self) -> &mut Vec<NetStep> {
        &mut self.state.network
    }

    fn save(&mut self) -> Result<(), String> {
        self.store.save(self.state).map_err(|e| e.to_string())
    }
}

/// runc's rule for ids: `^[\w+-.]+$`, and never `.` or `..`.
fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StateError::BadId(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::GuestKind;
    use crate::vmm::Monitor;

    fn sample(id: &str) -> ContainerState {
        ContainerState {
            id: id.into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00Z".into(),
            annotations: BTreeMap::new(),
            stage: Stage::Created,
            supervisor: None,
            shim: None,
            vmm: None,
            vmm_argv: vec![],
            netns: None,
            netns_inode: None,
            netns_cookie: None,
            network: vec![],
            cgroups: vec![],
            vmm_cgroup: None,
            dns: None,
            unikernel: Unikernel {
                kind: GuestKind::Linux,
                monitor: Monitor::Qemu,
                kernel: "/b/rootfs/boot/vmlinux".into(),
                initrd: None,
                block: None,
                cmdline: String::new(),
                version: None,
            },
            vmm_id: None,
        }
    }

    #[test]
    fn ids_that_escape_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(
                matches!(validate_id(bad), Err(StateError::BadId(_))),
                "{bad:?}"
            );
        }
        assert!(validate_id("abc-1.2_3+4").is_ok());
    }

    #[test]
    fn claim_save_load_remove() {
        let root = std::env::temp_dir().join(format!("ukrun-state-{}", std::process::id()));
        let store = Store::new(&root);
        store.claim("c1").unwrap();
        assert!(matches!(store.claim("c1"), Err(StateError::Exists(_))));
        assert!(!store.owns("c1"));
        let s = sample("c1");
        store.save(&s).unwrap();
        assert!(store.owns("c1"));
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir("c1").unwrap()), 0o700);
        assert_eq!(mode(store.dir("c1").unwrap().join(STATE_FILE)), 0o600);
        assert_eq!(store.load("c1").unwrap(), s);
        store.remove("c1").unwrap();
        store.remove("c1").unwrap();
        assert!(matches!(store.load("c1"), Err(StateError::NotFound(_))));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_path_that_is_not_utf8_is_an_error_not_a_panic() {
        use std::os::unix::ffi::OsStrExt;
        let root = std::env::temp_dir().join(format!("ukrun-state-u8-{}", std::process::id()));
        let store = Store::new(&root);
        store.claim("c3").unwrap();
        let mut s = sample("c3");
        s.unikernel.kernel = std::ffi::OsStr::from_bytes(b"/b/rootfs/k\xff").into();
        let saved = store.save(&s);
        std::fs::remove_dir_all(&root).unwrap();
        let e = saved.unwrap_err().to_string();
        assert!(
            e.starts_with("state of container c3 cannot be recorded: "),
            "{e}"
        );
    }

    #[test]
    fn dead_supervisor_means_stopped() {
        let mut s = sample("c2");
        assert_eq!(s.status(), Status::Stopped);
        s.supervisor = ProcessRef::of(std::process::id() as i32);
        assert_eq!(s.status(), Status::Created);
        s.stage = Stage::Running;
        assert_eq!(s.status(), Status::Running);
        s.stage = Stage::Creating;
        assert_eq!(s.status(), Status::Creating);
    }
}
