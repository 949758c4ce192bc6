//! What every guest renderer is given (the plan as far as the guest sees it)
//! and the small pieces of syntax several renderers share.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use super::version::VersionError;
use crate::limits::{self, excerpt};
use crate::net::netmask;
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
    #[error("environment variable {} cannot be passed to the guest: {reason}", excerpt(.name))]
    Env {
        /// The variable's name (or the whole entry when it has no `=`).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Too many environment entries for a guest command line.
    #[error("the container's environment has {0} entries, more than the cap of {cap} a guest command line carries", cap = limits::ENV_ENTRIES)]
    EnvEntries(usize),
    /// Too much environment for a guest command line.
    #[error("the container's environment is {0} bytes, more than the cap of {cap} bytes a guest command line carries", cap = limits::ENV_BYTES)]
    EnvBytes(usize),
}

/// `IP/PREFIX` of the guest.
pub fn cidr(net: &GuestNet) -> String {
    format!("{}/{}", net.ip, net.prefix)
}

/// The gateway as text, empty when the pod has none.
pub fn gateway(net: &GuestNet) -> String {
    net.gateway.map(|g| g.to_string()).unwrap_or_default()
}

/// The shortest prefix the kernel is given when it must be widened: past
/// it, the guest would take a large share of the address space as on-link.
const WIDEST_PREFIX: u8 = 8;

/// The gateway and prefix to give a guest whose network stack wants its
/// gateway inside an attached subnet: Linux's `ip=` ("IP-Config: Gateway
/// not on directly connected network", and no on-link route), NetBSD
/// (Rumprun), OSv's FreeBSD code. A /32 pod (routed mode's gateway is the
/// pod-loopback address, Calico's 169.254.1.1) would get no default route. The subnet is widened to the longest prefix
/// in which the guest and the gateway are both host addresses (neither the
/// block's network nor its broadcast address). A link-local gateway is
/// replaced by another host of the guest's smallest such block, which the
/// other end answers by proxy ARP (ukrun's tap in routed mode, Calico's
/// host veth in tc mode); any other gateway is kept. Where no prefix fits,
/// the pod's own is kept. `None` when the pod has no gateway.
pub fn on_link_gateway(net: &GuestNet) -> Option<(Ipv4Addr, u8)> {
    let (ip_bits, prefix, gateway) = (u32::from(net.ip), net.prefix, net.gateway?);
    if (ip_bits ^ u32::from(gateway)) & u32::from(netmask(prefix)) == 0 {
        return Some((gateway, prefix));
    }
    let widened = |longest: u32, gateway_in: &dyn Fn(u32) -> u32| {
        (u32::from(WIDEST_PREFIX)..=longest.min(30))
            .rev()
            .filter_map(|p| u8::try_from(p).ok())
            .find_map(|p| {
                let network = ip_bits & u32::from(netmask(p));
                let gateway = gateway_in(network);
                (is_host(ip_bits, p) && is_host(gateway, p)).then(|| (Ipv4Addr::from(gateway), p))
            })
    };
    let found = if gateway.is_link_local() {
        // The block's first host, or its second when that is the guest.
        widened(30, &|network| {
            if network + 1 == ip_bits {
                network + 2
            } else {
                network + 1
            }
        })
    } else {
        let shared = (ip_bits ^ u32::from(gateway)).leading_zeros();
        widened(shared, &|_| u32::from(gateway))
    };
    Some(found.unwrap_or((gateway, prefix)))
}

/// Whether `address` is neither the network nor the broadcast address of
/// its block of prefix `p`.
fn is_host(address: u32, p: u8) -> bool {
    let mask = u32::from(netmask(p));
    let network = address & mask;
    address != network && address != network | !mask
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
    if env.len() > limits::ENV_ENTRIES {
        return Err(BootError::EnvEntries(env.len()));
    }
    let bytes: usize = env.iter().map(String::len).sum();
    if bytes > limits::ENV_BYTES {
        return Err(BootError::EnvBytes(bytes));
    }
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

    fn gw(ip: &str, prefix: u8, gateway: &str) -> (String, u8) {
        let net = GuestNet {
            ip: ip.parse().unwrap(),
            prefix,
            gateway: Some(gateway.parse().unwrap()),
            ..crate::guest::fixtures::calico()
        };
        let (g, p) = on_link_gateway(&net).unwrap();
        (g.to_string(), p)
    }

    #[test]
    fn the_gateway_is_on_link_and_both_ends_are_host_addresses() {
        let lo = "169.254.1.1";
        assert_eq!(
            gw("10.88.0.5", 24, "10.88.0.1"),
            ("10.88.0.1".into(), 24),
            "in the subnet: as is"
        );
        assert_eq!(gw("10.244.1.6", 32, lo), ("10.244.1.5".into(), 30));
        assert_eq!(gw("10.244.1.5", 32, lo), ("10.244.1.6".into(), 30));
        assert_eq!(gw("10.244.1.1", 32, lo), ("10.244.1.2".into(), 30));
        assert_eq!(
            gw("10.244.1.4", 32, lo),
            ("10.244.1.1".into(), 29),
            ".4 is a /30's network address"
        );
        assert_eq!(
            gw("10.244.1.7", 32, lo),
            ("10.244.1.1".into(), 28),
            ".7 is a /30 and a /29 broadcast"
        );
        assert_eq!(gw("10.244.1.8", 32, lo), ("10.244.1.1".into(), 28));
        assert_eq!(
            gw("10.244.2.0", 32, lo),
            ("10.244.0.1".into(), 22),
            "a /24's network address"
        );
        assert_eq!(
            gw("10.1.1.2", 32, "10.1.1.1"),
            ("10.1.1.1".into(), 30),
            "a real gateway nearby is kept"
        );
        assert_eq!(
            gw("10.1.1.2", 32, "192.168.0.1"),
            ("192.168.0.1".into(), 32),
            "too far: as the pod has it"
        );
        let none = GuestNet {
            gateway: None,
            ..crate::guest::fixtures::calico()
        };
        assert_eq!(on_link_gateway(&none), None);
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

    #[test]
    fn the_environment_is_capped_in_entries_and_bytes() {
        let entries = |n: usize| (0..n).map(|i| format!("V{i}=1")).collect::<Vec<_>>();
        assert_eq!(validate_env(&entries(limits::ENV_ENTRIES)), Ok(()));
        let e = validate_env(&entries(limits::ENV_ENTRIES + 1)).unwrap_err();
        assert_eq!(e, BootError::EnvEntries(limits::ENV_ENTRIES + 1));
        assert!(e.to_string().contains("more than the cap of 511"), "{e}");
        let big = vec![format!("A={}", "x".repeat(limits::ENV_BYTES))];
        let e = validate_env(&big).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the container's environment is 8193 bytes, more than the cap of 8191 bytes a guest command line carries"
        );
        let hostile = vec![format!("{}=x", "-".repeat(5000))];
        let e = validate_env(&hostile).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
    }
}
