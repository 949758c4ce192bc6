//! Which containerd a test-bed node runs, chosen per test run by
//! `UKRUN_CONTAINERD` (`1.6`, the default, or `2.3`) and handed to
//! `testbed/node.sh up` (whose `lib/containerd.sh` unpacks 2.3.4).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use crate::repo;

/// The environment variable that picks the node's containerd.
pub const ENV: &str = "UKRUN_CONTAINERD";

/// A containerd the test bed can run a node on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Containerd {
    /// Debian 12's containerd 1.6 (with its ctr and runc shim), on PATH.
    #[default]
    V1_6,
    /// containerd 2.3.4 built offline in `../shared/containerd-2.3.4`,
    /// unpacked into `testbed/out/containerd-2.3.4`.
    V2_3,
}

impl Containerd {
    /// The containerd `UKRUN_CONTAINERD` asks for ([`Containerd::V1_6`]
    /// when unset or empty); fails on any other value.
    pub fn from_env() -> Result<Containerd> {
        match std::env::var(ENV) {
            Ok(value) if !value.is_empty() => value.parse().context(ENV),
            _ => Ok(Containerd::default()),
        }
    }

    /// The folder `node.sh` puts first in containerd's PATH (so the runc
    /// shim is found there too), or `None` for Debian's, found on PATH.
    pub fn bin_dir(self) -> Option<PathBuf> {
        match self {
            Containerd::V1_6 => None,
            Containerd::V2_3 => Some(repo::out_dir().join("containerd-2.3.4")),
        }
    }

    /// The runc shim (`containerd-shim-runc-v2`) this containerd starts:
    /// the first one in its PATH, as containerd looks it up.
    pub fn shim(self) -> Result<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        self.bin_dir()
            .into_iter()
            .chain(std::env::split_paths(&path))
            .map(|dir| dir.join("containerd-shim-runc-v2"))
            .find(|candidate| candidate.is_file())
            .with_context(|| format!("no containerd-shim-runc-v2 for containerd {self}"))
    }

    /// Whether `server_version`, as `ctr version` reports the server's
    /// (`1.6.20~ds1`, `v2.3.4`), is this containerd's.
    pub fn runs(self, server_version: &str) -> bool {
        let version = server_version.strip_prefix('v').unwrap_or(server_version);
        version
            .strip_prefix(self.name())
            .is_some_and(|rest| rest.starts_with('.'))
    }

    /// Its name as `UKRUN_CONTAINERD` and node.env spell it.
    fn name(self) -> &'static str {
        match self {
            Containerd::V1_6 => "1.6",
            Containerd::V2_3 => "2.3",
        }
    }
}

impl fmt::Display for Containerd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Containerd {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> Result<Containerd> {
        match value {
            "1.6" => Ok(Containerd::V1_6),
            "2.3" => Ok(Containerd::V2_3),
            other => bail!("unknown containerd {other:?} (1.6 or 2.3)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for containerd in [Containerd::V1_6, Containerd::V2_3] {
            assert_eq!(
                containerd.to_string().parse::<Containerd>().unwrap(),
                containerd
            );
        }
        assert!("2.4".parse::<Containerd>().is_err());
        assert!("".parse::<Containerd>().is_err());
    }

    #[test]
    fn tells_server_versions_apart() {
        assert!(Containerd::V1_6.runs("1.6.20~ds1"));
        assert!(Containerd::V2_3.runs("v2.3.4"));
        assert!(!Containerd::V2_3.runs("1.6.20~ds1"));
        assert!(!Containerd::V1_6.runs("v2.3.4"));
        assert!(!Containerd::V1_6.runs("1.60.1"));
        assert!(!Containerd::V2_3.runs(""));
    }

    #[test]
    fn only_2_3_has_a_folder_of_its_own() {
        assert_eq!(Containerd::V1_6.bin_dir(), None);
        assert!(Containerd::V2_3
            .bin_dir()
            .is_some_and(|dir| dir.ends_with("testbed/out/containerd-2.3.4")));
    }
}
