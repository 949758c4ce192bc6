//! The pod files a kubelet writes (resolv.conf of `dnsPolicy:
//! ClusterFirst`, the hosts file with `hostAliases` and the pod's FQDN,
//! the hostname), checked from inside the guest through what it answers:
//! the Linux test guest's [`GuestAnswers`], Unikraft `nettest`'s
//! endpoints. Shared by `tests/kubelet_pod_files.rs` and the demo.

use anyhow::{ensure, Context, Result};

use crate::cluster_pod::{cluster_first, KUBERNETES};
use crate::guest_answers::GuestAnswers;
use crate::kubelet::Kubelet;
use crate::kubelet_pod::KubeletPod;
use crate::netns::Netns;
use crate::nettest::Nettest;

/// A service's short name, which resolves only through the pod's search
/// list (`kubernetes` → `kubernetes.default.svc.cluster.local`).
pub const SHORT_SERVICE: &str = "kubernetes";

/// The guest kinds whose view of the pod files can be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestKind {
    /// The Linux test guest (testbed/guest).
    Linux,
    /// Unikraft 0.16.3 `nettest`.
    Unikraft,
}

/// A guest, asked what it sees.
pub enum GuestView {
    /// The Linux test guest: files delivered byte for byte, its own DNS
    /// resolver with the search list, its own `/etc/hosts`.
    Linux(GuestAnswers),
    /// Unikraft `nettest`: lwIP's resolver through ukrun's DNS relay, which
    /// applies the search list and answers the pod's hosts file.
    Unikraft(Nettest),
}

impl GuestView {
    /// The `kind` guest of `pod`, asked at the pod IP from `netns`.
    pub fn of(kind: GuestKind, netns: Netns, pod: &KubeletPod) -> Result<GuestView> {
        Ok(match kind {
            GuestKind::Linux => GuestView::Linux(GuestAnswers::at(netns, &pod.ip)?),
            GuestKind::Unikraft => GuestView::Unikraft(Nettest::at(netns, &pod.ip)?),
        })
    }

    /// The hostname the guest reports.
    pub fn hostname(&self) -> Result<String> {
        match self {
            GuestView::Linux(guest) => guest.hostname(),
            GuestView::Unikraft(guest) => guest.hostname(),
        }
    }

    /// What the guest's DNS resolver makes of `name`.
    pub fn resolve(&self, name: &str) -> Result<String> {
        match self {
            GuestView::Linux(guest) => guest.nslookup(name),
            GuestView::Unikraft(guest) => guest.resolve(name),
        }
    }

    /// What the guest makes of a name of the pod's hosts file: the Linux
    /// guest looks in its `/etc/hosts`, as glibc would; Unikraft has no
    /// hosts file and asks its resolver (ukrun's relay answers it).
    pub fn resolve_host_entry(&self, name: &str) -> Result<String> {
        match self {
            GuestView::Linux(guest) => guest.hosts(name),
            GuestView::Unikraft(guest) => guest.resolve(name),
        }
    }
}

/// [`SHORT_SERVICE`] resolves in the guest to the `kubernetes` service's
/// ClusterIP: the pod's search list took effect.
pub fn short_name_resolves(guest: &GuestView) -> Result<String> {
    let got = guest.resolve(SHORT_SERVICE)?;
    ensure!(
        got == KUBERNETES.1,
        "the guest resolved {SHORT_SERVICE} to {got}, not {} ({})",
        KUBERNETES.1,
        KUBERNETES.0
    );
    Ok(format!("{SHORT_SERVICE} → {got}"))
}

/// Every hostAlias of `pod` resolves in the guest to its IP.
pub fn host_aliases_resolve(guest: &GuestView, pod: &KubeletPod) -> Result<String> {
    ensure!(
        !pod.host_aliases.is_empty(),
        "{} has no hostAliases",
        pod.name
    );
    let mut seen = Vec::new();
    for (ip, name) in &pod.host_aliases {
        let got = guest.resolve_host_entry(name)?;
        ensure!(&got == ip, "the guest resolved {name} to {got}, not {ip}");
        seen.push(format!("{name} → {got}"));
    }
    Ok(seen.join(", "))
}

/// The guest reports the pod's hostname, and its FQDN (when the pod has a
/// subdomain) resolves in the guest to the pod's IP.
pub fn hostname_is_the_pods(guest: &GuestView, pod: &KubeletPod) -> Result<String> {
    let hostname = guest.hostname()?;
    ensure!(
        hostname == pod.hostname,
        "the guest's hostname is {hostname:?}, the pod's {:?}",
        pod.hostname
    );
    let Some(fqdn) = pod.fqdn() else {
        return Ok(format!("hostname {hostname}"));
    };
    let got = guest.resolve_host_entry(&fqdn)?;
    ensure!(
        got == pod.ip,
        "the guest resolved its FQDN {fqdn} to {got}, not the pod IP {}",
        pod.ip
    );
    Ok(format!("hostname {hostname}, {fqdn} → {got}"))
}

/// The resolv.conf the pod gets for `dnsPolicy: ClusterFirst` in
/// namespace `default` from the test kubelet (the node's cluster DNS,
/// `default.svc.cluster.local svc.cluster.local cluster.local`, ndots:5),
/// as containerd writes it.
pub fn cluster_first_resolv_conf() -> String {
    let dns = cluster_first();
    let servers: String = dns
        .servers
        .iter()
        .map(|server| format!("nameserver {server}\n"))
        .collect();
    format!(
        "search {}\n{servers}options {}\n",
        dns.searches.join(" "),
        dns.options.join(" ")
    )
}

/// The Linux guest's `/etc/resolv.conf` is ClusterFirst's and its
/// `/etc/hosts` is the kubelet's file of the pod, byte for byte.
pub fn linux_files_are_the_kubelets(
    guest: &GuestAnswers,
    kubelet: &Kubelet,
    pod: &KubeletPod,
) -> Result<String> {
    let resolv = guest.file("/etc/resolv.conf")?;
    let expected = cluster_first_resolv_conf();
    ensure!(
        resolv == expected,
        "the guest's /etc/resolv.conf:\n{resolv}is not ClusterFirst's:\n{expected}"
    );
    let path = kubelet.pod_dir(&pod.uid).join("etc-hosts");
    let kubelets = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the kubelet's {}", path.display()))?;
    let hosts = guest.file("/etc/hosts")?;
    ensure!(
        hosts == kubelets,
        "the guest's /etc/hosts:\n{hosts}is not the kubelet's {}:\n{kubelets}",
        path.display()
    );
    let search = resolv.lines().next().unwrap_or_default();
    Ok(format!(
        "/etc/resolv.conf ({search}) and /etc/hosts are the pod's"
    ))
}
