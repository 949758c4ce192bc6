//! Hermit (hermit-rs): kernel arguments `-ip ADDR -mask MASK -gateway ADDR`
//! and `env=KEY=VALUE`, then `--` and the application's arguments (the
//! kernel's command-line parser, src/env.rs, which turns the network
//! arguments into `HERMIT_IP/HERMIT_MASK/HERMIT_GATEWAY`). Resolvers go in
//! the variables its smoltcp stack reads, `HERMIT_DNS1` and `HERMIT_DNS2`.
//! urunc (pkg/unikontainers/unikernels/hermit_rs.go) runs it on qemu.

use super::boot::{gateway, quoted, with_app_args, BootInput};
use super::GuestKind;
use crate::net::netmask;

/// The command line.
pub fn cmdline(boot: &BootInput<'_>) -> String {
    let mut args = vec![
        "-ip".to_owned(),
        boot.net.ip.to_string(),
        "-mask".to_owned(),
        netmask(boot.net.prefix).to_string(),
    ];
    if boot.net.gateway.is_some() {
        args.extend(["-gateway".to_owned(), gateway(boot.net)]);
    }
    let nameservers = GuestKind::Hermit.caps().dns.pick(boot.nameservers);
    let dns = nameservers
        .iter()
        .enumerate()
        .map(|(i, ns)| format!("HERMIT_DNS{}={ns}", i + 1));
    let env = dns.chain(boot.env.iter().cloned());
    args.extend(env.map(|e| quoted(&format!("env={e}")).into_owned()));
    with_app_args(args, boot.image_cmdline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::{bridge, calico, input, NS1, NS2};

    #[test]
    fn bridge_with_one_resolver() {
        let net = bridge();
        assert_eq!(
            cmdline(&input(&net, NS1)),
            "-ip 10.88.0.5 -mask 255.255.255.0 -gateway 10.88.0.1 env=HERMIT_DNS1=10.96.0.10"
        );
    }

    #[test]
    fn calico_with_two_resolvers_env_and_app_arguments() {
        let net = calico();
        let env = ["RUST_LOG=info".to_owned(), "GREETING=hi there".to_owned()];
        let boot = BootInput {
            env: &env,
            image_cmdline: "serve 8080",
            ..input(&net, NS2)
        };
        assert_eq!(
            cmdline(&boot),
            "-ip 10.88.0.5 -mask 255.255.255.255 -gateway 169.254.1.1 \
             env=HERMIT_DNS1=10.96.0.10 env=HERMIT_DNS2=10.96.0.11 env=RUST_LOG=info \
             \"env=GREETING=hi there\" -- serve 8080"
        );
    }
}
