//! A container's CRI log read back as the text its process wrote: each
//! line of the file is `<time> <stream> <P|F> <text>`, where `P` marks a
//! partial line that the next entry continues. For a guest this is its
//! serial console, so the console parsers of [`crate::probes`] and
//! [`crate::guest`] apply to it.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::wait;

/// Longest wait for a line the guest prints at boot (qemu TCG on a loaded
/// machine boots in ~3–30 s; the DNS and HTTP probes retry a few times).
const LINE_WAIT: Duration = Duration::from_secs(120);

/// The text of a CRI log: entries joined, partial ones without a line
/// break. Lines that are not CRI entries are kept as they are.
pub fn text(log: &str) -> String {
    let mut text = String::new();
    for line in log.lines() {
        let mut fields = line.splitn(4, ' ');
        let (_time, stream, tag) = (fields.next(), fields.next(), fields.next());
        let entry = fields.next();
        match (stream, tag, entry) {
            (Some("stdout" | "stderr"), Some(tag), entry) if tag.starts_with('P') => {
                text.push_str(entry.unwrap_or_default());
            }
            (Some("stdout" | "stderr"), Some(tag), entry) if tag.starts_with('F') => {
                text.push_str(entry.unwrap_or_default());
                text.push('\n');
            }
            _ => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

/// The text of the CRI log file at `path` (empty while it does not exist).
pub fn read(path: &Path) -> String {
    text(&std::fs::read_to_string(path).unwrap_or_default())
}

/// Waits (bounded) until `find` finds what it looks for in the text of the
/// CRI log at `path`, and returns it.
pub fn wait_for<T>(path: &Path, what: &str, mut find: impl FnMut(&str) -> Option<T>) -> Result<T> {
    wait::poll(
        &format!("{what} in {}", path.display()),
        LINE_WAIT,
        Duration::from_millis(250),
        || Ok(find(&read(path))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_partial_entries() {
        let log = "2025-01-01T00:00:00.1Z stdout P UKRUN-GUEST-PROBE dns kub\n\
                   2025-01-01T00:00:00.2Z stdout F ernetes addresses=10.96.0.1\r\n\
                   2025-01-01T00:00:00.3Z stdout F \n\
                   2025-01-01T00:00:00.4Z stderr F oops\n";
        assert_eq!(
            text(log),
            "UKRUN-GUEST-PROBE dns kubernetes addresses=10.96.0.1\n\noops\n"
        );
        assert_eq!(text("not a cri line\n"), "not a cri line\n");
    }
}
