//! What the VMM's root directory holds (pure): the host's `/usr` read-only
//! (the monitor, its libraries and firmware, which any local user may read
//! anyway), the host's top-level library and binary directories as they
//! are (links into `/usr` on a merged-`/usr` host, read-only binds
//! elsewhere), the dynamic loader's cache, a `/dev` of its own holding the
//! few device nodes the monitor opens (KVM and tun owned by the VMM's user,
//! as Firecracker's jailer makes them, since the host's are often root's
//! alone), a `/proc` that shows only the VMM's own processes (where it finds
//! the descriptors it was handed), and the monitor binary itself when it
//! lives outside those. Nothing else of the host: no `/etc`, `/home`,
//! `/root`, `/run`, `/var`, no other container's files.

use std::path::{Path, PathBuf};

/// Host directories that hold programs and their libraries.
pub const PROGRAM_DIRS: &[&str] = &["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// The dynamic loader's cache.
pub const LD_CACHE: &str = "/etc/ld.so.cache";
/// Device nodes every monitor may open.
pub const BASE_DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"];
/// KVM's device.
pub const KVM_DEVICE: &str = "/dev/kvm";
/// The tun device, for monitors that open the tap by name.
pub const TUN_DEVICE: &str = "/dev/net/tun";

/// What a host program directory is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEntry {
    /// A symbolic link (merged `/usr`): the same link goes into the cell.
    Link(PathBuf),
    /// A directory: bound read-only.
    Dir,
    /// Absent.
    Missing,
}

/// One item of the cell, relative to its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A directory.
    Dir(PathBuf),
    /// A symbolic link to `target`.
    Link(PathBuf, PathBuf),
    /// A host file or directory bound read-only at the same place.
    Bind {
        /// Host path (also its place in the cell).
        host: PathBuf,
        /// Whether it is a directory (else an empty file is its mount point).
        dir: bool,
    },
    /// A `/dev` of the cell's own (a small tmpfs) with these nodes.
    Devices(Vec<Device>),
    /// A `/proc` of the VMM's own processes.
    Proc,
}

/// A device node the cell's `/dev` holds: the host's node's numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The host's node (also its place in the cell).
    pub host: PathBuf,
    /// Owned by the VMM's user, readable by it alone (else root's, 0666).
    pub vmm_owned: bool,
}

/// The monitor's needs that change the cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needs<'a> {
    /// The monitor program (absolute).
    pub binary: &'a Path,
    /// `/dev/kvm`.
    pub kvm: bool,
    /// `/dev/net/tun` (the monitor opens the tap by name).
    pub tun: bool,
}

/// The cell's items, in the order they are made and mounted.
pub fn layout(needs: &Needs<'_>, host: impl Fn(&str) -> HostEntry) -> Vec<Item> {
    let mut items = vec![
        Item::Dir("usr".into()),
        Item::Bind {
            host: "/usr".into(),
            dir: true,
        },
    ];
    let mut covered: Vec<PathBuf> = vec!["/usr".into()];
    for dir in PROGRAM_DIRS {
        match host(dir) {
            HostEntry::Link(target) => items.push(Item::Link(relative(Path::new(dir)), target)),
            HostEntry::Dir => {
                items.push(Item::Dir(relative(Path::new(dir))));
                items.push(Item::Bind {
                    host: dir.into(),
                    dir: true,
                });
                covered.push(dir.into());
            }
            HostEntry::Missing => {}
        }
    }
    items.push(Item::Dir("etc".into()));
    items.push(Item::Bind {
        host: LD_CACHE.into(),
        dir: false,
    });
    items.push(Item::Dir("dev".into()));
    let device = |host: &str, vmm_owned| Device {
        host: host.into(),
        vmm_owned,
    };
    let mut devices: Vec<Device> = BASE_DEVICES.iter().map(|d| device(d, false)).collect();
    if needs.kvm {
        devices.push(device(KVM_DEVICE, true));
    }
    if needs.tun {
        devices.push(device(TUN_DEVICE, true));
    }
    items.push(Item::Devices(devices));
    items.push(Item::Dir("proc".into()));
    items.push(Item::Proc);
    if !covered.iter().any(|c| needs.binary.starts_with(c)) {
        let mut parents: Vec<PathBuf> = needs
            .binary
            .ancestors()
            .skip(1)
            .filter(|a| a.parent().is_some())
            .map(relative)
            .collect();
        parents.reverse();
        items.extend(parents.into_iter().map(Item::Dir));
        items.push(Item::Bind {
            host: needs.binary.to_path_buf(),
            dir: false,
        });
    }
    items
}

/// What the host's `dir` is.
pub fn host_entry(dir: &str) -> HostEntry {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => std::fs::read_link(dir)
            .map(HostEntry::Link)
            .unwrap_or(HostEntry::Missing),
        Ok(m) if m.is_dir() => HostEntry::Dir,
        _ => HostEntry::Missing,
    }
}

/// `path` without its leading `/`.
pub fn relative(path: &Path) -> PathBuf {
    path.strip_prefix("/").unwrap_or(path).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged_usr(dir: &str) -> HostEntry {
        match dir {
            "/bin" => HostEntry::Link("usr/bin".into()),
            "/sbin" => HostEntry::Link("usr/sbin".into()),
            "/lib" => HostEntry::Link("usr/lib".into()),
            "/lib64" => HostEntry::Link("usr/lib64".into()),
            _ => HostEntry::Missing,
        }
    }

    fn binds(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Bind { host, .. } => Some(host.display().to_string()),
                _ => None,
            })
            .collect()
    }

    fn devices(items: &[Item]) -> Vec<(String, bool)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Devices(d) => Some(d),
                _ => None,
            })
            .flatten()
            .map(|d| (d.host.display().to_string(), d.vmm_owned))
            .collect()
    }

    #[test]
    fn qemu_on_a_merged_usr_host_sees_usr_the_loader_cache_and_basic_devices() {
        let needs = Needs {
            binary: Path::new("/usr/bin/qemu-system-x86_64"),
            kvm: false,
            tun: false,
        };
        let items = layout(&needs, merged_usr);
        assert_eq!(binds(&items), ["/usr", "/etc/ld.so.cache"]);
        let plain = |d: &str| (d.to_owned(), false);
        assert_eq!(
            devices(&items),
            [
                plain("/dev/null"),
                plain("/dev/zero"),
                plain("/dev/urandom"),
                plain("/dev/random")
            ]
        );
        assert!(items.contains(&Item::Link("lib".into(), "usr/lib".into())));
        assert!(items.contains(&Item::Proc));
        assert!(!items
            .iter()
            .any(|i| matches!(i, Item::Dir(d) if d.starts_with("run") || d.starts_with("root"))));
    }

    #[test]
    fn kvm_tun_split_usr_and_a_monitor_outside_usr() {
        let needs = Needs {
            binary: Path::new("/opt/fc/bin/firecracker"),
            kvm: true,
            tun: true,
        };
        let items = layout(&needs, |d| {
            if d == "/lib" {
                HostEntry::Dir
            } else {
                HostEntry::Missing
            }
        });
        let b = binds(&items);
        assert!(b.contains(&"/lib".to_owned()));
        let d = devices(&items);
        assert!(d.contains(&("/dev/kvm".to_owned(), true)));
        assert!(d.contains(&("/dev/net/tun".to_owned(), true)));
        assert_eq!(b.last().unwrap(), "/opt/fc/bin/firecracker");
        let dirs: Vec<&Item> = items
            .iter()
            .filter(|i| matches!(i, Item::Dir(d) if d.starts_with("opt")))
            .collect();
        assert_eq!(
            dirs,
            [
                &Item::Dir("opt".into()),
                &Item::Dir("opt/fc".into()),
                &Item::Dir("opt/fc/bin".into())
            ]
        );
    }
}
