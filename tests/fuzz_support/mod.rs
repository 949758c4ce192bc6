//! What every fuzz target shares: the case count (short for CI, raised by
//! `PROPTEST_CASES` for a long run) and generators of hostile text and
//! bytes built from the separators that matter to ukrun's parsers, the
//! guests' command-line parsers and the monitors' option parsers.

use proptest::prelude::*;
use proptest::test_runner::Config;

/// The proptest configuration of a target: `ci_cases` cases unless
/// `PROPTEST_CASES` says otherwise, and no persisted failures (a failure
/// found here becomes a unit test next to the code it breaks).
pub fn config(ci_cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = ci_cases;
    }
    config.failure_persistence = None;
    config
}

/// Pieces hostile input is made of: separators of key=value lists, argv,
/// guest command lines, JSON and resolver files; option names ukrun
/// writes; non-ASCII whitespace, controls and other unicode.
const PIECES: &[&str] = &[
    ",",
    ",,",
    "=",
    ":",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\0",
    "\"",
    "'",
    "\\",
    "[",
    "]",
    "{",
    "}",
    ";",
    "#",
    "/",
    "/..",
    ".",
    "..",
    "-",
    "--",
    "%",
    "a",
    "Z9",
    "web-0",
    "x.example",
    "10.0.0.1",
    "fd00::1",
    "netdev.ip=",
    "ip=",
    "env.vars=[",
    "env=",
    "--env=",
    "--nameserver=",
    "--block:x=",
    "path=",
    "file=",
    "format=qcow2",
    "id=",
    "console=ttyS0",
    "nameserver",
    "search",
    "options",
    "ndots:",
    "\u{a0}",
    "\u{85}",
    "\u{2028}",
    "\u{202e}",
    "\u{fffd}",
    "é",
    "日本",
    "\u{1f600}",
    "\u{7f}",
    "\u{1b}",
];

/// Text of up to `max_pieces` hostile pieces or arbitrary characters.
pub fn hostile_text(max_pieces: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(PIECES).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..=max_pieces).prop_map(|pieces| pieces.concat())
}

/// Hostile text, sometimes repeated to about `huge` bytes (a value far
/// larger than any real one).
pub fn hostile_value(huge: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        20 => hostile_text(16),
        1 => hostile_text(4).prop_map(move |t| if t.is_empty() { "x".repeat(huge) } else { t.repeat(huge / t.len() + 1) }),
    ]
}

/// Hostile bytes: hostile text, arbitrary bytes (mostly not UTF-8), or
/// text with a byte that breaks its UTF-8 spliced in.
pub fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        hostile_text(24).prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..256),
        (
            hostile_text(24),
            any::<prop::sample::Index>(),
            0x80u8..=0xff
        )
            .prop_map(|(text, at, byte)| {
                let mut bytes = text.into_bytes();
                bytes.insert(at.index(bytes.len() + 1), byte);
                bytes
            }),
    ]
}

/// A valid value from `valid` with one hostile piece spliced in somewhere:
/// what gets past a check that is one character too lax.
pub fn spliced(valid: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (
        valid,
        proptest::sample::select(PIECES),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(valid, piece, at)| {
            let boundaries: Vec<usize> = (0..=valid.len())
                .filter(|i| valid.is_char_boundary(*i))
                .collect();
            let at = boundaries[at.index(boundaries.len())];
            format!("{}{piece}{}", &valid[..at], &valid[at..])
        })
}
