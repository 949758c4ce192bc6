//! Closed sets of names that urunc's annotations use (guest kinds, monitors):
//! one table per set gives parsing, display and the "supported" list.

/// A value spelled in annotations by one of a fixed table of names.
pub trait Named: Copy + PartialEq + 'static {
    /// Every value with its spelling.
    const TABLE: &'static [(Self, &'static str)];

    /// Whether ukrun implements this value today.
    fn is_supported(self) -> bool;

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

    /// Comma-separated spellings of the supported values, for error messages.
    fn supported_names() -> String {
        Self::TABLE
            .iter()
            .filter(|(v, _)| v.is_supported())
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
