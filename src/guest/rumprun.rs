//! Rumprun on Solo5: a JSON document on the command line, read by
//! rumpconfig.c (`_rumprun_config`) of the Solo5 port of rumprun. That
//! parser knows the keys `cmdline`, `env` (one `"KEY=VALUE"` per key,
//! repeated), `net` (`if cloner type method addr mask gw`) and `blk`
//! (`source path fstype mountpoint`) and stops at any other key, so there
//! is no DNS or hostname key: the guest reads /etc/resolv.conf from its
//! root. rumprun's doc/config.md describes the richer format of the
//! original project; urunc (pkg/unikontainers/unikernels/rumprun.go)
//! writes this flat one, with the Solo5 NIC `ukvmif0` and the root block
//! device `/dev/ld0a` as an etfs device.

use super::boot::{on_link_gateway, BootInput};

/// The Solo5 network interface inside rumprun.
const INTERFACE: &str = "ukvmif0";
/// The first Solo5 block device inside rumprun.
const BLOCK_DEVICE: &str = "/dev/ld0a";

/// The JSON configuration (NetBSD needs the gateway on-link, so a gateway
/// outside the pod's subnet is made on-link: `on_link_gateway`).
pub fn config(boot: &BootInput<'_>) -> String {
    let route = on_link_gateway(boot.net);
    let prefix = route.map_or(boot.net.prefix, |(_, prefix)| prefix);
    let mut members = vec![member("cmdline", &string(boot.image_cmdline.trim()))];
    members.extend(boot.env.iter().map(|e| member("env", &string(e))));
    let mut net = vec![
        member("if", &string(INTERFACE)),
        member("cloner", &string("True")),
        member("type", &string("inet")),
        member("method", &string("static")),
        member("addr", &string(&boot.net.ip.to_string())),
        member("mask", &string(&prefix.to_string())),
    ];
    if let Some((gw, _)) = route {
        net.push(member("gw", &string(&gw.to_string())));
    }
    members.push(member("net", &object(&net)));
    if let Some(mount) = boot.block_mount {
        let blk = [
            member("source", &string("etfs")),
            member("path", &string(BLOCK_DEVICE)),
            member("fstype", &string("blk")),
            member("mountpoint", &string(mount)),
        ];
        members.push(member("blk", &object(&blk)));
    }
    object(&members)
}

fn string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn member(key: &str, value: &str) -> String {
    format!("{}:{value}", string(key))
}

fn object(members: &[String]) -> String {
    format!("{{{}}}", members.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::{bridge, calico, input, NS2};

    #[test]
    fn bridge_pod_without_block() {
        let net = bridge();
        let boot = BootInput {
            image_cmdline: "/nginx -c \"conf\"",
            ..input(&net, NS2)
        };
        assert_eq!(
            config(&boot),
            r#"{"cmdline":"/nginx -c \"conf\"","net":{"if":"ukvmif0","cloner":"True","type":"inet","method":"static","addr":"10.88.0.5","mask":"24","gw":"10.88.0.1"}}"#
        );
    }

    #[test]
    fn calico_pod_with_env_and_block_widens_the_mask() {
        let net = calico();
        let env = ["A=1".to_owned(), "B=x y".to_owned()];
        let boot = BootInput {
            env: &env,
            block_mount: Some("/data"),
            ..input(&net, NS2)
        };
        let json = config(&boot);
        assert_eq!(
            json,
            r#"{"cmdline":"","env":"A=1","env":"B=x y","net":{"if":"ukvmif0","cloner":"True","type":"inet","method":"static","addr":"10.88.0.5","mask":"30","gw":"10.88.0.6"},"blk":{"source":"etfs","path":"/dev/ld0a","fstype":"blk","mountpoint":"/data"}}"#
        );
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
    }
}
