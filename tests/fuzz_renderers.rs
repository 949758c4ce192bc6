//! Fuzz targets for every guest renderer (`GuestKind::render`) and every
//! monitor renderer (`Monitor::render`), fed what a hostile image and pod
//! control: file names in the rootfs (any bytes), the image's command line,
//! block mount point and version, the pod's hostname, the environment,
//! resolvers and network. Each case goes through the checks `create` runs
//! (`from_values`, `validate_hostname`, `validate_env`): what they refuse
//! is done with; what they accept must render to the shape a plain input
//! of the same structure renders to, as the guest and the monitor parse it
//! (models in `fuzz_renderers/`), so no value smuggles in a word, option
//! key, configuration line or JSON member. No image path reaches a
//! monitor: it must name its files only by the descriptors it is handed,
//! exactly the guest's, and get the guest's command line whole, never on
//! its argv when it carries the environment. Short run in `cargo test`;
//! `PROPTEST_CASES=N` for a long one (docs/fuzzing.md).

mod fuzz_support;
#[path = "fuzz_renderers/guest_words.rs"]
mod guest_words;
#[path = "fuzz_renderers/json_shape.rs"]
mod json_shape;
#[path = "fuzz_renderers/monitor_argv.rs"]
mod monitor_argv;
#[path = "fuzz_support/temp_dir.rs"]
mod temp_dir;

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use fuzz_support::{config, hostile_bytes, hostile_text, hostile_value, spliced};
use guest_words::{shapes, words};
use json_shape::Json;
use monitor_argv::{seen, Carrier};
use proptest::prelude::*;
use temp_dir::TempDir;
use ukrun::config::Machine;
use ukrun::guest::boot::{validate_env, BootInput};
use ukrun::guest::caps::Rootfs;
use ukrun::guest::GuestKind;
use ukrun::jail::fds;
use ukrun::names::Named;
use ukrun::net::plan::GuestNet;
use ukrun::spec::annotations::{self, UruncValues};
use ukrun::spec::pod_files::validate_hostname;
use ukrun::spec::unikernel::{from_values, Unikernel};
use ukrun::vmm::input::{Handed, QemuOptions, RenderError, VmmInput};
use ukrun::vmm::qemu::{ResolvedAccel, CONFIG_VALUE_MAX};
use ukrun::vmm::Monitor;

/// One container as a hostile image and pod make it.
#[derive(Clone, Debug)]
struct Case {
    kind: GuestKind,
    monitor: Monitor,
    /// Names in the rootfs of the kernel, initrd and block image.
    files: [Option<Vec<u8>>; 3],
    mount: Option<String>,
    cmdline: String,
    version: Option<String>,
    hostname: Option<String>,
    env: Vec<String>,
    nameservers: Vec<Ipv4Addr>,
    net: GuestNet,
    tsc_khz: Option<u64>,
    qemu: (bool, bool, bool),
}

/// What `create` accepted of a case.
struct Accepted {
    unikernel: Unikernel,
    hostname: Option<String>,
    env: Vec<String>,
}

/// A file name an image may ship: any bytes but `/` and NUL.
fn file_name() -> impl Strategy<Value = Vec<u8>> {
    let hostile = hostile_bytes()
        .prop_map(|b| {
            b.into_iter()
                .filter(|&c| c != b'/' && c != 0)
                .take(200)
                .collect()
        })
        .prop_filter("a file name", |n: &Vec<u8>| {
            !n.is_empty() && n != b"." && n != b".."
        });
    prop_oneof![
        3 => "[a-z0-9_-][a-z0-9._-]{0,11}".prop_map(String::into_bytes),
        1 => hostile,
    ]
}

/// A value that passes, one with a hostile piece spliced in, or a hostile one.
fn maybe_valid(valid: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => valid.prop_map(|s| s),
        3 => spliced(valid.prop_map(|s| s)),
        1 => hostile_value(100_000)
    ]
}

/// Hostile text, mostly without the characters `create` refuses in it (so
/// that most cases reach the renderers with every other separator).
fn mostly_accepted(refused: fn(char) -> bool) -> impl Strategy<Value = String> {
    prop_oneof![
        7 => hostile_value(100_000).prop_map(move |t| t.chars().filter(|c| !refused(*c)).collect()),
        1 => hostile_value(100_000),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let pairs: Vec<(GuestKind, Monitor)> = GuestKind::TABLE
        .iter()
        .flat_map(|(k, _)| Monitor::TABLE.iter().map(move |(m, _)| (*k, *m)))
        .filter(|(k, m)| k.runs_on(*m))
        .collect();
    let env_value = mostly_accepted(|c| c.is_control() || c == '"' || c == '\\');
    let env_entry = prop_oneof![
        4 => ("[A-Za-z_][A-Za-z0-9_]{0,6}", env_value).prop_map(|(n, v)| format!("{n}={v}")),
        1 => hostile_text(8),
    ];
    let net = (
        any::<[u8; 4]>(),
        0u8..=32,
        any::<Option<[u8; 4]>>(),
        any::<[u8; 6]>(),
        any::<u32>(),
    )
        .prop_map(|(ip, prefix, gateway, mac, mtu)| GuestNet {
            ip: ip.into(),
            prefix,
            gateway: gateway.map(Ipv4Addr::from),
            mac,
            mtu,
        });
    (
        (
            proptest::sample::select(pairs),
            (
                file_name(),
                proptest::option::of(file_name()),
                proptest::option::of(file_name()),
            )
                .prop_map(|(kernel, initrd, block)| [Some(kernel), initrd, block]),
            proptest::option::of(
                mostly_accepted(|c| c.is_control() || c.is_whitespace())
                    .prop_map(|m| format!("/{m}")),
            ),
            mostly_accepted(char::is_control),
            proptest::option::of(maybe_valid("v?0\\.1[5-7]\\.[0-9](-rc1)?")),
        ),
        (
            proptest::option::of(maybe_valid("[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?")),
            proptest::collection::vec(env_entry, 0..4),
            proptest::collection::vec(any::<[u8; 4]>().prop_map(Ipv4Addr::from), 0..4),
            net,
            proptest::option::of(any::<u64>()),
            any::<(bool, bool, bool)>(),
        ),
    )
        .prop_map(
            |(
                ((kind, monitor), files, mount, cmdline, version),
                (hostname, env, nameservers, net, tsc_khz, qemu),
            )| Case {
                kind,
                monitor,
                files,
                mount,
                cmdline,
                version,
                hostname,
                env,
                nameservers,
                net,
                tsc_khz,
                qemu,
            },
        )
}

/// Lays the case's files in `root` (each behind a plain symlink the
/// annotations name, as an image may do) and runs `create`'s checks.
fn accept(case: &Case, root: &Path) -> Option<Accepted> {
    let caps = case.kind.caps();
    let roles = [
        (annotations::BINARY, "kernel-link", true),
        (
            annotations::INITRD,
            "initrd-link",
            caps.rootfs.contains(&Rootfs::Initrd),
        ),
        (
            annotations::BLOCK,
            "block-link",
            caps.rootfs.contains(&Rootfs::Block),
        ),
    ];
    let mut values = UruncValues::new();
    values.insert(annotations::UNIKERNEL_TYPE.into(), case.kind.name().into());
    values.insert(annotations::HYPERVISOR.into(), case.monitor.name().into());
    for ((key, link, usable), name) in roles.into_iter().zip(&case.files) {
        let Some(name) = name.as_ref().filter(|_| usable) else {
            continue;
        };
        let name = OsStr::from_bytes(name);
        // Unikernels must be ELF files; the other files take any bytes.
        std::fs::write(root.join(name), b"\x7fELF").ok()?;
        // Open to the confined VMM, as an image must ship them.
        let open_to_all = std::fs::Permissions::from_mode(0o666);
        std::fs::set_permissions(root.join(name), open_to_all).ok()?;
        std::os::unix::fs::symlink(name, root.join(link)).ok()?;
        values.insert(key.into(), format!("/{link}"));
    }
    let optional = [
        (annotations::BLK_MNT_POINT, &case.mount),
        (annotations::UNIKERNEL_VERSION, &case.version),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            values.insert(key.into(), value.clone());
        }
    }
    values.insert(annotations::CMDLINE.into(), case.cmdline.clone());
    let unikernel = from_values(&values, root).ok()?;
    if let Some(name) = &case.hostname {
        validate_hostname(name).ok()?;
    }
    let env = if caps.env && case.monitor.hides_guest_cmdline() {
        case.env.clone()
    } else {
        Vec::new()
    };
    validate_env(&env).ok()?;
    Some(Accepted {
        unikernel,
        hostname: case.hostname.clone(),
        env,
    })
}

/// The guest's input: the case's own values, or (`plain`) plain values of
/// the same structure.
fn boot_input<'a>(case: &'a Case, accepted: &'a Accepted, plain: &'a Plain) -> BootInput<'a> {
    let u = &accepted.unikernel;
    BootInput {
        net: &case.net,
        hostname: plain.hostname.as_deref().or(accepted.hostname.as_deref()),
        nameservers: &case.nameservers,
        image_cmdline: plain.cmdline.as_deref().unwrap_or(&u.cmdline),
        version: u.version.as_deref(),
        env: plain.env.as_deref().unwrap_or(&accepted.env),
        initrd: u.initrd.is_some(),
        block_mount: plain
            .mount
            .as_deref()
            .or(u.block.as_ref().map(|b| b.mount_point.as_str())),
        tsc_khz: case.tsc_khz,
    }
}

/// Plain stand-ins for the hostile values of an accepted case.
#[derive(Default)]
struct Plain {
    hostname: Option<String>,
    cmdline: Option<String>,
    env: Option<Vec<String>>,
    mount: Option<String>,
}

impl Plain {
    fn of(accepted: &Accepted) -> Self {
        let u = &accepted.unikernel;
        Plain {
            hostname: accepted.hostname.as_ref().map(|_| "h".to_owned()),
            cmdline: Some(
                if u.cmdline.trim().is_empty() {
                    ""
                } else {
                    "app"
                }
                .to_owned(),
            ),
            env: Some(
                accepted
                    .env
                    .iter()
                    .map(|e| format!("{}=v", e.split('=').next().unwrap_or_default()))
                    .collect(),
            ),
            mount: u.block.as_ref().map(|_| "/m".to_owned()),
        }
    }
}

/// The monitor's input for the case, with the guest's `cmdline`.
fn vmm_input<'a>(case: &'a Case, accepted: &Accepted, cmdline: &'a str) -> VmmInput<'a> {
    let (kvm, q35, sandbox) = case.qemu;
    let u = &accepted.unikernel;
    VmmInput {
        binary: Path::new("/usr/bin/vmm"),
        initrd: u.initrd.is_some(),
        block: u.block.is_some(),
        cmdline,
        cmdline_has_env: !accepted.env.is_empty(),
        memory_mib: 256,
        vcpus: 1,
        tap: "uk-fuzz",
        net: &case.net,
        control_socket: Path::new("qmp.sock"),
        qemu: QemuOptions {
            accel: if kvm {
                ResolvedAccel::Kvm
            } else {
                ResolvedAccel::Tcg
            },
            machine: if q35 { Machine::Q35 } else { Machine::Microvm },
            sandbox,
            debug_exit: case.kind == GuestKind::Mewz,
        },
        solo5: case.kind.caps().solo5,
    }
}

/// Rumprun's JSON: its shape, and the members that carry image values.
fn rumprun(config: &str) -> (Json, serde_json::Value) {
    (
        serde_json::from_str(config).expect("rumprun's config is JSON"),
        serde_json::from_str(config).expect("rumprun's config is JSON"),
    )
}

/// Checks that `line`, the command line as the guest gets it, has the
/// shape of `twin`, the line of plain values: the image's words last and
/// whole, every word before them keyed as the twin's (Rumprun: the same
/// JSON members, the image's values in theirs).
fn guest_shape(
    kind: GuestKind,
    u: &Unikernel,
    line: &str,
    twin: &str,
) -> Result<(), TestCaseError> {
    if kind == GuestKind::Rumprun {
        let ((shape_of, values), (twin_shape, _)) = (rumprun(line), rumprun(twin));
        prop_assert_eq!(shape_of, twin_shape);
        prop_assert_eq!(values["cmdline"].as_str(), Some(u.cmdline.trim()));
        if let Some(block) = &u.block {
            prop_assert_eq!(
                values["blk"]["mountpoint"].as_str(),
                Some(block.mount_point.as_str())
            );
        }
        return Ok(());
    }
    let (all, twin_all) = (words(kind, line), words(kind, twin));
    let image = words(kind, u.cmdline.trim());
    let twin_image = words(kind, if image.is_empty() { "" } else { "app" });
    prop_assert!(
        all.ends_with(&image),
        "the image's words come last, whole: {:?}",
        all
    );
    let ours = shapes(kind, &all[..all.len() - image.len()]);
    let twins = shapes(kind, &twin_all[..twin_all.len() - twin_image.len()]);
    prop_assert_eq!(ours, twins, "{}", line);
    Ok(())
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn guest_command_lines_keep_their_shape(case in case()) {
        let root = TempDir::new("guest");
        let Some(accepted) = accept(&case, &root.0) else { return Ok(()) };
        let Ok(line) = case.kind.render(&boot_input(&case, &accepted, &Plain::default())) else {
            prop_assert!(case.version.is_some(), "only a version fails rendering");
            return Ok(());
        };
        let twin = case.kind.render(&boot_input(&case, &accepted, &Plain::of(&accepted))).unwrap();
        guest_shape(case.kind, &accepted.unikernel, &line, &twin)?;
    }

    #[test]
    fn monitors_name_only_handed_files_and_keep_the_command_line_off_the_argv(case in case()) {
        let root = TempDir::new("monitor");
        let Some(accepted) = accept(&case, &root.0) else { return Ok(()) };
        let Ok(line) = case.kind.render(&boot_input(&case, &accepted, &Plain::default())) else {
            return Ok(());
        };
        let u = &accepted.unikernel;
        let qemu = case.monitor == Monitor::Qemu;
        let command = match case.monitor.render(&vmm_input(&case, &accepted, &line)) {
            Ok(command) => command,
            Err(e) => {
                prop_assert!(
                    matches!(e, RenderError::EnvWouldShow { .. })
                        && qemu
                        && !accepted.env.is_empty()
                        && (line.contains('"') || line.len() > CONFIG_VALUE_MAX),
                    "{} refuses {:?}: {}", case.monitor.name(), line, e
                );
                return Ok(());
            }
        };
        let got = seen(case.monitor, &command);
        prop_assert!(got.is_ok(), "{} refuses {:?} {:?}: {:?}", case.monitor.name(), command.argv, command.config, got);
        let got = got.unwrap();

        // (a) Files are named only by the descriptors handed, the guest's.
        let config_text = command.config.as_deref().unwrap_or_default();
        let mut image_paths = vec![root.0.display().to_string(), u.kernel.display().to_string()];
        image_paths.extend(u.initrd.iter().map(|p| p.display().to_string()));
        image_paths.extend(u.block.iter().map(|b| b.path.display().to_string()));
        for path in &image_paths {
            prop_assert!(
                !command.argv.iter().any(|a| a.contains(path.as_str())) && !config_text.contains(path.as_str()),
                "{} names image path {:?}: {:?} {:?}", case.monitor.name(), path, command.argv, command.config
            );
        }
        let handed = |h: Handed| fds::proc_path(h.fd()).display().to_string();
        let expected_files = [
            Some(handed(Handed::Kernel)),
            u.initrd.as_ref().map(|_| handed(Handed::Initrd)),
            u.block.as_ref().map(|_| if qemu { "/dev/fdset/1".to_owned() } else { handed(Handed::Block) }),
        ];
        prop_assert_eq!(&got.files, &expected_files, "{:?} {:?}", command.argv, command.config);
        let mut expected_handed = vec![Handed::Kernel];
        expected_handed.extend(u.initrd.as_ref().map(|_| Handed::Initrd));
        expected_handed.extend(u.block.as_ref().map(|_| Handed::Block));
        let mut fdset = Vec::new();
        if qemu && u.block.is_some() {
            expected_handed.push(Handed::BlockReadOnly);
            fdset = vec![Handed::Block.fd(), Handed::BlockReadOnly.fd()];
        }
        prop_assert_eq!(&command.files, &expected_handed);
        prop_assert_eq!(&got.fds, &fdset, "{:?}", command.argv);

        // (b) The guest gets its command line whole, in its shape.
        let Some((received, carrier)) = got.cmdline.clone() else {
            return Err(TestCaseError::fail(format!("{} gets no command line: {:?}", case.monitor.name(), command)));
        };
        prop_assert_eq!(&received, &line);
        let twin_line = case.kind.render(&boot_input(&case, &accepted, &Plain::of(&accepted))).unwrap();
        guest_shape(case.kind, u, &received, &twin_line)?;

        // (c) The environment never reaches an argv.
        if !accepted.env.is_empty() {
            prop_assert_eq!(carrier, Carrier::Config, "the environment is on the argv: {:?}", command.argv);
            prop_assert!(!command.argv.iter().any(|a| a.contains(line.as_str())), "{:?}", command.argv);
        }

        // (d) qemu's configuration: exactly its keys, one line each (the
        // model refuses a value with a double quote or a newline), and the
        // command line on the argv only when the configuration cannot hold it.
        if qemu {
            let mut keys = vec!["kernel"];
            keys.extend(u.initrd.as_ref().map(|_| "initrd"));
            if carrier == Carrier::Config {
                keys.push("append");
            } else {
                prop_assert!(line.contains('"') || line.len() > CONFIG_VALUE_MAX, "{:?} could be in the config", line);
            }
            prop_assert_eq!(&got.config_keys, &keys, "{:?}", command.config);
        }

        // And no value smuggles in an option, key or member.
        let plain_line = match (line.is_empty(), carrier) {
            (true, _) => "",
            (false, Carrier::Argv) if qemu => "\"x\"",
            (false, _) => "x",
        };
        let twin = case.monitor.render(&vmm_input(&case, &accepted, plain_line)).unwrap();
        let expected = seen(case.monitor, &twin).unwrap();
        prop_assert_eq!(&got.options, &expected.options, "{:?}", command.argv);
        prop_assert_eq!(&got.config, &expected.config);
    }
}
