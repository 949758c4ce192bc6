//! Cloud Hypervisor: everything on its command line (cloud-hypervisor
//! --help; docs/*.md): `--kernel --initramfs --cmdline`, `--memory
//! size=NM`, `--cpus boot=N`, `--net tap=NAME,mac=MAC,mtu=MTU` (it opens
//! the tap by name), `--disk path=`, and the guest's serial console on
//! stdout (`--serial tty --console off`). urunc calls it
//! `cloud-hypervisor` too: pkg/unikontainers/hypervisors/cloud_hypervisor.go.
//! Files are its handed descriptors; only Linux guests, whose command line
//! carries no environment, run on it.

use super::input::{VmmCommand, VmmInput};
use crate::jail::fds;
use crate::net::format_mac;

/// The Cloud Hypervisor command.
pub fn render(input: &VmmInput<'_>) -> VmmCommand {
    let handed = |fd| fds::proc_path(fd).display().to_string();
    let mut argv = vec!["--kernel".to_owned(), handed(fds::KERNEL)];
    if input.initrd {
        argv.extend(["--initramfs".to_owned(), handed(fds::INITRD)]);
    }
    argv.extend([
        "--cmdline".to_owned(),
        input.cmdline.to_owned(),
        "--memory".to_owned(),
        format!("size={}M", input.memory_mib),
        "--cpus".to_owned(),
        format!("boot={}", input.vcpus),
        "--net".to_owned(),
        format!(
            "tap={},mac={},mtu={}",
            input.tap,
            format_mac(&input.net.mac),
            input.net.mtu
        ),
    ]);
    if input.block {
        argv.extend(["--disk".to_owned(), format!("path={}", handed(fds::BLOCK))]);
    }
    argv.extend(["--serial", "tty", "--console", "off"].map(String::from));
    VmmCommand::by_name(input, argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::{bridge, calico};
    use crate::vmm::input::TapAccess;
    use crate::vmm::test_input::{input, Disk};
    use crate::vmm::Monitor;

    #[test]
    fn initrd_golden() {
        let net = bridge();
        let cmd = Monitor::CloudHypervisor
            .render(&input(&net, Disk::Initrd))
            .unwrap();
        assert_eq!(cmd.tap, TapAccess::ByName);
        assert_eq!(cmd.binary.to_str(), Some("/usr/bin/vmm"));
        assert_eq!(
            cmd.argv,
            [
                "--kernel",
                "/proc/self/fd/4",
                "--initramfs",
                "/proc/self/fd/5",
                "--cmdline",
                "console=ttyS0 ip=x",
                "--memory",
                "size=256M",
                "--cpus",
                "boot=2",
                "--net",
                "tap=uk-c1,mac=0a:58:0a:58:00:05,mtu=1500",
                "--serial",
                "tty",
                "--console",
                "off",
            ]
        );
    }

    #[test]
    fn block_and_pod_mtu() {
        let net = calico();
        let argv = render(&input(&net, Disk::Block)).argv;
        assert!(argv
            .windows(2)
            .any(|w| w == ["--disk", "path=/proc/self/fd/6"]));
        assert!(argv.contains(&"tap=uk-c1,mac=0a:58:0a:58:00:05,mtu=1450".to_owned()));
        assert!(!argv.contains(&"--initramfs".to_owned()));
    }
}
