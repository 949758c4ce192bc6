//! The real Unikraft 0.16.3 unikernels the tests boot (helloworld,
//! httpreply, nettest), found at `../shared/unikernels/unikraft-0.16.3`
//! beside the repository or where `UKRUN_UNIKRAFT_DIR` points, and OCI
//! bundles that package them the way urunc's images do.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use serde_json::json;

use crate::bundle::Bundle;
use crate::cri::ContainerSpec;
use crate::pod::Pod;
use crate::{cri_log, images, repo};

/// Environment variable naming the images' folder.
pub const DIR_ENV: &str = "UKRUN_UNIKRAFT_DIR";
/// The nettest probe's HTTP port.
pub const NETTEST_PORT: u16 = 8080;
/// The nettest image's file among the Unikraft images.
pub const NETTEST_IMAGE: &str = "nettest_qemu-x86_64";

/// The folder of the images, or `None` (with one line saying where to get
/// them) when they are missing outside CI. In CI (`CI` set) a missing
/// folder fails the run.
pub fn images() -> Result<Option<PathBuf>> {
    let dir = repo::shared_dir(
        DIR_ENV,
        "unikernels/unikraft-0.16.3",
        "images",
        "the Unikraft test images were",
        "they are built offline from the source tarball and BUILD.md beside them",
    )?;
    Ok(dir.map(|dir| dir.join("images")))
}

/// Runs the `helloworld` image in `pod` (on the `ukrun` handler) and
/// checks that it ran as a Unikraft guest: it prints, returns, and the
/// container ends by itself with exit code 0 and reason `Completed`, its
/// output in the container's log. Returns the exited container's id.
pub fn run_helloworld(pod: &Pod) -> Result<String> {
    let hello = ContainerSpec::new("hello", images::UNIKRAFT_HELLOWORLD);
    let (id, status) = pod.run_to_completion(&hello)?;
    ensure!(
        status.exit_code == 0 && status.reason == "Completed",
        "helloworld ended with exit code {} and reason {:?}",
        status.exit_code,
        status.reason
    );
    let console = cri_log::read(&pod.log_path(&hello));
    ensure!(
        console.contains("Hello world!"),
        "helloworld's output is not in its log: {console}"
    );
    Ok(id)
}

impl Bundle {
    /// A bundle of Unikraft image `image` (e.g. `nettest_qemu-x86_64` from
    /// [`images`]) on qemu, as `/unikernel/<name>` in its rootfs, with
    /// `cmdline` as the image's command line, joined to `netns_path`.
    pub fn unikraft(dir: &Path, image: &Path, cmdline: &str, netns_path: &Path) -> Result<Self> {
        let name = image
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("kernel");
        let target = dir.join("rootfs/unikernel").join(name);
        std::fs::create_dir_all(dir.join("rootfs/unikernel"))?;
        std::fs::copy(image, &target)?;
        let bundle = Bundle {
            dir: dir.to_path_buf(),
        };
        bundle.write_config(&json!({
            "ociVersion": "1.0.2",
            "process": {"user": {"uid": 0, "gid": 0}, "args": [format!("/unikernel/{name}")], "cwd": "/", "terminal": false,
                        "env": ["PATH=/usr/bin:/bin"]},
            "root": {"path": "rootfs"},
            "hostname": "unikraft-pod",
            "annotations": {
                "com.urunc.unikernel.unikernelType": "unikraft",
                "com.urunc.unikernel.hypervisor": "qemu",
                "com.urunc.unikernel.unikernelVersion": "0.16.3",
                "com.urunc.unikernel.binary": format!("/unikernel/{name}"),
                "com.urunc.unikernel.cmdline": cmdline
            },
            "linux": {"namespaces": [{"type": "network", "path": netns_path}, {"type": "uts"}, {"type": "ipc"}]}
        }))?;
        Ok(bundle)
    }
}
