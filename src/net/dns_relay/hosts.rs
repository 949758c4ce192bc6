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

    /// The first of `names` the table knows, with all its addresses in file
    /// order.
    pub(super) fn first_known<'n>(
        &self,
        names: impl IntoIterator<Item = &'n Name>,
    ) -> Option<(&'n Name, Vec<IpAddr>)> {
        names.into_iter().find_map(|name| {
            let addresses: Vec<IpAddr> = self
                .entries
                .iter()
                .filter(|(known, _)| known.eq_ignore_root(name))
                .map(|(_, ip)| *ip)
                .collect();
            (!addresses.is_empty()).then_some((name, addresses))
        })
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
        let asked = name("ALIAS.Example.");
        let (hit, addresses) = hosts.first_known([&asked]).unwrap();
        assert_eq!(hit, &asked);
        assert_eq!(
            addresses,
            [
                "10.1.2.3".parse::<IpAddr>().unwrap(),
                "fd00::3".parse().unwrap()
            ]
        );
        assert!(hosts.first_known([&name("MyPod")]).is_some());
    }

    #[test]
    fn the_first_known_candidate_wins_and_unknown_names_miss() {
        let hosts = table();
        let candidates = [
            name("mypod.default.svc."),
            name("mypod."),
            name("alias.example."),
        ];
        let (hit, _) = hosts.first_known(&candidates).unwrap();
        assert_eq!(hit, &candidates[1]);
        assert!(hosts.first_known([&name("other.")]).is_none());
        assert!(hosts.first_known([&name("alias.example.com.")]).is_none());
        assert!(hosts.first_known([&name("pod.")]).is_none());
    }
}
