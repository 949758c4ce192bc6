//! How guests split their command line, as a model: words end at
//! whitespace outside double quotes, which group (Linux's `next_arg`,
//! Unikraft's uklibparam, Hermit's and OSv's parsers).

/// The words a guest sees in `line`.
pub fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current: Option<String> = None;
    let mut quoted = false;
    for c in line.chars() {
        if c.is_whitespace() && !quoted {
            words.extend(current.take());
            continue;
        }
        if c == '"' {
            quoted = !quoted;
        }
        current.get_or_insert_with(String::new).push(c);
    }
    words.extend(current);
    words
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
