//! iperf3 between two network namespaces, for benchmarks: a server bound to
//! an address in one (stopped when dropped) and timed client runs from the
//! other, read from iperf3's JSON report.

use std::net::SocketAddr;
use std::process::{Child, Stdio};

use crate::interrupt;
use crate::netns::{checked_stdout, Netns};
use anyhow::{Context, Result};
use serde_json::Value;

/// iperf3's port.
pub const PORT: u16 = 5201;

/// An iperf3 server listening on `addr` inside a netns.
pub struct Server {
    child: Child,
}

impl Server {
    /// Starts `iperf3 -s -B addr` in `netns`; returns once it accepts.
    pub fn start(netns: &Netns, addr: &str) -> Result<Self> {
        let child = netns
            .command("iperf3")
            .args(["-s", "-B", addr, "-p", &PORT.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // It complains about the readiness probe's empty connection.
            .stderr(Stdio::null())
            .spawn()
            .context("starting iperf3 -s")?;
        let server = Server { child };
        let target: SocketAddr = format!("{addr}:{PORT}").parse()?;
        netns.wait_listening(target)?;
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one client for `seconds` (after one omitted warm-up second) from
/// `netns` to `addr`; with `reverse` the server sends. Returns the
/// receiver's Gbit/s.
pub fn measure(netns: &Netns, addr: &str, seconds: u32, reverse: bool) -> Result<f64> {
    measure_with(netns, addr, seconds, reverse, &["-p", &PORT.to_string()])
}

/// [`measure`] with other client options instead of `-p 5201`: another
/// port, `-B` to bind the client, `-l`, ….
pub fn measure_with(
    netns: &Netns,
    addr: &str,
    seconds: u32,
    reverse: bool,
    options: &[&str],
) -> Result<f64> {
    let time = seconds.to_string();
    let mut args = vec!["-c", addr, "-t", &time, "-O", "1", "-J"];
    // Client on CPU 0, server on CPU 1: left to the scheduler, on two cores
    // they trade places between runs and the spread of the figures doubles.
    if std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2) {
        args.extend(["-A", "0,1"]);
    }
    args.extend_from_slice(options);
    if reverse {
        args.push("-R");
    }
    let output = netns.command("iperf3").args(&args).output()?;
    let text = checked_stdout(&format!("iperf3 {}", args.join(" ")), output)?;
    let report: Value = serde_json::from_str(&text).context("iperf3 printed no JSON")?;
    report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .map(|bits| bits / 1e9)
        .with_context(|| format!("no end.sum_received in iperf3's report: {text}"))
}

/// Runs `run(setup, reverse)` for every setup (named by `names`) in both
/// directions, `rounds` times, interleaved, and prints each round's
/// figures as `TAG: round R/N (Gbit/s DIRECTIONS): NAME A/B, …`. Returns
/// the samples as `[direction][setup]` (direction 0: not reversed). Stops
/// at the first error or signal (see [`interrupt`]).
pub fn interleaved(
    tag: &str,
    directions: &str,
    names: &[&str],
    rounds: usize,
    mut run: impl FnMut(usize, bool) -> Result<f64>,
) -> Result<Vec<Vec<Vec<f64>>>> {
    let mut samples = vec![vec![Vec::new(); names.len()]; 2];
    for round in 1..=rounds {
        let mut line = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let mut pair = [0.0; 2];
            for (direction, reverse) in [false, true].into_iter().enumerate() {
                interrupt::check()?;
                pair[direction] = run(i, reverse)?;
                samples[direction][i].push(pair[direction]);
            }
            line.push(format!("{name} {:.1}/{:.1}", pair[0], pair[1]));
        }
        eprintln!(
            "{tag}: round {round}/{rounds} (Gbit/s {directions}): {}",
            line.join(", ")
        );
    }
    Ok(samples)
}
