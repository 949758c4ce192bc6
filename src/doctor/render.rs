//! The report as a table (one line per check) or as the JSON document
//! described in docs/doctor.md (schema: docs/doctor.schema.json).

use serde_json::{json, Value};

use super::check::{Report, Verdict};

/// The document's schema identifier.
pub const SCHEMA: &str = "ukrun-doctor/v1";
/// Columns wider than this are not padded (they run on).
const MAX_PAD: usize = 48;

/// The JSON document.
pub fn json(report: &Report) -> Value {
    json!({
        "schema": SCHEMA,
        "container": report.container,
        "root": report.root,
        "netns": report.netns,
        "mode": report.mode,
        "summary": {
            "pass": report.count(Verdict::Pass),
            "warn": report.count(Verdict::Warn),
            "fail": report.count(Verdict::Fail),
        },
        "exit_code": report.exit_code(),
        "checks": report.checks,
    })
}

/// The table: a header, one line per check, a summary line.
pub fn table(report: &Report) -> String {
    let header = ["VERDICT", "CHECK", "EXPECTED", "FOUND", "HINT"];
    let rows: Vec<[&str; 5]> = report
        .checks
        .iter()
        .map(|c| [c.verdict.label(), &c.name, &c.expected, &c.found, &c.hint])
        .collect();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .filter(|w| *w <= MAX_PAD)
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..4).map(width).collect();
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            out.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(cells[4]);
        out.trim_end().to_owned()
    };
    let mut text = line(header);
    text.push('\n');
    for row in rows {
        text.push_str(&line(row));
        text.push('\n');
    }
    let target = match (&report.container, &report.root) {
        (Some(id), Some(root)) => format!("container {id} (root {root})"),
        (Some(id), None) => format!("container {id}"),
        (None, _) => format!("netns {}", report.netns),
    };
    text.push_str(&format!(
        "{target}: {} PASS, {} WARN, {} FAIL\n",
        report.count(Verdict::Pass),
        report.count(Verdict::Warn),
        report.count(Verdict::Fail)
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Check;

    #[test]
    fn table_aligns_columns_and_json_counts() {
        let report = Report {
            container: Some("g1".into()),
            root: Some("/run/containerd/runc/k8s.io".into()),
            netns: "/run/netns/p".into(),
            mode: None,
            checks: vec![
                Check::pass("tap.up", "up", "up"),
                Check::judge("routed.route", false, "a route", "none", "ip route add …"),
            ],
        };
        let text = table(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].find("tap.up"), lines[2].find("routed.route"));
        assert!(lines[2].starts_with("FAIL") && lines[2].ends_with("ip route add …"));
        assert_eq!(
            lines[3],
            "container g1 (root /run/containerd/runc/k8s.io): 1 PASS, 0 WARN, 1 FAIL"
        );
        let doc = json(&report);
        assert_eq!(doc["root"], "/run/containerd/runc/k8s.io");
        assert_eq!(doc["summary"]["fail"], 1);
        assert_eq!(doc["exit_code"], 1);
        assert_eq!(doc["checks"][1]["verdict"], "FAIL");
    }
}
