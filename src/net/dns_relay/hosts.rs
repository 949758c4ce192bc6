//! The pod's hosts file as the relay answers from it: names compared the way
//! DNS compares them (case-insensitive, with or without the trailing dot).

use std::net::IpAddr;

use hickory_proto::rr::Name;

/// Hosts entries, parsed once.
#[derive(Debug, Default)]
pub(super) struct Hosts {
    entries: Vec<(Name, IpAddr)>,
}

impl Hosts {
    /// Parses the entries. A name that is not a valid DNS name is left out:
    /// no query can ask for it.
    pub(super) fn new(entries: &[(String, IpAddr)]) -> Self {
        let entries = entries
            .iter()
            .filter_map(|(name, ip)| Some((Name::from_ascii(name).ok()?, *ip)))
            .collect();
        Hosts { entries }
    }

    /// Every address of `name` in file order (empty when the table does not
    /// know it). Only the name as asked is looked up, as glibc's files
    /// backend does: never a search expansion of it.
    pub(super) fn addresses(&self, name: &Name) -> Vec<IpAddr> {
        self.entries
            .iter()
            .filter(|(known, _)| known.eq_ignore_root(name))
            .map(|(_, ip)| *ip)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn table() -> Hosts {
        Hosts::new(&[
            ("mypod".into(), "10.244.0.5".parse().unwrap()),
            ("alias.example.".into(), "10.1.2.3".parse().unwrap()),
            ("alias.example".into(), "fd00::3".parse().unwrap()),
            ("bad..name".into(), "10.9.9.9".parse().unwrap()),
        ])
    }

    #[test]
    fn matches_ignore_case_and_trailing_dot_and_gather_every_address() {
        let hosts = table();
        assert_eq!(
            hosts.addresses(&name("ALIAS.Example.")),
            [
                "10.1.2.3".parse::<IpAddr>().unwrap(),
                "fd00::3".parse().unwrap()
            ]
        );
        assert!(!hosts.addresses(&name("MyPod")).is_empty());
    }

    #[test]
    fn unknown_names_and_expansions_miss() {
        let hosts = table();
        assert!(hosts.addresses(&name("mypod.default.svc.")).is_empty());
        assert!(hosts.addresses(&name("other.")).is_empty());
        assert!(hosts.addresses(&name("alias.example.com.")).is_empty());
        assert!(hosts.addresses(&name("pod.")).is_empty());
    }
}
