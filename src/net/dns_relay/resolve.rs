//! What the relay answers to one query: from the hosts file, from the
//! upstreams through the search list, or a refusal; and the bound on
//! queries waiting for an upstream.

use std::sync::Arc;

use hickory_proto::op::{Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::Name;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::hosts::Hosts;
use super::response::{self, EDNS_PAYLOAD};
use super::search::{Outcome, Search};
use super::upstream::Upstreams;
use super::RelayConfig;

/// The relay's configuration, parsed once, and its in-flight bound.
#[derive(Debug)]
pub(super) struct Resolver {
    upstreams: Upstreams,
    domains: Vec<Name>,
    ndots: u8,
    hosts: Hosts,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
}

/// What to do with a query.
pub(super) enum Triage {
    /// Send this at once.
    Answer(Message),
    /// Ask the upstreams ([`Resolver::forward`]), holding this slot until
    /// done.
    Forward(OwnedSemaphorePermit),
}

impl Resolver {
    /// Parses `config`. The search list is kept only when the relay applies
    /// it; a domain that is not a valid name ends it, as glibc would stop
    /// searching there.
    pub(super) fn new(config: RelayConfig) -> Self {
        let domains = if config.apply_search {
            config
                .search
                .iter()
                .map_while(|d| Name::from_ascii(d).ok())
                .collect()
        } else {
            Vec::new()
        };
        Resolver {
            upstreams: Upstreams {
                servers: config.upstreams,
                timeout: config.timeout,
                // glibc asks at least once, whatever the option says.
                attempts: config.attempts.max(1),
            },
            domains,
            ndots: config.ndots,
            hosts: Hosts::new(&config.hosts),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            max_in_flight: config.max_in_flight,
        }
    }

    /// The configured bound, also used for open TCP connections.
    pub(super) fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Answers what needs no upstream (bad requests, hosts names, no
    /// upstream at all, no slot left); else hands out a slot to forward.
    pub(super) fn triage(&self, request: &Message) -> Triage {
        if request.metadata.op_code != OpCode::Query {
            return Triage::Answer(response::empty(request, ResponseCode::NotImp));
        }
        let [question] = request.queries.as_slice() else {
            return Triage::Answer(response::empty(request, ResponseCode::FormErr));
        };
        let ips = self.hosts.addresses(question.name());
        if !ips.is_empty() {
            return Triage::Answer(response::from_hosts(request, &ips));
        }
        if self.upstreams.servers.is_empty() {
            return Triage::Answer(response::empty(request, ResponseCode::Refused));
        }
        match self.in_flight.clone().try_acquire_owned() {
            Ok(slot) => Triage::Forward(slot),
            Err(_) => Triage::Answer(response::empty(request, ResponseCode::ServFail)),
        }
    }

    /// Resolves a triaged query through the upstreams and the search list.
    /// If no upstream answers at all, the search stops there: SERVFAIL.
    pub(super) async fn forward(&self, request: &Message) -> Message {
        let servfail = || response::empty(request, ResponseCode::ServFail);
        let Some(question) = request.queries.first() else {
            return servfail();
        };
        let mut search = self.search(question.name());
        while let Some(candidate) = search.next_candidate().cloned() {
            let query = upstream_query(request, question, candidate.clone());
            let Some(answer) = self.upstreams.exchange(&query).await else {
                return servfail();
            };
            match Outcome::of(&answer) {
                Outcome::Records => return response::relayed(request, &candidate, answer),
                outcome => search.failed(outcome, (candidate, answer)),
            }
        }
        match search.verdict() {
            Some((candidate, answer)) if candidate.eq_ignore_root(question.name()) => {
                response::relayed(request, &candidate, answer)
            }
            Some((_, answer)) => response::empty(request, answer.response_code),
            None => servfail(),
        }
    }

    fn search<T>(&self, asked: &Name) -> Search<T> {
        Search::new(asked, &self.domains, self.ndots)
    }
}

/// The query for `candidate` on behalf of `request`: a fresh random id, the
/// guest's flags, class and type, and its EDNS (DNSSEC OK, options) with
/// the relay's payload size.
fn upstream_query(request: &Message, question: &Query, candidate: Name) -> Message {
    let mut query = Message::query();
    query.metadata.recursion_desired = request.metadata.recursion_desired;
    query.metadata.checking_disabled = request.metadata.checking_disabled;
    query.metadata.authentic_data = request.metadata.authentic_data;
    let mut asked = question.clone();
    asked.set_name(candidate);
    query.add_query(asked);
    query.edns = request.edns.clone().map(|mut edns| {
        edns.set_max_payload(EDNS_PAYLOAD);
        edns
    });
    query
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hickory_proto::op::MessageType;
    use hickory_proto::rr::RecordType;

    use super::*;

    fn config(upstreams: &[&str], max_in_flight: usize) -> RelayConfig {
        RelayConfig {
            upstreams: upstreams.iter().map(|a| a.parse().unwrap()).collect(),
            search: vec![
                "default.svc.cluster.local".into(),
                "svc.cluster.local".into(),
            ],
            ndots: 5,
            timeout: Duration::from_secs(1),
            attempts: 1,
            apply_search: true,
            hosts: vec![(
                "mypod.default.svc.cluster.local".into(),
                "10.244.0.5".parse().unwrap(),
            )],
            max_in_flight,
        }
    }

    fn query(name: &str) -> Message {
        let mut request = Message::query();
        request.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        request
    }

    fn answered(triage: Triage) -> Message {
        match triage {
            Triage::Answer(response) => response,
            Triage::Forward(_) => panic!("forwarded"),
        }
    }

    #[test]
    fn hosts_names_are_answered_as_asked_without_upstreams() {
        let resolver = Resolver::new(config(&[], 4));
        let r = answered(resolver.triage(&query("mypod.default.svc.cluster.local.")));
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(r.metadata.message_type, MessageType::Response);
        assert_eq!(r.answers.len(), 1, "the A record, no CNAME: {r:?}");
        let short = answered(resolver.triage(&query("mypod.")));
        assert_eq!(
            short.metadata.response_code,
            ResponseCode::Refused,
            "glibc matches hosts lines as typed: a search expansion is not looked up there"
        );
    }

    #[test]
    fn search_off_matches_hosts_names_exactly_only() {
        let mut cfg = config(&["127.0.0.1:53"], 4);
        cfg.apply_search = false;
        let resolver = Resolver::new(cfg);
        assert!(matches!(
            resolver.triage(&query("mypod.")),
            Triage::Forward(_)
        ));
        let exact = answered(resolver.triage(&query("MyPod.Default.svc.cluster.local.")));
        assert_eq!(exact.answers.len(), 1);
    }

    #[test]
    fn odd_requests_are_refused_at_once() {
        let resolver = Resolver::new(config(&["127.0.0.1:53"], 4));
        let mut update = query("a.");
        update.metadata.op_code = OpCode::Update;
        let r = answered(resolver.triage(&update));
        assert_eq!(r.metadata.response_code, ResponseCode::NotImp);
        let mut two = query("a.");
        two.add_query(Query::query(Name::from_ascii("b.").unwrap(), RecordType::A));
        let r = answered(resolver.triage(&two));
        assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn past_the_bound_queries_get_servfail_until_a_slot_frees() {
        let resolver = Resolver::new(config(&["127.0.0.1:53"], 2));
        let first = resolver.triage(&query("a."));
        let second = resolver.triage(&query("b."));
        assert!(matches!(first, Triage::Forward(_)) && matches!(second, Triage::Forward(_)));
        let third = answered(resolver.triage(&query("c.")));
        assert_eq!(third.metadata.response_code, ResponseCode::ServFail);
        drop(first);
        assert!(matches!(resolver.triage(&query("c.")), Triage::Forward(_)));
    }
}
