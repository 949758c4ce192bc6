//! Thin readers: everything doctor observes, gathered once into a
//! [`Snapshot`] that the pure checks judge.
//!
//! The pod netns is read from a dedicated thread that joined it with
//! setns(2): netlink, `/proc/sys/net`, `/proc/thread-self/net` and sockets
//! opened there (and `nft`, which that thread spawns) all see the pod
//! netns, while the rest of the process stays where it is. One netlink
//! conversation replaces a dozen `nsenter ip …` processes (the healthy run
//! stays well under two seconds) and speaks the same types the plumbing
//! applied the steps with.

pub mod arp;
pub mod dns;
pub mod host;
pub mod links;
pub mod nft;
pub mod sockets;
pub mod tc;
pub mod tcp;
pub mod view;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

use super::expect::Expectation;
use arp::ArpProbe;
use dns::{DnsProbe, DnsQuery};
use nft::NftView;
use sockets::Listener;
use tcp::TcpProbe;
use view::NetView;

/// What was observed in the pod netns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Links, addresses, routes, rules, qdiscs and filters.
    pub view: NetView,
    /// The expected nftables table, when one is expected.
    pub nft: Option<NftView>,
    /// Each expected sysctl's value (or why it could not be read).
    pub sysctls: Vec<(String, Result<String, String>)>,
    /// Listening sockets.
    pub listeners: Vec<Listener>,
    /// The ARP probe to the guest, when there is a tap and a pod IP.
    pub arp: Option<Result<ArpProbe, String>>,
    /// The localhost TCP probes.
    pub tcp: Vec<(SocketAddr, TcpProbe)>,
    /// The DNS probes: the relay and the pod's nameservers.
    pub dns: Vec<(DnsQuery, DnsProbe)>,
}

/// Why the pod netns could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The namespace path cannot be opened.
    #[error("cannot open network namespace {path}: {source}")]
    Open {
        /// The path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// setns refused (doctor needs root).
    #[error("cannot enter network namespace {path}: {source} (is it a network namespace? doctor needs root)")]
    Join {
        /// The path.
        path: PathBuf,
        /// OS error.
        source: nix::Error,
    },
    /// The reader thread or its event loop could not start.
    #[error("cannot start the reader of network namespace {path}: {message}")]
    Thread {
        /// The path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A netlink dump failed.
    #[error("netlink: cannot list {what}: {message}")]
    Netlink {
        /// What was listed.
        what: &'static str,
        /// The error.
        message: String,
    },
}

/// Reads the pod netns at `netns`; `expect` turns the network objects
/// into the expectation that says which sysctls, nft table and probes to
/// look at; `queries` are the DNS probes to send.
pub fn gather<F>(
    netns: &Path,
    expect: F,
    queries: Vec<DnsQuery>,
) -> Result<(Expectation, Snapshot), ReadError>
where
    F: FnOnce(&NetView) -> Expectation + Send + 'static,
{
    let file = File::open(netns).map_err(|source| ReadError::Open {
        path: netns.to_owned(),
        source,
    })?;
    let path = netns.to_owned();
    let thread_failed = |message: String| ReadError::Thread {
        path: netns.to_owned(),
        message,
    };
    std::thread::Builder::new()
        .name("doctor-netns".into())
        .spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| ReadError::Join {
                path: path.clone(),
                source,
            })?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ReadError::Thread {
                    path,
                    message: e.to_string(),
                })?;
            let view = runtime.block_on(read_view())?;
            let expectation = expect(&view);
            let snapshot = observe(view, &expectation, &queries);
            Ok((expectation, snapshot))
        })
        .map_err(|e| thread_failed(e.to_string()))?
        .join()
        .map_err(|_| thread_failed("the reader thread panicked".into()))?
}

/// One netlink conversation: links, addresses, routes, rules, ingress
/// qdiscs and their filters.
async fn read_view() -> Result<NetView, ReadError> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| ReadError::Netlink {
        what: "anything (no netlink socket)",
        message: e.to_string(),
    })?;
    tokio::spawn(conn);
    let ingress = tc::ingress_qdiscs(&handle).await?;
    let mut filters = Vec::new();
    for index in &ingress {
        filters.extend(tc::ingress_filters(&handle, *index).await?);
    }
    Ok(NetView {
        links: links::links(&handle).await?,
        addresses: links::addresses(&handle).await?,
        routes: links::routes(&handle).await?,
        rules: links::rules(&handle).await?,
        ingress,
        filters,
    })
}

/// Reads what the expectation names and runs the probes (same thread).
fn observe(view: NetView, expectation: &Expectation, queries: &[DnsQuery]) -> Snapshot {
    let nft = expectation.nft_table().map(nft::read);
    let sysctls = expectation
        .sysctl_keys()
        .into_iter()
        .map(|key| {
            let value = crate::net::sysctl::read(&key).map_err(|e| e.to_string());
            (key, value)
        })
        .collect();
    let tap = expectation.tap.as_deref().and_then(|t| view.link(t));
    let arp = match (tap, view.pod_interface(expectation.tap.as_deref())) {
        (Some(tap), Ok(pod)) => Some(
            arp::probe(
                tap.summary.index,
                tap.summary.mac.unwrap_or(pod.mac),
                pod.ipv4,
            )
            .map_err(|e| e.to_string()),
        ),
        _ => None,
    };
    let tcp = expectation
        .localhost_targets(view.has_ipv6_loopback())
        .into_iter()
        .map(|addr| (addr, tcp::connect(addr)))
        .collect();
    Snapshot {
        view,
        nft,
        sysctls,
        listeners: sockets::listeners(),
        arp,
        tcp,
        dns: queries.iter().cloned().zip(dns::ask_all(queries)).collect(),
    }
}
