//! The VMM's cgroup limits (pure): guest memory plus the monitor's own
//! overhead, the container's CPU quota, shares and cpuset, and a bound on
//! its tasks. The VMM's cgroup is a child of the container's, so the
//! container's (and the pod's) limits still hold above it; this one makes
//! the VMM pay for itself, not for the supervisor, and stops a runaway
//! monitor from forking or allocating past what its guest was given.

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

/// Tasks a VMM may have when the container sets no pids limit: qemu's
/// threads (main loop, RCU, one per vCPU, its I/O worker pool of up to 64)
/// with room to spare.
pub const DEFAULT_PIDS: i64 = 256;
/// CFS period when the spec gives a quota but no period (the kernel's default).
const DEFAULT_PERIOD_US: u64 = 100_000;

/// What the VMM's cgroup is limited to (recorded in the container's
/// state, so `update` changes it from what it is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmmLimits {
    /// The guest's memory, MiB: fixed once it boots.
    pub guest_mib: u64,
    /// Memory, bytes.
    pub memory_bytes: u64,
    /// CFS quota and period, microseconds.
    pub cpu_quota: Option<(i64, u64)>,
    /// cgroup v1 CPU shares.
    pub cpu_shares: Option<u64>,
    /// cpuset CPUs.
    pub cpus: Option<String>,
    /// cpuset memory nodes.
    pub mems: Option<String>,
    /// Tasks.
    pub pids: i64,
}

impl VmmLimits {
    /// Limits for a guest of `guest_mib` whose monitor needs `overhead_mib`
    /// beyond it, under the container's `resources`.
    pub fn new(guest_mib: u64, overhead_mib: u64, resources: Option<&LinuxResources>) -> Self {
        let cpu = resources.and_then(|r| r.cpu().as_ref());
        let quota = cpu.and_then(|c| c.quota()).filter(|q| *q > 0);
        Self {
            guest_mib,
            memory_bytes: (guest_mib + overhead_mib) * 1024 * 1024,
            cpu_quota: quota
                .map(|q| (q, cpu.and_then(|c| c.period()).unwrap_or(DEFAULT_PERIOD_US))),
            cpu_shares: cpu.and_then(|c| c.shares()).filter(|s| *s > 0),
            cpus: cpu.and_then(|c| c.cpus().clone()).filter(|s| !s.is_empty()),
            mems: cpu.and_then(|c| c.mems().clone()).filter(|s| !s.is_empty()),
            pids: resources
                .and_then(|r| r.pids().as_ref())
                .map(|p| p.limit())
                .filter(|l| *l > 0)
                .unwrap_or(DEFAULT_PIDS),
        }
    }

    /// These limits changed as `update` asks (runc's `update --resources`):
    /// CPU and pids values that `resources` gives replace the old ones, the
    /// rest stay. A memory limit other than the guest's is refused: the
    /// guest was given its memory at boot and cannot be resized.
    pub fn updated(&self, resources: &LinuxResources) -> Result<Self, FixedMemory> {
        let asked = resources.memory().as_ref().and_then(|m| m.limit());
        if let Some(bytes) = asked.filter(|b| *b > 0) {
            let asked_mib = bytes as u64 / (1024 * 1024);
            if asked_mib != self.guest_mib {
                return Err(FixedMemory {
                    guest_mib: self.guest_mib,
                    asked_mib,
                });
            }
        }
        let given = Self::new(self.guest_mib, 0, Some(resources));
        let old_period = self.cpu_quota.map(|(_, period)| period);
        let period = resources.cpu().as_ref().and_then(|c| c.period());
        let period = period.or(old_period).unwrap_or(DEFAULT_PERIOD_US);
        let quota = given.cpu_quota.or(self.cpu_quota).map(|(q, _)| q);
        Ok(Self {
            cpu_quota: quota.map(|quota| (quota, period)),
            cpu_shares: given.cpu_shares.or(self.cpu_shares),
            cpus: given.cpus.or_else(|| self.cpus.clone()),
            mems: given.mems.or_else(|| self.mems.clone()),
            pids: match resources.pids() {
                Some(_) => given.pids,
                None => self.pids,
            },
            ..self.clone()
        })
    }

    /// The interface files to write and their values, cgroup v1 and v2
    /// names both: each is written where the hierarchy has it. The period
    /// comes before the quota (v1 refuses a quota below the old period's
    /// bounds otherwise).
    pub fn files(&self) -> Vec<(&'static str, String)> {
        let mut files = vec![
            ("memory.limit_in_bytes", self.memory_bytes.to_string()),
            ("memory.max", self.memory_bytes.to_string()),
            ("pids.max", self.pids.to_string()),
        ];
        if let Some((quota, period)) = self.cpu_quota {
            files.push(("cpu.cfs_period_us", period.to_string()));
            files.push(("cpu.cfs_quota_us", quota.to_string()));
            files.push(("cpu.max", format!("{quota} {period}")));
        }
        if let Some(shares) = self.cpu_shares {
            files.push(("cpu.shares", shares.to_string()));
            files.push(("cpu.weight", shares_to_weight(shares).to_string()));
        }
        if let Some(cpus) = &self.cpus {
            files.push(("cpuset.cpus", cpus.clone()));
        }
        if let Some(mems) = &self.mems {
            files.push(("cpuset.mems", mems.clone()));
        }
        files
    }
}

/// An `update` asked for a memory limit other than the guest's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the guest's memory is fixed at boot ({guest_mib} MiB): a limit of {asked_mib} MiB needs the container restarted")]
pub struct FixedMemory {
    /// What the guest was given.
    pub guest_mib: u64,
    /// What the update asked for.
    pub asked_mib: u64,
}

/// cgroup v1 shares (2–262144) as a v2 weight (1–10000), the conversion
/// runc and crun use.
fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};

    #[test]
    fn memory_is_guest_plus_overhead_and_pids_have_a_default() {
        let l = VmmLimits::new(64, 96, None);
        assert_eq!(l.memory_bytes, 160 * 1024 * 1024);
        assert_eq!(
            l.files(),
            [
                ("memory.limit_in_bytes", "167772160".to_owned()),
                ("memory.max", "167772160".to_owned()),
                ("pids.max", "256".to_owned()),
            ]
        );
    }

    #[test]
    fn the_containers_cpu_and_pids_limits_carry_over() {
        let resources = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(50_000_i64)
                    .shares(512_u64)
                    .cpus("1")
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(40).build().unwrap())
            .build()
            .unwrap();
        let files = VmmLimits::new(256, 32, Some(&resources)).files();
        let get = |name| {
            files
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("cpu.cfs_quota_us"), Some("50000"));
        assert_eq!(get("cpu.cfs_period_us"), Some("100000"));
        assert_eq!(get("cpu.max"), Some("50000 100000"));
        assert_eq!(get("cpu.shares"), Some("512"));
        assert_eq!(get("cpu.weight"), Some("20"));
        assert_eq!(get("cpuset.cpus"), Some("1"));
        assert_eq!(get("cpuset.mems"), None);
        assert_eq!(get("pids.max"), Some("40"));
        let period = files.iter().position(|(f, _)| *f == "cpu.cfs_period_us");
        let quota = files.iter().position(|(f, _)| *f == "cpu.cfs_quota_us");
        assert!(period < quota);
    }

    fn resources(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_update_replaces_the_cpu_and_pids_values_it_gives() {
        let old = VmmLimits::new(
            128,
            64,
            Some(&resources(serde_json::json!({
                "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0"},
                "pids": {"limit": 40}
            }))),
        );
        let new = old
            .updated(&resources(serde_json::json!({"cpu": {"quota": 20000}})))
            .unwrap();
        assert_eq!(new.cpu_quota, Some((20000, 100_000)));
        assert_eq!(new.cpu_shares, Some(512));
        assert_eq!(new.cpus.as_deref(), Some("0"));
        assert_eq!(new.pids, 40);
        assert_eq!(new.memory_bytes, old.memory_bytes);
        let new = old
            .updated(&resources(serde_json::json!({
                "cpu": {"period": 50000, "shares": 1024, "mems": "0"},
                "pids": {"limit": 64}
            })))
            .unwrap();
        assert_eq!(
            new.cpu_quota,
            Some((50000, 50000)),
            "the old quota, new period"
        );
        assert_eq!(new.cpu_shares, Some(1024));
        assert_eq!(new.mems.as_deref(), Some("0"));
        assert_eq!(new.pids, 64);
        let quota_only = serde_json::json!({"cpu": {"quota": 10000}});
        let newer = new.updated(&resources(quota_only)).unwrap();
        assert_eq!(
            newer.cpu_quota,
            Some((10000, 50000)),
            "the old period stays"
        );
        assert_eq!(
            old.updated(&resources(serde_json::json!({}))),
            Ok(old.clone())
        );
    }

    #[test]
    fn an_update_keeps_the_guests_memory_or_is_refused() {
        let old = VmmLimits::new(128, 64, None);
        let same = serde_json::json!({"memory": {"limit": 128 * 1024 * 1024}});
        assert_eq!(old.updated(&resources(same)), Ok(old.clone()));
        let unlimited = serde_json::json!({"memory": {"limit": -1}});
        assert_eq!(old.updated(&resources(unlimited)), Ok(old.clone()));
        let more = serde_json::json!({"memory": {"limit": 256 * 1024 * 1024}});
        let refused = old.updated(&resources(more)).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the guest's memory is fixed at boot (128 MiB): a limit of 256 MiB needs the container restarted"
        );
    }

    #[test]
    fn weights_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
