//! Bytes in and out: which datagrams and frames are queries the relay
//! answers, and how a response is encoded for the transport it goes back
//! on (UDP answers that do not fit are truncated with the TC bit).

use hickory_proto::op::{Message, MessageType, ResponseCode};

use super::response::{self, EDNS_PAYLOAD};

/// The largest DNS message: what TCP framing can carry.
pub(super) const TCP_LIMIT: usize = u16::MAX as usize;

/// Size every UDP client may receive (RFC 1035).
const UDP_MIN: usize = 512;

/// The query in `bytes`, or `None` for anything else (garbage, responses):
/// those are never answered.
pub(super) fn parse_query(bytes: &[u8]) -> Option<Message> {
    Message::from_vec(bytes)
        .ok()
        .filter(|m| m.metadata.message_type == MessageType::Query)
}

/// The largest UDP answer `request`'s sender takes: 512 bytes, or its EDNS
/// payload size, capped at what the relay itself offers.
pub(super) fn udp_limit(request: &Message) -> usize {
    request.edns.as_ref().map_or(UDP_MIN, |edns| {
        usize::from(edns.max_payload().min(EDNS_PAYLOAD)).max(UDP_MIN)
    })
}

/// Encodes `response` in at most `limit` bytes: whole if it fits, else
/// truncated (TC) to the answer records that fit, so that a resolver without
/// TCP still gets what fits and the others retry over TCP. A response that
/// cannot be encoded becomes SERVFAIL; `None` if even that fails.
pub(super) fn encode(request: &Message, response: &Message, limit: usize) -> Option<Vec<u8>> {
    let fitting = |m: &Message| m.to_vec().ok().filter(|bytes| bytes.len() <= limit);
    if let Some(whole) = fitting(response) {
        return Some(whole);
    }
    let mut cut = response.truncate();
    let (mut fits, mut fails) = (0, response.answers.len() + 1);
    while fails - fits > 1 {
        let middle = (fits + fails) / 2;
        cut.answers = response.answers[..middle].to_vec();
        if fitting(&cut).is_some() {
            fits = middle;
        } else {
            fails = middle;
        }
    }
    cut.answers = response.answers[..fits].to_vec();
    fitting(&cut).or_else(|| fitting(&response::empty(request, ResponseCode::ServFail)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Query};
    use hickory_proto::rr::rdata::{A, TXT};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn request(edns: Option<u16>) -> Message {
        let mut request = Message::query();
        request.add_query(Query::query(
            Name::from_ascii("many.example.").unwrap(),
            RecordType::A,
        ));
        request.edns = edns.map(|size| {
            let mut e = Edns::new();
            e.set_max_payload(size);
            e
        });
        request
    }

    fn with_answers(request: &Message, count: u8) -> Message {
        let mut response = response::empty(request, ResponseCode::NoError);
        for i in 0..count {
            response.add_answer(Record::from_rdata(
                Name::from_ascii(format!("host-{i}.many.example.")).unwrap(),
                60,
                RData::A(A([10, 0, 0, i].into())),
            ));
        }
        response
    }

    #[test]
    fn parse_ignores_garbage_and_responses() {
        assert!(parse_query(&[1, 2, 3]).is_none());
        assert!(parse_query(&[]).is_none());
        let query = request(None);
        assert!(parse_query(&query.to_vec().unwrap()).is_some());
        let answer = response::empty(&query, ResponseCode::NoError);
        assert!(parse_query(&answer.to_vec().unwrap()).is_none());
    }

    #[test]
    fn the_udp_limit_follows_edns_within_bounds() {
        assert_eq!(udp_limit(&request(None)), 512);
        assert_eq!(udp_limit(&request(Some(100))), 512);
        assert_eq!(udp_limit(&request(Some(1000))), 1000);
        assert_eq!(udp_limit(&request(Some(4096))), usize::from(EDNS_PAYLOAD));
    }

    #[test]
    fn what_fits_goes_whole_and_what_does_not_is_cut_to_whole_records() {
        let req = request(None);
        let small = with_answers(&req, 3);
        let bytes = encode(&req, &small, 512).unwrap();
        assert_eq!(Message::from_vec(&bytes).unwrap(), small);

        let big = with_answers(&req, 60);
        let bytes = encode(&req, &big, 512).unwrap();
        assert!(bytes.len() <= 512);
        let cut = Message::from_vec(&bytes).unwrap();
        assert!(cut.metadata.truncation);
        assert!(!cut.answers.is_empty() && cut.answers.len() < 60);
        assert_eq!(cut.answers[..], big.answers[..cut.answers.len()]);
        assert_eq!(cut.queries, req.queries);

        let whole = Message::from_vec(&encode(&req, &big, TCP_LIMIT).unwrap()).unwrap();
        assert!(!whole.metadata.truncation);
        assert_eq!(whole.answers.len(), 60);
    }

    #[test]
    fn a_single_record_too_big_leaves_an_empty_truncated_answer_with_its_opt() {
        let req = request(Some(512));
        let mut response = response::empty(&req, ResponseCode::NoError);
        response.add_answer(Record::from_rdata(
            Name::from_ascii("many.example.").unwrap(),
            60,
            RData::TXT(TXT::new(vec!["x".repeat(255); 8])),
        ));
        let cut = Message::from_vec(&encode(&req, &response, udp_limit(&req)).unwrap()).unwrap();
        assert!(cut.metadata.truncation);
        assert!(cut.answers.is_empty());
        assert!(cut.edns.is_some());
    }
}
