//! What went wrong on a node while something ran, as its logs tell:
//! containerd's error lines and lock or deadline timeouts since a mark,
//! and the error and warning lines of a task's runtime log (what ukrun
//! wrote with `--log`, kept until the container is removed).

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::node::Node;

/// Words of a containerd line that reports a timeout.
const TIMEOUTS: [&str; 3] = ["deadline exceeded", "timeout", "timed out"];

/// A position in containerd's log: what follows was written after it.
pub struct Mark {
    path: PathBuf,
    offset: u64,
}

impl Mark {
    /// The end of `node`'s containerd log now.
    pub fn now(node: &Node) -> Result<Mark> {
        let path = node.state_dir().join("containerd.log");
        let offset = std::fs::metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        Ok(Mark { path, offset })
    }

    /// containerd's lines since the mark at level error, or that report a
    /// timeout.
    pub fn containerd_errors(&self) -> Result<Vec<String>> {
        let mut file = std::fs::File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.offset))?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        Ok(text
            .lines()
            .filter(|line| {
                let lower = line.to_lowercase();
                lower.contains("level=error") || TIMEOUTS.iter().any(|t| lower.contains(t))
            })
            .map(|line| format!("containerd: {line}"))
            .collect())
    }
}

/// The error and warning lines of container `id`'s runtime log.
pub fn task_log_problems(node: &Node, id: &str) -> Vec<String> {
    let path = node
        .state_dir()
        .join("state/io.containerd.runtime.v2.task/k8s.io")
        .join(id)
        .join("log.json");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|line| {
            serde_json::from_str::<Value>(line)
                .is_ok_and(|v| matches!(v["level"].as_str(), Some("error" | "warning" | "warn")))
        })
        .map(|line| format!("{id} runtime log: {line}"))
        .collect()
}
