//! Applies a plan's steps so that a kill at any moment leaves a record that
//! undoes exactly what was changed: each step is recorded with what it will
//! replace (a sysctl's value, a tx queue length) and the record saved
//! before the step changes anything.
//!
//! Consecutive steps whose undo is harmless when they were never applied
//! (a sysctl restores the value it found, which is still there; aborting
//! loopback connections to a guest that has none does nothing) share one
//! save: a route's setup writes seven sysctls, and one save instead of
//! seven is a good part of a container's start. (The sysctls of a plan
//! are distinct keys, none rewritten by writing another, so reading them
//! all first reads what each replaces.)

use std::os::fd::OwnedFd;

use rtnetlink::Handle;

use super::apply;
use super::steps::NetStep;

/// Where the applied steps are recorded (a container's state).
pub trait Journal {
    /// The steps recorded so far.
    fn steps(&mut self) -> &mut Vec<NetStep>;
    /// Persists the record.
    fn save(&mut self) -> Result<(), String>;
}

/// Observes, records, saves and applies `steps` in order, saving once per
/// batch (see [`batches`]); returns the tap's descriptor. Stops at the
/// first failure: what was applied stays recorded for undo, the failed
/// step (which changed nothing) and the rest of its batch do not.
pub async fn apply_all(
    handle: &Handle,
    steps: Vec<NetStep>,
    journal: &mut impl Journal,
) -> Result<Option<OwnedFd>, String> {
    let mut tap = None;
    for mut batch in batches(steps) {
        for step in &mut batch {
            apply::observe(handle, step)
                .await
                .map_err(|e| e.to_string())?;
        }
        let recorded = journal.steps().len();
        journal.steps().extend(batch.iter().cloned());
        journal.save()?;
        for (index, step) in batch.iter().enumerate() {
            match apply::apply(handle, step).await {
                Ok(fd) => tap = tap.or(fd),
                Err(e) => {
                    // It changed nothing, nor did the rest of the batch:
                    // undoing them would remove what they found.
                    journal.steps().truncate(recorded + index);
                    journal.save()?;
                    return Err(e.to_string());
                }
            }
        }
    }
    Ok(tap)
}

/// Splits `steps` into the groups saved together: each run of consecutive
/// steps that [`harmless_unapplied`] is one group, every other step is a
/// group of its own. Order is kept.
fn batches(steps: Vec<NetStep>) -> Vec<Vec<NetStep>> {
    let mut groups: Vec<Vec<NetStep>> = Vec::new();
    for step in steps {
        match groups.last_mut() {
            Some(last)
                if harmless_unapplied(&step) && last.last().is_some_and(harmless_unapplied) =>
            {
                last.push(step);
            }
            _ => groups.push(vec![step]),
        }
    }
    groups
}

/// Whether undoing `step` when it was recorded but never applied leaves
/// the namespace as it was.
fn harmless_unapplied(step: &NetStep) -> bool {
    matches!(
        step,
        NetStep::Sysctl { .. } | NetStep::LoopbackConnections { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysctl(key: &str) -> NetStep {
        NetStep::Sysctl {
            key: key.into(),
            value: "1".into(),
            previous: None,
        }
    }

    fn tap() -> NetStep {
        NetStep::Tap {
            name: "uk-t".into(),
            mtu: 1500,
        }
    }

    fn sizes(groups: &[Vec<NetStep>]) -> Vec<usize> {
        groups.iter().map(Vec::len).collect()
    }

    #[test]
    fn consecutive_sysctls_and_loopback_connections_share_a_batch() {
        let steps = vec![
            tap(),
            sysctl("a"),
            sysctl("b"),
            NetStep::LoopbackConnections { ports: vec![80] },
            tap(),
            sysctl("c"),
        ];
        assert_eq!(sizes(&batches(steps.clone())), [1, 3, 1, 1]);
        assert_eq!(batches(steps.clone()).concat(), steps, "order is kept");
    }

    #[test]
    fn steps_that_change_what_they_find_are_saved_alone() {
        let steps = vec![
            tap(),
            tap(),
            NetStep::IngressQdisc {
                interface: "eth0".into(),
                previous_txqueuelen: None,
            },
        ];
        assert_eq!(sizes(&batches(steps)), [1, 1, 1]);
        assert!(batches(Vec::new()).is_empty());
    }
}
