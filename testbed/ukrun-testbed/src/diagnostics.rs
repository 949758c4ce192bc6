//! What a failed test prints before its node is torn down: the tails of the
//! node's log files, which `node.sh down` is about to delete.

use std::path::{Path, PathBuf};

use crate::script;

/// Where a node keeps logs, relative to its state folder: containerd's,
/// node.sh's and a kubelet's own, the pods' container logs (a kubelet's
/// pods' too), and each task's runtime log (what ukrun or runc wrote with
/// `--log`).
const LOG_GLOBS: &[&[&str]] = &[
    &["*.log"],
    &["pods", "*", "*.log"],
    &["kubelet", "pod-logs", "*", "*", "*.log"],
    &[
        "state",
        "io.containerd.runtime.v2.task",
        "*",
        "*",
        "log.json",
    ],
];

/// Prints the tail of every log file of the node at `state_dir` to stderr
/// (where the test harness shows it for a failed test).
pub fn print(state_dir: &Path) {
    let mut files = Vec::new();
    for glob in LOG_GLOBS {
        expand(state_dir, glob, &mut files);
    }
    for file in files {
        eprintln!(
            "---- {} (tail) ----\n{}",
            file.display(),
            script::tail(&file)
        );
    }
}

/// Files under `dir` matching `parts`, where `*` is a whole path component
/// and `*.ext` a suffix.
fn expand(dir: &Path, parts: &[&str], found: &mut Vec<PathBuf>) {
    let Some((part, rest)) = parts.split_first() else {
        if dir.is_file() {
            found.push(dir.to_path_buf());
        }
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| matches(part, name))
        .collect();
    names.sort();
    for name in names {
        expand(&dir.join(name), rest, found);
    }
}

/// Whether `name` matches a glob component (`*`, `*suffix` or literal).
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => name.ends_with(suffix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_components() {
        assert!(matches("*", "k8s.io"));
        assert!(matches("*.log", "containerd.log"));
        assert!(!matches("*.log", "log.json"));
        assert!(matches("log.json", "log.json"));
    }
}
