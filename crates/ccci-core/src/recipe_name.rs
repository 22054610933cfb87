//! Recipe names: one rule for every tool.
//!
//! A recipe name becomes a path component (`recipes/<name>/`,
//! `canonical/<name>/`), the start of a domain and a stack name, and part of
//! environment variable names, so it is held to the narrowest of those uses:
//! lowercase ASCII letters, digits, `-` and `_`, not starting with `-` or `_`,
//! at most 64 characters. Co-op Cloud's own recipe names all fit.

use crate::exit;
use anyhow::Result;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecipeName(String);

const MAX: usize = 64;

impl RecipeName {
    /// The name, or exit 2 with one line saying what a name must be.
    pub fn parse(name: &str) -> Result<RecipeName> {
        if Self::is_valid(name) {
            Ok(RecipeName(name.to_string()))
        } else {
            Err(exit::usage(format!(
                "recipe name {name:?} must be lowercase letters, digits, - or _ (not first), at most {MAX} characters"
            )))
        }
    }

    pub fn is_valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX
            && !name.starts_with(['-', '_'])
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecipeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RecipeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RecipeName {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_rule() {
        for ok in ["custom-html", "demo", "n8n", "a_b", "x9"] {
            assert!(RecipeName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "_x",
            "Demo",
            "a.b",
            "..",
            "a/b",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            let e = RecipeName::parse(bad).unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE, "{bad}");
            assert!(!format!("{e:#}").contains('\n'));
        }
        assert_eq!(RecipeName::parse("demo").unwrap().to_string(), "demo");
    }
}
