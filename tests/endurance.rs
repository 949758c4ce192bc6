//! Endurance: a real Unikraft `nettest` guest container created, started,
//! stopped and deleted `UKRUN_ENDURANCE_CYCLES` times (default 100) in one
//! pod netns, driven as containerd's shim drives ukrun, rotating through
//! tc mode and routed mode alone, with a localhost port and with the DNS
//! relay; every cycle's guest answers HTTP before it is stopped. After the
//! cycles nothing may be left: no process, no descriptor in this process
//! (the shim's place), no state, tap, link, route, rule, nftables table,
//! qdisc, sysctl change, cgroup or mount, no conntrack entry that will not
//! expire. Needs root, qemu and the Unikraft images (see
//! `ukrun_testbed::unikraft`).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use ukrun_testbed::churn::Churn;
use ukrun_testbed::stats;

/// Cycles when `UKRUN_ENDURANCE_CYCLES` is not set.
const DEFAULT_CYCLES: usize = 100;

#[test]
fn guest_containers_cycled_in_every_wiring_leave_nothing() -> Result<()> {
    let cycles = stats::env_count("UKRUN_ENDURANCE_CYCLES", DEFAULT_CYCLES)?;
    let tag = format!("endur{}", std::process::id());
    let Some(mut churn) = Churn::new(Path::new(env!("CARGO_BIN_EXE_ukrun")), &tag)? else {
        return Ok(());
    };
    let began = Instant::now();
    for n in 0..cycles {
        churn.cycle(n, true)?;
    }
    eprintln!("{cycles} cycles in {:?}", began.elapsed());
    churn.check.assert_none()
}
