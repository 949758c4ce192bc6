//! The VMM's cell, made and entered: `prepare` lays out the cell's root
//! directory on the host (empty directories, links and mount points, in the
//! container's state directory) and computes everything the child needs,
//! so that `enter`, which runs between fork and exec, makes only system
//! calls: it takes the handed descriptors to their numbers, joins the
//! VMM's cgroup, enters a private mount namespace whose root is the cell,
//! drops every capability for good, becomes the VMM's user, sets
//! `no_new_privs` and the death signal, and installs the seccomp filters.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use seccompiler::BpfProgram;

use super::layout::{self, Item, Needs};
use super::seccomp;

/// Lowest descriptor number handed descriptors pass through on the way to
/// their own numbers (so that no source is overwritten by another's target).
const STAGING_FD: RawFd = super::fds::ABOVE_HANDED;
/// procfs options: only the VMM's own processes, and nothing but them.
const PROC_OPTIONS: &std::ffi::CStr = c"hidepid=invisible,subset=pid";

/// What the cell is made for.
pub struct CellSpec<'a> {
    /// The cell's root on the host (created; the VMM's working directory).
    pub root: &'a Path,
    /// The VMM's user id.
    pub uid: u32,
    /// The VMM's group id.
    pub gid: u32,
    /// What the monitor needs to see.
    pub needs: Needs<'a>,
    /// `cgroup.procs` files of the VMM's cgroup, one per hierarchy.
    pub cgroup_procs: Vec<PathBuf>,
    /// Descriptors handed to the VMM: (the supervisor's descriptor, the number the VMM sees).
    pub handed: Vec<(RawFd, i32)>,
}

/// Why the cell could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CellError {
    /// A directory, link or mount point could not be made.
    #[error("cannot prepare the VMM's root {path}: {source}")]
    Io {
        /// What failed.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A path holds a NUL byte.
    #[error("path {0} holds a NUL byte")]
    Nul(PathBuf),
    /// The seccomp filter.
    #[error(transparent)]
    Seccomp(#[from] seccomp::FilterError),
}

/// One mount, ready for the child.
struct Mount {
    source: CString,
    target: CString,
    kind: MountKind,
}

enum MountKind {
    /// Read-only bind of a directory or file.
    ReadOnly,
    /// procfs.
    Proc,
    /// A tmpfs for `/dev`, then these nodes made in it.
    Devices(Vec<Node>),
}

/// A device node to make in the cell's `/dev`.
struct Node {
    path: CString,
    /// Its parent directory when that is not `/dev` itself (`/dev/net`).
    parent: Option<CString>,
    rdev: libc::dev_t,
    vmm_owned: bool,
}

/// A prepared cell: everything `enter` needs, computed before the fork.
pub struct Cell {
    root: CString,
    mounts: Vec<Mount>,
    uid: libc::uid_t,
    gid: libc::gid_t,
    filters: Vec<BpfProgram>,
    cgroup_procs: Vec<CString>,
    handed: Vec<(RawFd, i32)>,
    parent: libc::pid_t,
}

/// The node for host device `d` in the cell under `root`.
fn node(root: &Path, d: &layout::Device) -> Result<Node, CellError> {
    let meta = std::fs::metadata(&d.host).map_err(|source| CellError::Io {
        path: d.host.clone(),
        source,
    })?;
    let path = root.join(layout::relative(&d.host));
    let parent = path
        .parent()
        .filter(|p| *p != root.join("dev"))
        .map(c_path)
        .transpose()?;
    Ok(Node {
        path: c_path(&path)?,
        parent,
        rdev: std::os::unix::fs::MetadataExt::rdev(&meta),
        vmm_owned: d.vmm_owned,
    })
}

fn c_path(path: &Path) -> Result<CString, CellError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| CellError::Nul(path.to_path_buf()))
}

impl Cell {
    /// Lays out the cell's root and computes the child's work.
    pub fn prepare(spec: CellSpec<'_>) -> Result<Self, CellError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CellError::Io { path, source }
        };
        let root = spec.root;
        // What a start that failed before its VMM ran left (the cell is
        // ukrun's own, in the state directory, and no VMM uses it).
        match std::fs::remove_dir_all(root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(root)(e)),
            _ => {}
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(root)
            .map_err(io(root))?;
        std::os::unix::fs::chown(root, Some(spec.uid), Some(spec.gid)).map_err(io(root))?;
        let mut mounts = Vec::new();
        for item in layout::layout(&spec.needs, layout::host_entry) {
            match item {
                Item::Dir(rel) => {
                    let dir = root.join(rel);
                    std::fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&dir)
                        .map_err(io(&dir))?;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
                        .map_err(io(&dir))?;
                }
                Item::Link(rel, target) => {
                    let link = root.join(rel);
                    std::os::unix::fs::symlink(target, &link).map_err(io(&link))?;
                }
                Item::Bind { host, dir } => {
                    let target = root.join(layout::relative(&host));
                    if !dir {
                        std::fs::File::create(&target).map_err(io(&target))?;
                    }
                    mounts.push(Mount {
                        source: c_path(&host)?,
                        target: c_path(&target)?,
                        kind: MountKind::ReadOnly,
                    });
                }
                Item::Devices(devices) => {
                    let nodes = devices
                        .iter()
                        .map(|d| node(root, d))
                        .collect::<Result<_, _>>()?;
                    mounts.push(Mount {
                        source: c"tmpfs".to_owned(),
                        target: c_path(&root.join("dev"))?,
                        kind: MountKind::Devices(nodes),
                    });
                }
                Item::Proc => mounts.push(Mount {
                    source: c"proc".to_owned(),
                    target: c_path(&root.join("proc"))?,
                    kind: MountKind::Proc,
                }),
            }
        }
        Ok(Self {
            root: c_path(root)?,
            mounts,
            uid: spec.uid,
            gid: spec.gid,
            filters: seccomp::filters()?,
            cgroup_procs: spec
                .cgroup_procs
                .iter()
                .map(|p| c_path(p))
                .collect::<Result<_, _>>()?,
            handed: spec.handed,
            parent: std::process::id() as libc::pid_t,
        })
    }

    /// Enters the cell. Runs in the forked child before exec: system calls
    /// only, no allocation, no lock.
    ///
    /// # Safety
    /// Call only between fork and exec, in the child.
    pub unsafe fn enter(&self) -> std::io::Result<()> {
        self.take_descriptors()?;
        for procs in &self.cgroup_procs {
            write_file(procs, b"0")?;
        }
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        bind(&self.root, &self.root, 0)?;
        for m in &self.mounts {
            self.mount(m)?;
        }
        check(libc::chdir(self.root.as_ptr()))?;
        check(libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as i32)?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
        check(libc::chdir(c"/".as_ptr()))?;
        remount(c"/", libc::MS_NOSUID | libc::MS_NODEV)?;
        for cap in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) < 0
                && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL)
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(self.gid, self.gid, self.gid))?;
        check(libc::setresuid(self.uid, self.uid, self.uid))?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        // Changing user cleared the death signal: set it now, then make
        // sure the supervisor did not die before it was set.
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
        if libc::getppid() != self.parent {
            libc::_exit(137);
        }
        for filter in &self.filters {
            seccompiler::apply_filter(filter).map_err(|_| std::io::Error::last_os_error())?;
        }
        Ok(())
    }

    /// Moves each handed descriptor to its number, through staging numbers
    /// above every source and target; staging copies close at exec.
    unsafe fn take_descriptors(&self) -> std::io::Result<()> {
        let mut staged = [0 as RawFd; 16];
        if self.handed.len() > staged.len() {
            return Err(std::io::Error::from_raw_os_error(libc::EMFILE));
        }
        for (slot, (source, _)) in staged.iter_mut().zip(&self.handed) {
            *slot = libc::fcntl(*source, libc::F_DUPFD_CLOEXEC, STAGING_FD);
            check(*slot)?;
        }
        for (slot, (_, target)) in staged.iter().zip(&self.handed) {
            check(libc::dup2(*slot, *target))?;
        }
        Ok(())
    }

    unsafe fn mount(&self, m: &Mount) -> std::io::Result<()> {
        match m.kind {
            MountKind::Proc => check(libc::mount(
                m.source.as_ptr(),
                m.target.as_ptr(),
                c"proc".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                PROC_OPTIONS.as_ptr().cast(),
            )),
            MountKind::ReadOnly => {
                bind(&m.source, &m.target, libc::MS_REC)?;
                remount(
                    &m.target,
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
                )
            }
            MountKind::Devices(ref nodes) => {
                check(libc::mount(
                    m.source.as_ptr(),
                    m.target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NOEXEC,
                    c"mode=0755,size=64k".as_ptr().cast(),
                ))?;
                for n in nodes {
                    if let Some(parent) = &n.parent {
                        let rc = libc::mkdir(parent.as_ptr(), 0o755);
                        if rc < 0
                            && std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST)
                        {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    let mode = if n.vmm_owned { 0o600 } else { 0o666 };
                    check(libc::mknod(n.path.as_ptr(), libc::S_IFCHR | mode, n.rdev))?;
                    // mknod applies the umask: set the mode it must have.
                    check(libc::chmod(n.path.as_ptr(), mode))?;
                    if n.vmm_owned {
                        check(libc::chown(n.path.as_ptr(), self.uid, self.gid))?;
                    }
                }
                Ok(())
            }
        }
    }
}

unsafe fn bind(source: &CString, target: &CString, extra: libc::c_ulong) -> std::io::Result<()> {
    check(libc::mount(
        source.as_ptr(),
        target.as_ptr(),
        std::ptr::null(),
        libc::MS_BIND | extra,
        std::ptr::null(),
    ))
}

unsafe fn remount(target: &std::ffi::CStr, flags: libc::c_ulong) -> std::io::Result<()> {
    check(libc::mount(
        std::ptr::null(),
        target.as_ptr(),
        std::ptr::null(),
        libc::MS_BIND | libc::MS_REMOUNT | flags,
        std::ptr::null(),
    ))
}

unsafe fn write_file(path: &CString, bytes: &[u8]) -> std::io::Result<()> {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    check(fd)?;
    let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    libc::close(fd);
    if written < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}
