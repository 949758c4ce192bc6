//! `update`: changes the CPU and pids limits of a running guest's VMM, as
//! runc's `update --resources` changes a container's cgroup (the shim's
//! form, behind CRI UpdateContainerResources and in-place pod resize). The
//! guest's memory was given at boot: a different memory limit is refused.

use std::ffi::OsString;
use std::io::Read;

use oci_spec::runtime::LinuxResources;

use super::{Global, Outcome};
use crate::limits::{excerpt, UPDATE_RESOURCES_BYTES};
use crate::state::Status;
use crate::supervisor::cgroup;

/// What an `update` command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    /// The container id.
    id: String,
    /// `--resources`' value: a file, or `-` for standard input.
    resources: Option<String>,
    /// runc's other flags (`--cpu-quota` …), which ukrun does not take.
    other_flags: Vec<String>,
}

/// Updates a unikernel container's limits; other ids are runc's.
pub(crate) fn update(g: &Global, args: &[OsString]) -> Result<Outcome, String> {
    let request = parse(args)?;
    if !g.store.owns(&request.id) {
        return Ok(Outcome::Delegate);
    }
    if let Some(flag) = request.other_flags.first() {
        return Err(format!(
            "update of a unikernel container takes --resources only (as the shim sends it), not {flag}"
        ));
    }
    let source = request
        .resources
        .ok_or("update of a unikernel container needs --resources FILE or -")?;
    let resources = read_resources(&source)?;
    let mut state = g.store.load(&request.id).map_err(|e| e.to_string())?;
    if state.status() == Status::Stopped {
        return Err("container not running".into());
    }
    let Some(vmm) = state.vmm_cgroup.as_mut() else {
        return Ok(Outcome::Exit(0));
    };
    let limits = vmm.limits.updated(&resources).map_err(|e| e.to_string())?;
    cgroup::write_limits(&vmm.dirs, &limits.files()).map_err(|e| e.to_string())?;
    vmm.limits = limits;
    g.store.save(&state).map_err(|e| e.to_string())?;
    Ok(Outcome::Exit(0))
}

/// Reads the command line as runc's: flags (each with a value, `--f v` or
/// `--f=v`), then the id.
fn parse(args: &[OsString]) -> Result<Request, String> {
    let mut words = args.iter().map(|a| a.to_string_lossy().into_owned());
    let (mut id, mut resources, mut other_flags) = (None, None, Vec::new());
    while let Some(word) = words.next() {
        if !word.starts_with('-') || word == "-" {
            id.get_or_insert(word);
            continue;
        }
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (word, None),
        };
        let value = inline.or_else(|| words.next());
        match flag.as_str() {
            "-r" | "--resources" => resources = value,
            _ => other_flags.push(flag),
        }
    }
    Ok(Request {
        id: id.ok_or("update needs a container id")?,
        resources,
        other_flags,
    })
}

/// The `LinuxResources` document from a file or standard input (`-`).
fn read_resources(source: &str) -> Result<LinuxResources, String> {
    let unreadable =
        |e: std::io::Error| format!("cannot read the resources from {}: {e}", excerpt(source));
    if source == "-" {
        resources_from(std::io::stdin()).map_err(unreadable)?
    } else {
        resources_from(std::fs::File::open(source).map_err(unreadable)?).map_err(unreadable)?
    }
}

/// The document `input` holds, at most [`UPDATE_RESOURCES_BYTES`] of it.
fn resources_from(input: impl Read) -> std::io::Result<Result<LinuxResources, String>> {
    let mut text = String::new();
    input
        .take(UPDATE_RESOURCES_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > UPDATE_RESOURCES_BYTES {
        return Ok(Err(format!(
            "the resources document is larger than {UPDATE_RESOURCES_BYTES} bytes"
        )));
    }
    Ok(serde_json::from_str(&text).map_err(|e| format!("the resources are not valid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_shims_form_is_read() {
        assert_eq!(
            parse(&args(&["--resources", "-", "c1"])),
            Ok(Request {
                id: "c1".into(),
                resources: Some("-".into()),
                other_flags: vec![],
            })
        );
        assert_eq!(
            parse(&args(&["-r=/tmp/r.json", "c1"])).unwrap().resources,
            Some("/tmp/r.json".into())
        );
    }

    #[test]
    fn other_flags_and_their_values_are_set_aside() {
        let request = parse(&args(&["--cpu-quota", "5000", "--memory=1G", "c1"])).unwrap();
        assert_eq!(request.id, "c1");
        assert_eq!(request.other_flags, ["--cpu-quota", "--memory"]);
        assert_eq!(request.resources, None);
    }

    #[test]
    fn an_id_is_needed() {
        assert!(parse(&args(&["--resources", "-"])).is_err());
    }

    #[test]
    fn the_resources_are_read_bounded_and_checked() {
        let read = |text: &str| resources_from(text.as_bytes()).unwrap();
        let resources = read(r#"{"cpu": {"quota": 20000}}"#).unwrap();
        assert_eq!(resources.cpu().as_ref().unwrap().quota(), Some(20000));
        assert!(read("{")
            .unwrap_err()
            .starts_with("the resources are not valid"));
        let big = " ".repeat(UPDATE_RESOURCES_BYTES as usize + 1);
        assert!(read(&big).unwrap_err().contains("larger than"));
        assert!(read_resources("/nonexistent/r.json")
            .unwrap_err()
            .starts_with("cannot read the resources from"));
    }
}
