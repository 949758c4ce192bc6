//! Mewz: `ip=ADDR/PREFIX gateway=ADDR` on its command line (Mewz's boot
//! parameters; urunc: pkg/unikontainers/unikernels/mewz.go). Mewz has no
//! resolver and no application arguments of its own: the image's command
//! line follows as is.

use super::boot::{cidr, words, BootInput};

/// The command line.
pub fn cmdline(boot: &BootInput<'_>) -> String {
    let gateway = boot
        .net
        .gateway
        .map(|g| format!("gateway={g}"))
        .unwrap_or_default();
    words([
        format!("ip={}", cidr(boot.net)),
        gateway,
        boot.image_cmdline.trim().to_owned(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::{bridge, calico, input, NS2};

    #[test]
    fn bridge_and_calico_ignore_resolvers() {
        let (b, c) = (bridge(), calico());
        assert_eq!(
            cmdline(&input(&b, NS2)),
            "ip=10.88.0.5/24 gateway=10.88.0.1"
        );
        assert_eq!(
            cmdline(&input(&c, NS2)),
            "ip=10.88.0.5/32 gateway=169.254.1.1"
        );
    }
}
