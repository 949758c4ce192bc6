//! Unikraft: library parameters on the kernel command line, then `--` and
//! the application's arguments (uklibparam).
//! - Unikraft ≥ 0.16.1 (and images that do not say): lwIP's
//!   `netdev.ip=cidr[:gw[:dns0[:dns1[:hostname[:domain]]]]]` (documented with
//!   kraftkit's `unikraft/export/v0/uknetdev`), an initrd unpacked as the root
//!   by `vfs.fstab=[ "initrd0:/:extract:::" ]` (vfscore's
//!   `source:target:driver:flags:opts:ukopts` entries), the environment in
//!   `env.vars=[ … ]`, quoted the way ukargparse reads (single quotes and
//!   backslashes), never with double quotes, so the whole line fits qemu's
//!   configuration file and stays off the VMM's argv.
//! - Before 0.16.1: `netdev.ipv4_addr= netdev.ipv4_gw_addr=
//!   netdev.ipv4_subnet_mask=`, `vfs.rootfs=initrd`, and no environment.
//!
//! urunc (pkg/unikontainers/unikernels/unikraft.go) switches on the same version.

use super::boot::{cidr, gateway, words, BootError, BootInput};
use super::version::Version;
use super::GuestKind;
use crate::net::netmask;

/// The first version with `netdev.ip=` and `vfs.fstab=`.
pub const NETDEV_IP_SINCE: Version = Version::new(0, 16, 1);

/// The command line for the image's Unikraft version.
pub fn cmdline(boot: &BootInput<'_>) -> Result<String, BootError> {
    let current = match boot.version {
        None => true,
        Some(text) => Version::parse(text)? >= NETDEV_IP_SINCE,
    };
    let args = if current {
        current_args(boot)
    } else {
        legacy_args(boot)
    };
    Ok(with_separator(args, boot.image_cmdline))
}

/// Library parameters, `--`, then the application's arguments. Unikraft
/// reads library parameters only when a `--` follows them (without it,
/// `netdev.ip=` reaches the application and the NIC falls back to DHCP),
/// so the `--` is always there; and nothing in the image's command line,
/// which comes after it, is read as a library parameter.
fn with_separator(mut args: Vec<String>, app_args: &str) -> String {
    args.push("--".to_owned());
    args.push(app_args.trim().to_owned());
    words(args)
}

fn current_args(boot: &BootInput<'_>) -> Vec<String> {
    let nameservers = GuestKind::Unikraft.caps().dns.pick(boot.nameservers);
    let mut fields = vec![cidr(boot.net), gateway(boot.net)];
    fields.extend((0..2).map(|i| {
        nameservers
            .get(i)
            .map(|n| n.to_string())
            .unwrap_or_default()
    }));
    fields.push(boot.hostname.unwrap_or_default().to_owned());
    while fields.last().is_some_and(String::is_empty) {
        fields.pop();
    }
    let mut args = vec![format!("netdev.ip={}", fields.join(":"))];
    if boot.initrd {
        args.push("vfs.fstab=[ 'initrd0:/:extract:::' ]".to_owned());
    }
    if !boot.env.is_empty() {
        let escaped: Vec<String> = boot.env.iter().map(|e| escaped(e)).collect();
        args.push(format!("env.vars=[ {} ]", escaped.join(" ")));
    }
    args
}

/// One word for Unikraft's argument parser (ukargparse): white space and
/// single quotes escaped with a backslash, and no double quote, which
/// would not survive qemu's configuration file (validated environment
/// entries hold neither double quotes nor backslashes).
fn escaped(entry: &str) -> String {
    let mut word = String::with_capacity(entry.len());
    for c in entry.chars() {
        if c.is_whitespace() || c == '\'' {
            word.push('\\');
        }
        word.push(c);
    }
    word
}

fn legacy_args(boot: &BootInput<'_>) -> Vec<String> {
    let mut args = vec![
        format!("netdev.ipv4_addr={}", boot.net.ip),
        format!("netdev.ipv4_gw_addr={}", gateway(boot.net)),
        format!("netdev.ipv4_subnet_mask={}", netmask(boot.net.prefix)),
    ];
    if boot.initrd {
        args.push("vfs.rootfs=initrd".to_owned());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::{bridge, calico, input, NS1, NS2};
    use crate::guest::version::VersionError;

    #[test]
    fn current_syntax_bridge_and_calico() {
        let (b, c) = (bridge(), calico());
        assert_eq!(
            cmdline(&input(&b, NS1)).unwrap(),
            "netdev.ip=10.88.0.5/24:10.88.0.1:10.96.0.10::web-0 --"
        );
        assert_eq!(
            cmdline(&input(&c, NS2)).unwrap(),
            "netdev.ip=10.88.0.5/32:169.254.1.1:10.96.0.10:10.96.0.11:web-0 --"
        );
        let anonymous = BootInput {
            hostname: None,
            ..input(&b, &[])
        };
        assert_eq!(
            cmdline(&anonymous).unwrap(),
            "netdev.ip=10.88.0.5/24:10.88.0.1 --"
        );
        let smuggler = BootInput {
            image_cmdline: "netdev.ip=192.0.2.9/8 -- app",
            ..anonymous
        };
        assert_eq!(
            cmdline(&smuggler).unwrap(),
            "netdev.ip=10.88.0.5/24:10.88.0.1 -- netdev.ip=192.0.2.9/8 -- app",
            "the image's words come after ukrun's `--`: the application's arguments"
        );
    }

    #[test]
    fn initrd_env_and_app_arguments() {
        let net = bridge();
        let env = ["PATH=/bin".to_owned(), "MSG=hello world".to_owned()];
        assert_eq!(escaped("Q=it's a\tb"), "Q=it\\'s\\ a\\\tb");
        let boot = BootInput {
            initrd: true,
            env: &env,
            image_cmdline: "/nginx -c /nginx/conf/nginx.conf",
            version: Some("0.17.0"),
            ..input(&net, NS1)
        };
        assert_eq!(
            cmdline(&boot).unwrap(),
            "netdev.ip=10.88.0.5/24:10.88.0.1:10.96.0.10::web-0 vfs.fstab=[ 'initrd0:/:extract:::' ] \
             env.vars=[ PATH=/bin MSG=hello\\ world ] -- /nginx -c /nginx/conf/nginx.conf"
        );
    }

    #[test]
    fn legacy_syntax_below_0_16_1_drops_resolvers_and_env() {
        let net = calico();
        let env = ["A=1".to_owned()];
        let boot = BootInput {
            initrd: true,
            env: &env,
            image_cmdline: "-p 80",
            version: Some("0.15.0"),
            ..input(&net, NS2)
        };
        assert_eq!(
            cmdline(&boot).unwrap(),
            "netdev.ipv4_addr=10.88.0.5 netdev.ipv4_gw_addr=169.254.1.1 \
             netdev.ipv4_subnet_mask=255.255.255.255 vfs.rootfs=initrd -- -p 80"
        );
        let rc = BootInput {
            version: Some("v0.16.1-rc1"),
            ..boot.clone()
        };
        assert!(cmdline(&rc).unwrap().starts_with("netdev.ipv4_addr="));
        let exact = BootInput {
            version: Some("0.16.1"),
            ..boot
        };
        assert!(cmdline(&exact).unwrap().starts_with("netdev.ip="));
    }

    /// The rendered line for `image_cmdline` split into ukrun's words (up to
    /// and including the first `--`) and the rest, which must be exactly
    /// the image's words.
    fn split_at_first_separator(
        image_cmdline: &str,
        version: Option<&str>,
    ) -> (Vec<String>, String) {
        let net = bridge();
        let env = ["A=1".to_owned()];
        let boot = BootInput {
            image_cmdline,
            version,
            env: &env,
            initrd: true,
            ..input(&net, NS1)
        };
        let line = cmdline(&boot).unwrap();
        let words: Vec<&str> = line.split(' ').collect();
        let stop = words.iter().position(|w| *w == "--").unwrap();
        let own = words[..=stop].iter().map(|w| w.to_string()).collect();
        (own, words[stop + 1..].join(" "))
    }

    /// Unikraft reads library parameters only up to the first `--`
    /// (lib/uklibparam/parser.c stops at `PARSE_STOP`, lib/ukboot/boot.c
    /// hands the rest to `main` as argv), and ukrun's own `--` always
    /// comes before the image's words: an image's `cmdline` cannot add or
    /// override a library parameter, it only reaches the application.
    #[test]
    fn image_words_that_look_like_library_parameters_stay_application_arguments() {
        for image in [
            "netdev.ip=1.2.3.4/8",
            "netdev.ip=1.2.3.4/8:1.2.3.1:1.1.1.1 -- app",
            "--",
            "-- netdev.ip=1.2.3.4/8",
            "env.vars=[ X=1 ]",
            "vfs.fstab=[ 'fs0:/:9pfs:::' ]",
            "vfs.rootfs=initrd netdev.ipv4_addr=1.2.3.4",
            "help",
            "' -- netdev.ip=1.2.3.4/8",
        ] {
            for version in [None, Some("0.16.1"), Some("0.15.0")] {
                let (own, rest) = split_at_first_separator(image, version);
                assert!(
                    own[0].starts_with("netdev.ip=10.88.0.5/")
                        || own[0] == "netdev.ipv4_addr=10.88.0.5",
                    "{image:?} {version:?}: ukrun's network comes first: {own:?}"
                );
                assert_eq!(
                    own.iter().filter(|w| *w == "--").count(),
                    1,
                    "{image:?} {version:?}: one `--` before the image's words"
                );
                assert_eq!(
                    own,
                    split_at_first_separator("", version).0,
                    "{image:?} {version:?}: ukrun's words do not depend on the image's"
                );
                assert_eq!(
                    rest, image,
                    "{version:?}: the image's words follow, unchanged"
                );
            }
        }
    }

    #[test]
    fn no_version_renders_the_current_syntax() {
        let net = bridge();
        let line = cmdline(&input(&net, NS1)).unwrap();
        assert!(line.starts_with("netdev.ip="), "{line}");
    }

    #[test]
    fn unparsable_version_is_an_error() {
        let net = bridge();
        let boot = BootInput {
            version: Some("latest"),
            ..input(&net, NS1)
        };
        assert_eq!(
            cmdline(&boot),
            Err(BootError::Version(VersionError("latest".into())))
        );
    }
}
