//! What a guest cannot be given (a pod with `hostUsers: false`: a user
//! namespace, ID-mapped ids or mounts) is refused by the real `ukrun
//! create` of a unikernel bundle with one line, leaving no state, no
//! cgroup and no netns; a recursive read-only mount is accepted (create
//! gets as far as the absent pod netns); an ordinary bundle that asks for
//! a user namespace is still handed to runc unchanged.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use ukrun::supervisor::cgroup::cgroup_mounts;
use ukrun_testbed::stub_guest::{StubGuest, ABSENT_NETNS};

/// What every refusal says after its first words.
const HOST_USERS: &str =
    "hostUsers: false): a unikernel container shares no kernel with the host; run this pod with hostUsers: true";

/// An id mapping as containerd writes it for `hostUsers: false`.
fn mapping() -> Value {
    json!([{"containerID": 0, "hostID": 65536, "size": 65536}])
}

/// The stub guest bundle with a cgroup of its own and the pod's volume
/// mounted at /data, changed by `change`.
fn guest(tag: &str, change: impl FnOnce(&mut Value)) -> Result<(StubGuest, Vec<PathBuf>)> {
    let stub = StubGuest::new(
        Path::new(env!("CARGO_BIN_EXE_ukrun")),
        &format!("gl-{tag}"),
        OsStr::new("bundle"),
    )?;
    let cgroup = format!("ukrun-it-guest-limits-{tag}-{}", std::process::id());
    stub.bundle.edit(|c| {
        c["linux"]["cgroupsPath"] = format!("/{cgroup}").into();
        c["mounts"] = json!([{"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "rprivate"]}]);
        change(c);
    })?;
    let mounts = cgroup_mounts(&std::fs::read_to_string("/proc/self/mountinfo")?);
    Ok((stub, mounts.iter().map(|m| m.join(&cgroup)).collect()))
}

/// Runs create on the guest bundle changed by `change` and checks it is
/// refused with `expect`, leaving no state, cgroup or netns.
fn refused(tag: &str, change: impl FnOnce(&mut Value), expect: &str) -> Result<()> {
    let (stub, cgroups) = guest(tag, change)?;
    stub.refused(expect)?;
    ensure!(
        cgroups.iter().all(|d| !d.exists()),
        "cgroup left: {cgroups:?}"
    );
    ensure!(!Path::new(ABSENT_NETNS).exists(), "netns made");
    Ok(())
}

#[test]
fn a_user_namespace_is_refused_at_create() -> Result<()> {
    refused(
        "userns",
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] = mapping();
            c["linux"]["gidMappings"] = mapping();
        },
        &format!("the guest cannot run in a user namespace ({HOST_USERS}"),
    )
}

#[test]
fn uid_and_gid_mappings_are_refused_at_create() -> Result<()> {
    for field in ["uidMappings", "gidMappings"] {
        refused(
            field,
            |c| c["linux"][field] = mapping(),
            &format!("the guest cannot have its ids mapped (linux.{field}, {HOST_USERS}"),
        )?;
    }
    Ok(())
}

#[test]
fn an_id_mapped_mount_is_refused_at_create_for_each_way_of_asking() -> Result<()> {
    let cases = [
        ("uidMappings", mapping(), "mount uidMappings"),
        ("gidMappings", mapping(), "mount gidMappings"),
        ("options", json!(["rbind", "idmap"]), "option idmap"),
        ("options", json!(["rbind", "ridmap"]), "option ridmap"),
    ];
    for (i, (field, value, what)) in cases.into_iter().enumerate() {
        refused(
            &format!("mount{i}"),
            |c| c["mounts"][0][field] = value,
            &format!("the guest cannot use the ID-mapped mount \"/data\" ({what}, {HOST_USERS}"),
        )?;
    }
    Ok(())
}

/// The guest sees no container mounts, so recursive read-only takes
/// nothing from it: create passes the guest checks and stops only at the
/// pod netns, which the stub bundle lacks.
#[test]
fn a_recursive_read_only_mount_is_accepted() -> Result<()> {
    refused(
        "rro",
        |c| c["mounts"][0]["options"] = json!(["rbind", "rro", "rprivate"]),
        "ukrun-bounded-inputs-absent",
    )
}

/// A bundle that is not a unikernel goes to runc with the argv ukrun was
/// given, user namespace and all (runc is `echo` here, which prints it).
#[test]
fn an_ordinary_bundle_with_a_user_namespace_is_handed_to_runc() -> Result<()> {
    let (stub, _) = guest("runc", |c| {
        c["annotations"] = json!({});
        c["linux"]["namespaces"] = json!([{"type": "user"}, {"type": "mount"}]);
        c["linux"]["uidMappings"] = mapping();
    })?;
    let bundle = stub.bundle.dir.to_string_lossy().into_owned();
    let out = stub
        .runtime
        .command(&["create", "--bundle", &bundle, "plain"])
        .env("UKRUN_RUNC", "echo")
        .output()?;
    let printed = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success()
            && printed
                .trim_end()
                .ends_with(&format!("create --bundle {bundle} plain")),
        "runc (echo) got: {printed:?} {:?}",
        stub.runtime.last_error()
    );
    ensure!(stub.runtime.leftover_state().is_empty(), "ukrun kept state");
    Ok(())
}
