//! `ps`: the container's processes (supervisor and VMM).

use std::path::Path;
use std::time::Duration;

use super::{print_out, Global, Outcome};
use crate::bounded_command;

/// How long ps(1) may take to list the node's processes.
const PS_TIMEOUT: Duration = Duration::from_secs(5);

/// Lists the processes of a unikernel container; other ids are runc's.
/// `table` is runc's: ps(1) run with `ps_args` (`-ef` when none), its
/// header and the lines of the container's processes.
pub(crate) fn ps(
    g: &Global,
    id: &str,
    format: &str,
    ps_args: &[String],
) -> Result<Outcome, String> {
    if !g.store.owns(id) {
        return Ok(Outcome::Delegate);
    }
    let state = g.store.load(id).map_err(|e| e.to_string())?;
    let pids: Vec<i32> = state
        .supervisor
        .into_iter()
        .chain(state.vmm)
        .filter(|p| p.is_alive())
        .map(|p| p.pid)
        .collect();
    match format {
        "json" => print_out(&format!("{}\n", json(&pids)))?,
        "table" => print_out(&table(&pids, ps_args)?)?,
        other => {
            return Err(format!(
                "invalid format option {other:?}: use table or json"
            ))
        }
    }
    Ok(Outcome::Exit(0))
}

/// The `--format json` list as runc prints it: `null` when no process is
/// left (a stopped container), `[PID,…]` otherwise.
fn json(pids: &[i32]) -> String {
    if pids.is_empty() {
        "null".to_owned()
    } else {
        serde_json::to_string(pids).expect("pids serialize")
    }
}

/// ps(1)'s listing of the node, cut down to `pids`.
fn table(pids: &[i32], ps_args: &[String]) -> Result<String, String> {
    let default = ["-ef".to_owned()];
    let args: Vec<&str> = if ps_args.is_empty() {
        &default[..]
    } else {
        ps_args
    }
    .iter()
    .map(String::as_str)
    .collect();
    let listing = bounded_command::output(Path::new("ps"), &args, PS_TIMEOUT)
        .map_err(|reason| format!("ps {}: {reason}", args.join(" ")))?;
    only_pids(&listing, pids)
}

/// The header of a ps(1) listing and its lines whose PID column is one of
/// `pids`; an error when the header has no PID column (e.g. `-o comm`).
fn only_pids(listing: &str, pids: &[i32]) -> Result<String, String> {
    let mut lines = listing.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|title| title == "PID")
        .ok_or("ps's output has no PID column")?;
    let mut kept = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|f| f.parse().ok());
        if pid.is_some_and(|pid| pids.contains(&pid)) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_runcs_null_when_empty() {
        assert_eq!(json(&[]), "null");
        assert_eq!(json(&[12, 34]), "[12,34]");
    }

    const LISTING: &str = "UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 07:40 ?        00:00:01 /sbin/init
root         120       1  0 07:41 ?        00:00:00 ukrun supervise c1
ukrun-vm     121     120 12 07:41 ?        00:00:03 qemu-system-x86_64 -readconfig /proc/self/fd/3
root        1210       1  0 07:41 ?        00:00:00 sleep 121
";

    #[test]
    fn the_table_keeps_the_header_and_the_containers_lines() {
        assert_eq!(
            only_pids(LISTING, &[120, 121]).unwrap(),
            "UID          PID    PPID  C STIME TTY          TIME CMD
root         120       1  0 07:41 ?        00:00:00 ukrun supervise c1
ukrun-vm     121     120 12 07:41 ?        00:00:03 qemu-system-x86_64 -readconfig /proc/self/fd/3
"
        );
    }

    #[test]
    fn the_pid_column_is_found_wherever_ps_puts_it() {
        let listing = "  PID COMMAND\n  121 qemu-system-x86\n  122 bash\n";
        assert_eq!(
            only_pids(listing, &[121]).unwrap(),
            "  PID COMMAND\n  121 qemu-system-x86\n"
        );
    }

    #[test]
    fn a_stopped_container_prints_the_header_alone() {
        assert_eq!(only_pids(LISTING, &[]).unwrap().lines().count(), 1);
    }

    #[test]
    fn a_listing_without_a_pid_column_is_an_error() {
        assert!(only_pids("COMMAND\nqemu\n", &[1]).is_err());
        assert!(only_pids("", &[1]).is_err());
    }
}
