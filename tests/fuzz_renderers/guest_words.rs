//! How guests split their command line, as models: Linux's `next_arg`,
//! Hermit's and OSv's parsers end words at whitespace outside double
//! quotes, which group; Unikraft's ukargparse also groups in single quotes
//! and takes a backslash as escaping the next character (ukrun escapes
//! blanks and single quotes in the environment that way).

use ukrun::guest::GuestKind;

/// The words `kind` sees in `line`.
pub fn words(kind: GuestKind, line: &str) -> Vec<String> {
    let unikraft = kind == GuestKind::Unikraft;
    let mut words = Vec::new();
    let mut current: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        if escaped {
            escaped = false;
        } else if unikraft && c == '\\' && quote.is_none() {
            escaped = true;
        } else if c.is_whitespace() && quote.is_none() {
            words.extend(current.take());
            continue;
        } else if c == '"' || (unikraft && c == '\'') {
            match quote {
                None => quote = Some(c),
                Some(q) if q == c => quote = None,
                Some(_) => {}
            }
        }
        current.get_or_insert_with(String::new).push(c);
    }
    words.extend(current);
    words
}

/// The shapes of `words` in order; the elements of a Unikraft array
/// parameter (`env.vars=[ … ]`, `vfs.fstab=[ … ]`) are values, not
/// parameters, so each is shaped as an element whatever it holds (an
/// environment entry named `ip` is not Linux's `ip=`).
pub fn shapes(kind: GuestKind, words: &[String]) -> Vec<String> {
    let arrays = kind == GuestKind::Unikraft;
    let mut in_array = false;
    words
        .iter()
        .map(|w| {
            if in_array {
                in_array = w != "]";
                return if in_array {
                    "[element]".to_owned()
                } else {
                    "]".to_owned()
                };
            }
            in_array = arrays && w.ends_with("=[");
            shape(w)
        })
        .collect()
}

/// What identifies a word regardless of the values in it: the text before
/// its first `=` (quotes dropped), and for the words whose fields ukrun
/// separates with `:` or `,` (network and resolvers), how many fields.
pub fn shape(word: &str) -> String {
    let bare = word.replace('"', "");
    let (key, value) = bare.split_once('=').unwrap_or((&bare, ""));
    match key {
        "ip" | "netdev.ip" | "--ip" | "--resolver" => {
            format!("{key} {}", value.matches([':', ',']).count())
        }
        _ => key.to_owned(),
    }
}
