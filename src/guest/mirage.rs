//! MirageOS: runtime arguments on the unikernel's command line, parsed by
//! cmdliner. `--ipv4=ADDR/PREFIX` and `--ipv4-gateway=ADDR` are
//! mirage-runtime's `Mirage_runtime_network.V4.network`/`gateway` keys;
//! `--resolver=udp:ADDR,…` its `resolver` key, each entry in the
//! dns-client's `nameserver_of_string` form (`udp:<ipaddr>`). The device
//! is Solo5's `service` (urunc: pkg/unikontainers/unikernels/mirage.go),
//! whose keys carry no prefix.

use super::boot::{cidr, words, BootInput};
use super::GuestKind;

/// The command line: network, resolvers, then the image's arguments.
pub fn cmdline(boot: &BootInput<'_>) -> String {
    let gateway = boot
        .net
        .gateway
        .map(|g| format!("--ipv4-gateway={g}"))
        .unwrap_or_default();
    let nameservers = GuestKind::Mirage.caps().dns.pick(boot.nameservers);
    let resolver = if nameservers.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = nameservers.iter().map(|n| format!("udp:{n}")).collect();
        format!("--resolver={}", list.join(","))
    };
    words([
        format!("--ipv4={}", cidr(boot.net)),
        gateway,
        resolver,
        boot.image_cmdline.trim().to_owned(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::{bridge, calico, input, NS1, NS2};
    use crate::net::plan::GuestNet;

    #[test]
    fn bridge_and_calico_with_resolvers() {
        let (b, c) = (bridge(), calico());
        assert_eq!(
            cmdline(&input(&b, NS1)),
            "--ipv4=10.88.0.5/24 --ipv4-gateway=10.88.0.1 --resolver=udp:10.96.0.10"
        );
        assert_eq!(
            cmdline(&BootInput {
                image_cmdline: "--port=8080",
                ..input(&c, NS2)
            }),
            "--ipv4=10.88.0.5/32 --ipv4-gateway=169.254.1.1 \
             --resolver=udp:10.96.0.10,udp:10.96.0.11 --port=8080"
        );
    }

    #[test]
    fn no_gateway_and_no_resolver_leave_their_flags_out() {
        let net = GuestNet {
            gateway: None,
            ..bridge()
        };
        assert_eq!(cmdline(&input(&net, &[])), "--ipv4=10.88.0.5/24");
    }
}
