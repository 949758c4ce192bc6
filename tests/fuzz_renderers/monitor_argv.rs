//! How each monitor reads the command ukrun renders, as a model of its own
//! parser: qemu's `key=value,…` options (`,,` is a comma), its multiboot
//! `-initrd` module list (modules split at commas, a module's file name
//! ends at a space) and its `-readconfig` file (util/qemu-config.c: a
//! `[group]` line, then `key = "value"` lines; the value ends at the next
//! double quote, a line holds at most 1023 bytes of it); Cloud
//! Hypervisor's option parser (commas split outside `"…"` and `[…]`,
//! quotes dropped, values trimmed); the Solo5 tenders'
//! `sscanf("--block:%[A-Za-z0-9]=%s")`, whose path ends at whitespace;
//! Firecracker's JSON config. The result is what the monitor would see:
//! its options with their keys, the files it opens, the descriptors it
//! takes from its parent, and the guest's command line and where it was.

use serde_json::Value;
use ukrun::jail::fds;
use ukrun::vmm::input::VmmCommand;
use ukrun::vmm::Monitor;

use crate::json_shape::Json;

/// Where a monitor found the guest's command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    /// On its argv, which every local user reads.
    Argv,
    /// In the configuration it reads from descriptor [`fds::CONFIG`].
    Config,
}

/// What a monitor makes of a command.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Each option (or positional argument's role) with the keys of its value.
    pub options: Vec<(String, Vec<String>)>,
    /// The shape of the config file, if there is one.
    pub config: Option<Json>,
    /// qemu's configuration: each line's key, in order.
    pub config_keys: Vec<String>,
    /// Files the monitor opens: kernel, initrd, block image.
    pub files: [Option<String>; 3],
    /// Descriptors the monitor takes by number (qemu's `-add-fd fd=`).
    pub fds: Vec<i32>,
    /// The guest command line, and what carried it.
    pub cmdline: Option<(String, Carrier)>,
}

/// What `monitor` sees in `command`; `Err` when it would refuse it.
pub fn seen(monitor: Monitor, command: &VmmCommand) -> Result<Seen, String> {
    match monitor {
        Monitor::Qemu => qemu(command),
        Monitor::CloudHypervisor => cloud_hypervisor(&command.argv),
        Monitor::Hvt | Monitor::Spt => solo5(&command.argv),
        Monitor::Firecracker => firecracker(command),
    }
}

/// The path the monitor reads its configuration from.
fn config_path() -> String {
    fds::proc_path(fds::CONFIG).display().to_string()
}

fn qemu(command: &VmmCommand) -> Result<Seen, String> {
    let mut seen = Seen::default();
    let mut args = command.argv.iter();
    while let Some(flag) = args.next() {
        if ["-nodefaults", "-no-user-config", "-no-reboot"].contains(&flag.as_str()) {
            seen.options.push((flag.clone(), Vec::new()));
            continue;
        }
        let value = args.next().ok_or(format!("{flag} without a value"))?;
        let keys = match flag.as_str() {
            "-kernel" => {
                seen.files[0] = Some(value.clone());
                Vec::new()
            }
            "-initrd" => {
                let modules = qemu_split(value);
                let name = modules[0].split(' ').next().unwrap_or_default();
                seen.files[1] = Some(name.to_owned());
                vec![modules.len().to_string()]
            }
            "-append" => {
                if seen.cmdline.is_some() {
                    return Err("a second command line".into());
                }
                seen.cmdline = Some((value.clone(), Carrier::Argv));
                Vec::new()
            }
            "-readconfig" => {
                if *value != config_path() {
                    return Err(format!("-readconfig {value:?}"));
                }
                let text = command
                    .config
                    .as_deref()
                    .ok_or("-readconfig without a config")?;
                qemu_config(text, &mut seen)?;
                Vec::new()
            }
            _ => {
                let parts = qemu_split(value);
                for part in &parts {
                    match (flag.as_str(), part.split_once('=')) {
                        ("-drive", Some(("file", file))) => seen.files[2] = Some(file.to_owned()),
                        ("-add-fd", Some(("fd", fd))) => seen
                            .fds
                            .push(fd.parse().map_err(|_| format!("-add-fd {value:?}"))?),
                        _ => {}
                    }
                }
                parts
                    .iter()
                    .map(|p| p.split('=').next().unwrap_or_default().to_owned())
                    .collect()
            }
        };
        seen.options.push((flag.clone(), keys));
    }
    Ok(seen)
}

/// qemu's `-readconfig`: `[machine]`, then one `key = "value"` per line.
fn qemu_config(text: &str, seen: &mut Seen) -> Result<(), String> {
    let body = text
        .strip_suffix('\n')
        .ok_or("the config does not end with a newline")?;
    let mut lines = body.split('\n');
    if lines.next() != Some("[machine]") {
        return Err(format!(
            "the config does not start with [machine]: {text:?}"
        ));
    }
    let mut members = Vec::new();
    for line in lines {
        let (key, rest) = line
            .split_once(" = \"")
            .ok_or(format!("{line:?} is not key = \"value\""))?;
        let value = rest
            .strip_suffix('"')
            .ok_or(format!("{line:?} does not end its value"))?;
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("{line:?} has no key"));
        }
        if value.contains('"') || value.chars().any(char::is_control) || value.len() > 1023 {
            return Err(format!("the value of {key} is not one qemu reads whole"));
        }
        if seen.config_keys.iter().any(|k| k == key) {
            return Err(format!("{key} twice"));
        }
        seen.config_keys.push(key.to_owned());
        members.push((key.to_owned(), Json::Leaf));
        match key {
            "kernel" => seen.files[0] = Some(value.to_owned()),
            "initrd" => seen.files[1] = Some(value.to_owned()),
            "append" => {
                if seen.cmdline.is_some() {
                    return Err("a second command line".into());
                }
                seen.cmdline = Some((value.to_owned(), Carrier::Config));
            }
            _ => {}
        }
    }
    seen.config = Some(Json::Object(members));
    Ok(())
}

/// qemu's `get_opt_value`: split at single commas, `,,` is a comma.
fn qemu_split(value: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ',' if chars.peek() == Some(&',') => {
                chars.next();
                parts.last_mut().unwrap().push(',');
            }
            ',' => parts.push(String::new()),
            c => parts.last_mut().unwrap().push(c),
        }
    }
    parts
}

fn cloud_hypervisor(argv: &[String]) -> Result<Seen, String> {
    let mut seen = Seen::default();
    for pair in argv.chunks(2) {
        let [flag, value] = pair else {
            return Err(format!("{pair:?} without a value"));
        };
        let mut keys = Vec::new();
        match flag.as_str() {
            "--kernel" => seen.files[0] = Some(value.clone()),
            "--initramfs" => seen.files[1] = Some(value.clone()),
            "--cmdline" => seen.cmdline = Some((value.clone(), Carrier::Argv)),
            "--memory" | "--cpus" | "--net" | "--disk" => {
                for (key, option) in ch_options(value)? {
                    if flag == "--disk" && key == "path" {
                        seen.files[2] = Some(option);
                    }
                    keys.push(key);
                }
            }
            _ => {}
        }
        seen.options.push((flag.clone(), keys));
    }
    Ok(seen)
}

/// Cloud Hypervisor's `OptionParser::parse` (option_parser/src/lib.rs).
fn ch_options(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut list = vec![String::new()];
    let (mut brackets, mut quoted) = (0i32, false);
    for c in value.trim().chars() {
        match c {
            '[' => brackets += 1,
            ']' => brackets -= 1,
            '"' => quoted = !quoted,
            ',' if brackets == 0 && !quoted => list.push(String::new()),
            _ => {}
        }
        if brackets < 0 {
            return Err(format!("unbalanced brackets in {value:?}"));
        }
        if c != '"' && !(c == ',' && brackets == 0 && !quoted) {
            list.last_mut().unwrap().push(c);
        }
    }
    if brackets != 0 || quoted {
        return Err(format!("unbalanced brackets or quotes in {value:?}"));
    }
    list.iter()
        .map(|option| match option.split_once('=') {
            Some((key, v)) => Ok((key.to_owned(), v.trim().to_owned())),
            None => Err(format!("{option:?} has no value")),
        })
        .collect()
}

fn solo5(argv: &[String]) -> Result<Seen, String> {
    let mut seen = Seen::default();
    let end = argv.iter().position(|a| a == "--").ok_or("no --")?;
    for arg in &argv[..end] {
        let (key, value) = arg.split_once('=').ok_or(format!("{arg:?} has no value"))?;
        if let Some(name) = key.strip_prefix("--block:") {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("{arg:?} has no device name"));
            }
            let path = value.split([' ', '\t', '\n', '\x0b', '\x0c', '\r']).next();
            seen.files[2] = path.map(str::to_owned);
        }
        seen.options.push((key.to_owned(), Vec::new()));
    }
    let rest = &argv[end + 1..];
    seen.files[0] = rest.first().cloned();
    seen.cmdline = Some((rest.get(1).cloned().unwrap_or_default(), Carrier::Argv));
    seen.options
        .push(("--".to_owned(), vec![rest.len().to_string()]));
    Ok(seen)
}

fn firecracker(command: &VmmCommand) -> Result<Seen, String> {
    if command.argv != ["--no-api", "--config-file", &config_path()] {
        return Err(format!("firecracker's argv: {:?}", command.argv));
    }
    let file = command.config.as_ref().ok_or("no config file")?;
    let config: Value = serde_json::from_str(file).map_err(|e| e.to_string())?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let boot = &config["boot-source"];
    Ok(Seen {
        options: command
            .argv
            .iter()
            .map(|a| (a.clone(), Vec::new()))
            .collect(),
        config: Some(serde_json::from_str(file).map_err(|e| e.to_string())?),
        files: [
            text(&boot["kernel_image_path"]),
            text(&boot["initrd_path"]),
            text(&config["drives"][0]["path_on_host"]),
        ],
        cmdline: text(&boot["boot_args"]).map(|line| (line, Carrier::Config)),
        ..Seen::default()
    })
}
