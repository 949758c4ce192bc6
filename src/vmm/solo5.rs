//! Solo5 tenders (`solo5-hvt` on KVM, `solo5-spt` under seccomp): `--mem=MB
//! --net:NAME=TAP --net-mac:NAME=MAC [--block:NAME=PATH] -- UNIKERNEL
//! [ARGS]` (Solo5's docs/building.md, "Running Solo5-based unikernels").
//! NAME is the device name in the unikernel's manifest: urunc uses
//! `service`/`storage` for MirageOS and `tap`/`rootfs` for Rumprun
//! (pkg/unikontainers/unikernels/*.go, hypervisors/hvt.go and spt.go). The
//! tender opens the tap by name; Solo5 has no MTU setting (1500). The
//! unikernel and block image are handed descriptors. Its command line is
//! the guest's, so it never carries the container's environment (ukrun
//! withholds it from guests on Solo5).

use super::input::{VmmCommand, VmmInput};
use crate::jail::fds;
use crate::net::format_mac;

/// The tender command (the same for hvt and spt).
pub fn render(input: &VmmInput<'_>) -> VmmCommand {
    let names = input.solo5;
    let mut argv = vec![
        format!("--mem={}", input.memory_mib),
        format!("--net:{}={}", names.net, input.tap),
        format!("--net-mac:{}={}", names.net, format_mac(&input.net.mac)),
    ];
    if input.block {
        let block = fds::proc_path(fds::BLOCK);
        argv.push(format!("--block:{}={}", names.block, block.display()));
    }
    argv.extend([
        "--".to_owned(),
        fds::proc_path(fds::KERNEL).display().to_string(),
    ]);
    if !input.cmdline.is_empty() {
        argv.push(input.cmdline.to_owned());
    }
    VmmCommand::by_name(input, argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::bridge;
    use crate::guest::GuestKind;
    use crate::vmm::input::TapAccess;
    use crate::vmm::test_input::{input, Disk};
    use crate::vmm::Monitor;

    #[test]
    fn mirage_names_with_block() {
        let net = bridge();
        let cmd = Monitor::Hvt
            .render(&VmmInput {
                solo5: GuestKind::Mirage.caps().solo5,
                ..input(&net, Disk::Block)
            })
            .unwrap();
        assert_eq!(cmd.tap, TapAccess::ByName);
        assert_eq!(
            cmd.argv,
            [
                "--mem=256",
                "--net:service=uk-c1",
                "--net-mac:service=0a:58:0a:58:00:05",
                "--block:storage=/proc/self/fd/6",
                "--",
                "/proc/self/fd/4",
                "console=ttyS0 ip=x",
            ]
        );
    }

    #[test]
    fn rumprun_names_without_block_or_arguments() {
        let net = bridge();
        let cmd = Monitor::Spt
            .render(&VmmInput {
                solo5: GuestKind::Rumprun.caps().solo5,
                cmdline: "",
                ..input(&net, Disk::None)
            })
            .unwrap();
        assert_eq!(
            cmd.argv,
            [
                "--mem=256",
                "--net:tap=uk-c1",
                "--net-mac:tap=0a:58:0a:58:00:05",
                "--",
                "/proc/self/fd/4",
            ]
        );
    }
}
