//! What every guest renderer is given (the plan as far as the guest sees it)
//! and the small pieces of syntax several renderers share.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use super::version::VersionError;
use crate::net::plan::GuestNet;

/// The common input of every guest renderer, so adding a framework is
/// adding one file that reads what it needs from here.
#[derive(Clone, Debug)]
pub struct BootInput<'a> {
    /// The guest's network (pod IP, prefix, gateway, MAC, MTU).
    pub net: &'a GuestNet,
    /// The pod's hostname, already validated as a DNS name.
    pub hostname: Option<&'a str>,
    /// Resolvers for the guest (may be empty: DNS delivery is planned elsewhere).
    pub nameservers: &'a [Ipv4Addr],
    /// The image's command line (`com.urunc.unikernel.cmdline`).
    pub image_cmdline: &'a str,
    /// The framework version (`com.urunc.unikernel.unikernelVersion`).
    pub version: Option<&'a str>,
    /// The container's environment, `KEY=VALUE`, already validated.
    pub env: &'a [String],
    /// Whether the monitor is given an initrd.
    pub initrd: bool,
    /// Where the guest mounts the block device, when one is attached.
    pub block_mount: Option<&'a str>,
    /// Host TSC frequency, when the guest cannot calibrate its clock itself.
    pub tsc_khz: Option<u64>,
}

/// Why a guest's boot configuration cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BootError {
    /// The framework version does not parse.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// An environment variable cannot be passed safely on a command line.
    #[error("environment variable {name:?} cannot be passed to the guest: {reason}")]
    Env {
        /// The variable's name (or the whole entry when it has no `=`).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// `IP/PREFIX` of the guest.
pub fn cidr(net: &GuestNet) -> String {
    format!("{}/{}", net.ip, net.prefix)
}

/// The gateway as text, empty when the pod has none.
pub fn gateway(net: &GuestNet) -> String {
    net.gateway.map(|g| g.to_string()).unwrap_or_default()
}

/// The longest prefix (at most the pod's) whose subnet holds both the
/// guest and its gateway. Stacks from BSD (Rumprun's NetBSD, OSv's FreeBSD
/// code) refuse a default route through a gateway outside every attached
/// subnet, as Calico's 169.254.1.1 is for a /32 pod; widening the subnet
/// makes the gateway on-link, which the node's proxy ARP answers.
pub fn on_link_prefix(net: &GuestNet) -> u8 {
    let Some(gw) = net.gateway else {
        return net.prefix;
    };
    let differing = u32::from(net.ip) ^ u32::from(gw);
    (differing.leading_zeros() as u8).min(net.prefix)
}

/// `s`, in double quotes when it holds whitespace (the quoting that the
/// command-line parsers of Unikraft, Hermit and OSv understand).
pub fn quoted(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_whitespace) {
        Cow::Owned(format!("\"{s}\""))
    } else {
        Cow::Borrowed(s)
    }
}

/// Joins the non-empty words with single spaces.
pub fn words<I, S>(parts: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    parts
        .into_iter()
        .filter(|p| !p.as_ref().is_empty())
        .map(|p| p.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Kernel arguments, then `--` and the application's arguments when there
/// are any (Unikraft and Hermit separate them this way).
pub fn with_app_args(kernel_args: Vec<String>, app_args: &str) -> String {
    let app = app_args.trim();
    let mut all = kernel_args;
    if !app.is_empty() {
        all.extend(["--".to_owned(), app.to_owned()]);
    }
    words(all)
}

/// Checks that every `KEY=VALUE` entry can be put on a guest command line:
/// a shell-style name, and no control character, quote or backslash that
/// could end the value early or smuggle another argument.
pub fn validate_env(env: &[String]) -> Result<(), BootError> {
    for entry in env {
        let (name, value) = entry.split_once('=').ok_or_else(|| BootError::Env {
            name: entry.clone(),
            reason: "not of the form KEY=VALUE",
        })?;
        let fail = |reason| BootError::Env {
            name: name.to_owned(),
            reason,
        };
        let mut chars = name.chars();
        let name_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(fail("its name is not letters, digits and '_'"));
        }
        if value
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(fail(
                "its value holds a control character, a quote or a backslash",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_link_prefix_widens_only_for_an_outside_gateway() {
        use crate::guest::fixtures::{bridge, calico};
        assert_eq!(on_link_prefix(&bridge()), 24);
        assert_eq!(
            on_link_prefix(&calico()),
            0,
            "10.x and 169.254.x share no leading bit"
        );
        let near = GuestNet {
            gateway: Some(Ipv4Addr::new(10, 88, 1, 1)),
            ..calico()
        };
        assert_eq!(on_link_prefix(&near), 23);
        let none = GuestNet {
            gateway: None,
            ..calico()
        };
        assert_eq!(on_link_prefix(&none), 32);
    }

    #[test]
    fn quoting_and_joining() {
        assert_eq!(quoted("a=b"), "a=b");
        assert_eq!(quoted("a=b c"), "\"a=b c\"");
        assert_eq!(words(["a", "", "b"]), "a b");
        assert_eq!(with_app_args(vec!["k=1".into()], "  "), "k=1");
        assert_eq!(with_app_args(vec!["k=1".into()], " -p 80 "), "k=1 -- -p 80");
        assert_eq!(with_app_args(vec![], "x"), "-- x");
    }

    #[test]
    fn env_entries_that_could_break_a_command_line_are_refused() {
        let ok: Vec<String> = ["PATH=/bin:/usr/bin", "A_1=", "JAVA_OPTS=-Xmx1g -Xms1g"]
            .map(String::from)
            .into();
        assert_eq!(validate_env(&ok), Ok(()));
        let cases = [
            ("NOEQUALS", "NOEQUALS", "KEY=VALUE"),
            ("1A=x", "1A", "name"),
            ("A-B=x", "A-B", "name"),
            ("A=x\ny", "A", "control character"),
            ("A=\"x\"", "A", "quote"),
            ("A=x\\", "A", "backslash"),
        ];
        for (entry, name, reason) in cases {
            let e = validate_env(&[entry.to_owned()]).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(&format!("{name:?}")), "{text}");
            assert!(text.contains(reason), "{text}");
        }
    }
}
