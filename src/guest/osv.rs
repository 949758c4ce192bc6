//! OSv: loader options `--ip=IFACE,ADDR,MASK --defaultgw=ADDR
//! --nameserver=ADDR --env=KEY=VALUE`, then the command to run (OSv's
//! loader.cc option table; `--nameserver` takes a single address). OSv's
//! network code is FreeBSD's, which wants the gateway on-link: a gateway
//! outside the pod's subnet (Calico) is made on-link (`on_link_gateway`).
//! urunc: pkg/unikontainers/unikernels/osv.go.

use super::boot::{on_link_gateway, quoted, words, BootInput};
use super::linux::GUEST_DEVICE;
use super::GuestKind;
use crate::net::netmask;

/// The command line.
pub fn cmdline(boot: &BootInput<'_>) -> String {
    let route = on_link_gateway(boot.net);
    let prefix = route.map_or(boot.net.prefix, |(_, prefix)| prefix);
    let mut args = vec![format!(
        "--ip={GUEST_DEVICE},{},{}",
        boot.net.ip,
        netmask(prefix)
    )];
    if let Some((gw, _)) = route {
        args.push(format!("--defaultgw={gw}"));
    }
    let nameservers = GuestKind::Osv.caps().dns.pick(boot.nameservers);
    args.extend(nameservers.iter().map(|ns| format!("--nameserver={ns}")));
    args.extend(
        boot.env
            .iter()
            .map(|e| quoted(&format!("--env={e}")).into_owned()),
    );
    args.push(boot.image_cmdline.trim().to_owned());
    words(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::{bridge, calico, input, NS1, NS2};

    #[test]
    fn bridge_with_env_and_command() {
        let net = bridge();
        let env = ["PORT=8000".to_owned()];
        let boot = BootInput {
            env: &env,
            image_cmdline: "/python3 -m http.server",
            ..input(&net, NS1)
        };
        assert_eq!(
            cmdline(&boot),
            "--ip=eth0,10.88.0.5,255.255.255.0 --defaultgw=10.88.0.1 --nameserver=10.96.0.10 \
             --env=PORT=8000 /python3 -m http.server"
        );
    }

    #[test]
    fn calico_widens_the_mask_and_keeps_one_resolver() {
        let net = calico();
        assert_eq!(
            cmdline(&input(&net, NS2)),
            "--ip=eth0,10.88.0.5,255.255.255.252 --defaultgw=10.88.0.6 --nameserver=10.96.0.10"
        );
    }
}
