//! Part of a run: `--tiers install,custom` runs the named tiers and what they
//! need. Every tier needs the app (install); restore needs the backup it
//! restores. Without the upgrade, the app is installed at the ref under test
//! itself. Such a run is partial: never green, never promoted, and it says
//! which tiers it left out.

use anyhow::Result;
use ccci_core::exit;
use ccci_core::plan::TIERS;

/// A set of tiers, one bit per tier in ladder order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Selection(u8);

fn bit(tier: &str) -> Option<u8> {
    TIERS.iter().position(|t| *t == tier).map(|i| 1 << i)
}

/// What a tier needs run before it.
fn needs(tier: &str) -> &'static [&'static str] {
    match tier {
        "install" => &[],
        "restore" => &["install", "backup"],
        _ => &["install"],
    }
}

impl Selection {
    pub(crate) fn all() -> Selection {
        Selection((1 << TIERS.len()) - 1)
    }

    /// `--tiers` as given (empty: every tier). An unknown name is bad input.
    pub(crate) fn parse(names: &[String]) -> Result<Selection> {
        // `CCCI_RUN_TIERS=` in a request file, or a stray comma: no name is
        // no restriction.
        let names: Vec<&str> = names
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(Selection::all());
        }
        let mut bits = 0;
        for n in names {
            let b = bit(n).ok_or_else(|| {
                exit::usage(format!(
                    "--tiers: {n:?} is not a tier (tiers: {})",
                    TIERS.join(", ")
                ))
            })?;
            bits |= b;
            for need in needs(n) {
                bits |= bit(need).unwrap_or(0);
            }
        }
        Ok(Selection(bits))
    }

    pub(crate) fn has(self, tier: &str) -> bool {
        bit(tier).is_some_and(|b| self.0 & b != 0)
    }

    pub(crate) fn is_partial(self) -> bool {
        self != Selection::all()
    }

    /// The tiers left out, in ladder order.
    pub(crate) fn left_out(self) -> Vec<String> {
        TIERS
            .iter()
            .filter(|t| !self.has(t))
            .map(|t| t.to_string())
            .collect()
    }

    /// The tiers run, in ladder order, as `--tiers` would name them.
    pub(crate) fn describe(self) -> String {
        TIERS
            .iter()
            .filter(|t| self.has(t))
            .copied()
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> Selection {
        Selection::parse(&s.split(',').map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn named_tiers_bring_what_they_need() {
        assert_eq!(sel("custom").describe(), "install,custom");
        assert_eq!(sel("restore").describe(), "install,backup,restore");
        assert_eq!(sel("lint, upgrade").describe(), "install,upgrade,lint");
        assert_eq!(
            sel("custom").left_out(),
            ["upgrade", "backup", "restore", "lint"]
        );
        assert!(!Selection::parse(&[]).unwrap().is_partial());
        assert!(
            !sel("install,upgrade,backup,restore,custom,lint").is_partial(),
            "naming every tier is a whole run"
        );
    }

    #[test]
    fn unknown_tiers_are_bad_input() {
        assert!(!sel("").is_partial());
        assert_eq!(sel("install,,custom").describe(), "install,custom");
        for bad in ["instal", "custom,all"] {
            let e = Selection::parse(&bad.split(',').map(String::from).collect::<Vec<_>>())
                .unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE, "{bad}");
            assert!(format!("{e:#}").contains("is not a tier"), "{e:#}");
        }
    }
}
