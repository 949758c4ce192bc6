//! `testbed/test.sh` runs every test target that starts a containerd node
//! a second time on containerd 2.3.4, from its `node_tests=(…)` list; this
//! keeps that list equal to the targets that really start one.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use ukrun_testbed::repo;

/// How a test starts a node (`Node::run`, `Node::run_on`, `Node::start`,
/// `Node::start_on`, ...), or a kubelet, which starts its own node.
const STARTS: [&str; 4] = ["Node::run", "Node::start", "Kubelet::run", "Kubelet::start"];

/// The test targets under `dir` whose source starts a node, but this one.
fn node_targets(dir: &Path) -> Result<BTreeSet<String>> {
    let me = Path::new(file!()).file_stem().context("own name")?;
    let mut targets = BTreeSet::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "rs") || path.file_stem() == Some(me) {
            continue;
        }
        let source = std::fs::read_to_string(&path)?;
        if STARTS.iter().any(|start| source.contains(start)) {
            targets.insert(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    Ok(targets)
}

/// The names in test.sh's `node_tests=(…)` line.
fn listed() -> Result<BTreeSet<String>> {
    let script = std::fs::read_to_string(repo::script("test.sh")?)?;
    let list = script
        .lines()
        .find_map(|line| line.strip_prefix("node_tests=("))
        .and_then(|rest| rest.strip_suffix(')'))
        .context("test.sh has no node_tests=(…) line")?;
    Ok(list.split_whitespace().map(str::to_string).collect())
}

#[test]
fn test_sh_runs_every_node_test_on_containerd_2_3() -> Result<()> {
    let mut targets = node_targets(&repo::root().join("tests"))?;
    targets.extend(node_targets(
        &repo::root().join("testbed/ukrun-testbed/tests"),
    )?);
    assert!(targets.contains("cri_pod") && targets.contains("runc_node"));
    assert_eq!(listed()?, targets, "testbed/test.sh's node_tests");
    Ok(())
}
