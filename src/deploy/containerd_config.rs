//! containerd's configuration with ukrun's runtime handler added or
//! removed (pure text → text, format-preserving with `toml_edit`, so the
//! operator's comments and layout stay as they were).
//!
//! Where the handler goes depends on containerd's major version, as
//! measured with containerd 1.6.20 and 2.3.4 (`containerd config dump`):
//! - 1.x (config `version = 2`): an imported file *replaces* a plugin's
//!   whole table (a drop-in that adds a runtime drops `runc`), so the
//!   handler is added to the main file, under
//!   `plugins."io.containerd.grpc.v1.cri".containerd.runtimes`.
//! - 2.x (config `version = 3`): imports are merged deeply, so the handler
//!   lives in a drop-in of its own, under
//!   `plugins."io.containerd.cri.v1.runtime".containerd.runtimes`, which the
//!   main file lists in `imports` (the default `conf.d` pattern was not
//!   loaded for a main file without `imports` in the dump, so the entry is
//!   explicit).

use std::path::Path;

use toml_edit::{value, Array, DocumentMut, Item, Table};

/// Which configuration layout a containerd reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// containerd 1.x: config version 2, CRI plugin `io.containerd.grpc.v1.cri`.
    V2,
    /// containerd 2.x: config version 3, CRI plugin `io.containerd.cri.v1.runtime`.
    V3,
}

/// Why a configuration could not be edited.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The text is not TOML.
    #[error("containerd's configuration is not valid TOML: {0}")]
    Syntax(String),
    /// A key on the handler's path holds something other than a table.
    #[error("containerd's configuration has {0} as a value, not a table")]
    NotATable(String),
    /// `imports` is not an array of strings.
    #[error("containerd's configuration has an `imports` that is not an array")]
    Imports,
    /// `containerd --version` printed something unknown.
    #[error("cannot tell containerd's version from {0:?}")]
    Version(String),
}

/// ukrun's runtime handler as containerd's CRI plugin needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handler {
    /// The handler's name (a RuntimeClass's `handler`).
    pub name: String,
    /// Where ukrun is installed on the host (the runc shim's `BinaryName`).
    pub binary: String,
}

impl Layout {
    /// The layout of the containerd whose `containerd --version` printed
    /// `version` (e.g. `containerd github.com/containerd/containerd
    /// 1.6.20~ds1 …` or `… containerd/v2 v2.3.4 …`).
    pub fn of_version(version: &str) -> Result<Self, ConfigError> {
        let number = version
            .split_whitespace()
            .nth(2)
            .map(|v| v.trim_start_matches('v'))
            .and_then(|v| v.split('.').next())
            .and_then(|major| major.parse::<u32>().ok());
        match number {
            Some(1) => Ok(Layout::V2),
            Some(2) => Ok(Layout::V3),
            _ => Err(ConfigError::Version(version.chars().take(120).collect())),
        }
    }

    /// The config file `version` this layout writes.
    fn config_version(self) -> i64 {
        match self {
            Layout::V2 => 2,
            Layout::V3 => 3,
        }
    }

    /// The keys of the CRI runtimes table.
    fn runtimes(self) -> [&'static str; 4] {
        let plugin = match self {
            Layout::V2 => "io.containerd.grpc.v1.cri",
            Layout::V3 => "io.containerd.cri.v1.runtime",
        };
        ["plugins", plugin, "containerd", "runtimes"]
    }
}

fn parse(text: &str) -> Result<DocumentMut, ConfigError> {
    text.parse::<DocumentMut>()
        .map_err(|e| ConfigError::Syntax(e.to_string().lines().next().unwrap_or("").to_owned()))
}

/// The table at `keys` under `root`, created (implicit, so no empty header
/// is written) where missing.
fn table_at<'a>(root: &'a mut Table, keys: &[&str]) -> Result<&'a mut Table, ConfigError> {
    let mut table = root;
    for (i, key) in keys.iter().enumerate() {
        let item = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = item
            .as_table_mut()
            .ok_or_else(|| ConfigError::NotATable(keys[..=i].join(".")))?;
    }
    Ok(table)
}

/// Whether the runc handler of `doc` uses the systemd cgroup driver, which
/// ukrun must then use too (the shim passes `--systemd-cgroup` to the
/// runtime binary, and ukrun hands sidecars to runc with it).
fn runc_uses_systemd(doc: &DocumentMut, layout: Layout) -> bool {
    let mut item = doc.as_item();
    for key in layout
        .runtimes()
        .iter()
        .chain(&["runc", "options", "SystemdCgroup"])
    {
        match item.get(key) {
            Some(next) => item = next,
            None => return false,
        }
    }
    item.as_bool() == Some(true)
}

/// The handler's table: the runc shim running ukrun, with urunc's and
/// ukrun's annotations let through.
fn handler_table(handler: &Handler, systemd: bool) -> Table {
    let mut options = Table::new();
    options.insert("BinaryName", value(&handler.binary));
    if systemd {
        options.insert("SystemdCgroup", value(true));
    }
    let mut table = Table::new();
    table.insert("runtime_type", value("io.containerd.runc.v2"));
    table.insert(
        "container_annotations",
        value(Array::from_iter(["com.urunc.unikernel.*", "ukrun.dev/*"])),
    );
    table.insert("pod_annotations", value(Array::from_iter(["ukrun.dev/*"])));
    table.insert("options", Item::Table(options));
    table
}

/// `main` (the main config file's text) with `handler` added in place
/// (layout V2), replacing a handler of the same name.
pub fn with_handler(main: &str, layout: Layout, handler: &Handler) -> Result<String, ConfigError> {
    let mut doc = parse(main)?;
    if !doc.contains_key("version") {
        doc.insert("version", value(layout.config_version()));
    }
    let systemd = runc_uses_systemd(&doc, layout);
    let runtimes = table_at(doc.as_table_mut(), &layout.runtimes())?;
    runtimes.insert(&handler.name, Item::Table(handler_table(handler, systemd)));
    Ok(doc.to_string())
}

/// `main` without a handler named `name` (what is left when the file was
/// changed since install and cannot be put back byte for byte).
pub fn without_handler(main: &str, layout: Layout, name: &str) -> Result<String, ConfigError> {
    let mut doc = parse(main)?;
    if let Ok(runtimes) = table_at(doc.as_table_mut(), &layout.runtimes()) {
        runtimes.remove(name);
    }
    Ok(doc.to_string())
}

/// The drop-in file of `handler` for a containerd 2.x whose main file is
/// `main` (layout V3).
pub fn drop_in(main: &str, handler: &Handler) -> Result<String, ConfigError> {
    let systemd = runc_uses_systemd(&parse(main)?, Layout::V3);
    let mut doc = DocumentMut::new();
    doc.insert("version", value(Layout::V3.config_version()));
    table_at(doc.as_table_mut(), &Layout::V3.runtimes())?
        .insert(&handler.name, Item::Table(handler_table(handler, systemd)));
    Ok(format!(
        "# ukrun's runtime handler, written by ukrun-deploy; removed by `ukrun-deploy uninstall`.\n{doc}"
    ))
}

/// `main` with `path` in its `imports` (added at the end; unchanged when
/// it is there already).
pub fn with_import(main: &str, path: &Path) -> Result<String, ConfigError> {
    let mut doc = parse(main)?;
    if !doc.contains_key("version") {
        doc.insert("version", value(Layout::V3.config_version()));
    }
    let path = path.to_string_lossy();
    let imports = doc
        .entry("imports")
        .or_insert_with(|| value(Array::new()))
        .as_array_mut()
        .ok_or(ConfigError::Imports)?;
    if !imports.iter().any(|i| i.as_str() == Some(&*path)) {
        imports.push(&*path);
    }
    Ok(doc.to_string())
}

/// `main` without `path` in its `imports`.
pub fn without_import(main: &str, path: &Path) -> Result<String, ConfigError> {
    let mut doc = parse(main)?;
    let path = path.to_string_lossy();
    if let Some(imports) = doc.get_mut("imports").and_then(Item::as_array_mut) {
        imports.retain(|i| i.as_str() != Some(&*path));
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ukrun() -> Handler {
        Handler {
            name: "ukrun".into(),
            binary: "/opt/ukrun/bin/ukrun".into(),
        }
    }

    const DEBIAN_1_6: &str = "version = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    # the node's CNI\n    [plugins.\"io.containerd.grpc.v1.cri\".cni]\n      bin_dir = \"/usr/lib/cni\"\n";

    #[test]
    fn tells_the_layout_from_containerds_version_line() {
        let v1 = "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3";
        let v2 = "containerd github.com/containerd/containerd/v2 v2.3.4 db8809540e1a";
        assert_eq!(Layout::of_version(v1), Ok(Layout::V2));
        assert_eq!(Layout::of_version(v2), Ok(Layout::V3));
        assert!(Layout::of_version("containerd github.com/x v3.0.0").is_err());
        assert!(Layout::of_version("").is_err());
    }

    #[test]
    fn adds_the_handler_in_place_and_keeps_the_operators_text() {
        let out = with_handler(DEBIAN_1_6, Layout::V2, &ukrun()).unwrap();
        assert!(out.starts_with(DEBIAN_1_6), "{out}");
        let doc: toml::Value = toml::from_str(&out).unwrap();
        let h = &doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["ukrun"];
        assert_eq!(h["runtime_type"].as_str(), Some("io.containerd.runc.v2"));
        assert_eq!(
            h["options"]["BinaryName"].as_str(),
            Some("/opt/ukrun/bin/ukrun")
        );
        assert!(h["options"].get("SystemdCgroup").is_none());
        assert_eq!(
            doc["plugins"]["io.containerd.grpc.v1.cri"]["cni"]["bin_dir"].as_str(),
            Some("/usr/lib/cni")
        );
    }

    #[test]
    fn adding_twice_gives_the_same_text() {
        let once = with_handler(DEBIAN_1_6, Layout::V2, &ukrun()).unwrap();
        assert_eq!(with_handler(&once, Layout::V2, &ukrun()).unwrap(), once);
    }

    #[test]
    fn follows_runcs_systemd_cgroup_driver() {
        let main = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n";
        let out = with_handler(main, Layout::V2, &ukrun()).unwrap();
        let doc: toml::Value = toml::from_str(&out).unwrap();
        let options = &doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
            ["ukrun"]["options"];
        assert_eq!(options["SystemdCgroup"].as_bool(), Some(true));
        let v3 = main.replace("io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime");
        assert!(drop_in(&v3, &ukrun())
            .unwrap()
            .contains("SystemdCgroup = true"));
    }

    #[test]
    fn removal_leaves_the_rest() {
        let added = with_handler(DEBIAN_1_6, Layout::V2, &ukrun()).unwrap();
        let removed = without_handler(&added, Layout::V2, "ukrun").unwrap();
        assert!(!removed.contains("ukrun"), "{removed}");
        assert!(removed.contains("bin_dir = \"/usr/lib/cni\""));
    }

    #[test]
    fn an_empty_or_missing_file_gets_a_version() {
        let out = with_handler("", Layout::V2, &ukrun()).unwrap();
        assert!(out.starts_with("version = 2\n"), "{out}");
        let out = with_import("", Path::new("/etc/containerd/conf.d/ukrun.toml")).unwrap();
        assert_eq!(
            out,
            "version = 3\nimports = [\"/etc/containerd/conf.d/ukrun.toml\"]\n"
        );
    }

    #[test]
    fn the_import_is_added_once_and_removed_alone() {
        let main = "version = 3\nimports = [\"/etc/other.toml\"]\n";
        let path = Path::new("/etc/containerd/conf.d/ukrun.toml");
        let added = with_import(main, path).unwrap();
        assert_eq!(with_import(&added, path).unwrap(), added);
        let doc: toml::Value = toml::from_str(&added).unwrap();
        assert_eq!(doc["imports"].as_array().unwrap().len(), 2);
        let removed: toml::Value = toml::from_str(&without_import(&added, path).unwrap()).unwrap();
        assert_eq!(removed["imports"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_drop_in_is_a_version_3_file_with_the_handler() {
        let text = drop_in("version = 3\n", &ukrun()).unwrap();
        let doc: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(doc["version"].as_integer(), Some(3));
        let h = &doc["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["ukrun"];
        assert_eq!(h["pod_annotations"][0].as_str(), Some("ukrun.dev/*"));
    }

    #[test]
    fn refuses_what_it_cannot_edit() {
        assert!(matches!(
            with_handler("plugins = 3\n", Layout::V2, &ukrun()),
            Err(ConfigError::NotATable(_))
        ));
        assert!(matches!(
            with_handler("[[", Layout::V2, &ukrun()),
            Err(ConfigError::Syntax(_))
        ));
        assert_eq!(
            with_import("imports = 1\n", Path::new("/x")),
            Err(ConfigError::Imports)
        );
    }
}
