//! The pod's /etc/hosts (kubelet writes the pod's own name and its
//! hostAliases there), parsed and validated: the relay answers from it, and
//! file delivery copies it byte for byte.

use std::net::IpAddr;

use super::pod_files::validate_hostname;
use crate::limits::excerpt;

/// A parsed hosts file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hosts {
    /// (lower-case name, address) pairs, in file order.
    pub entries: Vec<(String, IpAddr)>,
    /// The file as it was.
    pub raw: Vec<u8>,
}

/// Why a hosts file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostsError {
    /// A line without a valid address.
    #[error("hosts line {line}: {} is not an IP address", excerpt(.value))]
    Address {
        /// 1-based line number.
        line: usize,
        /// The value.
        value: String,
    },
    /// A name that is not a host name.
    #[error("hosts line {line}: {} is not a valid host name", excerpt(.value))]
    Name {
        /// 1-based line number.
        line: usize,
        /// The value.
        value: String,
    },
    /// Not text.
    #[error("the hosts file is not UTF-8 text")]
    NotText,
}

/// The names every hosts file kubelet writes carries besides the pod's own
/// (kubelet's `managedHostsFileContent`, pkg/kubelet/kubelet_pods.go:
/// `localhost`, `ip6-localhost`, `ip6-loopback`, `ip6-localnet`,
/// `ip6-mcastprefix`, `ip6-allnodes`, `ip6-allrouters`), plus Debian's
/// `ip6-allhosts`: a resolver needs no hosts file for these.
const STANDARD_NAMES: [&str; 8] = [
    "localhost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
];

impl Hosts {
    /// The first name beyond the standard loopback and `ip6-` ones: the
    /// pod's own name, a hostAlias. A guest without a hosts file resolves
    /// such a name only through the relay, which answers from this file.
    pub fn first_pod_name(&self) -> Option<&str> {
        self.entries
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| !STANDARD_NAMES.contains(name))
    }

    /// Parses `address name [alias…]` lines; `#` starts a comment.
    pub fn parse(raw: &[u8]) -> Result<Self, HostsError> {
        let text = std::str::from_utf8(raw).map_err(|_| HostsError::NotText)?;
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let mut words = line.split('#').next().unwrap_or("").split_whitespace();
            let Some(address) = words.next() else {
                continue;
            };
            let ip: IpAddr = address
                .split('%')
                .next()
                .unwrap_or(address)
                .parse()
                .map_err(|_| HostsError::Address {
                    line: index + 1,
                    value: address.to_owned(),
                })?;
            for name in words {
                validate_hostname(name.trim_end_matches('.')).map_err(|_| HostsError::Name {
                    line: index + 1,
                    value: name.to_owned(),
                })?;
                entries.push((name.trim_end_matches('.').to_ascii_lowercase(), ip));
            }
        }
        Ok(Hosts {
            entries,
            raw: raw.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_hosts_file_with_alias() {
        let text = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\nfe00::0\tip6-localnet\n10.88.0.5\tweb-0\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.remote\tBar.Remote\n";
        let h = Hosts::parse(text.as_bytes()).unwrap();
        let names: Vec<&str> = h.entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "localhost",
                "localhost",
                "ip6-localhost",
                "ip6-localnet",
                "web-0",
                "foo.remote",
                "bar.remote"
            ]
        );
        assert_eq!(h.entries[6].1, "10.1.2.3".parse::<IpAddr>().unwrap());
        assert_eq!(h.first_pod_name(), Some("web-0"));
    }

    #[test]
    fn only_the_standard_names_are_no_pod_name() {
        let kubelet = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";
        assert_eq!(
            Hosts::parse(kubelet.as_bytes()).unwrap().first_pod_name(),
            None
        );
        let alias = format!("{kubelet}127.0.0.1\tcache.local\n");
        assert_eq!(
            Hosts::parse(alias.as_bytes()).unwrap().first_pod_name(),
            Some("cache.local"),
            "a hostAlias to a loopback address is still a name only the hosts file knows"
        );
    }

    #[test]
    fn bad_lines_are_refused() {
        assert!(Hosts::parse(b"10.0.0.300 x\n")
            .unwrap_err()
            .to_string()
            .contains("is not an IP address"));
        assert!(Hosts::parse(b"10.0.0.1 a:b\n")
            .unwrap_err()
            .to_string()
            .contains("\"a:b\" is not a valid host name"));
        assert_eq!(Hosts::parse(&[0xc3]).unwrap_err(), HostsError::NotText);
    }
}
