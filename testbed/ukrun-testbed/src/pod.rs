//! A pod on a [`Node`], driven through the CRI the way kubelet drives it:
//! sandbox first, then containers, teardown in the reverse order.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use k8s_cri::v1::{ContainerState, ContainerStatus, PodSandboxState};

use crate::cri::{ContainerSpec, Cri, PodSpec};
use crate::netns::Netns;
use crate::node::Node;
use crate::wait;

/// The runtime handler node.sh maps to ukrun.
pub const UKRUN_HANDLER: &str = "ukrun";

/// How long a started container gets to be reported RUNNING.
const RUNNING_WAIT: Duration = Duration::from_secs(30);

/// How long a container that ends by itself gets to end.
const EXIT_WAIT: Duration = Duration::from_secs(60);

/// Grace period of StopContainer before SIGKILL (kubelet's default is 30 s;
/// shorter keeps a test that hits the SIGKILL path quick).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running pod sandbox.
pub struct Pod<'n> {
    node: &'n Node,
    /// The pod as configured (needed again by every CreateContainer).
    pub spec: PodSpec,
    /// The sandbox id.
    pub id: String,
    /// The runtime handler it runs on ("" is containerd's default).
    pub handler: String,
}

impl<'n> Pod<'n> {
    /// RunPodSandbox named `name` with runtime `handler` ("" is containerd's
    /// default runc); container logs go under the node's state folder.
    pub fn run(node: &'n Node, name: &str, handler: &str) -> Result<Pod<'n>> {
        Pod::run_with(node, name, handler, |_| {})
    }

    /// Like [`Pod::run`], with the pod's spec adjusted by `configure` first
    /// (DNS settings, annotations).
    pub fn run_with(
        node: &'n Node,
        name: &str,
        handler: &str,
        configure: impl FnOnce(&mut PodSpec),
    ) -> Result<Pod<'n>> {
        let mut spec = PodSpec::new(name, &node.pod_log_dir(name)?);
        configure(&mut spec);
        let id = node.cri().run_pod_sandbox(&spec, handler)?;
        Ok(Pod {
            node,
            spec,
            id,
            handler: handler.to_string(),
        })
    }

    fn cri(&self) -> &Cri {
        self.node.cri()
    }

    /// CreateContainer only; returns its id.
    pub fn create(&self, container: &ContainerSpec) -> Result<String> {
        self.cri().create_container(&self.id, &self.spec, container)
    }

    /// CreateContainer + StartContainer, then waits until it is RUNNING.
    pub fn start(&self, container: &ContainerSpec) -> Result<String> {
        let id = self.create(container)?;
        self.cri()
            .start_container(&id)
            .with_context(|| format!("starting container {}", container.name))?;
        self.wait_running(&id)
            .with_context(|| format!("container {}", container.name))?;
        Ok(id)
    }

    /// Creates and starts `container` and waits until it is RUNNING
    /// (`Ok(id)`), or returns the CRI error of its refusal (`Err`).
    /// containerd runs the runtime's `create` during StartContainer, so a
    /// refusal comes from CreateContainer or StartContainer; a created
    /// container is removed again, as kubelet would.
    pub fn try_start(&self, container: &ContainerSpec) -> Result<Result<String, anyhow::Error>> {
        let id = match self.create(container) {
            Ok(id) => id,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if let Err(refusal) = self.cri().start_container(&id) {
            self.cri()
                .remove_container(&id)
                .with_context(|| format!("removing the refused container {}", container.name))?;
            return Ok(Err(refusal));
        }
        self.wait_running(&id)
            .with_context(|| format!("container {}", container.name))?;
        Ok(Ok(id))
    }

    /// Creates and starts `container`, expecting the runtime to refuse it
    /// (see [`Pod::try_start`]), and returns the CRI error. A container
    /// that starts is removed and is an error.
    pub fn start_refused(&self, container: &ContainerSpec) -> Result<anyhow::Error> {
        match self.try_start(container)? {
            Ok(id) => {
                self.remove_container(&id)?;
                bail!(
                    "container {} started, but should have been refused",
                    container.name
                )
            }
            Err(refusal) => Ok(refusal),
        }
    }

    /// CreateContainer + StartContainer of a container that ends by itself,
    /// then waits until it has EXITED; returns its id and final status.
    pub fn run_to_completion(
        &self,
        container: &ContainerSpec,
    ) -> Result<(String, ContainerStatus)> {
        let id = self.create(container)?;
        self.cri()
            .start_container(&id)
            .with_context(|| format!("starting container {}", container.name))?;
        let status = wait::poll(
            &format!("container {} to exit", container.name),
            EXIT_WAIT,
            Duration::from_millis(100),
            || {
                let status = self.cri().container_status(&id)?;
                Ok((status.state == ContainerState::ContainerExited as i32).then_some(status))
            },
        )?;
        Ok((id, status))
    }

    /// Waits until container `id` is RUNNING; fails at once if it exited.
    pub fn wait_running(&self, id: &str) -> Result<()> {
        wait::poll(
            "CONTAINER_RUNNING",
            RUNNING_WAIT,
            Duration::from_millis(100),
            || {
                let status = self.cri().container_status(id)?;
                match ContainerState::try_from(status.state) {
                    Ok(ContainerState::ContainerRunning) => Ok(Some(())),
                    Ok(ContainerState::ContainerCreated) => Ok(None),
                    other => bail!(
                        "state {other:?}, exit code {}, reason {:?}, message {:?}",
                        status.exit_code,
                        status.reason,
                        status.message
                    ),
                }
            },
        )
    }

    /// Where the CRI writes `container`'s log.
    pub fn log_path(&self, container: &ContainerSpec) -> PathBuf {
        self.spec.log_directory.join(&container.log_path)
    }

    /// Whether the sandbox is SANDBOX_READY.
    pub fn is_ready(&self) -> Result<bool> {
        let status = self.cri().pod_status(&self.id)?.status;
        let state = status.map(|s| s.state).unwrap_or_default();
        Ok(state == PodSandboxState::SandboxReady as i32)
    }

    /// The pod's IP.
    pub fn ip(&self) -> Result<String> {
        self.cri().pod_ip(&self.id)
    }

    /// The pod's network namespace.
    pub fn netns(&self) -> Result<Netns> {
        self.cri().pod_netns(&self.id)
    }

    /// StopContainer + RemoveContainer.
    pub fn remove_container(&self, id: &str) -> Result<()> {
        self.cri().stop_container(id, STOP_GRACE)?;
        self.cri().remove_container(id)
    }

    /// StopPodSandbox + RemovePodSandbox (what is still running in it stops).
    pub fn remove(self) -> Result<()> {
        self.cri().stop_pod(&self.id)?;
        self.cri().remove_pod(&self.id)
    }
}
