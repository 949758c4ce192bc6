//! `ps`: the container's processes (supervisor and VMM).

use super::{Global, Outcome};

/// Lists the processes of a unikernel container; other ids are runc's.
pub(crate) fn ps(g: &Global, id: &str, format: &str) -> Result<Outcome, String> {
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
        "json" => println!("{}", json(&pids)),
        "table" => {
            println!("PID     CMD");
            for pid in pids {
                let cmd = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                println!("{pid:<7} {}", cmd.trim());
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_runcs_null_when_empty() {
        assert_eq!(json(&[]), "null");
        assert_eq!(json(&[12, 34]), "[12,34]");
    }
}
