//! Pods started all at once through the CRI, as a kubelet does when many
//! are scheduled on a node together: one thread per pod runs its sandbox,
//! creates and starts its container, waits until it is RUNNING and then
//! until it answers HTTP at the pod IP from the node.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::cri::ContainerSpec;
use crate::http;
use crate::leftovers::Footprint;
use crate::node::Node;
use crate::pod::Pod;

/// Longest wait for one pod's first answer once it runs (every guest of
/// the burst boots at the same time on two cores).
const ANSWER_WAIT: Duration = Duration::from_secs(120);

/// One pod of a burst that serves.
pub struct Served<'n> {
    /// The pod.
    pub pod: Pod<'n>,
    /// Its container's id.
    pub container: String,
    /// When its first answer arrived.
    pub answered: Instant,
}

/// The pods of one burst.
pub struct Burst<'n> {
    /// The pods, in the order of their names.
    pub pods: Vec<Served<'n>>,
    /// When the burst began (before the first RunPodSandbox).
    pub began: Instant,
}

impl<'n> Burst<'n> {
    /// Starts `count` pods named `<prefix>-<i>` on runtime `handler`, each
    /// with `container` serving HTTP on `port`, all at once; returns once
    /// every one answered, or the first failure (the pods that started stay
    /// on the node, which removes them when it drops).
    pub fn start(
        node: &'n Node,
        prefix: &str,
        handler: &str,
        container: &ContainerSpec,
        count: usize,
        port: u16,
    ) -> Result<Burst<'n>> {
        let began = Instant::now();
        let pods = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..count)
                .map(|i| {
                    let name = format!("{prefix}-{i}");
                    scope.spawn(move || {
                        serve(node, &name, handler, container, port)
                            .with_context(|| format!("pod {name}"))
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .map_err(|_| anyhow!("a pod's thread panicked"))?
                })
                .collect::<Result<Vec<_>>>()
        })?;
        Ok(Burst { pods, began })
    }

    /// How long after the burst began its last pod answered.
    pub fn last_answer(&self) -> Duration {
        self.pods
            .iter()
            .map(|served| served.answered.saturating_duration_since(self.began))
            .max()
            .unwrap_or_default()
    }

    /// Records every pod and container in `footprint`.
    pub fn record(&self, footprint: &mut Footprint) -> Result<()> {
        for served in &self.pods {
            footprint.add_pod(&served.pod)?;
            footprint.add_container(&served.container);
        }
        Ok(())
    }

    /// Removes every container and pod, one after another.
    pub fn remove(self) -> Result<()> {
        for served in self.pods {
            served.pod.remove_container(&served.container)?;
            served.pod.remove()?;
        }
        Ok(())
    }
}

/// One pod of the burst: sandbox, container RUNNING, first answer.
fn serve<'n>(
    node: &'n Node,
    name: &str,
    handler: &str,
    container: &ContainerSpec,
    port: u16,
) -> Result<Served<'n>> {
    let pod = Pod::run(node, name, handler)?;
    let id = pod.start(container)?;
    let addr = SocketAddr::new(pod.ip()?.parse().context("the pod IP")?, port);
    node.netns()
        .within(move || http::first_answer(addr, ANSWER_WAIT))?;
    Ok(Served {
        pod,
        container: id,
        answered: Instant::now(),
    })
}
