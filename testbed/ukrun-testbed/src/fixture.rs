//! One guest container on a CNI-shaped pod netns, driven through the ukrun
//! binary: the fixture the netns tests share. Dropping it removes the
//! container, its state, the bundle, its working directory and both
//! network namespaces.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Result};

use crate::bundle::Bundle;
use crate::guest::{HTTP_PORT, READY_MARKER};
use crate::runtime::Runtime;
use crate::topology::{Shape, Topology, POD_IP};
use crate::work_dir::WorkDir;
use crate::{http, images, procs, unikraft, wait};

/// Longest wait for a console line (qemu TCG boots in ~3–10 s, longer when
/// two guests boot at once on two cores).
const CONSOLE_WAIT: Duration = Duration::from_secs(60);

/// Everything one test needs; dropping it removes all of it.
pub struct Fixture {
    /// The ukrun binary with its private root, log and config.
    pub runtime: Runtime,
    /// The guest bundle (edit its config.json before `create`).
    pub bundle: Bundle,
    /// The node and pod network namespaces.
    pub topo: Topology,
    /// The working directory of `runtime` and `bundle` (dropped after them).
    _work: WorkDir,
}

impl Fixture {
    /// Builds the guest (cached), the topology and a bundle joined to its pod netns.
    pub fn new(ukrun: &Path, tag: &str, shape: Shape) -> Result<Self> {
        let guest = images::build()?.dir.join("guest");
        let topo = Topology::new(tag, shape)?;
        let work = WorkDir::new(tag);
        let runtime = Runtime::new(ukrun, &work.path().join("rt"))?;
        let bundle =
            Bundle::linux_guest(&work.path().join("bundle"), &guest, topo.pod_netns().path())?;
        Ok(Fixture {
            runtime,
            bundle,
            topo,
            _work: work,
        })
    }

    /// The topology and runtime of [`Fixture::new`] around a Unikraft
    /// `image` (a file of [`unikraft::images`]) with `cmdline`; `None` when
    /// the images are missing outside CI.
    pub fn unikraft(
        ukrun: &Path,
        tag: &str,
        shape: Shape,
        image: &str,
        cmdline: &str,
    ) -> Result<Option<Self>> {
        let Some(images) = unikraft::images()? else {
            return Ok(None);
        };
        Self::unikraft_kernel(ukrun, tag, shape, &images.join(image), cmdline).map(Some)
    }

    /// [`Fixture::unikraft`] around the kernel file at `kernel` (any path,
    /// say a stand-in the test bed built), packaged as a Unikraft image.
    pub fn unikraft_kernel(
        ukrun: &Path,
        tag: &str,
        shape: Shape,
        kernel: &Path,
        cmdline: &str,
    ) -> Result<Self> {
        let topo = Topology::new(tag, shape)?;
        let work = WorkDir::new(tag);
        let runtime = Runtime::new(ukrun, &work.path().join("rt"))?;
        let bundle = Bundle::unikraft(
            &work.path().join("bundle"),
            kernel,
            cmdline,
            topo.pod_netns().path(),
        )?;
        Ok(Fixture {
            runtime,
            bundle,
            topo,
            _work: work,
        })
    }

    /// `create`, failing with the runtime's last error.
    pub fn create(&self, id: &str) -> Result<()> {
        let out = self.runtime.create(&self.bundle.dir, id)?;
        ensure!(
            out.status.success(),
            "create {id} failed: {}",
            self.runtime.last_error()
        );
        Ok(())
    }

    /// `start`, failing with the runtime's last error.
    pub fn start(&self, id: &str) -> Result<()> {
        let out = self.runtime.run(&["start", id])?;
        ensure!(
            out.status.success(),
            "start {id} failed: {}",
            self.runtime.last_error()
        );
        Ok(())
    }

    /// Waits (bounded) until `find` finds something in container `id`'s
    /// console, and returns it.
    pub fn wait_console<T>(
        &self,
        id: &str,
        what: &str,
        find: impl Fn(&str) -> Option<T>,
    ) -> Result<T> {
        let console = self.runtime.console_path(id);
        wait::poll(what, CONSOLE_WAIT, Duration::from_millis(200), || {
            Ok(find(&std::fs::read_to_string(&console)?))
        })
    }

    /// Waits (bounded) for the guest's readiness line on its console and
    /// returns it.
    pub fn wait_ready(&self, id: &str) -> Result<String> {
        self.wait_console(id, "the guest's readiness line", |text| {
            text.lines()
                .find(|line| line.starts_with(READY_MARKER))
                .map(|line| line.trim_end().to_owned())
        })
    }

    /// GETs the guest's page from the node netns at the pod IP (retried while it boots).
    pub fn fetch_from_node(&self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.fetch_bytes_from_node("/")?).into_owned())
    }

    /// GETs `path` from the guest's HTTP port at the pod IP from the node
    /// netns (retried while it boots), byte for byte.
    pub fn fetch_bytes_from_node(&self, path: &'static str) -> Result<Vec<u8>> {
        self.fetch_port_from_node(HTTP_PORT, path)
    }

    /// GETs `path` from the guest's `port` at the pod IP from the node netns
    /// (retried while it boots), byte for byte.
    pub fn fetch_port_from_node(&self, port: u16, path: &'static str) -> Result<Vec<u8>> {
        let addr = format!("{POD_IP}:{port}").parse()?;
        self.topo.node_netns().within(move || {
            wait::poll(
                &format!("http://{addr}{path} from the node"),
                Duration::from_secs(20),
                Duration::from_millis(200),
                || http::get_bytes(addr, path).map(Some),
            )
        })
    }

    /// The configuration container `id`'s live VMM was handed (qemu's
    /// `-readconfig`: kernel, initrd and the guest's command line).
    pub fn vmm_config(&self, id: &str) -> Result<String> {
        let vmm = self.runtime.recorded_pid(id, "vmm")?;
        Ok(std::fs::read_to_string(format!(
            "/proc/{vmm}/fd/{}",
            ukrun::jail::fds::CONFIG
        ))?)
    }

    /// ukrun and qemu processes that belong to this fixture.
    pub fn processes(&self) -> Vec<String> {
        let marks = [
            self.runtime.dir.to_string_lossy().into_owned(),
            self.bundle.dir.to_string_lossy().into_owned(),
        ];
        procs::all()
            .into_iter()
            .filter(|p| p.is_runtime() && marks.iter().any(|m| p.cmdline.contains(m.as_str())))
            .map(|p| p.to_string())
            .collect()
    }

    /// The pod netns once the pod interface's carrier is up: the kernel
    /// reports it through linkwatch, up to a second after the topology is
    /// made, which a quickly failing create would otherwise see as a change.
    pub fn settled_view(&self) -> Result<String> {
        wait::poll(
            "the pod interface's carrier",
            Duration::from_secs(5),
            Duration::from_millis(100),
            || {
                let view = self.topo.pod_network_view()?;
                Ok((!view.contains("NO-CARRIER")).then_some(view))
            },
        )
    }

    /// `delete --force` of container `id`, then [`Fixture::assert_nothing_left`].
    pub fn delete_and_check(&self, id: &str, before: &str) -> Result<()> {
        let out = self.runtime.run(&["delete", "--force", id])?;
        ensure!(
            out.status.success(),
            "delete {id}: {}",
            self.runtime.last_error()
        );
        self.assert_nothing_left(before)
    }

    /// Checks that no process, no state and no change in the pod netns
    /// (against `before`, a [`Topology::pod_network_view`]) is left.
    pub fn assert_nothing_left(&self, before: &str) -> Result<()> {
        wait::poll(
            "processes to exit",
            Duration::from_secs(5),
            Duration::from_millis(50),
            || Ok(self.processes().is_empty().then_some(())),
        )?;
        ensure!(
            self.runtime.leftover_state().is_empty(),
            "state left: {:?}",
            self.runtime.leftover_state()
        );
        let after = self.topo.pod_network_view()?;
        ensure!(
            after == before,
            "pod netns changed:\nbefore:\n{before}\nafter:\n{after}"
        );
        Ok(())
    }
}
