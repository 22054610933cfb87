//! The per-repository watch ledger: `<state>/bridge/repos/<owner>/<name>.json`.
//!
//! It is what makes a `!testme` start exactly one run across restarts:
//! - `watching_since`: when ccci began watching the repository. Comments
//!   created before it never trigger, on any pull request, open, closed or
//!   reopened later (replaying them is how one comment once started three
//!   runs).
//! - `cursor`: the newest `updated_at` read so far; the next poll asks for
//!   comments updated at or after it, so comments written while the bridge was
//!   stopped are read when it starts again (nothing is marked seen wholesale).
//! - `handled`: every comment id a decision was taken on, with the decision.
//!   A comment is decided once; polls, webhooks and redeliveries that bring it
//!   again find it here.
//!
//! Written atomically (temp file and rename) by the one process holding
//! `<state>/bridge/bridge.lock`. A ledger that cannot be read is exit 2 naming
//! the file: resetting it would replay every comment of the repository.

use anyhow::Result;
use ccci_core::gitea::RepoRef;
use ccci_core::{exit, state};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    pub schema: u32,
    pub repo: String,
    /// RFC 3339 UTC.
    pub watching_since: String,
    /// RFC 3339 UTC: the next poll's `since`.
    pub cursor: String,
    pub handled: BTreeMap<i64, Decision>,
}

/// What became of one comment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// RFC 3339 UTC.
    pub at: String,
    pub pr: i64,
    pub author: String,
    /// `queued` (then `run_id` is set) or why not: `not-permitted`,
    /// `own-comment`, `not-open`, `duplicate`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

pub fn root(state_dir: &Path) -> PathBuf {
    state_dir.join("bridge")
}

pub fn path(state_dir: &Path, repo: &RepoRef) -> PathBuf {
    // Owner and name are checked by RepoRef (no `/`, no leading dot); Gitea
    // matches them case-insensitively, so the file name does too.
    root(state_dir)
        .join("repos")
        .join(repo.owner.to_ascii_lowercase())
        .join(format!("{}.json", repo.name.to_ascii_lowercase()))
}

impl Ledger {
    /// The ledger of `repo`, or a new one watching from `now` when there is
    /// none yet (the first time the repository is watched).
    pub fn load_or_start(state_dir: &Path, repo: &RepoRef, now: &str) -> Result<(Ledger, bool)> {
        let p = path(state_dir, repo);
        match state::read_json_opt::<Ledger>(&p) {
            Ok(Some(l)) if l.schema == SCHEMA => {
                l.check(now).map_err(|why| {
                    exit::usage(format!(
                        "the bridge ledger {} is corrupt ({why}); fix or restore it by hand, it is never reset",
                        p.display()
                    ))
                })?;
                Ok((l, false))
            }
            Ok(Some(l)) => Err(exit::usage(format!(
                "{} has schema {}, this bridge reads {SCHEMA}; refusing to reset it (it would replay every comment)",
                p.display(),
                l.schema
            ))),
            Ok(None) => Ok((
                Ledger {
                    schema: SCHEMA,
                    repo: repo.to_string(),
                    watching_since: now.to_string(),
                    cursor: now.to_string(),
                    handled: BTreeMap::new(),
                },
                true,
            )),
            Err(e) => Err(exit::usage(format!(
                "the bridge ledger {} is corrupt ({}); fix or restore it by hand, it is never reset (that would replay every comment)",
                p.display(),
                exit::one_line(&e)
            ))),
        }
    }

    /// Times that do not parse, or a cursor in the future, would make the
    /// bridge ignore every comment without a word.
    fn check(&self, now: &str) -> std::result::Result<(), String> {
        let t = |k: &str, v: &str| {
            ccci_core::ids::parse_rfc3339(v)
                .ok_or_else(|| format!("{k} {v:?} is not an RFC 3339 time"))
        };
        let since = t("watching_since", &self.watching_since)?;
        let cursor = t("cursor", &self.cursor)?;
        let now = ccci_core::ids::parse_rfc3339(now).unwrap_or(i64::MAX);
        // A day of clock skew between Gitea and this host is allowed for.
        if since > now + 86_400 || cursor > now + 86_400 {
            return Err("watching_since or cursor is in the future".into());
        }
        Ok(())
    }

    pub fn save(&self, state_dir: &Path, repo: &RepoRef) -> Result<()> {
        let p = path(state_dir, repo);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)
                .map_err(|e| exit::usage(format!("cannot create {}: {e}", d.display())))?;
        }
        state::write_json(&p, self)
    }

    /// Move the cursor forward (never back).
    pub fn advance(&mut self, updated_at_unix: i64) {
        if ccci_core::ids::parse_rfc3339(&self.cursor).is_none_or(|c| updated_at_unix > c) {
            self.cursor = ccci_core::ids::utc_rfc3339(updated_at_unix.max(0) as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_then_saved_then_loaded_and_corrupt_is_named() {
        let d = std::env::temp_dir().join(format!("ccci-bridge-ledger-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let r: RepoRef = "Org/Recipe".parse().unwrap();
        let (mut l, fresh) = Ledger::load_or_start(&d, &r, "2026-01-01T00:00:00Z").unwrap();
        assert!(fresh);
        l.advance(ccci_core::ids::parse_rfc3339("2026-01-02T00:00:00Z").unwrap());
        l.advance(ccci_core::ids::parse_rfc3339("2025-01-02T00:00:00Z").unwrap());
        assert_eq!(l.cursor, "2026-01-02T00:00:00Z");
        l.save(&d, &r).unwrap();
        let (again, fresh) = Ledger::load_or_start(&d, &r, "2027-01-01T00:00:00Z").unwrap();
        assert!(!fresh);
        assert_eq!(again, l);
        let mut bad = again.clone();
        bad.cursor = "yesterday".into();
        bad.save(&d, &r).unwrap();
        let e = Ledger::load_or_start(&d, &r, "2027-01-01T00:00:00Z").unwrap_err();
        assert!(format!("{e:#}").contains("cursor \"yesterday\""), "{e:#}");
        bad.cursor = "2099-01-01T00:00:00Z".into();
        bad.save(&d, &r).unwrap();
        let e = Ledger::load_or_start(&d, &r, "2027-01-01T00:00:00Z").unwrap_err();
        assert!(format!("{e:#}").contains("in the future"), "{e:#}");
        std::fs::write(path(&d, &r), "{\"schema\":1,").unwrap();
        let e = Ledger::load_or_start(&d, &r, "x").unwrap_err();
        assert_eq!(exit::code_of(&e), exit::USAGE);
        assert!(format!("{e:#}").contains("org/recipe.json"), "{e:#}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
