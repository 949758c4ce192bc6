//! Framework versions from `com.urunc.unikernel.unikernelVersion`: parsed
//! at create so a typo is a clear error, compared where a framework changed
//! its syntax (Unikraft 0.16.1).

use std::cmp::Ordering;

use crate::limits::excerpt;
use crate::spec::annotations::UNIKERNEL_VERSION;

/// A version `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE]`; a pre-release sorts
/// before its release, as in semantic versioning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    numbers: [u64; 3],
    prerelease: bool,
}

/// Why a version string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{key} {} is not a version (expected e.g. 0.16.1)", excerpt(.0), key = UNIKERNEL_VERSION)]
pub struct VersionError(pub String);

impl Version {
    /// The version `major.minor.patch`.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            numbers: [major, minor, patch],
            prerelease: false,
        }
    }

    /// Parses `text`; missing minor or patch numbers are zero.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let bad = || VersionError(text.to_owned());
        let body = text.strip_prefix('v').unwrap_or(text);
        let (release, prerelease) = match body.split_once('-') {
            Some((release, pre)) if !pre.is_empty() && pre.chars().all(is_pre_char) => {
                (release, true)
            }
            Some(_) => return Err(bad()),
            None => (body, false),
        };
        let parts: Vec<&str> = release.split('.').collect();
        if parts.len() > 3 {
            return Err(bad());
        }
        let mut numbers = [0; 3];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            *slot = part.parse().map_err(|_| bad())?;
        }
        Ok(Self {
            numbers,
            prerelease,
        })
    }
}

fn is_pre_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.'
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| other.prerelease.cmp(&self.prerelease))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spellings_images_use() {
        assert_eq!(Version::parse("0.16.1"), Ok(Version::new(0, 16, 1)));
        assert_eq!(Version::parse("v0.17"), Ok(Version::new(0, 17, 0)));
        assert_eq!(Version::parse("1"), Ok(Version::new(1, 0, 0)));
        assert!(Version::parse("0.16.1-rc1").unwrap() < Version::new(0, 16, 1));
        assert!(Version::parse("0.16.1-rc1").unwrap() > Version::new(0, 16, 0));
    }

    #[test]
    fn orders_numerically() {
        assert!(Version::new(0, 16, 1) > Version::new(0, 9, 9));
        assert!(Version::new(0, 16, 0) < Version::new(0, 16, 1));
        assert_eq!(
            Version::parse("0.16.1")
                .unwrap()
                .cmp(&Version::new(0, 16, 1)),
            Ordering::Equal
        );
    }

    #[test]
    fn garbage_is_a_named_error() {
        for bad in [
            "", "latest", "0..1", "1.2.3.4", "0.16.x", "1.2-", "1.2-a b", "v",
        ] {
            let e = Version::parse(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("com.urunc.unikernel.unikernelVersion {bad:?} is not a version (expected e.g. 0.16.1)")
            );
        }
    }
}
