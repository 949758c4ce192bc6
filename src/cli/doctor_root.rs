//! Which state root `doctor` reads a container from when `--root` is not
//! given: the roots containerd's runc shims pass (`/run/containerd/runc/NS`,
//! one per containerd namespace present), then ukrun's default.

use std::path::{Path, PathBuf};

use crate::state::Store;

/// Where containerd's runc shims keep their runtimes' state, one
/// directory per containerd namespace.
pub(crate) const SHIM_ROOTS: &str = "/run/containerd/runc";

/// The roots to try, in order: each namespace directory (or symlink to
/// one) under `shim_roots`, sorted by name, then `default`.
pub(crate) fn candidates(shim_roots: &Path, default: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(shim_roots)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.push(default.to_path_buf());
    found
}

/// The first of `roots` under which `owns` finds the container, or the
/// error that lists every root looked in.
pub(crate) fn pick(
    id: &str,
    roots: &[PathBuf],
    owns: impl Fn(&Path) -> bool,
) -> Result<PathBuf, String> {
    roots.iter().find(|r| owns(r)).cloned().ok_or_else(|| {
        let looked: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        format!(
            "container {id} does not exist under any state root ukrun knows ({}); name the shim's root with --root",
            looked.join(", ")
        )
    })
}

/// The store holding container `id`: `explicit` (the `--root` given) as
/// it is, or the first candidate root that holds it.
pub(crate) fn locate(explicit: Option<&Path>, default: &Path, id: &str) -> Result<Store, String> {
    if let Some(root) = explicit {
        return Ok(Store::new(root));
    }
    let roots = candidates(Path::new(SHIM_ROOTS), default);
    pick(id, &roots, |root| Store::new(root).owns(id)).map(|root| Store::new(&root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shim_namespaces_sorted_then_the_default() {
        let dir = std::env::temp_dir().join(format!("ukrun-doctor-roots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for ns in ["moby", "k8s.io"] {
            std::fs::create_dir_all(dir.join(ns)).unwrap();
        }
        std::fs::write(dir.join("not-a-namespace"), "").unwrap();
        let roots = candidates(&dir, Path::new("/run/ukrun"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            roots,
            vec![
                dir.join("k8s.io"),
                dir.join("moby"),
                PathBuf::from("/run/ukrun")
            ]
        );
        assert_eq!(
            candidates(&dir, Path::new("/run/ukrun")),
            vec![PathBuf::from("/run/ukrun")],
            "no shim roots: only the default"
        );
    }

    #[test]
    fn the_first_root_holding_the_container_wins_and_a_miss_lists_them_all() {
        let roots = [
            PathBuf::from("/run/containerd/runc/default"),
            PathBuf::from("/run/containerd/runc/k8s.io"),
            PathBuf::from("/run/ukrun"),
        ];
        let held = |r: &Path| r.ends_with("k8s.io") || r.ends_with("ukrun");
        assert_eq!(pick("g1", &roots, held), Ok(roots[1].clone()));
        assert_eq!(
            pick("g1", &roots, |_| false),
            Err("container g1 does not exist under any state root ukrun knows (/run/containerd/runc/default, /run/containerd/runc/k8s.io, /run/ukrun); name the shim's root with --root".into())
        );
    }
}
