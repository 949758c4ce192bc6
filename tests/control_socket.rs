//! The supervisor's control socket (Linux guest under qemu TCG on a
//! CNI-shaped pod netns): clients that send nothing, or a line that never
//! ends, delay neither `ukrun start` nor the handling of SIGTERM.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::topology::Shape;
use ukrun_testbed::wait;

/// Longest `start` or stop may take with stalled clients connected (qemu
/// starts in well under a second; the bound leaves room for a loaded host).
const PROMPT: Duration = Duration::from_secs(8);

/// Connects to container `id`'s control socket and stalls: one client
/// sends nothing, the other an endless line (no newline).
fn stalled_clients(fx: &Fixture, id: &str) -> Result<[UnixStream; 2]> {
    let socket = fx
        .runtime
        .dir
        .join(format!("root/.ukrun/{id}/control.sock"));
    let silent = UnixStream::connect(&socket)?;
    let mut endless = UnixStream::connect(&socket)?;
    endless.set_write_timeout(Some(Duration::from_millis(200)))?;
    let _ = endless.write_all(&[b'x'; 1 << 16]);
    Ok([silent, endless])
}

#[test]
fn stalled_control_clients_delay_neither_start_nor_sigterm() -> Result<()> {
    let fx = Fixture::new(
        Path::new(env!("CARGO_BIN_EXE_ukrun")),
        "cs",
        Shape::Bridge { mtu: 1500 },
    )?;
    let before = fx.settled_view()?;
    fx.create("g1")?;
    let _first = stalled_clients(&fx, "g1")?;
    let started = Instant::now();
    fx.start("g1")?;
    let took = started.elapsed();
    ensure!(took < PROMPT, "start took {took:?} with stalled clients");
    let _second = stalled_clients(&fx, "g1")?;
    let stopping = Instant::now();
    let out = fx.runtime.run(&["kill", "g1", "TERM"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    wait::poll(
        "the container to stop",
        PROMPT,
        Duration::from_millis(100),
        || Ok((fx.runtime.state("g1")?["status"] == "stopped").then_some(())),
    )?;
    ensure!(
        stopping.elapsed() < PROMPT,
        "stop took {:?}",
        stopping.elapsed()
    );
    fx.delete_and_check("g1", &before)
}
