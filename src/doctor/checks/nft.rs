//! Routed mode's nftables table: every chain of the recorded ruleset on
//! its hook, with at least its rules.

use super::{in_pod, Input};
use crate::doctor::check::{Check, Verdict};
use crate::doctor::read::nft::{Chain, NftView};

/// The table `table`, against the ruleset that was loaded.
pub fn table(input: &Input<'_>, table: &str, ruleset: &str) -> Check {
    let name = "routed.nft";
    let wanted = recorded_chains(ruleset);
    let expected = format!(
        "table ip {table}: {}",
        wanted.iter().map(describe).collect::<Vec<_>>().join(", ")
    );
    let reload = format!(
        "recreate the container, or load the recorded ruleset (network[].ruleset of the nftables step in its state.json) with {}",
        in_pod(input.netns, "nft -f FILE")
    );
    let found = match &input.snap.nft {
        Some(NftView::Present(found)) => found,
        Some(NftView::Absent) | None => {
            return Check::new(name, Verdict::Fail, expected, "no such table", reload)
        }
        Some(NftView::Unreadable(why)) => {
            return Check::new(
                name,
                Verdict::Fail,
                expected,
                why.clone(),
                "routed mode needs the nft binary: install the nftables package",
            )
        }
    };
    let matching = |w: &Chain| {
        found
            .chains
            .iter()
            .find(|c| c.name == w.name && c.hook == w.hook)
    };
    let differences: Vec<String> = wanted
        .iter()
        .filter_map(|w| match matching(w) {
            None => Some(format!("{} missing", w.name)),
            Some(c) if c.rules != w.rules => {
                Some(format!("{}: {} of {} rules", w.name, c.rules, w.rules))
            }
            Some(_) => None,
        })
        .collect();
    let missing = wanted
        .iter()
        .any(|w| matching(w).is_none_or(|c| c.rules < w.rules));
    let (verdict, hint) = match (missing, differences.is_empty()) {
        (true, _) => (Verdict::Fail, reload),
        (false, false) => (
            Verdict::Warn,
            format!(
                "rules were added to ukrun's table: {}",
                in_pod(input.netns, &format!("nft list table ip {table}"))
            ),
        ),
        (false, true) => (Verdict::Pass, String::new()),
    };
    let shown = if differences.is_empty() {
        "as recorded".to_owned()
    } else {
        differences.join("; ")
    };
    Check::new(name, verdict, expected, shown, hint)
}

fn describe(c: &Chain) -> String {
    format!(
        "{} ({} hook, {} rules)",
        c.name,
        c.hook.as_deref().unwrap_or("no"),
        c.rules
    )
}

/// The chains of a ruleset in nft's text syntax, with their hooks and
/// rule counts.
pub fn recorded_chains(ruleset: &str) -> Vec<Chain> {
    let mut chains = Vec::new();
    let mut current: Option<Chain> = None;
    for line in ruleset.lines().map(str::trim) {
        if let Some(name) = line
            .strip_prefix("chain ")
            .and_then(|l| l.strip_suffix(" {"))
        {
            current = Some(Chain {
                name: name.to_owned(),
                hook: None,
                rules: 0,
            });
        } else if line == "}" {
            chains.extend(current.take());
        } else if let Some(chain) = current.as_mut() {
            if line.starts_with("type ") {
                chain.hook = line
                    .split_whitespace()
                    .skip_while(|w| *w != "hook")
                    .nth(1)
                    .map(str::to_owned);
            } else if !line.is_empty() {
                chain.rules += 1;
            }
        }
    }
    chains
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_of_a_ruleset_with_hooks_and_rule_counts() {
        let text = "table ip t {
\tchain prerouting {
\t\ttype filter hook prerouting priority mangle; policy accept;
\t\tiifname \"eth0\" ip daddr 169.254.1.1 drop
\t\tiifname \"eth0\" ip daddr 10.77.0.2 meta mark set meta mark or 0x00400000
\t}
\tchain output_nat {
\t\ttype nat hook output priority -100; policy accept;
\t}
}
";
        let shown: Vec<String> = recorded_chains(text).iter().map(describe).collect();
        assert_eq!(
            shown,
            vec![
                "prerouting (prerouting hook, 2 rules)",
                "output_nat (output hook, 0 rules)",
            ]
        );
    }
}
