//! The files a VMM reads, opened by the supervisor and handed to it as
//! descriptors: the image's kernel, initrd and block image opened inside
//! the rootfs (or ukrun's own initrd with the pod's DNS files), and the
//! monitor's configuration in a sealed memfd that only the VMM's user may
//! read (it holds the guest's command line, and so the container's
//! environment, which never appears on an argv or on disk).

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;

use std::os::unix::fs::{fchown, PermissionsExt};

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use crate::jail::fds;
use crate::spec::rootfs_path::{open_file, Access};
use crate::spec::unikernel::open_vmm_file;
use crate::state::ContainerState;
use crate::vmm::input::{Handed, VmmCommand};

/// Open files and the descriptor numbers the VMM expects them at; closed
/// (in the supervisor) once the VMM has them.
pub struct VmmFiles(Vec<(File, i32)>);

impl VmmFiles {
    /// (descriptor, number) pairs for the VMM's cell.
    pub fn handed(&self) -> Vec<(RawFd, i32)> {
        self.0.iter().map(|(f, n)| (f.as_raw_fd(), *n)).collect()
    }
}

/// Opens what `command` reads, for the VMM whose user and group is `id`.
pub fn open(
    state: &ContainerState,
    pod_initrd: Option<&Path>,
    command: &VmmCommand,
    id: u32,
) -> Result<VmmFiles, String> {
    let u = &state.unikernel;
    let image = |path: &Path, what, access| {
        open_vmm_file(
            &state.rootfs,
            &path.to_string_lossy(),
            what,
            access,
            u.monitor,
        )
        .map_err(|e| e.to_string())
    };
    let missing = |what: &str| format!("the VMM expects a {what} the container does not have");
    let mut files = Vec::new();
    for handed in &command.files {
        let file = match handed {
            Handed::Kernel => image(&u.kernel, "kernel", Access::Read)?,
            Handed::Initrd => match (pod_initrd, &u.initrd) {
                (Some(ours), _) => own_initrd(ours, id)?,
                (None, Some(path)) => image(path, "initrd", Access::Read)?,
                (None, None) => return Err(missing("initrd")),
            },
            Handed::Block => {
                let block = u.block.as_ref().ok_or_else(|| missing("block image"))?;
                image(&block.path, "block image", Access::ReadWrite)?
            }
            Handed::BlockReadOnly => {
                let block = u.block.as_ref().ok_or_else(|| missing("block image"))?;
                open_file(
                    &state.rootfs,
                    &block.path.to_string_lossy(),
                    "block image",
                    Access::Read,
                )
                .map_err(|e| e.to_string())?
            }
        };
        files.push((file, handed.fd()));
    }
    if let Some(config) = &command.config {
        let memfd = sealed_config(config, id)
            .map_err(|e| format!("cannot hand the VMM its configuration: {e}"))?;
        files.push((memfd, fds::CONFIG));
    }
    Ok(VmmFiles(files))
}

/// ukrun's initrd with the pod's files, given to the VMM's user (the VMM
/// opens it again through `/proc/self/fd`).
fn own_initrd(path: &Path, id: u32) -> Result<File, String> {
    let fail = |e: std::io::Error| format!("cannot hand {} to the VMM: {e}", path.display());
    let file = File::open(path).map_err(fail)?;
    give_to(&file, id).map_err(fail)?;
    Ok(file)
}

/// `contents` in a memfd sealed against change, readable by `id` only.
fn sealed_config(contents: &str, id: u32) -> std::io::Result<File> {
    let fd = memfd_create(
        c"ukrun-vmm-config",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    file.write_all(contents.as_bytes())?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(file.as_fd().as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    give_to(&file, id)?;
    Ok(file)
}

/// Makes `file` readable by user and group `id` alone.
fn give_to(file: &File, id: u32) -> std::io::Result<()> {
    fchown(file, Some(id), Some(id))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o400))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn the_config_is_sealed_and_owned_by_the_vmm_user() {
        let mut file = sealed_config("[machine]\nappend = \"x\"\n", 4242).unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (4242, 4242, 0o400)
        );
        assert!(file.write_all(b"more").is_err(), "sealed against writes");
        file.rewind().unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "[machine]\nappend = \"x\"\n");
    }
}
