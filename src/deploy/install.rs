//! Installing ukrun on a node and taking it off again: the binary copied
//! into place, containerd's configuration edited (see
//! [`super::containerd_config`]), and a record of both so that uninstall
//! puts the configuration back byte for byte. Every path is the host's,
//! seen under `host_root` (`/` on the node itself, the hostPath mount in
//! the installer's pod).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::containerd_config::{self as config, Handler, Layout};

/// Where things are on the host.
#[derive(Clone, Debug)]
pub struct HostPaths {
    /// The host's `/` as this process sees it.
    pub host_root: PathBuf,
    /// containerd's main configuration file (host path).
    pub config: PathBuf,
    /// The folder of containerd 2.x drop-ins (host path).
    pub drop_in_dir: PathBuf,
    /// Where ukrun is installed (host path; its folder also holds the record).
    pub binary: PathBuf,
}

/// What install changed, kept beside the binary for uninstall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The layout the configuration was edited for.
    pub layout: String,
    /// The handler's name.
    pub handler: String,
    /// The main configuration before install (`None`: there was no file).
    pub original: Option<String>,
    /// The main configuration as install wrote it.
    pub written: String,
    /// The drop-in install wrote (containerd 2.x), host path.
    pub drop_in: Option<PathBuf>,
    /// Folders install created (host paths, deepest last), removed again
    /// when empty.
    #[serde(default)]
    pub created_dirs: Vec<PathBuf>,
}

/// Whether a step changed the node (containerd must then restart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Something was written or removed.
    Yes,
    /// The node already was as asked.
    No,
}

impl HostPaths {
    /// `path` (a host path) as this process reaches it.
    fn on_host(&self, path: &Path) -> PathBuf {
        self.host_root.join(path.strip_prefix("/").unwrap_or(path))
    }

    fn record_path(&self) -> PathBuf {
        self.on_host(&self.binary.with_file_name("install.json"))
    }

    fn drop_in(&self, handler: &str) -> PathBuf {
        self.drop_in_dir.join(format!("{handler}.toml"))
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, with
/// `mode`, so containerd never reads half a file.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().context("a path without a folder")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("ukrun-tmp");
    let mut file = fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::V2 => "v2",
        Layout::V3 => "v3",
    }
}

/// Installs the ukrun binary from `source` and its handler `name` for a
/// containerd of `layout`. Run twice, the second run changes nothing.
pub fn install(paths: &HostPaths, source: &Path, name: &str, layout: Layout) -> Result<Changed> {
    let mut created_dirs = Vec::new();
    let drop_in = paths.drop_in(name);
    let files = match layout {
        Layout::V2 => vec![&paths.binary, &paths.config],
        Layout::V3 => vec![&paths.binary, &paths.config, &drop_in],
    };
    for file in files {
        for dir in missing_dirs(paths, file) {
            if !created_dirs.contains(&dir) {
                created_dirs.push(dir);
            }
        }
    }
    let mut changed = copy_binary(paths, source)?;
    let handler = Handler {
        name: name.to_owned(),
        binary: paths.binary.to_string_lossy().into_owned(),
    };
    let config_path = paths.on_host(&paths.config);
    let current = read_optional(&config_path)?;
    let previous = read_optional(&paths.record_path())?
        .map(|text| serde_json::from_str::<Record>(&text))
        .transpose()
        .context("reading the install record")?;
    let original = match &previous {
        Some(record) if current.as_deref() == Some(record.written.as_str()) => {
            created_dirs.extend(record.created_dirs.iter().cloned());
            record.original.clone()
        }
        Some(_) => bail!(
            "{} changed since ukrun was installed: run uninstall first",
            paths.config.display()
        ),
        None => current.clone(),
    };
    let base = original.clone().unwrap_or_default();
    let (written, drop_in) = match layout {
        Layout::V2 => (config::with_handler(&base, layout, &handler)?, None),
        Layout::V3 => {
            let text = config::drop_in(&base, &handler)?;
            if read_optional(&paths.on_host(&drop_in))?.as_deref() != Some(text.as_str()) {
                write_atomically(&paths.on_host(&drop_in), text.as_bytes(), 0o644)?;
                changed = Changed::Yes;
            }
            (config::with_import(&base, &drop_in)?, Some(drop_in))
        }
    };
    if current.as_deref() != Some(written.as_str()) {
        write_atomically(&config_path, written.as_bytes(), 0o644)?;
        changed = Changed::Yes;
    }
    let record = Record {
        layout: layout_name(layout).to_owned(),
        handler: name.to_owned(),
        original,
        written,
        drop_in,
        created_dirs,
    };
    write_atomically(
        &paths.record_path(),
        serde_json::to_string_pretty(&record)?.as_bytes(),
        0o600,
    )?;
    Ok(changed)
}

/// The folders above `file` (a host path) that do not exist yet,
/// outermost first.
fn missing_dirs(paths: &HostPaths, file: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = file
        .ancestors()
        .skip(1)
        .take_while(|dir| !paths.on_host(dir).exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

fn copy_binary(paths: &HostPaths, source: &Path) -> Result<Changed> {
    let target = paths.on_host(&paths.binary);
    let bytes = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    if fs::read(&target).ok().as_deref() == Some(bytes.as_slice()) {
        return Ok(Changed::No);
    }
    write_atomically(&target, &bytes, 0o755)?;
    Ok(Changed::Yes)
}

/// Takes ukrun off the node: the configuration as it was before install
/// (byte for byte when nobody changed it since; otherwise only ukrun's
/// handler and import are removed, and the returned note says so), the
/// drop-in, the binary and the record. Without a record nothing is done,
/// and the note says that ukrun is not installed.
pub fn uninstall(paths: &HostPaths) -> Result<(Changed, Option<String>)> {
    let Some(text) = read_optional(&paths.record_path())? else {
        return Ok((
            Changed::No,
            Some(format!(
                "ukrun is not installed here (no install record {}): nothing to undo",
                paths.binary.with_file_name("install.json").display()
            )),
        ));
    };
    let record: Record = serde_json::from_str(&text).context("reading the install record")?;
    let config_path = paths.on_host(&paths.config);
    let current = read_optional(&config_path)?;
    let mut note = None;
    if current.as_deref() == Some(record.written.as_str()) {
        match &record.original {
            Some(original) => write_atomically(&config_path, original.as_bytes(), 0o644)?,
            None => fs::remove_file(&config_path)
                .with_context(|| format!("removing {}", config_path.display()))?,
        }
    } else if let Some(current) = current {
        let layout = if record.layout == "v2" {
            Layout::V2
        } else {
            Layout::V3
        };
        let mut text = config::without_handler(&current, layout, &record.handler)?;
        if let Some(drop_in) = &record.drop_in {
            text = config::without_import(&text, drop_in)?;
        }
        write_atomically(&config_path, text.as_bytes(), 0o644)?;
        note = Some(format!(
            "{} changed since install: removed only ukrun's handler and import",
            paths.config.display()
        ));
    }
    if let Some(drop_in) = &record.drop_in {
        remove_if_there(&paths.on_host(drop_in))?;
    }
    remove_if_there(&paths.on_host(&paths.binary))?;
    remove_if_there(&paths.record_path())?;
    for dir in record.created_dirs.iter().rev() {
        // Only an empty folder goes: whatever someone put there since stays.
        let _ = fs::remove_dir(paths.on_host(dir));
    }
    Ok((Changed::Yes, note))
}

fn remove_if_there(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Host {
        dir: PathBuf,
        paths: HostPaths,
        source: PathBuf,
    }

    impl Host {
        fn new(tag: &str) -> Host {
            let dir =
                std::env::temp_dir().join(format!("ukrun-deploy-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let source = dir.join("ukrun-new");
            fs::write(&source, b"\x7fELF ukrun").unwrap();
            let paths = HostPaths {
                host_root: dir.join("host"),
                config: "/etc/containerd/config.toml".into(),
                drop_in_dir: "/etc/containerd/conf.d".into(),
                binary: "/opt/ukrun/bin/ukrun".into(),
            };
            Host { dir, paths, source }
        }

        fn config(&self) -> PathBuf {
            self.paths.on_host(&self.paths.config)
        }

        fn files(&self) -> Vec<PathBuf> {
            fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
                for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        walk(&path, out);
                    }
                    out.push(path);
                }
            }
            let mut out = Vec::new();
            walk(&self.paths.host_root, &mut out);
            out.sort();
            out
        }
    }

    impl Drop for Host {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    const V2: &str = "version = 2\n# mine\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"runc\"\n";
    const V3: &str = "version = 3\n# mine\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = 'runc'\n";

    fn round_trip(tag: &str, layout: Layout, original: Option<&str>) {
        let host = Host::new(tag);
        if let Some(text) = original {
            fs::create_dir_all(host.config().parent().unwrap()).unwrap();
            fs::write(host.config(), text).unwrap();
        }
        let before = host.files();
        assert_eq!(
            install(&host.paths, &host.source, "ukrun", layout).unwrap(),
            Changed::Yes
        );
        let installed = fs::read_to_string(host.config()).unwrap();
        assert!(installed.contains("ukrun"), "{installed}");
        assert_eq!(
            install(&host.paths, &host.source, "ukrun", layout).unwrap(),
            Changed::No
        );
        assert_eq!(fs::read_to_string(host.config()).unwrap(), installed);
        assert_eq!(uninstall(&host.paths).unwrap(), (Changed::Yes, None));
        assert_eq!(fs::read_to_string(host.config()).ok().as_deref(), original);
        assert_eq!(host.files(), before, "files left behind");
        let (changed, note) = uninstall(&host.paths).unwrap();
        assert_eq!(changed, Changed::No);
        assert!(note.unwrap().contains("not installed"));
    }

    #[test]
    fn containerd_1_round_trip_is_byte_for_byte() {
        round_trip("v2", Layout::V2, Some(V2));
    }

    #[test]
    fn containerd_2_round_trip_is_byte_for_byte() {
        round_trip("v3", Layout::V3, Some(V3));
    }

    #[test]
    fn a_missing_config_is_created_and_removed_again() {
        round_trip("none-v3", Layout::V3, None);
        round_trip("none-v2", Layout::V2, None);
    }

    #[test]
    fn containerd_1_leaves_a_drop_in_folder_made_later_alone() {
        let host = Host::new("later-conf-d");
        install(&host.paths, &host.source, "ukrun", Layout::V2).unwrap();
        let conf_d = host.paths.on_host(&host.paths.drop_in_dir);
        fs::create_dir_all(&conf_d).unwrap();
        uninstall(&host.paths).unwrap();
        assert!(
            conf_d.is_dir(),
            "uninstall removed a folder install never made"
        );
    }

    #[test]
    fn an_operators_later_edit_survives_uninstall() {
        let host = Host::new("edit");
        fs::create_dir_all(host.config().parent().unwrap()).unwrap();
        fs::write(host.config(), V2).unwrap();
        install(&host.paths, &host.source, "ukrun", Layout::V2).unwrap();
        let edited = format!(
            "{}\n[debug]\n  level = \"debug\"\n",
            fs::read_to_string(host.config()).unwrap()
        );
        fs::write(host.config(), &edited).unwrap();
        assert!(install(&host.paths, &host.source, "ukrun", Layout::V2).is_err());
        let (_, note) = uninstall(&host.paths).unwrap();
        assert!(note.unwrap().contains("changed since install"));
        let now = fs::read_to_string(host.config()).unwrap();
        assert!(
            now.contains("level = \"debug\"") && !now.contains("ukrun"),
            "{now}"
        );
    }
}
