//! The run queue: one JSON file per requested run under `<state>/queue/`.
//!
//! Whoever accepts a request (the `!testme` bridge) writes its entry
//! atomically *before* anything is started, so a request survives any crash;
//! the dispatcher moves it from `queued` to `started` (exactly once) and to
//! `finished` with the run's exit code. The web pages read the same files to
//! show what runs now and what waits. The contract is docs/contracts.md
//! ("Run queue").

use crate::exit;
use crate::state;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SCHEMA: u32 = 1;

crate::results::word_enum! {
    /// Where a queued run is in its life.
    QueueState { Queued = "queued", Started = "started", Finished = "finished" }
}

/// One requested run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub schema: u32,
    /// The order requests were accepted in (one more than the largest
    /// before); runs start in this order. Times alone tie within a second.
    pub seq: u64,
    pub run_id: String,
    pub recipe: String,
    /// What `ccci-run --repo` clones (the base repository of the pull request).
    pub repo: String,
    /// `OWNER/NAME` on the Gitea server, where the report goes.
    pub gitea_repo: Option<String>,
    pub pr: Option<u64>,
    /// The exact commit to test: the pull request's head when the trigger was accepted.
    pub head_sha: String,
    /// The comment that asked for the run, and its author.
    pub comment_id: Option<i64>,
    pub author: Option<String>,
    pub trigger: crate::results::Trigger,
    /// `!testme quick`: a warm run.
    #[serde(default)]
    pub quick: bool,
    pub state: QueueState,
    /// RFC 3339 UTC.
    pub queued_at: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// The runner's exit code (0 green, 1 red, 2 bad input, 75 trouble or
    /// interrupted, 70 a bug); `None` until finished.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// How it was started (`direct` pid or `systemd` unit), for `queue` output.
    #[serde(default)]
    pub launched: Option<String>,
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("queue")
}

pub fn path(state_dir: &Path, run_id: &str) -> PathBuf {
    dir(state_dir).join(format!("{run_id}.json"))
}

/// The `seq` of a new entry.
pub fn next_seq(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| e.seq).max().unwrap_or(0) + 1
}

/// Write (create or replace) an entry atomically.
pub fn save(state_dir: &Path, e: &Entry) -> Result<()> {
    if !crate::rundir::valid_id(&e.run_id) {
        return Err(exit::coded(
            exit::BUG,
            format!("queue: invalid run id {:?}", e.run_id),
        ));
    }
    std::fs::create_dir_all(dir(state_dir))
        .map_err(|err| exit::usage(format!("cannot create {}: {err}", dir(state_dir).display())))?;
    state::write_json(&path(state_dir, &e.run_id), e)
}

/// Every entry, oldest request first. A file that is
/// not a queue entry is exit 2 naming it: a silently skipped request would be
/// a lost run.
pub fn load_all(state_dir: &Path) -> Result<Vec<Entry>> {
    let d = dir(state_dir);
    let rd = match std::fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(exit::usage(format!("cannot read {}: {e}", d.display()))),
    };
    let mut out = vec![];
    for ent in rd.flatten() {
        let p = ent.path();
        let name = ent.file_name().to_string_lossy().to_string();
        // Atomic writes leave `.tmp` files only while they write.
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        let e: Entry = state::read_json(&p)?;
        // The id names files and units: a hand-edited one must not.
        if !crate::rundir::valid_id(&e.run_id) || name != format!("{}.json", e.run_id) {
            return Err(exit::usage(format!(
                "{}: run_id {:?} is not this file's run id",
                p.display(),
                e.run_id
            )));
        }
        out.push(e);
    }
    out.sort_by(|a, b| (a.seq, &a.run_id).cmp(&(b.seq, &b.run_id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, seq: u64) -> Entry {
        Entry {
            schema: SCHEMA,
            seq,
            run_id: id.into(),
            recipe: "demo".into(),
            repo: "/srv/demo".into(),
            gitea_repo: Some("o/demo".into()),
            pr: Some(3),
            head_sha: "a".repeat(40),
            comment_id: Some(7),
            author: Some("alice".into()),
            trigger: crate::results::Trigger::Testme,
            quick: false,
            state: QueueState::Queued,
            queued_at: "2026-01-01T00:00:00Z".into(),
            started_at: None,
            finished_at: None,
            exit_code: None,
            launched: None,
        }
    }

    #[test]
    fn round_trip_in_order_and_corrupt_is_named() {
        let d = std::env::temp_dir().join(format!("ccci-queue-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        save(&d, &entry("b", 2)).unwrap();
        save(&d, &entry("a", 3)).unwrap();
        save(&d, &entry("c", 1)).unwrap();
        assert_eq!(next_seq(&load_all(&d).unwrap()), 4);
        let ids: Vec<_> = load_all(&d)
            .unwrap()
            .into_iter()
            .map(|e| e.run_id)
            .collect();
        assert_eq!(ids, ["c", "b", "a"]);
        std::fs::write(path(&d, "x"), "{").unwrap();
        let e = load_all(&d).unwrap_err();
        assert_eq!(exit::code_of(&e), exit::USAGE);
        assert!(format!("{e:#}").contains("x.json"), "{e:#}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
