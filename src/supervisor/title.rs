//! What the supervisor's processes are called in `ps`: `ukrun GLOBAL-FLAGS
//! VERB ID`, written over the process's own argument strings (where the
//! kernel reads /proc/PID/cmdline from), the portable setproctitle, which
//! needs no capability. The supervisor is `__supervise`; the VMM's process,
//! forked from it and held until `start` lets it exec the monitor, is
//! `__vmm` (as runc's waiting init is `runc init`). The global flags stay,
//! so the state root in `ps` says whose container it is.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// The supervisor's verb.
pub const SUPERVISE_VERB: &str = "__supervise";
/// The held VMM's verb (until its exec).
pub const HELD_VMM_VERB: &str = "__vmm";

/// This process's argument area (where the kernel reads
/// /proc/PID/cmdline from), checked once: where the kernel says it is,
/// holding exactly this process's arguments.
pub struct ArgumentArea {
    start: usize,
    len: usize,
    program: OsString,
}

impl ArgumentArea {
    /// Finds and checks it; call before any title is shown.
    pub fn of_this_process() -> std::io::Result<Self> {
        let (start, end) = argument_area(&std::fs::read_to_string("/proc/self/stat")?)
            .ok_or_else(|| std::io::Error::other("/proc/self/stat has no argument area"))?;
        let args: Vec<OsString> = std::env::args_os().collect();
        let original = nul_terminated(args.iter().map(|a| a.as_bytes()));
        if end.checked_sub(start) != Some(original.len()) {
            return Err(std::io::Error::other(
                "the argument area is not as long as the arguments",
            ));
        }
        // SAFETY: [start, end) is this process's argument area (the kernel
        // says so, and its length matches the arguments), mapped at the top
        // of the main stack; this only reads it.
        let area = unsafe { std::slice::from_raw_parts(start as *const u8, original.len()) };
        if area != original.as_slice() {
            return Err(std::io::Error::other(
                "the argument area does not hold the arguments",
            ));
        }
        Ok(Self {
            start,
            len: original.len(),
            program: args.first().cloned().unwrap_or_else(|| "ukrun".into()),
        })
    }

    /// `program GLOBAL-FLAGS verb id`, laid out for this area. Fails when
    /// it does not fit (`create`'s own arguments, as the shim passes them,
    /// are longer).
    pub fn title(&self, global_args: &[OsString], verb: &str, id: &str) -> std::io::Result<Title> {
        let mut text = words(&self.program, global_args, verb, id);
        if text.len() > self.len {
            return Err(std::io::Error::other(
                "the title does not fit the argument area",
            ));
        }
        text.resize(self.len, 0);
        Ok(Title {
            start: self.start,
            text,
        })
    }
}

/// A title laid out for this process's argument area: NUL-padded to the
/// area's length, so that showing it is one copy (safe in a forked child).
pub struct Title {
    start: usize,
    text: Vec<u8>,
}

impl Title {
    /// Shows the title: copies it over the argument area (a plain copy,
    /// safe between fork and exec).
    ///
    /// # Safety
    /// Call in the process the title was made in, or in a fork of it.
    pub unsafe fn show(&self) {
        std::ptr::copy_nonoverlapping(self.text.as_ptr(), self.start as *mut u8, self.text.len());
    }
}

/// The command line as `ps` shows it, NUL-separated.
fn words(program: &OsString, global_args: &[OsString], verb: &str, id: &str) -> Vec<u8> {
    nul_terminated(
        std::iter::once(program.as_bytes())
            .chain(global_args.iter().map(|a| a.as_bytes()))
            .chain([verb.as_bytes(), id.as_bytes()]),
    )
}

/// `words`, each followed by a NUL, as the kernel lays out arguments.
fn nul_terminated<'w>(words: impl IntoIterator<Item = &'w [u8]>) -> Vec<u8> {
    let mut text = Vec::new();
    for word in words {
        text.extend_from_slice(word);
        text.push(0);
    }
    text
}

/// `arg_start` and `arg_end` of a /proc/PID/stat line (fields 48 and 49,
/// counted after the command name, which may hold spaces and parentheses).
fn argument_area(stat: &str) -> Option<(usize, usize)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(45);
    let start = fields.next()?.parse().ok()?;
    let end = fields.next()?.parse().ok()?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_the_program_its_global_flags_the_verb_and_the_id() {
        assert_eq!(
            words(
                &"/usr/local/bin/ukrun".into(),
                &["--root".into(), "/run/r".into()],
                SUPERVISE_VERB,
                "c1"
            ),
            b"/usr/local/bin/ukrun\0--root\0/run/r\0__supervise\0c1\0"
        );
    }

    #[test]
    fn the_argument_area_is_read_after_the_command_name() {
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[48 - 3] = "1000".into();
        fields[49 - 3] = "1200".into();
        let stat = format!("77 (a) b (c)) {}", fields.join(" "));
        assert_eq!(argument_area(&stat), Some((1000, 1200)));
        assert_eq!(argument_area("77 (truncated"), None);
        assert_eq!(argument_area("77 (a) S 1 2"), None);
    }

    #[test]
    fn this_process_argument_area_holds_its_arguments() {
        let (start, end) =
            argument_area(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        let length: usize = std::env::args_os().map(|a| a.len() + 1).sum();
        assert_eq!(end - start, length);
    }

    #[test]
    fn a_title_longer_than_the_arguments_is_refused() {
        let area = ArgumentArea::of_this_process().unwrap();
        let long = OsString::from("x".repeat(1 << 16));
        assert!(area.title(&[long], SUPERVISE_VERB, "c1").is_err());
    }
}
