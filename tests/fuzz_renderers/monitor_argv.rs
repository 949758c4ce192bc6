//! How each monitor reads the argv (and config file) ukrun renders, as a
//! model of its own parser: qemu's `key=value,…` options (`,,` is a comma)
//! and its multiboot `-initrd` module list (modules split at commas, a
//! module's file name ends at a space); Cloud Hypervisor's option parser
//! (commas split outside `"…"` and `[…]`, quotes dropped, values trimmed);
//! the Solo5 tenders' `sscanf("--block:%[A-Za-z0-9]=%s")`, whose path ends
//! at whitespace; Firecracker's JSON config. The result is what the
//! monitor would see: its options with their keys, and the files it opens.

use serde_json::Value;
use ukrun::vmm::input::VmmCommand;
use ukrun::vmm::Monitor;

use crate::json_shape::Json;

/// What a monitor makes of a command.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Each option (or positional argument's role) with the keys of its value.
    pub options: Vec<(String, Vec<String>)>,
    /// The shape of the config file, if there is one.
    pub config: Option<Json>,
    /// Files the monitor opens: kernel, initrd, block image.
    pub files: [Option<String>; 3],
    /// The guest command line, where the argv or config file carries it.
    pub cmdline: Option<String>,
}

/// What `monitor` sees in `command`; `Err` when it would refuse it.
pub fn seen(monitor: Monitor, command: &VmmCommand) -> Result<Seen, String> {
    match monitor {
        Monitor::Qemu => qemu(&command.argv),
        Monitor::CloudHypervisor => cloud_hypervisor(&command.argv),
        Monitor::Hvt | Monitor::Spt => solo5(&command.argv),
        Monitor::Firecracker => firecracker(command),
    }
}

fn qemu(argv: &[String]) -> Result<Seen, String> {
    let mut seen = Seen::default();
    let mut args = argv.iter();
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
                seen.cmdline = Some(value.clone());
                Vec::new()
            }
            _ => {
                let parts = qemu_split(value);
                if flag == "-drive" {
                    seen.files[2] = parts
                        .iter()
                        .find_map(|p| p.strip_prefix("file=").map(str::to_owned));
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
            "--cmdline" => seen.cmdline = Some(value.clone()),
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
    seen.cmdline = rest.get(1).cloned();
    seen.options
        .push(("--".to_owned(), vec![rest.len().to_string()]));
    Ok(seen)
}

fn firecracker(command: &VmmCommand) -> Result<Seen, String> {
    let file = command.config_file.as_ref().ok_or("no config file")?;
    let config: Value = serde_json::from_str(&file.contents).map_err(|e| e.to_string())?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let boot = &config["boot-source"];
    Ok(Seen {
        options: command
            .argv
            .iter()
            .map(|a| (a.clone(), Vec::new()))
            .collect(),
        config: Some(serde_json::from_str(&file.contents).map_err(|e| e.to_string())?),
        files: [
            text(&boot["kernel_image_path"]),
            text(&boot["initrd_path"]),
            text(&config["drives"][0]["path_on_host"]),
        ],
        cmdline: text(&boot["boot_args"]),
    })
}
