//! Closed sets of names that urunc's annotations use (guest kinds, monitors):
//! one table per set gives parsing, display and the list for error messages.

/// A value spelled in annotations by one of a fixed table of names.
pub trait Named: Copy + PartialEq + 'static {
    /// Every value with its spelling.
    const TABLE: &'static [(Self, &'static str)];

    /// Parses the exact spelling; `None` for an unknown name.
    fn parse(name: &str) -> Option<Self> {
        Self::TABLE
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(v, _)| *v)
    }

    /// The spelling of this value.
    fn name(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(v, _)| *v == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    /// Comma-separated spellings of every value, for error messages.
    fn all_names() -> String {
        Self::TABLE
            .iter()
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
