//! Interface names read from the pod netns (the CNI plugin chose them):
//! checked once against Linux's rules and a conservative character set, so
//! a name can be written into an nft ruleset, a sysctl path or a netlink
//! request without escaping surprises.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::{excerpt, IFNAME_BYTES};

/// A network interface name that is safe to write anywhere ukrun writes one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IfName(String);

/// Why an interface name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("interface name {} is refused: {reason}", excerpt(.name))]
pub struct IfNameError {
    /// The name as found.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl IfName {
    /// Checks `name`: 1 to 15 bytes (IFNAMSIZ less the NUL), not `.` or
    /// `..`, and only ASCII letters, digits and `-_.@+=%#~`: Linux refuses
    /// `/`, `:` and whitespace; quotes, `\` and `*` (an nft wildcard) are
    /// refused too, since nft cannot escape them inside a quoted name.
    pub fn new(name: impl Into<String>) -> Result<Self, IfNameError> {
        let name = name.into();
        let refuse = |reason| {
            Err(IfNameError {
                name: name.clone(),
                reason,
            })
        };
        if name.is_empty() {
            return refuse("it is empty");
        }
        if name.len() > IFNAME_BYTES {
            return refuse("it is longer than 15 bytes (IFNAMSIZ)");
        }
        if name == "." || name == ".." {
            return refuse("Linux does not allow it");
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-_.@+=%#~".contains(&b);
        if !name.bytes().all(allowed) {
            return refuse("only ASCII letters, digits and -_.@+=%#~ are accepted");
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an nft string (`"eth0"`).
    pub fn nft_quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for IfName {
    type Error = IfNameError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

impl From<IfName> for String {
    fn from(name: IfName) -> Self {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cni_names_are_accepted() {
        for good in [
            "eth0",
            "net1",
            "eth0.100",
            "veth-a_b",
            "a",
            "123456789012345",
        ] {
            assert_eq!(IfName::new(good).unwrap().as_str(), good);
        }
        assert_eq!(IfName::new("eth0").unwrap().nft_quoted(), "\"eth0\"");
    }

    #[test]
    fn hostile_names_are_refused_with_the_reason() {
        let cases = [
            ("", "empty"),
            ("1234567890123456", "longer than 15 bytes"),
            (".", "does not allow"),
            ("..", "does not allow"),
            ("a/b", "only ASCII"),
            ("a b", "only ASCII"),
            ("a\tb", "only ASCII"),
            ("eth0\" drop", "only ASCII"),
            ("e\"0", "only ASCII"),
            ("e'0", "only ASCII"),
            ("e\\0", "only ASCII"),
            ("eth*", "only ASCII"),
            ("e:0", "only ASCII"),
            ("e\n0", "only ASCII"),
            ("e\u{1}0", "only ASCII"),
            ("é0", "only ASCII"),
            ("e{0}", "only ASCII"),
            ("e;0", "only ASCII"),
        ];
        for (name, reason) in cases {
            let e = IfName::new(name).unwrap_err().to_string();
            assert!(e.starts_with("interface name "), "{name:?}: {e}");
            assert!(e.contains(reason), "{name:?}: {e}");
        }
    }

    #[test]
    fn deserializing_checks_the_name() {
        assert!(serde_json::from_str::<IfName>("\"eth0\"").is_ok());
        assert!(serde_json::from_str::<IfName>("\"a\\\"b\"").is_err());
    }
}
