//! The VMM's cgroup limits (pure): guest memory plus the monitor's own
//! overhead, the container's CPU quota, shares and cpuset, and a bound on
//! its tasks. The VMM's cgroup is a child of the container's, so the
//! container's (and the pod's) limits still hold above it; this one makes
//! the VMM pay for itself, not for the supervisor, and stops a runaway
//! monitor from forking or allocating past what its guest was given.

use oci_spec::runtime::LinuxResources;

/// Tasks a VMM may have when the container sets no pids limit: qemu's
/// threads (main loop, RCU, one per vCPU, its I/O worker pool of up to 64)
/// with room to spare.
pub const DEFAULT_PIDS: i64 = 256;
/// CFS period when the spec gives a quota but no period (the kernel's default).
const DEFAULT_PERIOD_US: u64 = 100_000;

/// What the VMM's cgroup is limited to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmmLimits {
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

    #[test]
    fn weights_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
