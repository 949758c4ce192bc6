//! Firecracker: a JSON config file (the API's resources in one document,
//! docs/getting-started.md "Configuring the microVM without sending API
//! requests", fields per src/firecracker/swagger/firecracker.yaml:
//! `boot-source` kernel_image_path/boot_args/initrd_path, `drives`
//! drive_id/path_on_host/is_root_device/is_read_only, `network-interfaces`
//! iface_id/host_dev_name/guest_mac, `machine-config`
//! vcpu_count/mem_size_mib) and `--no-api --config-file PATH`. The config
//! comes from a handed descriptor, and names the kernel, initrd and drive
//! by their handed descriptors too: the guest's command line (with the
//! container's environment) is never on the argv.
//! Firecracker opens the tap by name and has no MTU setting for its NIC.
//! urunc: pkg/unikontainers/hypervisors/firecracker.go.

use serde_json::{json, Value};

use super::input::{VmmCommand, VmmInput};
use crate::jail::fds;
use crate::net::format_mac;

/// The Firecracker command and its config file. The block device is never
/// the root device here: the guest's command line names its root itself.
pub fn render(input: &VmmInput<'_>) -> VmmCommand {
    let mut boot_source = json!({
        "kernel_image_path": fds::proc_path(fds::KERNEL),
        "boot_args": input.cmdline,
    });
    if input.initrd {
        boot_source["initrd_path"] = json!(fds::proc_path(fds::INITRD));
    }
    let drives: Vec<Value> = input
        .block
        .then(|| fds::proc_path(fds::BLOCK))
        .iter()
        .map(|path| {
            json!({
                "drive_id": "block0",
                "path_on_host": path,
                "is_root_device": false,
                "is_read_only": false,
            })
        })
        .collect();
    let config = json!({
        "boot-source": boot_source,
        "drives": drives,
        "network-interfaces": [{
            "iface_id": "eth0",
            "host_dev_name": input.tap,
            "guest_mac": format_mac(&input.net.mac),
        }],
        "machine-config": {
            "vcpu_count": input.vcpus,
            "mem_size_mib": input.memory_mib,
        },
    });
    let argv = vec![
        "--no-api".to_owned(),
        "--config-file".to_owned(),
        fds::proc_path(fds::CONFIG).display().to_string(),
    ];
    VmmCommand {
        config: Some(format!("{config:#}\n")),
        ..VmmCommand::by_name(input, argv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmm::input::TapAccess;
    use crate::vmm::test_input::{input, Disk};
    use crate::vmm::Monitor;

    #[test]
    fn config_file_with_initrd_golden() {
        let net = crate::guest::fixtures::bridge();
        let cmd = Monitor::Firecracker
            .render(&input(&net, Disk::Initrd))
            .unwrap();
        assert_eq!(cmd.tap, TapAccess::ByName);
        assert_eq!(cmd.argv, ["--no-api", "--config-file", "/proc/self/fd/8"]);
        assert_eq!(
            cmd.files,
            [
                crate::vmm::input::Handed::Kernel,
                crate::vmm::input::Handed::Initrd
            ]
        );
        assert_eq!(
            cmd.config.unwrap(),
            r#"{
  "boot-source": {
    "boot_args": "console=ttyS0 ip=x",
    "initrd_path": "/proc/self/fd/5",
    "kernel_image_path": "/proc/self/fd/4"
  },
  "drives": [],
  "machine-config": {
    "mem_size_mib": 256,
    "vcpu_count": 2
  },
  "network-interfaces": [
    {
      "guest_mac": "0a:58:0a:58:00:05",
      "host_dev_name": "uk-c1",
      "iface_id": "eth0"
    }
  ]
}
"#
        );
    }

    #[test]
    fn block_device_is_a_plain_drive() {
        let net = crate::guest::fixtures::calico();
        let config = render(&input(&net, Disk::Block)).config.unwrap();
        let v: Value = serde_json::from_str(&config).unwrap();
        assert_eq!(
            v["drives"],
            json!([{"drive_id": "block0", "path_on_host": "/proc/self/fd/6", "is_root_device": false, "is_read_only": false}])
        );
        assert!(v["boot-source"].get("initrd_path").is_none());
    }
}
