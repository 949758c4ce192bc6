//! A synchronous CRI v1 client over containerd's unix socket: the calls
//! kubelet makes, each with a deadline so a stuck runtime fails a test
//! instead of hanging it.

mod container_info;
mod info;
mod port_forward;
mod spec;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerStatusRequest, CreateContainerRequest, ExecSyncRequest, ImageSpec, ImageStatusRequest,
    ListContainersRequest, ListPodSandboxRequest, PodSandboxFilter, PodSandboxState,
    PodSandboxStateValue, PodSandboxStatusRequest, PodSandboxStatusResponse,
    RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest, RuntimeHandler,
    StartContainerRequest, StatusRequest, StopContainerRequest, StopPodSandboxRequest,
    UpdateContainerResourcesRequest, VersionRequest,
};
use tokio::net::UnixStream;
use tokio::runtime::Runtime;
use tonic::transport::{Channel, Endpoint, Uri};

pub use k8s_cri::v1::{
    ContainerStatus, DnsConfig, LinuxContainerResources, RuntimeHandlerFeatures, UserNamespace,
};
pub use spec::{pod_user_namespace, ContainerSpec, PodSpec};

use crate::netns::Netns;

/// Deadline of an ordinary CRI call (container start includes the runtime's
/// `create`, which may prepare a guest).
const CALL_DEADLINE: Duration = Duration::from_secs(90);

/// What ExecSync returned when the command ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The command's exit code.
    pub exit_code: i32,
    /// Its stdout, lossily decoded.
    pub stdout: String,
    /// Its stderr, lossily decoded.
    pub stderr: String,
}

/// A connection to one containerd's CRI services, with its own tokio
/// runtime so callers stay synchronous.
pub struct Cri {
    rt: Runtime,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

impl Cri {
    /// Prepares a lazy channel to the CRI socket at `socket` (nothing is
    /// dialled until the first call; see [`Cri::version`]).
    pub fn connect(socket: &Path) -> Result<Cri> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the CRI client's tokio runtime")?;
        let socket: PathBuf = socket.to_path_buf();
        // The URI is required by tonic but unused: the connector dials the socket.
        let endpoint = Endpoint::from_static("http://[::]:50051");
        let channel = {
            let _entered = rt.enter();
            endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move { UnixStream::connect(socket).await.map(TokioIo::new) }
            }))
        };
        Ok(Cri {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        })
    }

    /// The runtime's name and version; doubles as a readiness probe.
    pub fn version(&self) -> Result<String> {
        let mut client = self.runtime.clone();
        let request = VersionRequest {
            version: "v1".to_string(),
        };
        let answer = self.call("Version", CALL_DEADLINE, client.version(request))?;
        Ok(format!(
            "{} {} (CRI {})",
            answer.runtime_name, answer.runtime_version, answer.runtime_api_version
        ))
    }

    /// The runtime handlers and their features as the runtime reports them
    /// in Status (what kubelet reads to decide whether a handler can take
    /// recursive read-only mounts or user namespaces); containerd 1.6
    /// reports none.
    pub fn runtime_handlers(&self) -> Result<Vec<RuntimeHandler>> {
        let mut client = self.runtime.clone();
        let request = StatusRequest { verbose: true };
        let answer = self.call("Status", CALL_DEADLINE, client.status(request))?;
        Ok(answer.runtime_handlers)
    }

    /// Whether the node has `image` (images are imported, never pulled).
    pub fn has_image(&self, image: &str) -> Result<bool> {
        let mut client = self.images.clone();
        let request = ImageStatusRequest {
            image: Some(ImageSpec {
                image: image.to_string(),
                ..ImageSpec::default()
            }),
            verbose: false,
        };
        let answer = self.call("ImageStatus", CALL_DEADLINE, client.image_status(request))?;
        Ok(answer.image.is_some())
    }

    /// RunPodSandbox with `handler` as the runtime handler; returns the pod id.
    pub fn run_pod_sandbox(&self, pod: &PodSpec, handler: &str) -> Result<String> {
        let mut client = self.runtime.clone();
        let request = RunPodSandboxRequest {
            config: Some(pod.config()),
            runtime_handler: handler.to_string(),
        };
        let answer = self.call(
            "RunPodSandbox",
            CALL_DEADLINE,
            client.run_pod_sandbox(request),
        )?;
        Ok(answer.pod_sandbox_id)
    }

    /// PodSandboxStatus with verbose info (containerd's `info` JSON carries
    /// the sandbox pid and its OCI spec).
    pub fn pod_status(&self, pod_id: &str) -> Result<PodSandboxStatusResponse> {
        let mut client = self.runtime.clone();
        let request = PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.to_string(),
            verbose: true,
        };
        self.call(
            "PodSandboxStatus",
            CALL_DEADLINE,
            client.pod_sandbox_status(request),
        )
    }

    /// The pod's IP as the CNI assigned it.
    pub fn pod_ip(&self, pod_id: &str) -> Result<String> {
        let status = self.pod_status(pod_id)?.status;
        status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .filter(|ip| !ip.is_empty())
            .with_context(|| format!("pod {pod_id} has no IP"))
    }

    /// The pod's network namespace (where its containers and guest live).
    pub fn pod_netns(&self, pod_id: &str) -> Result<Netns> {
        let info = self.pod_status(pod_id)?.info;
        let path = info::pod_netns_path(&info).with_context(|| format!("pod {pod_id}"))?;
        Ok(Netns::new(path))
    }

    /// The ids of every pod sandbox on the node.
    pub fn list_pods(&self) -> Result<Vec<String>> {
        let mut client = self.runtime.clone();
        let request = ListPodSandboxRequest { filter: None };
        let answer = self.call(
            "ListPodSandbox",
            CALL_DEADLINE,
            client.list_pod_sandbox(request),
        )?;
        Ok(answer.items.into_iter().map(|pod| pod.id).collect())
    }

    /// Every container on the node, as ListContainers reports them (id
    /// and CRI state, among the rest).
    pub fn list_containers(&self) -> Result<Vec<k8s_cri::v1::Container>> {
        let mut client = self.runtime.clone();
        let request = ListContainersRequest { filter: None };
        let answer = self.call(
            "ListContainers",
            CALL_DEADLINE,
            client.list_containers(request),
        )?;
        Ok(answer.containers)
    }

    /// The id of the ready pod sandbox named `name` (its metadata name, as
    /// a kubelet sets it: the pod's name).
    pub fn ready_pod_named(&self, name: &str) -> Result<String> {
        let mut client = self.runtime.clone();
        let request = ListPodSandboxRequest {
            filter: Some(PodSandboxFilter {
                state: Some(PodSandboxStateValue {
                    state: PodSandboxState::SandboxReady as i32,
                }),
                ..PodSandboxFilter::default()
            }),
        };
        let answer = self.call(
            "ListPodSandbox",
            CALL_DEADLINE,
            client.list_pod_sandbox(request),
        )?;
        answer
            .items
            .into_iter()
            .find(|pod| pod.metadata.as_ref().is_some_and(|m| m.name == name))
            .map(|pod| pod.id)
            .with_context(|| format!("no ready pod sandbox named {name}"))
    }

    /// CreateContainer in `pod_id`; returns the container id. The error
    /// carries the runtime's message as containerd reports it.
    pub fn create_container(
        &self,
        pod_id: &str,
        pod: &PodSpec,
        container: &ContainerSpec,
    ) -> Result<String> {
        let mut client = self.runtime.clone();
        let request = CreateContainerRequest {
            pod_sandbox_id: pod_id.to_string(),
            config: Some(container.config()),
            sandbox_config: Some(pod.config()),
        };
        let what = format!("CreateContainer {}", container.name);
        let answer = self.call(&what, CALL_DEADLINE, client.create_container(request))?;
        Ok(answer.container_id)
    }

    /// StartContainer.
    pub fn start_container(&self, id: &str) -> Result<()> {
        let mut client = self.runtime.clone();
        let request = StartContainerRequest {
            container_id: id.to_string(),
        };
        self.call(
            "StartContainer",
            CALL_DEADLINE,
            client.start_container(request),
        )?;
        Ok(())
    }

    /// StopContainer with a grace period of `grace` before SIGKILL.
    pub fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let mut client = self.runtime.clone();
        let request = StopContainerRequest {
            container_id: id.to_string(),
            timeout: grace.as_secs() as i64,
        };
        self.call(
            "StopContainer",
            CALL_DEADLINE + grace,
            client.stop_container(request),
        )?;
        Ok(())
    }

    /// UpdateContainerResources: what kubelet sends to resize a running
    /// container in place.
    pub fn update_container_resources(
        &self,
        id: &str,
        resources: LinuxContainerResources,
    ) -> Result<()> {
        let mut client = self.runtime.clone();
        let request = UpdateContainerResourcesRequest {
            container_id: id.to_string(),
            linux: Some(resources),
            ..Default::default()
        };
        self.call(
            "UpdateContainerResources",
            CALL_DEADLINE,
            client.update_container_resources(request),
        )?;
        Ok(())
    }

    /// RemoveContainer.
    pub fn remove_container(&self, id: &str) -> Result<()> {
        let mut client = self.runtime.clone();
        let request = RemoveContainerRequest {
            container_id: id.to_string(),
        };
        self.call(
            "RemoveContainer",
            CALL_DEADLINE,
            client.remove_container(request),
        )?;
        Ok(())
    }

    /// StopPodSandbox (stops what still runs in it and tears its network down).
    pub fn stop_pod(&self, pod_id: &str) -> Result<()> {
        let mut client = self.runtime.clone();
        let request = StopPodSandboxRequest {
            pod_sandbox_id: pod_id.to_string(),
        };
        self.call(
            "StopPodSandbox",
            CALL_DEADLINE,
            client.stop_pod_sandbox(request),
        )?;
        Ok(())
    }

    /// RemovePodSandbox.
    pub fn remove_pod(&self, pod_id: &str) -> Result<()> {
        let mut client = self.runtime.clone();
        let request = RemovePodSandboxRequest {
            pod_sandbox_id: pod_id.to_string(),
        };
        self.call(
            "RemovePodSandbox",
            CALL_DEADLINE,
            client.remove_pod_sandbox(request),
        )?;
        Ok(())
    }

    /// ExecSync `cmd` in container `id` with the CRI-side `timeout`.
    /// `Err` means the exec itself failed (the runtime refused it).
    pub fn exec_sync(&self, id: &str, cmd: &[&str], timeout: Duration) -> Result<ExecOutput> {
        let mut client = self.runtime.clone();
        let request = ExecSyncRequest {
            container_id: id.to_string(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: timeout.as_secs().max(1) as i64,
        };
        let deadline = timeout + Duration::from_secs(10);
        let answer = self.call("ExecSync", deadline, client.exec_sync(request))?;
        Ok(ExecOutput {
            exit_code: answer.exit_code,
            stdout: String::from_utf8_lossy(&answer.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&answer.stderr).into_owned(),
        })
    }

    /// ContainerStatus (not verbose).
    pub fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        let mut client = self.runtime.clone();
        let request = ContainerStatusRequest {
            container_id: id.to_string(),
            verbose: false,
        };
        let answer = self.call(
            "ContainerStatus",
            CALL_DEADLINE,
            client.container_status(request),
        )?;
        answer
            .status
            .with_context(|| format!("ContainerStatus {id}: empty answer"))
    }

    /// Runs one call on the client's runtime under `deadline`; a gRPC error
    /// becomes an error whose text is `what: <status message> (<code>)`.
    fn call<T>(
        &self,
        what: &str,
        deadline: Duration,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T> {
        self.rt
            .block_on(async { tokio::time::timeout(deadline, call).await })
            .map_err(|_| anyhow!("{what}: no answer within {}s", deadline.as_secs()))?
            .map(tonic::Response::into_inner)
            .map_err(|status| anyhow!("{what}: {} ({:?})", status.message(), status.code()))
    }
}
