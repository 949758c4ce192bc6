//! Fuzz target for the length of refusals: a hostile value of a megabyte
//! must be refused with a short message (logs, kubelet events and the
//! shim's error carry it), whichever parser refuses it (every error that
//! quotes an image, pod or client value goes through `limits::excerpt`).

mod fuzz_support;

use std::collections::BTreeMap;

use fuzz_support::{config, hostile_bytes, hostile_text, hostile_value, spliced};
use proptest::prelude::*;
use ukrun::guest::boot::validate_env;
use ukrun::guest::version::Version;
use ukrun::spec::annotations::{self, decode_urunc_json};
use ukrun::spec::guest_limits;
use ukrun::spec::hosts::Hosts;
use ukrun::spec::knobs::{self, from_annotations};
use ukrun::spec::pod_files::validate_hostname;
use ukrun::spec::ports::parse_port_list;
use ukrun::spec::resolv::ResolvConf;
use ukrun::spec::unikernel::from_values;

/// Longest refusal a person should have to read.
const SHORT: usize = 1024;

/// Every refusal of `value` by a parser that reads image or pod input.
fn refusals(value: &str) -> Vec<String> {
    let annotation = |key: &str| BTreeMap::from([(key.to_owned(), value.to_owned())]);
    let urunc = BTreeMap::from([
        (annotations::UNIKERNEL_TYPE.to_owned(), value.to_owned()),
        (annotations::HYPERVISOR.to_owned(), "qemu".to_owned()),
    ]);
    let line = format!("search {value}\n");
    [
        decode_urunc_json(value).err().map(|e| e.to_string()),
        from_annotations(&annotation(knobs::LOCALHOST_PORTS))
            .err()
            .map(|e| e.to_string()),
        from_annotations(&annotation(knobs::NETWORK_MODE))
            .err()
            .map(|e| e.to_string()),
        from_annotations(&annotation(knobs::POD_LOOPBACK))
            .err()
            .map(|e| e.to_string()),
        parse_port_list(value).err().map(|e| e.to_string()),
        Version::parse(value).err().map(|e| e.to_string()),
        validate_env(&[value.to_owned()])
            .err()
            .map(|e| e.to_string()),
        validate_hostname(value).err().map(|e| e.to_string()),
        ResolvConf::parse(line.as_bytes())
            .err()
            .map(|e| e.to_string()),
        Hosts::parse(format!("10.0.0.1 {value}\n").as_bytes())
            .err()
            .map(|e| e.to_string()),
        from_values(&urunc, std::path::Path::new("/nonexistent"))
            .err()
            .map(|e| e.to_string()),
        guest_limits::check(&serde_json::json!({
            "mounts": [{"destination": value, "options": ["idmap"]}]
        }))
        .err()
        .map(|e| e.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn refusals_of_huge_values_stay_short(
        seed in prop_oneof![hostile_value(16), spliced(hostile_text(4))],
        bytes in hostile_bytes(),
    ) {
        let huge = format!("{seed}{}", String::from_utf8_lossy(&bytes)).repeat((1 << 20) / (seed.len() + bytes.len() + 1));
        for refusal in refusals(&huge) {
            prop_assert!(refusal.len() <= SHORT, "{} bytes: {}…", refusal.len(), &refusal[..refusal.char_indices().nth(80).map_or(refusal.len(), |(i, _)| i)]);
        }
    }
}
