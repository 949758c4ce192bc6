//! The messages the relay sends back to the guest, built from its request:
//! the guest's own id and question, always, whatever the relay asked
//! upstream.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// TTL of answers from the pod's hosts file: short, so a guest that caches
/// them does not hold on to them for long.
pub(super) const HOSTS_TTL: u32 = 5;

/// The EDNS payload size the relay offers and asks for: the DNS flag day
/// size, which no path fragments.
pub(super) const EDNS_PAYLOAD: u16 = 1232;

/// An empty response to `request` with `code`: NOERROR is NODATA.
pub(super) fn empty(request: &Message, code: ResponseCode) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata = Metadata::response_from_request(&request.metadata);
    response.metadata.recursion_available = true;
    response.metadata.response_code = code;
    response.queries = request.queries.clone();
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        response.edns = Some(edns);
    }
    response
}

/// The authoritative answer from the hosts file for the asked name: its
/// addresses of the asked type (NODATA for other types).
pub(super) fn from_hosts(request: &Message, addresses: &[IpAddr]) -> Message {
    let mut response = empty(request, ResponseCode::NoError);
    let Some(owner) = request.queries.first().map(|q| q.name().clone()) else {
        return response;
    };
    response.metadata.authoritative = true;
    let wanted = request.queries.first().map(|q| q.query_type());
    let records = addresses.iter().filter_map(|ip| {
        let data = match (ip, wanted) {
            (IpAddr::V4(v4), Some(RecordType::A)) => RData::A(A(*v4)),
            (IpAddr::V6(v6), Some(RecordType::AAAA)) => RData::AAAA(AAAA(*v6)),
            _ => return None,
        };
        Some(Record::from_rdata(owner.clone(), HOSTS_TTL, data))
    });
    response.answers = records.collect();
    response
}

/// Relays an upstream answer for `candidate` to the guest: the guest's id
/// and question; a CNAME from the asked name to `candidate` first when they
/// differ, so every stub resolver (glibc follows it, musl and lwIP take the
/// addresses whatever their owner) accepts the expanded records.
pub(super) fn relayed(request: &Message, candidate: &Name, mut answer: Message) -> Message {
    answer.metadata.id = request.metadata.id;
    answer.queries = request.queries.clone();
    if request.edns.is_none() {
        answer.edns = None;
    }
    alias(request, candidate, answer)
}

/// Puts the CNAME from the asked name to `owner` in front of the answers of
/// `response` when they differ, and drops the sections that speak of the
/// expanded name only.
fn alias(request: &Message, owner: &Name, mut response: Message) -> Message {
    let Some(asked) = request.queries.first().map(|q| q.name()) else {
        return response;
    };
    if asked.eq_ignore_root(owner) {
        return response;
    }
    let ttl = response.answers.iter().map(|r| r.ttl).min().unwrap_or(0);
    let cname = Record::from_rdata(asked.clone(), ttl, RData::CNAME(CNAME(owner.clone())));
    response.answers.insert(0, cname);
    response.authorities.clear();
    response.additionals.clear();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, Query};

    fn request(name: &str, kind: RecordType, edns: bool) -> Message {
        let mut request = Message::query();
        request.metadata.id = 4242;
        request.metadata.recursion_desired = true;
        request.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
        if edns {
            request.edns = Some(Edns::new());
        }
        request
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn an_empty_response_echoes_id_question_and_edns() {
        let req = request("Foo.Example.", RecordType::A, true);
        let r = empty(&req, ResponseCode::Refused);
        assert_eq!(r.metadata.id, 4242);
        assert_eq!(r.metadata.response_code, ResponseCode::Refused);
        assert!(r.metadata.recursion_desired && r.metadata.recursion_available);
        assert!(r.queries[0].name().eq_case(&name("Foo.Example.")));
        assert_eq!(r.edns.as_ref().map(Edns::max_payload), Some(EDNS_PAYLOAD));
        let no_edns = empty(&request("x.", RecordType::A, false), ResponseCode::NoError);
        assert!(no_edns.edns.is_none());
    }

    #[test]
    fn hosts_answers_keep_the_asked_name_and_type() {
        let ips: Vec<IpAddr> = vec!["10.1.2.3".parse().unwrap(), "fd00::3".parse().unwrap()];
        let req = request("Alias.", RecordType::A, false);
        let r = from_hosts(&req, &ips);
        assert!(r.metadata.authoritative);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].data, RData::A(A("10.1.2.3".parse().unwrap())));
        assert_eq!(r.answers[0].ttl, HOSTS_TTL);
        assert!(r.answers[0].name.eq_case(&name("Alias.")));

        let txt = request("alias.", RecordType::TXT, false);
        let r = from_hosts(&txt, &ips);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.answers.is_empty());

        let v6 = request("mypod.", RecordType::AAAA, false);
        let r = from_hosts(&v6, &ips);
        assert_eq!(
            r.answers.iter().map(|a| &a.data).collect::<Vec<_>>(),
            [&RData::AAAA(AAAA("fd00::3".parse().unwrap()))]
        );
    }

    #[test]
    fn relayed_answers_carry_the_guests_question_and_a_cname_to_the_expansion() {
        let req = request("kubernetes.default.", RecordType::A, false);
        let expanded = name("kubernetes.default.svc.cluster.local.");
        let mut upstream = Message::response(7, req.op_code);
        upstream.add_query(Query::query(expanded.clone(), RecordType::A));
        upstream.add_answer(Record::from_rdata(
            expanded.clone(),
            30,
            RData::A(A("10.96.0.1".parse().unwrap())),
        ));
        upstream.add_authority(Record::from_rdata(
            name("cluster.local."),
            30,
            RData::A(A("10.0.0.1".parse().unwrap())),
        ));
        upstream.edns = Some(Edns::new());
        let r = relayed(&req, &expanded, upstream.clone());
        assert_eq!(r.metadata.id, 4242);
        assert_eq!(r.queries, req.queries);
        assert!(r.edns.is_none(), "no OPT to a guest that sent none");
        assert!(r.authorities.is_empty());
        assert_eq!(r.answers.len(), 2);
        assert_eq!(r.answers[0].name, name("kubernetes.default."));
        assert_eq!(r.answers[0].data, RData::CNAME(CNAME(expanded.clone())));
        assert_eq!(r.answers[0].ttl, 30);
        assert_eq!(r.answers[1].name, expanded);

        let same = relayed(&req, &name("kubernetes.default."), upstream);
        assert_eq!(same.answers.len(), 1);
        assert_eq!(same.authorities.len(), 1);
    }
}
