//! What a unikernel bundle may ask for that a guest cannot be given,
//! refused at `create` with one line each. `ukrun features` answers with
//! runc's document (`cli/features.rs`), so containerd may hand a guest
//! anything runc offers: here, a user namespace and ID-mapped ids or
//! mounts (a pod with `hostUsers: false`), which have no meaning for a
//! guest kernel of its own and would otherwise be silently dropped.
//!
//! Accepted: every mount option, recursive read-only (`rro`) included.
//! The guest sees none of the container's mounts; ukrun only reads the
//! pod's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` from their
//! host sources, so an option that narrows the container's view of a
//! mount takes nothing away from the guest.
//!
//! The check reads config.json as JSON: oci-spec's `Mount` has no
//! `uidMappings` or `gidMappings` and drops them when it parses.

use serde_json::Value;

use crate::limits::excerpt;

/// The reason every refusal shares, and what to do about it.
const NO_SHARED_KERNEL: &str =
    "a unikernel container shares no kernel with the host; run this pod with hostUsers: true";

/// Mount options that ask runc for an ID-mapped mount.
const IDMAP_OPTIONS: [&str; 2] = ["idmap", "ridmap"];

/// Why a unikernel bundle asks for what its guest cannot be given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GuestLimitError {
    /// `linux.namespaces` has a user namespace.
    #[error("the guest cannot run in a user namespace (hostUsers: false): {NO_SHARED_KERNEL}")]
    UserNamespace,
    /// `linux.uidMappings` or `linux.gidMappings` is set.
    #[error(
        "the guest cannot have its ids mapped (linux.{0}, hostUsers: false): {NO_SHARED_KERNEL}"
    )]
    IdMappings(&'static str),
    /// A mount is ID-mapped (its own mappings, or `idmap`/`ridmap`).
    #[error("the guest cannot use the ID-mapped mount {} ({what}, hostUsers: false): {NO_SHARED_KERNEL}", excerpt(.destination))]
    IdMappedMount {
        /// The mount's destination.
        destination: String,
        /// What makes it ID-mapped: a field or an option.
        what: String,
    },
}

/// Checks a unikernel bundle's config.json document (already parsed as a
/// spec, so its shape is an OCI spec's).
pub fn check(config: &Value) -> Result<(), GuestLimitError> {
    let linux = &config["linux"];
    let namespaces = linux["namespaces"].as_array().map(Vec::as_slice);
    if namespaces
        .unwrap_or_default()
        .iter()
        .any(|n| n["type"] == "user")
    {
        return Err(GuestLimitError::UserNamespace);
    }
    if let Some(field) = mapped(linux) {
        return Err(GuestLimitError::IdMappings(field));
    }
    let mounts = config["mounts"].as_array().map(Vec::as_slice);
    mounts.unwrap_or_default().iter().try_for_each(check_mount)
}

/// The first of `uidMappings` and `gidMappings` that `object` sets (an
/// empty list maps nothing).
fn mapped(object: &Value) -> Option<&'static str> {
    ["uidMappings", "gidMappings"]
        .into_iter()
        .find(|field| object[*field].as_array().is_some_and(|m| !m.is_empty()))
}

/// Refuses a mount that is ID-mapped.
fn check_mount(mount: &Value) -> Result<(), GuestLimitError> {
    let option = mount["options"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .find_map(|o| o.as_str().filter(|o| IDMAP_OPTIONS.contains(o)))
        .map(|o| format!("option {o}"));
    match mapped(mount)
        .map(|field| format!("mount {field}"))
        .or(option)
    {
        Some(what) => Err(GuestLimitError::IdMappedMount {
            destination: mount["destination"].as_str().unwrap_or_default().to_owned(),
            what,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What containerd gives a pod with `hostUsers: true`: its usual
    /// namespaces and mounts, the read-only ones recursively so.
    fn host_users() -> Value {
        json!({
            "ociVersion": "1.1.0",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/kubelet/pods/p/etc-hosts", "options": ["rbind", "rprivate", "rw"]},
                {"destination": "/data", "type": "bind", "source": "/var/lib/kubelet/pods/p/volumes/v", "options": ["rbind", "rro", "rprivate"]},
                {"destination": "/etc/resolv.conf", "type": "bind", "source": "/run/resolv.conf", "options": ["rbind", "ro"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network", "path": "/run/netns/p"}],
                "uidMappings": []
            }
        })
    }

    #[test]
    fn a_host_users_pod_with_recursive_read_only_mounts_is_accepted() {
        assert_eq!(check(&host_users()), Ok(()));
        assert_eq!(check(&json!({"ociVersion": "1.1.0"})), Ok(()));
    }

    #[test]
    fn a_user_namespace_is_refused_before_its_mappings() {
        let mut c = host_users();
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 65536, "size": 65536}]);
        let e = check(&c).unwrap_err();
        assert_eq!(e, GuestLimitError::UserNamespace);
        assert_eq!(
            e.to_string(),
            "the guest cannot run in a user namespace (hostUsers: false): a unikernel container shares no kernel with the host; run this pod with hostUsers: true"
        );
    }

    #[test]
    fn id_mappings_without_the_namespace_are_refused() {
        for field in ["uidMappings", "gidMappings"] {
            let mut c = host_users();
            c["linux"][field] = json!([{"containerID": 0, "hostID": 65536, "size": 1}]);
            assert_eq!(check(&c), Err(GuestLimitError::IdMappings(field)));
        }
    }

    #[test]
    fn an_id_mapped_mount_is_refused_naming_it() {
        let mapping = json!([{"containerID": 0, "hostID": 65536, "size": 65536}]);
        let cases = [
            ("uidMappings", mapping.clone(), "mount uidMappings"),
            ("gidMappings", mapping, "mount gidMappings"),
            ("options", json!(["rbind", "idmap"]), "option idmap"),
            ("options", json!(["ridmap"]), "option ridmap"),
        ];
        for (field, value, what) in cases {
            let mut c = host_users();
            c["mounts"][2][field] = value;
            let e = check(&c).unwrap_err();
            assert_eq!(
                e,
                GuestLimitError::IdMappedMount {
                    destination: "/data".into(),
                    what: what.into()
                }
            );
            assert!(
                e.to_string().starts_with(&format!(
                    "the guest cannot use the ID-mapped mount \"/data\" ({what}, hostUsers: false)"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn a_hostile_destination_is_quoted_short() {
        let mut c = host_users();
        c["mounts"][2]["destination"] = "/x".repeat(10_000).into();
        c["mounts"][2]["options"] = json!(["idmap"]);
        let e = check(&c).unwrap_err().to_string();
        assert!(e.len() < 400 && !e.contains('\n'), "{}", e.len());
    }
}
