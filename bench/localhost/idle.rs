//! What idle forwarded connections cost. The kernel path has no process:
//! its per-connection state is the connection's conntrack entry in the pod
//! netns (with its NAT extension), so it counts the entries a batch of
//! connections adds there, against a batch on the direct path (the routed
//! ruleset tracks those too). The ::1 proxy runs in this process, as in
//! the supervisor: it counts the growth of this process's resident memory.
//! Every batch stays open until all are measured.

use std::net::TcpStream;

use anyhow::{Context, Result};

use super::{connect, ping, Bed, Path, ECHO_PORT};

/// The paths measured, in order; the first is the baseline.
const PATHS: [Path; 3] = [Path::Direct, Path::Kernel, Path::Ipv6Proxy];

/// What the pod netns and this process hold at one moment.
#[derive(Clone, Copy)]
struct Snapshot {
    conntrack: i64,
    rss_kib: i64,
}

impl Snapshot {
    fn take(bed: &Bed) -> Result<Snapshot> {
        // /proc/sys/net shows the namespace of the thread that opens it.
        let conntrack = bed.pod().within(|| {
            read_number("/proc/sys/net/netfilter/nf_conntrack_count", |text| {
                text.trim().parse().ok()
            })
        })?;
        let rss_kib = read_number("/proc/self/status", |text| {
            text.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })?;
        Ok(Snapshot { conntrack, rss_kib })
    }
}

/// The number `parse` finds in file `path`.
fn read_number(path: &str, parse: impl FnOnce(&str) -> Option<i64>) -> Result<i64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    parse(&text).with_context(|| format!("no number in {path}"))
}

/// The size of one `nf_conntrack` slab object, from /proc/slabinfo.
fn conntrack_object_size() -> Result<i64> {
    read_number("/proc/slabinfo", |text| {
        let line = text.lines().find(|l| l.starts_with("nf_conntrack "))?;
        line.split_whitespace().nth(3)?.parse().ok()
    })
}

/// `count` connections along `path` from the pod netns, each with one byte
/// echoed (so every hop is established and has carried data).
fn open(bed: &Bed, path: Path, count: usize) -> Result<Vec<TcpStream>> {
    bed.pod().within(move || {
        (0..count)
            .map(|i| {
                let mut stream = connect(path, ECHO_PORT)?;
                ping(&mut stream, i as u8)?;
                Ok(stream)
            })
            .collect()
    })
}

/// Opens `count` idle connections per path and prints what each batch
/// added.
pub fn measure(bed: &Bed, count: usize) -> Result<()> {
    eprintln!("localhost: {count} idle connections per path, all kept open");
    let mut open_batches = Vec::new();
    let mut deltas = Vec::new();
    for path in PATHS {
        let before = Snapshot::take(bed)?;
        open_batches.push(open(bed, path, count).with_context(|| path.label())?);
        let after = Snapshot::take(bed)?;
        deltas.push((
            after.conntrack - before.conntrack,
            after.rss_kib - before.rss_kib,
        ));
    }
    let object = conntrack_object_size()?;
    let [(direct_ct, _), (kernel_ct, kernel_rss), (proxy_ct, proxy_rss)] = deltas[..] else {
        unreachable!("one delta per path");
    };
    let per = |kib: i64| kib as f64 * 1024.0 / count as f64;
    println!(
        "localhost {count} idle connections, kernel 127.0.0.1: no process (this process's RSS \
         {kernel_rss:+} KiB); {kernel_ct:+} conntrack entries in the pod netns ({object} B \
         nf_conntrack objects, {} KiB), direct connections {direct_ct:+}",
        kernel_ct * object / 1024,
    );
    println!(
        "localhost {count} idle connections, ::1 proxy: RSS {proxy_rss:+} KiB ({:.1} KiB per \
         connection), {proxy_ct:+} conntrack entries (its connections to the guest), two more \
         sockets per connection",
        per(proxy_rss) / 1024.0,
    );
    drop(open_batches);
    Ok(())
}
