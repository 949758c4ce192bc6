//! Guest containers created at once in one pod netns (a retry storm, a
//! controller that recreates too early): ukrun wires one guest, every other
//! create fails with one clear line and leaves nothing, and once the winner
//! is deleted the pod netns is as the CNI left it. Only `create` runs (it
//! wires the pod netns; no guest boots), so the race stays CI-sized.

use std::path::Path;
use std::process::Output;

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use ukrun::net::plan::tap_name;
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::procs;
use ukrun_testbed::topology::Shape;

/// How many creates race.
const RACERS: usize = 50;
/// How many times they race (on two cores, one race often goes by without
/// two creates meeting in the critical part).
const ROUNDS: usize = 4;
/// What a create that loses the race says.
const ONE_GUEST: &str = "ukrun wires one guest per pod";

/// Runs `create` for every id at once; returns each id with its output.
fn race(fx: &Fixture, ids: &[String]) -> Result<Vec<(String, Output)>> {
    std::thread::scope(|scope| {
        let racers: Vec<_> = ids
            .iter()
            .map(|id| scope.spawn(|| fx.runtime.create(&fx.bundle.dir, id)))
            .collect();
        ids.iter()
            .zip(racers)
            .map(|(id, racer)| {
                let output = racer
                    .join()
                    .map_err(|_| anyhow::anyhow!("racer {id} panicked"))??;
                Ok((id.clone(), output))
            })
            .collect()
    })
}

/// The `msg` of every `error` line in the runtime's log.
fn logged_errors(fx: &Fixture) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(fx.runtime.log_path())?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["level"] == "error")
        .map(|line| line["msg"].as_str().unwrap_or_default().to_owned())
        .collect())
}

/// Checks that the sysctls and the local rule that `id` recorded are in
/// effect in the pod netns (what a racing create used to reset).
fn recorded_steps_hold(fx: &Fixture, id: &str) -> Result<()> {
    let path = fx.runtime.dir.join(format!("root/.ukrun/{id}/state.json"));
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let steps = state["network"].as_array().context("recorded steps")?;
    let rules = fx.topo.pod_netns().run("ip", &["-4", "rule", "show"])?;
    for step in steps {
        match step["kind"].as_str() {
            Some("sysctl") => {
                let key = step["key"].as_str().context("sysctl key")?.to_owned();
                let shown = key.clone();
                let now = fx.topo.pod_netns().within(move || {
                    Ok(std::fs::read_to_string(Path::new("/proc/sys").join(&key))?)
                })?;
                ensure!(
                    now.trim() == step["value"],
                    "{id}: sysctl {shown} is {} instead of {}",
                    now.trim(),
                    step["value"]
                );
            }
            Some("local_rule") => {
                let moved = format!("{}:\tfrom all lookup local", step["to"]);
                let lookups_local: Vec<&str> = rules
                    .lines()
                    .filter(|l| l.ends_with("lookup local"))
                    .collect();
                ensure!(
                    lookups_local == [moved.as_str()],
                    "{id}: the local rule is not where {id} moved it:\n{rules}"
                );
            }
            _ => {}
        }
    }
    Ok(())
}

#[test]
fn racing_creates_in_one_pod_netns_wire_exactly_one_guest() -> Result<()> {
    let fx = Fixture::new(
        Path::new(env!("CARGO_BIN_EXE_ukrun")),
        "rc",
        Shape::Bridge { mtu: 1500 },
    )?;
    let before = fx.settled_view()?;
    for round in 0..ROUNDS {
        let ids: Vec<String> = (0..RACERS).map(|i| format!("r{round}-{i}")).collect();
        let winner = one_wins(&fx, &ids).with_context(|| format!("round {round}"))?;
        fx.delete_and_check(&winner, &before)
            .with_context(|| format!("round {round}"))?;
        std::fs::remove_file(fx.runtime.log_path())?;
    }
    Ok(())
}

/// Races creates of `ids`; checks that exactly one wins and is wired as it
/// recorded, and that the others failed clearly and left nothing; returns
/// the winner.
fn one_wins(fx: &Fixture, ids: &[String]) -> Result<String> {
    let outcomes = race(fx, ids)?;
    let winners: Vec<&str> = outcomes
        .iter()
        .filter(|(_, out)| out.status.success())
        .map(|(id, _)| id.as_str())
        .collect();
    let errors = logged_errors(fx)?;
    ensure!(
        winners.len() == 1,
        "one create wins, not {winners:?}; errors: {errors:#?}"
    );
    let winner = winners[0];
    let unclear: Vec<&String> = errors.iter().filter(|e| !e.contains(ONE_GUEST)).collect();
    ensure!(
        errors.len() == RACERS - 1 && unclear.is_empty(),
        "every other create fails with {ONE_GUEST:?}: {} errors, unclear {unclear:#?}",
        errors.len()
    );
    // The winner's supervisor, and the VMM process it may already hold for
    // the start (`__vmm`).
    let processes = fx.processes();
    let winners_own = format!(" {winner}");
    ensure!(
        processes.iter().all(|p| p.ends_with(&winners_own))
            && processes
                .iter()
                .filter(|p| p.contains(" __supervise "))
                .count()
                == 1,
        "only the winner's supervisor runs: {processes:?}"
    );
    let mut state = fx.runtime.leftover_state();
    state.sort();
    ensure!(
        state == ["@netns", winner],
        "only the winner has state: {state:?}"
    );
    let inode = procs::netns_inode(fx.topo.pod_netns().path())?;
    let owner = std::fs::read_to_string(fx.runtime.dir.join(format!("root/.ukrun/@netns/{inode}")))
        .context("the pod netns's owner record")?;
    ensure!(
        owner == winner,
        "the owner record names {owner:?}, not {winner}"
    );
    let taps = fx
        .topo
        .pod_netns()
        .run("ip", &["-o", "link", "show", "type", "tun"])?;
    ensure!(
        taps.lines().count() == 1 && taps.contains(&format!("{}:", tap_name(winner))),
        "one tap, the winner's: {taps}"
    );
    recorded_steps_hold(fx, winner)?;
    Ok(winner.to_owned())
}
