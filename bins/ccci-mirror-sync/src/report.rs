//! What a sync did (or, with `--dry-run`, would do), as text and as JSON.

use serde::Serialize;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Something moved: main, a tag, or a pull request was closed.
    Synced,
    /// The mirror already equalled upstream and no pull request was redundant.
    Unchanged,
    /// The mirror's main holds commits upstream lacks, and `--force` was not given.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MainChange {
    Unchanged,
    /// The mirror had no main yet.
    Created,
    FastForward,
    /// Upstream rewrote its history (or `--force` discarded the mirror's own commits).
    Forced,
}

#[derive(Debug, Clone, Serialize)]
pub struct Main {
    pub old: Option<String>,
    pub new: String,
    pub change: MainChange,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tag {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Tags {
    pub added: Vec<Tag>,
    pub moved: Vec<Tag>,
    /// Deleted upstream and removed from the mirror (`--prune-tags`).
    pub removed: Vec<Tag>,
    /// Deleted upstream but kept on the mirror (no `--prune-tags`).
    pub kept: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    pub sha: String,
    pub subject: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PullOutcome {
    pub number: i64,
    pub title: String,
    /// The head commit that was judged.
    pub head: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Pulls {
    /// False with `--no-pulls`, or when the sync was refused.
    pub checked: bool,
    pub closed: Vec<PullOutcome>,
    pub left: Vec<PullOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: u32,
    pub mirror: String,
    pub upstream_url: String,
    pub mirror_url: String,
    pub branch: String,
    pub dry_run: bool,
    pub outcome: Outcome,
    pub main: Main,
    pub tags: Tags,
    /// Commits on the mirror's main that upstream lacks (refused, or discarded with `--force`).
    pub stray: Vec<Commit>,
    pub pulls: Pulls,
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

/// One line per thing that moved, for a terminal or a journal.
pub fn text(r: &Report) -> String {
    let mut out = vec![];
    let head = match (r.outcome, r.dry_run) {
        (Outcome::Refused, _) => format!(
            "{}: refused: the mirror's {} has {} commit{} upstream lacks (--force discards them)",
            r.mirror,
            r.branch,
            r.stray.len(),
            if r.stray.len() == 1 { "" } else { "s" }
        ),
        (Outcome::Synced, false) => format!("{}: synced", r.mirror),
        (Outcome::Synced, true) => {
            format!("{}: dry run: would sync (nothing was changed)", r.mirror)
        }
        (Outcome::Unchanged, _) => format!("{}: nothing to do", r.mirror),
    };
    out.push(head);
    for c in &r.stray {
        out.push(format!("stray commit: {} {}", short(&c.sha), c.subject));
    }
    let m = &r.main;
    out.push(match (&m.old, m.change) {
        (_, MainChange::Unchanged) => format!("{}: {} (unchanged)", r.branch, short(&m.new)),
        (None, _) => format!("{}: created at {}", r.branch, short(&m.new)),
        (Some(old), c) => format!(
            "{}: {} → {} ({})",
            r.branch,
            short(old),
            short(&m.new),
            if c == MainChange::Forced {
                "forced"
            } else {
                "fast-forward"
            }
        ),
    });
    let opt = |s: &Option<String>| s.as_deref().map(short).unwrap_or("").to_string();
    for t in &r.tags.added {
        out.push(format!("tag added: {} at {}", t.name, opt(&t.new)));
    }
    for t in &r.tags.moved {
        out.push(format!(
            "tag moved: {} {} → {}",
            t.name,
            opt(&t.old),
            opt(&t.new)
        ));
    }
    for t in &r.tags.removed {
        out.push(format!("tag removed: {} (was {})", t.name, opt(&t.old)));
    }
    for t in &r.tags.kept {
        out.push(format!(
            "tag kept: {} (deleted upstream; --prune-tags removes it)",
            t.name
        ));
    }
    for p in &r.pulls.closed {
        out.push(format!(
            "pull closed: #{} {} ({})",
            p.number, p.title, p.reason
        ));
    }
    for p in &r.pulls.left {
        out.push(format!(
            "pull left: #{} {} ({})",
            p.number, p.title, p.reason
        ));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}
