//! Small, test-friendly descriptions of a pod and a container, turned into
//! the CRI v1 configs that kubelet would send.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, DnsConfig, IdMapping, ImageSpec, LinuxContainerConfig,
    LinuxContainerResources, LinuxContainerSecurityContext, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, Mount, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, UserNamespace,
};

/// What a test says about a pod; everything else gets kubelet-like defaults.
#[derive(Debug, Clone, Default)]
pub struct PodSpec {
    /// Pod name (also its hostname).
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Pod annotations (node.sh lets `ukrun.dev/*` through).
    pub annotations: HashMap<String, String>,
    /// The pod's DNS settings (what kubelet derives from dnsPolicy).
    pub dns: Option<DnsConfig>,
    /// Folder the container log paths are relative to.
    pub log_directory: PathBuf,
    /// The pod's user namespace (kubelet's `hostUsers: false`); `None` is
    /// the host's (`hostUsers: true`, kubelet's default).
    pub user_namespace: Option<UserNamespace>,
}

impl PodSpec {
    /// A pod in namespace `default` with a UID derived from its name.
    pub fn new(name: &str, log_directory: &Path) -> Self {
        PodSpec {
            name: name.to_string(),
            uid: format!("{name}-uid"),
            namespace: "default".to_string(),
            log_directory: log_directory.to_path_buf(),
            ..PodSpec::default()
        }
    }

    /// The `PodSandboxConfig` for RunPodSandbox and CreateContainer.
    pub fn config(&self) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: self.name.clone(),
                uid: self.uid.clone(),
                namespace: self.namespace.clone(),
                attempt: 0,
            }),
            hostname: self.name.clone(),
            log_directory: self.log_directory.display().to_string(),
            dns_config: self.dns.clone(),
            annotations: self.annotations.clone(),
            linux: self
                .user_namespace
                .as_ref()
                .map(|userns| LinuxPodSandboxConfig {
                    security_context: Some(LinuxSandboxSecurityContext {
                        namespace_options: Some(namespaces(userns)),
                        ..LinuxSandboxSecurityContext::default()
                    }),
                    ..LinuxPodSandboxConfig::default()
                }),
            ..PodSandboxConfig::default()
        }
    }
}

/// A pod-wide user namespace as kubelet asks for one (`hostUsers: false`):
/// container ids 0..`size` are host ids `host_id`.., for users and groups.
pub fn pod_user_namespace(host_id: u32, size: u32) -> UserNamespace {
    let mapping = IdMapping {
        host_id,
        container_id: 0,
        length: size,
    };
    UserNamespace {
        mode: NamespaceMode::Pod as i32,
        uids: vec![mapping],
        gids: vec![mapping],
    }
}

/// The namespace options of a pod and its containers in user namespace
/// `userns` (the pod's network, pid and ipc, as kubelet's defaults).
fn namespaces(userns: &UserNamespace) -> NamespaceOption {
    NamespaceOption {
        userns_options: Some(userns.clone()),
        ..NamespaceOption::default()
    }
}

/// What a test says about a container of a pod.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Container name.
    pub name: String,
    /// Image reference (already imported into the node).
    pub image: String,
    /// Entrypoint override (empty: the image's).
    pub command: Vec<String>,
    /// Arguments override (empty: the image's).
    pub args: Vec<String>,
    /// Container annotations (node.sh lets `com.urunc.unikernel.*` and
    /// `ukrun.dev/*` through to the runtime).
    pub annotations: HashMap<String, String>,
    /// Log file, relative to the pod's log directory.
    pub log_path: String,
    /// Mounts kubelet adds (e.g. the pod's `/etc/hosts`, which kubelet
    /// writes itself); containerd adds its own for the paths not listed.
    pub mounts: Vec<Mount>,
    /// The pod's user namespace, which kubelet repeats for every container
    /// (containerd refuses a container whose setting differs from its pod's).
    pub user_namespace: Option<UserNamespace>,
    /// The container's memory limit in bytes (kubelet's
    /// `resources.limits.memory`); None for no limit.
    pub memory_limit: Option<i64>,
}

impl ContainerSpec {
    /// A container running `image` as it is, logging to `<name>.log`.
    pub fn new(name: &str, image: &str) -> Self {
        ContainerSpec {
            name: name.to_string(),
            image: image.to_string(),
            log_path: format!("{name}.log"),
            ..ContainerSpec::default()
        }
    }

    /// Overrides the entrypoint.
    pub fn command(mut self, command: &[&str]) -> Self {
        self.command = command.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Adds one annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }

    /// Adds a read-write bind mount of the node's `host_path` at
    /// `container_path`, as kubelet mounts the pod's `/etc/hosts`.
    pub fn mount(mut self, host_path: &Path, container_path: &str) -> Self {
        self.mounts.push(Mount {
            container_path: container_path.to_string(),
            host_path: host_path.display().to_string(),
            ..Mount::default()
        });
        self
    }

    /// Adds a read-only bind mount of the node's `host_path` at
    /// `container_path`; `recursive` makes its submounts read-only too
    /// (the CRI's `recursive_read_only`, Kubernetes' `recursiveReadOnly:
    /// Enabled`).
    pub fn read_only_mount(
        mut self,
        host_path: &Path,
        container_path: &str,
        recursive: bool,
    ) -> Self {
        self.mounts.push(Mount {
            container_path: container_path.to_string(),
            host_path: host_path.display().to_string(),
            readonly: true,
            recursive_read_only: recursive,
            ..Mount::default()
        });
        self
    }

    /// Runs the container in its pod's user namespace `userns` (see
    /// [`PodSpec::user_namespace`]).
    pub fn user_namespace(mut self, userns: &UserNamespace) -> Self {
        self.user_namespace = Some(userns.clone());
        self
    }

    /// Limits the container's memory to `mib` MiB (for a guest on ukrun,
    /// the memory it boots with).
    pub fn memory_limit_mib(mut self, mib: i64) -> Self {
        self.memory_limit = Some(mib * 1024 * 1024);
        self
    }

    /// The Linux part of the config: the pod's user namespace and the
    /// memory limit, when either is set.
    fn linux_config(&self) -> Option<LinuxContainerConfig> {
        if self.user_namespace.is_none() && self.memory_limit.is_none() {
            return None;
        }
        Some(LinuxContainerConfig {
            resources: self.memory_limit.map(|bytes| LinuxContainerResources {
                memory_limit_in_bytes: bytes,
                ..LinuxContainerResources::default()
            }),
            security_context: self.user_namespace.as_ref().map(|userns| {
                LinuxContainerSecurityContext {
                    namespace_options: Some(namespaces(userns)),
                    ..LinuxContainerSecurityContext::default()
                }
            }),
        })
    }

    /// The `ContainerConfig` for CreateContainer.
    pub fn config(&self) -> ContainerConfig {
        ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: self.name.clone(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: self.image.clone(),
                ..ImageSpec::default()
            }),
            command: self.command.clone(),
            args: self.args.clone(),
            annotations: self.annotations.clone(),
            log_path: self.log_path.clone(),
            mounts: self.mounts.clone(),
            linux: self.linux_config(),
            ..ContainerConfig::default()
        }
    }
}
