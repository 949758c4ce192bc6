//! Each VMM runs as a user and group of its own, so that one guest's
//! escaped monitor cannot signal, trace or read another's. The ids come
//! from a range no one else uses (ukrun's configuration) and are leased
//! by container: a lease is a file named by the id, created exclusively
//! under a node-wide directory and holding its container's state directory.
//! A lease whose container is gone (its state directory was removed without
//! `delete`) is taken back when the range runs short.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where the leases live (node-wide: every `--root` shares the range).
pub const LEASE_DIR: &str = "/run/ukrun/vmm-ids";

/// The range of user and group ids VMMs run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdRange {
    /// First id.
    pub first: u32,
    /// How many.
    pub count: u32,
}

impl Default for IdRange {
    /// 2,000,000,000 and the 65,536 ids above it: far above login users
    /// and systemd's dynamic users, and an exact multiple of 65,536 like
    /// the user namespace ranges kubelet hands out (give kubelet a range
    /// that does not overlap it).
    fn default() -> Self {
        Self {
            first: 2_000_000_000,
            count: 65_536,
        }
    }
}

/// Why no id could be leased.
#[derive(Debug, thiserror::Error)]
pub enum IdError {
    /// The lease directory is unusable.
    #[error("cannot lease a user id for the VMM under {dir}: {source}")]
    Io {
        /// Lease directory.
        dir: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Every id of the range is leased to a live container.
    #[error(
        "all {count} VMM user ids from {first} are in use: widen [jail] ids in ukrun's config"
    )]
    Exhausted {
        /// First id.
        first: u32,
        /// How many.
        count: u32,
    },
}

/// The leases under one directory.
#[derive(Clone, Debug)]
pub struct Leases {
    dir: PathBuf,
    range: IdRange,
}

impl Leases {
    /// The leases of `range` kept in `dir`.
    pub fn new(dir: &Path, range: IdRange) -> Self {
        Self {
            dir: dir.to_path_buf(),
            range,
        }
    }

    /// Leases an id to the container whose state directory is `owner`
    /// (the same owner always gets the same first choice).
    pub fn lease(&self, owner: &Path) -> Result<u32, IdError> {
        let io = |source| IdError::Io {
            dir: self.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let _lock = self.lock().map_err(io)?;
        let count = self.range.count.max(1);
        let start = first_choice(owner, count);
        let candidates = (0..count).map(|i| self.range.first + (start + i) % count);
        for id in candidates.clone() {
            if self.try_create(id, owner).map_err(io)? {
                return Ok(id);
            }
        }
        for id in candidates {
            if self.holder(id).is_some_and(|holder| !holder.exists()) {
                let _ = std::fs::remove_file(self.path(id));
                if self.try_create(id, owner).map_err(io)? {
                    return Ok(id);
                }
            }
        }
        Err(IdError::Exhausted {
            first: self.range.first,
            count,
        })
    }

    fn path(&self, id: u32) -> PathBuf {
        self.dir.join(id.to_string())
    }

    fn holder(&self, id: u32) -> Option<PathBuf> {
        holder(&self.dir, id)
    }

    fn try_create(&self, id: u32, owner: &Path) -> std::io::Result<bool> {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.path(id))
        {
            Ok(mut file) => {
                file.write_all(owner.as_os_str().as_encoded_bytes())?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn lock(&self) -> std::io::Result<File> {
        lock(&self.dir)
    }
}

/// Gives `id` back to the leases in `dir` if `owner` still holds it
/// (idempotent; the range does not matter for giving back).
pub fn release(dir: &Path, id: u32, owner: &Path) {
    let Ok(_lock) = lock(dir) else { return };
    if holder(dir, id).as_deref() == Some(owner) {
        let _ = std::fs::remove_file(dir.join(id.to_string()));
    }
}

/// The state directory holding lease `id` in `dir`.
fn holder(dir: &Path, id: u32) -> Option<PathBuf> {
    let mut text = String::new();
    File::open(dir.join(id.to_string()))
        .and_then(|mut f| f.read_to_string(&mut text))
        .ok()?;
    Some(PathBuf::from(text))
}

/// Serialises leasing and releasing in `dir` (flock, released with the file).
fn lock(dir: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join(".lock"))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

/// Where `owner`'s search starts: spread over the range (FNV-1a of the
/// path), so that containers rarely probe past a taken id.
fn first_choice(owner: &Path, count: u32) -> u32 {
    let hash = owner
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    (hash % u64::from(count)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("ukrun-ids-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn owners_get_distinct_ids_in_the_range_until_it_runs_out() {
        let t = TempDir::new("distinct");
        let owners: Vec<PathBuf> = (0..4).map(|i| t.0.join(format!("c{i}"))).collect();
        owners.iter().for_each(|o| std::fs::create_dir(o).unwrap());
        let leases = Leases::new(
            &t.0.join("leases"),
            IdRange {
                first: 500,
                count: 3,
            },
        );
        let mut ids: Vec<u32> = owners[..3]
            .iter()
            .map(|o| leases.lease(o).unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, [500, 501, 502]);
        let e = leases.lease(&owners[3]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "all 3 VMM user ids from 500 are in use: widen [jail] ids in ukrun's config"
        );
    }

    #[test]
    fn release_frees_only_the_holders_lease_and_stale_leases_are_taken_back() {
        let t = TempDir::new("release");
        let (a, b) = (t.0.join("a"), t.0.join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let leases = Leases::new(&t.0.join("leases"), IdRange { first: 7, count: 1 });
        let id = leases.lease(&a).unwrap();
        release(&t.0.join("leases"), id, &b);
        assert!(leases.lease(&b).is_err(), "b does not hold it: still a's");
        release(&t.0.join("leases"), id, &a);
        assert_eq!(leases.lease(&b).unwrap(), 7);
        std::fs::remove_dir(&b).unwrap();
        assert_eq!(leases.lease(&a).unwrap(), 7, "b's state is gone");
    }
}
