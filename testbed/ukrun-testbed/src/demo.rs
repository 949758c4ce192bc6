//! `ukrun-testbed demo`: one guest pod end to end on a fresh node, each
//! step printed as a PASS/FAIL line, so a human can see what works.

use std::fmt::Display;
use std::path::Path;

use anyhow::Result;

use crate::diagnostics;
use crate::guest_pod::GuestPod;
use crate::node::Node;

/// Runs the demo against the ukrun binary at `ukrun`; true when every check
/// passed. Everything is torn down before it returns.
pub fn run(ukrun: &Path) -> bool {
    let mut report = Report::default();
    let Some(node) = report.check("node up (containerd + CNI in its own netns)", || {
        let node = Node::start(ukrun)?;
        let detail = node.state_dir().display().to_string();
        Ok((node, detail))
    }) else {
        return report.finish();
    };
    let Some(pod) = report.check("pod RUNNING: sandbox, guest, busybox sidecar", || {
        let pod = GuestPod::start(&node)?;
        Ok((pod, "handler ukrun".to_string()))
    }) else {
        diagnostics::print(node.state_dir());
        return report.finish();
    };
    report.check("guest readiness line in its CRI log", || {
        let ip = pod.wait_ready()?;
        Ok(((), format!("ip={ip}")))
    });
    report.check("HTTP GET pod IP:8080 from the node netns", || {
        let body = pod.fetch_page()?;
        Ok(((), format!("{:?}", body.lines().next().unwrap_or(""))))
    });
    report.check("ExecSync `echo hi` in the sidecar", || {
        pod.exec_in_sidecar()?;
        Ok(((), "hi".to_string()))
    });
    report.check("ExecSync in the guest refused fast", || {
        let took = pod.exec_in_guest_is_refused()?;
        Ok(((), format!("{} ms", took.as_millis())))
    });
    report.check("teardown leaves nothing behind", || {
        pod.remove_and_check()?;
        Ok(((), "no process, container state or guest plumbing left"))
    });
    if report.failed > 0 {
        diagnostics::print(node.state_dir());
    }
    drop(node);
    report.finish()
}

/// PASS/FAIL lines as the checks run, and whether all passed.
#[derive(Default)]
struct Report {
    failed: usize,
    passed: usize,
}

impl Report {
    /// Runs one check, prints its line, and hands back its value if it passed.
    fn check<T, D: Display>(
        &mut self,
        name: &str,
        work: impl FnOnce() -> Result<(T, D)>,
    ) -> Option<T> {
        match work() {
            Ok((value, detail)) => {
                self.passed += 1;
                println!("PASS  {name}  {detail}");
                Some(value)
            }
            Err(err) => {
                self.failed += 1;
                println!(
                    "FAIL  {name}\n      {}",
                    format!("{err:#}").replace('\n', "\n      ")
                );
                None
            }
        }
    }

    /// Prints the totals; true when nothing failed.
    fn finish(self) -> bool {
        println!("{} passed, {} failed", self.passed, self.failed);
        self.failed == 0
    }
}
