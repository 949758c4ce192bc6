//! One diagnostic verdict (`Check`) and the report that collects them.

use serde::Serialize;

use crate::net::plan::NetworkMode;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// What was expected is there.
    Pass,
    /// Works, with a caveat (or could not be judged because of another check).
    Warn,
    /// Broken: the hint says how to fix it.
    Fail,
}

impl Verdict {
    /// The word printed in the table.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One link of the chain, judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable dotted name, e.g. `tap.mtu` or `routed.route`.
    pub name: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What should be there.
    pub expected: String,
    /// What is there.
    pub found: String,
    /// How to fix it (empty on PASS).
    pub hint: String,
}

impl Check {
    /// A passed check.
    pub fn pass(
        name: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self::new(name, Verdict::Pass, expected, found, String::new())
    }

    /// A check with a verdict and a hint (dropped on PASS).
    pub fn new(
        name: impl Into<String>,
        verdict: Verdict,
        expected: impl Into<String>,
        found: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            verdict,
            expected: expected.into(),
            found: found.into(),
            hint: if verdict == Verdict::Pass {
                String::new()
            } else {
                hint.into()
            },
        }
    }

    /// PASS when `ok`, else FAIL with `hint`.
    pub fn judge(
        name: impl Into<String>,
        ok: bool,
        expected: impl Into<String>,
        found: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        let verdict = if ok { Verdict::Pass } else { Verdict::Fail };
        Self::new(name, verdict, expected, found, hint)
    }
}

/// Everything doctor found about one container or pod netns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The container, when one was named.
    pub container: Option<String>,
    /// The state root the container was read from (`None` with a netns).
    pub root: Option<String>,
    /// The pod network namespace looked into.
    pub netns: String,
    /// The network mode, when known.
    pub mode: Option<NetworkMode>,
    /// The checks, in the order of the chain.
    pub checks: Vec<Check>,
}

impl Report {
    /// How many checks have `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.checks.iter().filter(|c| c.verdict == verdict).count()
    }

    /// 1 when a check failed, else 0 (2 is for doctor failing to run).
    pub fn exit_code(&self) -> i32 {
        i32::from(self.count(Verdict::Fail) > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_drops_the_hint_and_a_failure_sets_the_exit_code() {
        let ok = Check::judge("a", true, "x", "x", "fix it");
        assert_eq!(ok.hint, "");
        let mut report = Report {
            container: None,
            root: None,
            netns: "/n".into(),
            mode: None,
            checks: vec![ok, Check::new("b", Verdict::Warn, "x", "y", "note")],
        };
        assert_eq!(report.exit_code(), 0);
        report
            .checks
            .push(Check::judge("c", false, "x", "y", "fix it"));
        assert_eq!(report.exit_code(), 1);
        assert_eq!(report.count(Verdict::Warn), 1);
        assert_eq!(
            serde_json::to_value(&report.checks[2]).unwrap()["verdict"],
            "FAIL"
        );
    }
}
