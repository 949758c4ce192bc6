//! The pod's resolv.conf (what kubelet generates for the pod), parsed and
//! validated before anything from it reaches a guest: nameservers, search
//! list and the options the relay honours. The raw bytes are kept for
//! delivering the file byte for byte.

use std::net::IpAddr;

use super::pod_files::validate_hostname;
use crate::limits::excerpt;

/// A parsed resolv.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvConf {
    /// Nameservers, in order.
    pub nameservers: Vec<IpAddr>,
    /// Search list (`search`, or `domain` when it comes last).
    pub search: Vec<String>,
    /// `options ndots:N` (default 1, at most 15 as glibc caps it).
    pub ndots: u8,
    /// `options timeout:N` seconds (default 5, at most 30).
    pub timeout: u32,
    /// `options attempts:N` (default 2, at most 5).
    pub attempts: u32,
    /// The file as it was.
    pub raw: Vec<u8>,
}

/// Why a resolv.conf was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolvError {
    /// A nameserver line without a valid IP address.
    #[error("resolv.conf line {line}: {} is not an IP address", excerpt(.value))]
    Nameserver {
        /// 1-based line number.
        line: usize,
        /// The value.
        value: String,
    },
    /// A search or domain entry that is not a DNS name.
    #[error("resolv.conf line {line}: {} is not a valid domain name", excerpt(.value))]
    Domain {
        /// 1-based line number.
        line: usize,
        /// The value.
        value: String,
    },
    /// An option with a bad value.
    #[error("resolv.conf line {line}: option {} is malformed", excerpt(.value))]
    Option {
        /// 1-based line number.
        line: usize,
        /// The option.
        value: String,
    },
    /// Not text.
    #[error("resolv.conf is not UTF-8 text")]
    NotText,
}

impl ResolvConf {
    /// Parses resolv.conf as glibc reads it: `#`/`;` comments, unknown
    /// keywords ignored, the last of `search`/`domain` wins.
    pub fn parse(raw: &[u8]) -> Result<Self, ResolvError> {
        let text = std::str::from_utf8(raw).map_err(|_| ResolvError::NotText)?;
        let mut conf = ResolvConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: 5,
            attempts: 2,
            raw: raw.to_vec(),
        };
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let content = line.split(['#', ';']).next().unwrap_or("");
            let mut words = content.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    let value = words.next().unwrap_or_default();
                    let ip = value.parse().map_err(|_| ResolvError::Nameserver {
                        line: line_no,
                        value: value.to_owned(),
                    })?;
                    conf.nameservers.push(ip);
                }
                Some(keyword @ ("search" | "domain")) => {
                    let domains: Vec<String> =
                        words.map(|d| d.trim_end_matches('.').to_owned()).collect();
                    for d in &domains {
                        validate_hostname(d).map_err(|_| ResolvError::Domain {
                            line: line_no,
                            value: d.clone(),
                        })?;
                    }
                    conf.search = if keyword == "domain" {
                        domains.into_iter().take(1).collect()
                    } else {
                        domains
                    };
                }
                Some("options") => {
                    for option in words {
                        conf.apply_option(option).map_err(|_| ResolvError::Option {
                            line: line_no,
                            value: option.to_owned(),
                        })?;
                    }
                }
                _ => {}
            }
        }
        Ok(conf)
    }

    fn apply_option(&mut self, option: &str) -> Result<(), ()> {
        let number = |v: &str, max: u32| v.parse::<u32>().map(|n| n.min(max)).map_err(|_| ());
        match option.split_once(':') {
            Some(("ndots", v)) => self.ndots = number(v, 15)? as u8,
            Some(("timeout", v)) => self.timeout = number(v, 30)?.max(1),
            Some(("attempts", v)) => self.attempts = number(v, 5)?.max(1),
            Some((name, v)) if is_word(name) && v.bytes().all(|b| b.is_ascii_digit()) => {}
            None if is_word(option) => {}
            _ => return Err(()),
        }
        Ok(())
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBELET: &str = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

    #[test]
    fn kubelet_cluster_first_file() {
        let c = ResolvConf::parse(KUBELET.as_bytes()).unwrap();
        assert_eq!(c.nameservers, vec!["10.96.0.10".parse::<IpAddr>().unwrap()]);
        assert_eq!(
            c.search,
            vec![
                "default.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local"
            ]
        );
        assert_eq!((c.ndots, c.timeout, c.attempts), (5, 5, 2));
        assert_eq!(c.raw, KUBELET.as_bytes());
    }

    #[test]
    fn defaults_comments_v6_domain_and_options() {
        let text = "# generated\nnameserver 127.0.0.11 ; docker\nnameserver fd00::53\ndomain corp.example.\noptions timeout:99 attempts:0 rotate edns0 use-vc\nsortlist 10.0.0.0\n";
        let c = ResolvConf::parse(text.as_bytes()).unwrap();
        assert_eq!(c.nameservers.len(), 2);
        assert!(c.nameservers[1].is_ipv6());
        assert_eq!(c.search, vec!["corp.example"]);
        assert_eq!((c.ndots, c.timeout, c.attempts), (1, 30, 1));
        let empty = ResolvConf::parse(b"").unwrap();
        assert!(empty.nameservers.is_empty() && empty.search.is_empty());
    }

    #[test]
    fn values_that_could_smuggle_arguments_are_refused() {
        let cases = [
            ("nameserver 8.8.8.8:53\n", "is not an IP address"),
            ("nameserver\n", "\"\" is not an IP address"),
            (
                "search good.example bad:arg\n",
                "\"bad:arg\" is not a valid domain name",
            ),
            ("search a=b\n", "is not a valid domain name"),
            ("options ndots:x\n", "option \"ndots:x\" is malformed"),
            ("options a=b\n", "is malformed"),
        ];
        for (text, expected) in cases {
            let e = ResolvConf::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
        assert_eq!(
            ResolvConf::parse(&[0xff]).unwrap_err(),
            ResolvError::NotText
        );
    }
}
