//! glibc's `res_search`, over the wire: which names to ask for, in which
//! order, and which failure to report when none gives records.
//!
//! A query on the wire has no trailing dot, so every name the guest asks for
//! is taken as glibc takes a name without one: with at least `ndots` dots it
//! is asked as is first, then with each search domain; with fewer, the search
//! domains come first and the name as is last (unless the list holds the
//! root). A search domain that makes the name invalid or too long ends the
//! list, as glibc's NO_RECOVERY does there.

use std::collections::VecDeque;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;

/// How an upstream answer for one candidate counts in the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// NOERROR with answer records: this candidate wins.
    Records,
    /// NOERROR without answer records: keep searching, remember it.
    NoData,
    /// NXDOMAIN: keep searching.
    NxDomain,
    /// SERVFAIL: keep searching, remember it.
    ServFail,
    /// Anything else (REFUSED, NOTIMP, FORMERR, …): end the search list,
    /// still try the name as is if it is due last.
    Other,
}

impl Outcome {
    /// Classifies an upstream answer as glibc's `res_query` does.
    pub(super) fn of(answer: &Message) -> Self {
        match answer.response_code {
            ResponseCode::NoError if answer.answers.is_empty() => Outcome::NoData,
            ResponseCode::NoError => Outcome::Records,
            ResponseCode::NXDomain => Outcome::NxDomain,
            ResponseCode::ServFail => Outcome::ServFail,
            _ => Outcome::Other,
        }
    }
}

/// Where a candidate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The name as is, before the search list.
    AsIsFirst,
    /// The name with a search domain; `root` when that domain is ".".
    Domain { root: bool },
    /// The name as is, after the search list.
    AsIsLast,
}

/// One search in progress: the candidates still to ask and the failures so
/// far, each with what the caller wants back (`T`).
#[derive(Debug)]
pub(super) struct Search<T> {
    pending: VecDeque<(Name, Step)>,
    tried_root: bool,
    failures: Vec<(Step, Outcome, T)>,
}

impl<T> Search<T> {
    /// Plans the search for `asked` (as the guest sent it) with the search
    /// `domains` (none when the guest applies its own) and `ndots`.
    pub(super) fn new(asked: &Name, domains: &[Name], ndots: u8) -> Self {
        let labels = asked.iter().count();
        let dots = labels.saturating_sub(1);
        let as_is_first = labels == 0 || dots >= usize::from(ndots);
        let mut pending = VecDeque::new();
        if as_is_first {
            pending.push_back((asked.clone(), Step::AsIsFirst));
        }
        if labels > 0 {
            for domain in domains {
                let Ok(candidate) = asked.clone().append_domain(domain) else {
                    break;
                };
                let root = domain.is_root();
                pending.push_back((candidate, Step::Domain { root }));
            }
        }
        if !as_is_first {
            pending.push_back((asked.clone(), Step::AsIsLast));
        }
        Search {
            pending,
            tried_root: false,
            failures: Vec::new(),
        }
    }

    /// The next name to ask for, if any is left.
    pub(super) fn next_candidate(&mut self) -> Option<&Name> {
        while let Some((_, Step::AsIsLast)) = self.pending.front() {
            if !self.tried_root {
                break;
            }
            self.pending.pop_front();
        }
        self.pending.front().map(|(name, _)| name)
    }

    /// Records how the current candidate failed (anything but
    /// [`Outcome::Records`], which ends the search with that candidate).
    pub(super) fn failed(&mut self, outcome: Outcome, reply: T) {
        let Some((_, step)) = self.pending.pop_front() else {
            return;
        };
        if let Step::Domain { root } = step {
            self.tried_root |= root;
            if outcome == Outcome::Other {
                self.pending
                    .retain(|(_, s)| !matches!(s, Step::Domain { .. }));
            }
        }
        self.failures.push((step, outcome, reply));
    }

    /// The failure glibc reports once every candidate failed: the first
    /// as-is answer if the name was asked as is first, else the first
    /// NODATA, else the first SERVFAIL, else the last answer.
    pub(super) fn verdict(self) -> Option<T> {
        let pick = |wanted: fn(&(Step, Outcome, T)) -> bool| self.failures.iter().position(wanted);
        let index = pick(|(step, _, _)| *step == Step::AsIsFirst)
            .or_else(|| pick(|(_, outcome, _)| *outcome == Outcome::NoData))
            .or_else(|| pick(|(_, outcome, _)| *outcome == Outcome::ServFail))
            .or_else(|| self.failures.len().checked_sub(1))?;
        let mut failures = self.failures;
        let (_, _, reply) = failures.swap_remove(index);
        Some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K8S: [&str; 3] = [
        "default.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
    ];

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn domains(list: &[&str]) -> Vec<Name> {
        list.iter().map(|d| name(d)).collect()
    }

    /// Every candidate asked, in order, when each one fails with `outcome`,
    /// and the candidate whose failure is reported.
    fn run(
        asked: &str,
        list: &[&str],
        ndots: u8,
        outcome: impl Fn(&str) -> Outcome,
    ) -> (Vec<String>, Option<String>) {
        let mut search = Search::new(&name(asked), &domains(list), ndots);
        let mut asked = Vec::new();
        while let Some(candidate) = search.next_candidate() {
            let candidate = candidate.to_ascii();
            search.failed(outcome(&candidate), candidate.clone());
            asked.push(candidate);
        }
        (asked, search.verdict())
    }

    fn order(asked: &str, list: &[&str], ndots: u8) -> Vec<String> {
        run(asked, list, ndots, |_| Outcome::NxDomain).0
    }

    #[test]
    fn fewer_dots_than_ndots_searches_first_and_asks_as_is_last() {
        assert_eq!(
            order("kubernetes.default.", &K8S, 5),
            [
                "kubernetes.default.default.svc.cluster.local.",
                "kubernetes.default.svc.cluster.local.",
                "kubernetes.default.cluster.local.",
                "kubernetes.default.",
            ]
        );
        assert_eq!(
            order("redis.", &K8S, 1),
            [
                "redis.default.svc.cluster.local.",
                "redis.svc.cluster.local.",
                "redis.cluster.local.",
                "redis.",
            ]
        );
    }

    #[test]
    fn enough_dots_asks_as_is_first_then_searches() {
        assert_eq!(
            order("kubernetes.default.", &K8S, 1),
            [
                "kubernetes.default.",
                "kubernetes.default.default.svc.cluster.local.",
                "kubernetes.default.svc.cluster.local.",
                "kubernetes.default.cluster.local.",
            ]
        );
        assert_eq!(order("redis.", &K8S, 0)[0], "redis.");
        assert_eq!(order("a.b.c.d.e.f.", &K8S, 5)[0], "a.b.c.d.e.f.");
    }

    #[test]
    fn no_search_list_and_the_root_name_ask_as_is_only() {
        assert_eq!(order("redis.", &[], 5), ["redis."]);
        assert_eq!(order(".", &K8S, 5), ["."]);
    }

    #[test]
    fn the_root_on_the_list_replaces_the_last_as_is_query() {
        assert_eq!(
            order("redis.", &["a.example", ".", "b.example"], 1),
            ["redis.a.example.", "redis.", "redis.b.example.",]
        );
    }

    #[test]
    fn a_definite_error_ends_the_list_but_not_the_last_as_is_query() {
        let (asked, reported) = run("redis.", &["a.example", ".", "b.example"], 1, |c| {
            if c == "redis.a.example." {
                Outcome::Other
            } else {
                Outcome::NxDomain
            }
        });
        assert_eq!(asked, ["redis.a.example.", "redis."]);
        assert_eq!(reported.as_deref(), Some("redis."));
    }

    #[test]
    fn servfail_and_nodata_keep_searching() {
        let (asked, _) = run("redis.", &K8S, 1, |c| match c {
            "redis.default.svc.cluster.local." => Outcome::ServFail,
            _ => Outcome::NoData,
        });
        assert_eq!(asked.len(), 4);
    }

    #[test]
    fn a_domain_that_makes_the_name_too_long_ends_the_list() {
        let long = [
            "x".repeat(63),
            "y".repeat(63),
            "z".repeat(63),
            "w".repeat(60),
        ]
        .join(".");
        let (asked, _) = run("redis.", &["a.example", &long, "b.example"], 1, |_| {
            Outcome::NxDomain
        });
        assert_eq!(asked, ["redis.a.example.", "redis."]);
    }

    #[test]
    fn the_reported_failure_is_the_one_glibc_reports() {
        let nx_except = |special: &'static str, outcome: Outcome| {
            move |c: &str| {
                if c == special {
                    outcome
                } else {
                    Outcome::NxDomain
                }
            }
        };
        // Asked as is first: that answer, whatever came after.
        let (_, reported) = run(
            "a.b.",
            &K8S,
            1,
            nx_except("a.b.svc.cluster.local.", Outcome::NoData),
        );
        assert_eq!(reported.as_deref(), Some("a.b."));
        // Else the first NODATA, even before a later SERVFAIL.
        let (_, reported) = run("redis.", &K8S, 1, |c| match c {
            "redis.svc.cluster.local." => Outcome::NoData,
            "redis.cluster.local." => Outcome::ServFail,
            _ => Outcome::NxDomain,
        });
        assert_eq!(reported.as_deref(), Some("redis.svc.cluster.local."));
        // Else the first SERVFAIL.
        let (_, reported) = run(
            "redis.",
            &K8S,
            1,
            nx_except("redis.cluster.local.", Outcome::ServFail),
        );
        assert_eq!(reported.as_deref(), Some("redis.cluster.local."));
        // Else the last answer.
        let (_, reported) = run("redis.", &K8S, 1, |_| Outcome::NxDomain);
        assert_eq!(reported.as_deref(), Some("redis."));
    }

    #[test]
    fn outcomes_follow_res_query() {
        let mut answer = Message::response(1, hickory_proto::op::OpCode::Query);
        assert_eq!(Outcome::of(&answer), Outcome::NoData);
        answer.add_answer(hickory_proto::rr::Record::from_rdata(
            name("a."),
            1,
            hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A([10, 0, 0, 1].into())),
        ));
        assert_eq!(Outcome::of(&answer), Outcome::Records);
        for (code, outcome) in [
            (ResponseCode::NXDomain, Outcome::NxDomain),
            (ResponseCode::ServFail, Outcome::ServFail),
            (ResponseCode::Refused, Outcome::Other),
            (ResponseCode::FormErr, Outcome::Other),
        ] {
            answer.metadata.response_code = code;
            assert_eq!(Outcome::of(&answer), outcome);
        }
    }
}
