//! What the benchmarks run their own servers on: tokio current-thread
//! runtimes on threads of their own (optionally inside a network
//! namespace), pinned to CPUs, with the CPU time they used; and the
//! open-files limit for benchmarks that hold thousands of sockets.

use std::fs::File;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use nix::sched::{sched_getaffinity, sched_setaffinity, setns, CloneFlags, CpuSet};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::unistd::{gettid, Pid};
use tokio::sync::oneshot;

use crate::netns::Netns;

/// A tokio current-thread runtime on a thread of its own; it stops, and its
/// tasks with it, when dropped.
pub struct RuntimeThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The thread's id (for [`pin`] and [`RuntimeThread::cpu_time`]).
    pub tid: Pid,
}

impl RuntimeThread {
    /// Starts the thread, inside `netns` when given (the sockets its tasks
    /// open live there), and runs `setup` inside its runtime, so it may
    /// spawn tasks; returns what `setup` returns.
    pub fn start<T: Send + 'static>(
        name: &str,
        netns: Option<&Netns>,
        setup: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<(RuntimeThread, T)> {
        let netns = netns
            .map(|n| {
                File::open(n.path()).with_context(|| format!("opening {}", n.path().display()))
            })
            .transpose()?;
        let (ready, started) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let prepared = (|| -> Result<_> {
                    if let Some(netns) = netns {
                        setns(netns, CloneFlags::CLONE_NEWNET).context("setns")?;
                    }
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let value = {
                        let _entered = runtime.enter();
                        setup()?
                    };
                    Ok((runtime, value))
                })();
                match prepared {
                    Ok((runtime, value)) => {
                        let _ = ready.send(Ok((value, gettid())));
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            })
            .context("cannot start a thread")?;
        let mut guard = RuntimeThread {
            stop: Some(stop),
            thread: Some(thread),
            tid: Pid::from_raw(0),
        };
        let (value, tid) = started
            .recv()
            .map_err(|_| anyhow!("the {name} thread died"))??;
        guard.tid = tid;
        Ok((guard, value))
    }

    /// CPU time the thread has used so far (`/proc/self/task/TID/schedstat`).
    pub fn cpu_time(&self) -> Result<Duration> {
        let path = format!("/proc/self/task/{}/schedstat", self.tid);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let nanos: u64 = text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("{path}: {text:?}"))?;
        Ok(Duration::from_nanos(nanos))
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The CPUs this process may run on, in order.
pub fn allowed_cpus() -> Result<Vec<usize>> {
    let allowed = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    let cpus: Vec<usize> = (0..CpuSet::count())
        .filter(|&c| allowed.is_set(c).unwrap_or(false))
        .collect();
    if cpus.is_empty() {
        bail!("no CPU in this process's affinity mask");
    }
    Ok(cpus)
}

/// The set of `cpus`.
pub fn cpu_set(cpus: &[usize]) -> Result<CpuSet> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c)?;
    }
    Ok(set)
}

/// Pins thread (or single-threaded process) `tid` to `cpus`; 0 is the
/// calling thread. Threads and processes it starts later inherit it.
pub fn pin(tid: Pid, cpus: &CpuSet) -> Result<()> {
    sched_setaffinity(tid, cpus).with_context(|| format!("pinning thread {tid}"))
}

/// Raises this process's soft limit on open files to its hard limit (the
/// default soft limit, 1024, is below what a thousand proxied connections
/// take); returns the new limit.
pub fn raise_open_files() -> Result<u64> {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit")?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).context("setrlimit")?;
    Ok(hard)
}
