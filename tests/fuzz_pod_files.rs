//! Fuzz targets for the pod's DNS files (resolv.conf, hosts, hostname),
//! which kubelet writes from the pod spec and a hostile pod controls: no
//! input panics a parser, what is accepted is what the relay and the guest
//! renderers may use (no separator of theirs in a name), and files built
//! from valid values parse back to those values. Short run in
//! `cargo test`; `PROPTEST_CASES=N` for a long one (docs/fuzzing.md).

mod fuzz_support;
#[path = "fuzz_support/temp_dir.rs"]
mod temp_dir;

use std::net::IpAddr;

use fuzz_support::{config, hostile_bytes, hostile_text, hostile_value, spliced};
use proptest::prelude::*;
use temp_dir::TempDir;
use ukrun::spec::hosts::Hosts;
use ukrun::spec::pod_files::{hostname, validate_hostname};
use ukrun::spec::resolv::ResolvConf;

/// Whether `name` is made only of what a DNS name on a command line may hold.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Host names as kubelet and hostAliases write them.
fn valid_name() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?", 1..4)
        .prop_map(|labels| labels.join("."))
}

/// A line of a pod DNS file: a keyword resolv.conf or hosts knows, or a
/// hostile word, followed by hostile words.
fn line() -> impl Strategy<Value = String> {
    let keyword = prop_oneof![
        proptest::sample::select(vec![
            "nameserver",
            "search",
            "domain",
            "options",
            "127.0.0.1",
            "::1",
            "fe80::1%eth0"
        ])
        .prop_map(str::to_owned),
        hostile_text(3),
    ];
    (keyword, proptest::collection::vec(hostile_text(6), 0..4))
        .prop_map(|(first, rest)| format!("{first} {}", rest.join(" ")))
}

fn file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(line(), 0..8).prop_map(|l| l.join("\n").into_bytes()),
        hostile_bytes(),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn resolv_conf_never_panics_and_accepts_only_plain_values(raw in file()) {
        if let Ok(conf) = ResolvConf::parse(&raw) {
            prop_assert_eq!(&conf.raw, &raw, "the file is delivered byte for byte");
            for domain in &conf.search {
                prop_assert!(plain_name(domain), "search domain {:?}", domain);
            }
            prop_assert!(conf.ndots <= 15);
            prop_assert!((1..=30).contains(&conf.timeout));
            prop_assert!((1..=5).contains(&conf.attempts));
        }
    }

    #[test]
    fn resolv_conf_round_trips(
        nameservers in proptest::collection::vec(any::<IpAddr>(), 0..4),
        search in proptest::collection::vec(valid_name(), 0..6),
        ndots in 0u8..=15,
        timeout in 1u32..=30,
        attempts in 1u32..=5,
    ) {
        let mut text = String::from("# written by a test\n");
        for ns in &nameservers {
            text.push_str(&format!("nameserver {ns}\n"));
        }
        text.push_str(&format!("search {}\n", search.join(" ")));
        text.push_str(&format!("options ndots:{ndots} timeout:{timeout} attempts:{attempts} rotate\n"));
        let conf = ResolvConf::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(conf.nameservers, nameservers);
        prop_assert_eq!(conf.search, search);
        prop_assert_eq!((conf.ndots, conf.timeout, conf.attempts), (ndots, timeout, attempts));
    }

    #[test]
    fn hosts_never_panics_and_accepts_only_plain_names(raw in file()) {
        if let Ok(hosts) = Hosts::parse(&raw) {
            prop_assert_eq!(&hosts.raw, &raw);
            for (name, _) in &hosts.entries {
                prop_assert!(plain_name(name), "host name {:?}", name);
                prop_assert_eq!(name, &name.to_ascii_lowercase());
            }
        }
    }

    #[test]
    fn hosts_round_trips(entries in proptest::collection::vec((any::<IpAddr>(), valid_name()), 0..8)) {
        let text: String = entries.iter().map(|(ip, name)| format!("{ip}\t{name}\n")).collect();
        let hosts = Hosts::parse(text.as_bytes()).unwrap();
        let expected: Vec<(String, IpAddr)> =
            entries.iter().map(|(ip, name)| (name.to_ascii_lowercase(), *ip)).collect();
        prop_assert_eq!(hosts.entries, expected);
    }

    #[test]
    fn only_plain_hostnames_are_valid(name in prop_oneof![hostile_value(100_000), spliced(valid_name())]) {
        if validate_hostname(&name).is_ok() {
            prop_assert!(plain_name(&name), "{:?}", name);
        }
    }

    #[test]
    fn the_mounted_hostname_is_plain_or_refused(raw in hostile_bytes()) {
        let dir = TempDir::new("hostname");
        let file = dir.0.join("hostname");
        std::fs::write(&file, &raw).unwrap();
        let spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [{"destination": "/etc/hostname", "source": file, "type": "bind"}],
        }))
        .unwrap();
        if let Ok(Some(name)) = hostname(&spec) {
            prop_assert!(plain_name(&name), "{:?}", name);
        }
    }
}
