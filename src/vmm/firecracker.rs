//! Firecracker: a JSON config file (the API's resources in one document,
//! docs/getting-started.md "Configuring the microVM without sending API
//! requests", fields per src/firecracker/swagger/firecracker.yaml:
//! `boot-source` kernel_image_path/boot_args/initrd_path, `drives`
//! drive_id/path_on_host/is_root_device/is_read_only, `network-interfaces`
//! iface_id/host_dev_name/guest_mac, `machine-config`
//! vcpu_count/mem_size_mib) and `--no-api --config-file PATH`.
//! Firecracker opens the tap by name and has no MTU setting for its NIC.
//! urunc: pkg/unikontainers/hypervisors/firecracker.go.

use serde_json::{json, Value};

use super::input::{ConfigFile, VmmCommand, VmmInput};
use crate::net::format_mac;

/// Config file name in the state directory.
pub const CONFIG_FILE: &str = "firecracker.json";

/// The Firecracker command and its config file. The block device is never
/// the root device here: the guest's command line names its root itself.
pub fn render(input: &VmmInput<'_>) -> VmmCommand {
    let mut boot_source = json!({
        "kernel_image_path": input.kernel,
        "boot_args": input.cmdline,
    });
    if let Some(initrd) = input.initrd {
        boot_source["initrd_path"] = json!(initrd);
    }
    let drives: Vec<Value> = input
        .block
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
    let path = input.state_dir.join(CONFIG_FILE);
    let argv = vec![
        "--no-api".to_owned(),
        "--config-file".to_owned(),
        path.display().to_string(),
    ];
    VmmCommand {
        config_file: Some(ConfigFile {
            path,
            contents: format!("{config:#}\n"),
        }),
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
        let cmd = Monitor::Firecracker.render(&input(&net, Disk::Initrd));
        assert_eq!(cmd.tap, TapAccess::ByName);
        assert_eq!(
            cmd.argv,
            [
                "--no-api",
                "--config-file",
                "/run/ukrun/.ukrun/c1/firecracker.json"
            ]
        );
        let file = cmd.config_file.unwrap();
        assert_eq!(
            file.path.to_str(),
            Some("/run/ukrun/.ukrun/c1/firecracker.json")
        );
        assert_eq!(
            file.contents,
            r#"{
  "boot-source": {
    "boot_args": "console=ttyS0 ip=x",
    "initrd_path": "/r/boot/initrd.img",
    "kernel_image_path": "/r/boot/kernel"
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
        let file = render(&input(&net, Disk::Block)).config_file.unwrap();
        let v: Value = serde_json::from_str(&file.contents).unwrap();
        assert_eq!(
            v["drives"],
            json!([{"drive_id": "block0", "path_on_host": "/r/disk.img", "is_root_device": false, "is_read_only": false}])
        );
        assert!(v["boot-source"].get("initrd_path").is_none());
    }
}
