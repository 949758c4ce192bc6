//! Whether many guest containers, created and removed one after another,
//! left anything: what a [`Footprint`] finds (processes, state, taps,
//! qdiscs, cgroups, mounts), every change in the network namespaces
//! involved (links, addresses, routes, rules, qdiscs, nftables, sysctls),
//! connection tracking entries that will not expire, and descriptors that
//! long-lived processes (this one, a containerd) hold beyond what they held
//! before.

use std::time::Duration;

use anyhow::Result;

use crate::leftovers::Footprint;
use crate::netns::Netns;
use crate::{conntrack, netstate, procs, wait};

/// How long teardown may lag behind the last removal.
const SETTLE: Duration = Duration::from_secs(10);

/// A baseline taken before the containers ran, to compare against after.
pub struct LeakCheck {
    /// What the containers may leave; record their ids and pods in it.
    pub footprint: Footprint,
    spaces: Vec<(Netns, Vec<String>)>,
    descriptors: Vec<(u32, usize)>,
}

impl LeakCheck {
    /// Takes the baseline: the network state of each of `spaces` and the
    /// descriptor count of this process and of each of `long_lived`.
    pub fn new(footprint: Footprint, spaces: &[Netns], long_lived: &[u32]) -> Result<LeakCheck> {
        let spaces = spaces
            .iter()
            .map(|netns| Ok((netns.clone(), netstate::snapshot(netns)?)))
            .collect::<Result<_>>()?;
        let descriptors = std::iter::once(std::process::id())
            .chain(long_lived.iter().copied())
            .map(|pid| Ok((pid, procs::open_fds(pid)?)))
            .collect::<Result<_>>()?;
        Ok(LeakCheck {
            footprint,
            spaces,
            descriptors,
        })
    }

    /// Everything left beyond the baseline, one per line.
    pub fn leaks(&self) -> Result<Vec<String>> {
        let mut found = self.footprint.leftovers()?;
        for (netns, before) in &self.spaces {
            let label = netns.path().display();
            let now = netstate::snapshot(netns)?;
            found.extend(
                netstate::diff(before, &now)
                    .into_iter()
                    .map(|line| format!("{label}: {line}")),
            );
            found.extend(
                conntrack::lasting(netns)?
                    .into_iter()
                    .map(|line| format!("{label}: {line}")),
            );
        }
        for &(pid, before) in &self.descriptors {
            let now = procs::open_fds(pid)?;
            if now > before {
                found.push(format!(
                    "descriptors of process {pid}: {before} before, {now} now"
                ));
            }
        }
        Ok(found)
    }

    /// Waits (bounded) until [`LeakCheck::leaks`] finds nothing; fails
    /// with the list of what stayed.
    pub fn assert_none(&self) -> Result<()> {
        wait::until_none_left("nothing to be left", SETTLE, || self.leaks())
    }
}
