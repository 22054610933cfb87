//! The sweep's decision, from two versions and nothing else.
//!
//! It takes the newest release tag and the canonical version, never a commit: new
//! untagged commits on a recipe's main branch cannot make the sweep run, and a
//! second sweep right after a first one that promoted everything skips everything.

use ccci_core::exit;
use ccci_core::version::Version;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A release newer than the canonical one: test it cold.
    Run,
    /// No canonical version yet: test the newest release to seed one.
    RunSeed,
    /// The newest release is the canonical one.
    SkipNoNewVersion,
    /// The newest release is older than the canonical one (a tag deleted upstream).
    SkipOlder,
    /// No release tag at all: nothing to test.
    SkipNeverReleased,
}

impl Decision {
    /// The word printed on stdout.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Run => "run",
            Decision::RunSeed => "run:seed",
            Decision::SkipNoNewVersion => "skip:no-new-version",
            Decision::SkipOlder => "skip:older",
            Decision::SkipNeverReleased => "skip:never-released",
        }
    }

    /// 0 for run, 1 for skip.
    pub fn exit_code(self) -> i32 {
        match self {
            Decision::Run | Decision::RunSeed => exit::OK,
            _ => exit::NO,
        }
    }
}

/// Decide, and say why in one phrase.
pub fn decide(newest: Option<&Version>, canonical: Option<&Version>) -> (Decision, String) {
    match (newest, canonical) {
        (None, None) => (Decision::SkipNeverReleased, "no release tag".into()),
        (None, Some(c)) => (
            Decision::SkipNeverReleased,
            format!("no release tag, though the canonical version is {c} (tags deleted upstream?)"),
        ),
        (Some(n), None) => (
            Decision::RunSeed,
            format!("no canonical version yet; newest release {n} would seed it"),
        ),
        (Some(n), Some(c)) => match n.cmp(c) {
            Ordering::Greater => (
                Decision::Run,
                format!("newest release {n} is newer than canonical {c}"),
            ),
            Ordering::Equal => (
                Decision::SkipNoNewVersion,
                format!("newest release {n} is the canonical version"),
            ),
            Ordering::Less => (
                Decision::SkipOlder,
                format!(
                    "newest release {n} is older than canonical {c} (was a tag deleted upstream?)"
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn truth_table() {
        let d = |n: Option<&str>, c: Option<&str>| decide(n.map(v).as_ref(), c.map(v).as_ref()).0;
        use Decision::*;
        assert_eq!(
            d(Some("3.6.0+1.24.2-rootless"), Some("3.5.3+1.24.2-rootless")),
            Run
        );
        assert_eq!(
            d(Some("1.13.0+1.31.1"), Some("1.13.0+1.31.1")),
            SkipNoNewVersion
        );
        assert_eq!(d(Some("1.12.0+1.31.1"), Some("1.13.0+1.31.1")), SkipOlder);
        assert_eq!(d(None, Some("1.13.0+1.31.1")), SkipNeverReleased);
        assert_eq!(d(None, None), SkipNeverReleased);
        assert_eq!(d(Some("0.3.0+v0.4.219"), None), RunSeed);
        assert_eq!(d(Some("2.0.0+5.0"), Some("2.0.0-rc.1+5.0")), Run);
        assert_eq!(d(Some("2.0.0-rc.1+5.0"), Some("2.0.0+5.0")), SkipOlder);
        assert_eq!(d(Some("1.10.0+1"), Some("1.9.0+1")), Run);
    }

    #[test]
    fn words_and_codes() {
        use Decision::*;
        for (dec, word, code) in [
            (Run, "run", 0),
            (RunSeed, "run:seed", 0),
            (SkipNoNewVersion, "skip:no-new-version", 1),
            (SkipOlder, "skip:older", 1),
            (SkipNeverReleased, "skip:never-released", 1),
        ] {
            assert_eq!(dec.as_str(), word);
            assert_eq!(dec.exit_code(), code);
        }
    }
}
