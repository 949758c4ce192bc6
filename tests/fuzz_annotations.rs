//! Fuzz targets for what an image says about itself: urunc's annotations
//! and base64 `urunc.json`, ukrun's `ukrun.dev/` knobs, the localhost port
//! list, framework versions and the container environment. No input panics
//! a parser; what `from_values` accepts cannot break a guest or monitor
//! command line (no control character in the command line, a block mount
//! point that is one absolute word) and its files are in-image paths that
//! open inside the rootfs; values round-trip where a format has
//! a writer. Short run in `cargo test`; `PROPTEST_CASES=N` for a long one
//! (docs/fuzzing.md).

mod fuzz_support;
#[path = "fuzz_support/temp_dir.rs"]
mod temp_dir;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Component;

use base64::Engine;
use fuzz_support::{config, hostile_bytes, hostile_text, hostile_value, spliced};
use proptest::prelude::*;
use temp_dir::TempDir;
use ukrun::guest::boot::validate_env;
use ukrun::guest::version::Version;
use ukrun::spec::annotations::{self, decode_urunc_json, merge, UruncValues};
use ukrun::spec::knobs::{self, from_annotations};
use ukrun::spec::ports::{parse_port_list, GuestPort, Protocol};
use ukrun::spec::rootfs_path::{open_file, Access};
use ukrun::spec::unikernel::from_values;

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every key ukrun reads from an image or a pod, and a hostile one.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            annotations::UNIKERNEL_TYPE,
            annotations::HYPERVISOR,
            annotations::BINARY,
            annotations::CMDLINE,
            annotations::INITRD,
            annotations::BLOCK,
            annotations::BLK_MNT_POINT,
            annotations::UNIKERNEL_VERSION,
            annotations::USE_DM_BLOCK,
            knobs::NETWORK_MODE,
            knobs::LOCALHOST_PORTS,
            knobs::POD_LOOPBACK,
            ukrun::dns::delivery::DNS_DELIVERY,
        ])
        .prop_map(str::to_owned),
        hostile_text(4).prop_map(|t| format!("{}{t}", annotations::URUNC_PREFIX)),
        hostile_text(4),
    ]
}

/// A value: one ukrun knows for some key, or a hostile one.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "linux",
            "unikraft",
            "mirage",
            "rumprun",
            "qemu",
            "hvt",
            "spt",
            "firecracker",
            "cloud-hypervisor",
            "/boot/kernel",
            "/initrd",
            "/disk.img",
            "/data",
            "0.16.1",
            "true",
            "tc",
            "routed",
            "8080,53/udp",
            "169.254.9.9",
            "relay",
        ])
        .prop_map(str::to_owned),
        hostile_value(200_000),
    ]
}

fn values() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(key(), value(), 0..10)
}

/// A request that runs (a kind on a monitor that runs it, its files) with
/// some values replaced by hostile ones, so that `from_values` gets past
/// its first checks to the later ones.
fn request() -> impl Strategy<Value = UruncValues> {
    let runs = proptest::sample::select(vec![
        ("linux", "qemu", "/initrd", ""),
        ("linux", "cloud-hypervisor", "", "/disk.img"),
        ("unikraft", "firecracker", "/initrd", ""),
        ("mirage", "hvt", "", "/disk.img"),
        ("rumprun", "spt", "", "/disk.img"),
    ]);
    let urunc_key = key().prop_filter("a urunc key", |k| k.starts_with(annotations::URUNC_PREFIX));
    let overrides = proptest::collection::vec((urunc_key, value()), 0..4);
    (runs, overrides).prop_map(|((kind, monitor, initrd, block), overrides)| {
        let mut values: UruncValues = [
            (annotations::UNIKERNEL_TYPE, kind),
            (annotations::HYPERVISOR, monitor),
            (annotations::BINARY, "/boot/kernel"),
            (annotations::INITRD, initrd),
            (annotations::BLOCK, block),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        values.extend(overrides);
        values
    })
}

/// A rootfs holding the files `request` names.
fn rootfs() -> TempDir {
    let dir = TempDir::new("annotations");
    std::fs::create_dir_all(dir.0.join("boot")).unwrap();
    for file in ["boot/kernel", "initrd", "disk.img"] {
        // Unikernels must be ELF files; the other files take any bytes.
        std::fs::write(dir.0.join(file), b"\x7fELF").unwrap();
    }
    let disk = std::fs::Permissions::from_mode(0o666);
    std::fs::set_permissions(dir.0.join("disk.img"), disk).unwrap();
    dir
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn urunc_json_never_panics(text in hostile_value(200_000)) {
        let _ = decode_urunc_json(&text);
    }

    #[test]
    fn urunc_json_round_trips_and_refuses_non_text(
        file in proptest::collection::btree_map(hostile_text(6), hostile_bytes(), 0..6),
    ) {
        let encoded: BTreeMap<&String, String> = file.iter().map(|(k, v)| (k, base64(v))).collect();
        let decoded = decode_urunc_json(&serde_json::to_string(&encoded).unwrap());
        let as_text: Result<UruncValues, _> = file
            .iter()
            .map(|(k, v)| String::from_utf8(v.clone()).map(|v| (k.clone(), v)))
            .collect();
        match as_text {
            Ok(expected) => prop_assert_eq!(decoded.unwrap(), expected),
            Err(_) => prop_assert!(decoded.is_err()),
        }
    }

    #[test]
    fn merged_values_are_urunc_keys_and_annotations_win(annotations in values(), file in values()) {
        let merged = merge(&annotations, Some(file.clone()));
        for (k, v) in &merged {
            prop_assert!(k.starts_with(annotations::URUNC_PREFIX));
            prop_assert_eq!(Some(v), annotations.get(k).or(file.get(k)));
        }
    }

    #[test]
    fn knobs_never_panic_and_accept_only_valid_values(annotations in values()) {
        if let Ok(k) = from_annotations(&annotations) {
            prop_assert!(k.pod_loopback.is_none_or(|a| a.is_link_local()));
            prop_assert!(k.localhost_ports.iter().all(|p| p.port != 0));
        }
    }

    #[test]
    fn port_lists_never_panic(text in prop_oneof![hostile_value(200_000), spliced("[0-9]{1,5}(/udp)?(,[0-9]{1,5})*".prop_map(|s| s))]) {
        let _ = parse_port_list(&text);
    }

    #[test]
    fn port_lists_round_trip(ports in proptest::collection::btree_set((1u16.., any::<bool>()), 1..12)) {
        let ports: Vec<GuestPort> = ports
            .into_iter()
            .map(|(port, udp)| GuestPort { port, protocol: if udp { Protocol::Udp } else { Protocol::Tcp } })
            .collect();
        let text = ports.iter().map(ToString::to_string).collect::<Vec<_>>().join(" , ");
        prop_assert_eq!(parse_port_list(&text).unwrap(), ports);
    }

    #[test]
    fn versions_never_panic_and_parse_as_written(
        text in hostile_value(200_000),
        numbers in (0u64..1 << 40, 0u64..1000, 0u64..1000),
        pre in proptest::option::of("[a-z0-9.]{1,8}"),
    ) {
        let _ = Version::parse(&text);
        let (major, minor, patch) = numbers;
        let release = Version::new(major, minor, patch);
        let written = format!("v{major}.{minor}.{patch}");
        prop_assert_eq!(Version::parse(&written).unwrap(), release.clone());
        if let Some(pre) = pre {
            let candidate = Version::parse(&format!("{written}-{pre}")).unwrap();
            prop_assert!(candidate < release, "a pre-release sorts before its release");
        }
    }

    #[test]
    fn accepted_environments_hold_nothing_that_ends_a_value(env in proptest::collection::vec(hostile_value(200_000), 0..4)) {
        if validate_env(&env).is_ok() {
            for entry in &env {
                let (name, value) = entry.split_once('=').unwrap();
                prop_assert!(!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()));
                prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
                prop_assert!(!value.chars().any(|c| c.is_control() || c == '"' || c == '\\'));
            }
        }
    }

    #[test]
    fn accepted_requests_cannot_break_a_command_line(values in request()) {
        let rootfs = rootfs();
        let root = &rootfs.0;
        if let Ok(u) = from_values(&values, root) {
            prop_assert!(!u.cmdline.chars().any(char::is_control), "{:?}", u.cmdline);
            if let Some(block) = &u.block {
                let m = &block.mount_point;
                prop_assert!(m.starts_with('/'), "{:?}", m);
                prop_assert!(!m.chars().any(|c| c.is_control() || c.is_whitespace()), "{:?}", m);
            }
            let inside: Vec<(u64, u64)> = ["boot/kernel", "initrd", "disk.img"]
                .iter()
                .map(|f| std::fs::metadata(root.join(f)).map(|m| (m.dev(), m.ino())).unwrap())
                .collect();
            for path in [Some(&u.kernel), u.initrd.as_ref(), u.block.as_ref().map(|b| &b.path)].into_iter().flatten() {
                let text = path.to_str();
                prop_assert!(text.is_some_and(|t| t.starts_with('/')), "{}", path.display());
                prop_assert!(!path.components().any(|c| c == Component::ParentDir), "{}", path.display());
                let opened = open_file(root, text.unwrap(), "file", Access::Read);
                prop_assert!(opened.is_ok(), "{}: {:?}", path.display(), opened);
                let meta = opened.unwrap().metadata().unwrap();
                prop_assert!(inside.contains(&(meta.dev(), meta.ino())), "{} opens a file outside the rootfs", path.display());
            }
            if let Some(v) = &u.version {
                prop_assert!(Version::parse(v).is_ok());
            }
        }
    }
}
