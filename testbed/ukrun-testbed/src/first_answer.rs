//! Times a server's first answer: a thread inside a network namespace GETs
//! `/` at one address every few milliseconds until the first `200`, so a
//! benchmark can start it before asking for the server and learn when it
//! first answered (CreateContainer → first `200`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::cri::ContainerSpec;
use crate::leftovers::Footprint;
use crate::netns::Netns;
use crate::node::Node;
use crate::pod::Pod;
use crate::{http, wait};

/// Pause between two GETs of the poller.
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// How long one GET waits for its connection: a SYN sent while the guest
/// does not yet read its tap is lost, and the kernel would resend it only
/// after 1 s.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(50);
/// Longest wait for the first answer (a Unikraft guest answers within
/// seconds even with tens of guests on the node).
const ANSWER_DEADLINE: Duration = Duration::from_secs(60);

/// A thread in the node netns that GETs `/` at one address every
/// [`POLL_INTERVAL`] until the first `200` (connection errors and other
/// answers are retried), for at most [`ANSWER_DEADLINE`]. Dropping it
/// stops the thread.
pub struct Poller {
    stop: Arc<AtomicBool>,
    attempts: Arc<AtomicU32>,
    thread: Option<JoinHandle<Result<Option<Instant>>>>,
}

impl Poller {
    /// Starts polling `addr` from inside `netns`.
    pub fn start(netns: Netns, addr: SocketAddr) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(AtomicU32::new(0));
        let (flag, count) = (stop.clone(), attempts.clone());
        let thread = std::thread::spawn(move || {
            netns.within(move || poll_until_answer(addr, &flag, &count))
        });
        Poller {
            stop,
            attempts,
            thread: Some(thread),
        }
    }

    /// Forgets the GETs sent so far (before the container was asked for).
    pub fn count_from_now(&self) {
        self.attempts.store(0, Ordering::SeqCst);
    }

    /// Waits for the first `200`; returns when it arrived and how many GETs
    /// were sent since [`Poller::count_from_now`].
    pub fn first_answer(mut self) -> Result<(Instant, u32)> {
        let thread = self
            .thread
            .take()
            .context("the poller was already joined")?;
        let answered = thread
            .join()
            .map_err(|_| anyhow!("the poller thread panicked"))??;
        let at = answered.context("the poller was stopped")?;
        Ok((at, self.attempts.load(Ordering::SeqCst)))
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The poller's loop: when the first `200` arrived, or `None` once `stop`
/// is set.
fn poll_until_answer(
    addr: SocketAddr,
    stop: &AtomicBool,
    attempts: &AtomicU32,
) -> Result<Option<Instant>> {
    wait::poll(
        &format!("the first 200 from http://{addr}/"),
        ANSWER_DEADLINE,
        POLL_INTERVAL,
        || {
            if stop.load(Ordering::SeqCst) {
                return Ok(Some(None));
            }
            attempts.fetch_add(1, Ordering::SeqCst);
            http::get_bytes_within(addr, "/", CONNECT_TIMEOUT)?;
            Ok(Some(Some(Instant::now())))
        },
    )
}

/// How long one container took to serve, timed from just before
/// CreateContainer.
pub struct Timing {
    /// The container's id.
    pub id: String,
    /// When CreateContainer returned.
    pub created: Duration,
    /// When StartContainer returned.
    pub started: Duration,
    /// When the first `200` had arrived.
    pub answered: Duration,
    /// How many GETs the poller sent after CreateContainer was sent.
    pub attempts: u32,
}

/// Creates and starts `container` in `pod` (recording it in `footprint`)
/// while GETting `/` on `port` at the pod's IP from the node, and returns
/// when each step was done.
pub fn serve(
    node: &Node,
    pod: &Pod,
    container: &ContainerSpec,
    port: u16,
    footprint: &mut Footprint,
) -> Result<Timing> {
    let ip = pod.ip()?;
    let addr = SocketAddr::new(ip.parse().with_context(|| format!("pod IP {ip:?}"))?, port);
    let poller = Poller::start(node.netns(), addr);
    let begin = Instant::now();
    poller.count_from_now();
    let id = pod.create(container)?;
    let created = begin.elapsed();
    footprint.add_container(&id);
    node.cri().start_container(&id)?;
    let started = begin.elapsed();
    let (answer, attempts) = poller.first_answer()?;
    Ok(Timing {
        id,
        created,
        started,
        answered: answer.saturating_duration_since(begin),
        attempts,
    })
}
