//! Canonical state: the last known-good release of a recipe, one file per recipe
//! at `<state dir>/canonical/<recipe>/canonical.json` (docs/contracts.md,
//! canonical state).
//!
//! ```json
//! {
//!   "schema": 1,
//!   "recipe": "custom-html",
//!   "version": "1.13.0+1.31.1",
//!   "commit": "df2e27339f983a25da548fc8b8d56e9af8645f83",
//!   "status": "idle",
//!   "promoted_at": "2026-06-17T06:55:32Z",
//!   "run_id": "20260617T064012Z-a1b2c3",
//!   "retained_volumes": ["warm-custom-html_content"]
//! }
//! ```
//!
//! API:
//! - [`read`]`(state_dir, recipe)`: `Ok(None)` when there is no file; a file that
//!   cannot be read, does not parse, has another schema, names another recipe or
//!   holds a version that is not a release tag is an error with exit 2 naming the
//!   file. It is never treated as absent, so nothing replaces it silently.
//! - [`write`]`(state_dir, &Canonical)`: validate, then replace atomically under the
//!   recipe's lock (`canonical.lock` next to the file; busy for 30 s is exit 75).
//! - [`lock`]`(state_dir, recipe)` → [`Guard`]: hold that lock across
//!   read-decide-write (what a promote does), then `guard.read()` / `guard.write(..)`.
//!   Locks are per open file: do not call [`write`] while holding a [`Guard`].
//! - [`tag_commit`]`(repo, tag)`: the commit a release tag points at, peeled through
//!   an annotated tag: the commit to record, never the head of a branch or a merge
//!   made after the tag.

use crate::exit::{self, WithCode};
use crate::state::{self, Lock};
use crate::version::Version;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SCHEMA: u32 = 1;
pub const FILE: &str = "canonical.json";
pub const LOCK_FILE: &str = "canonical.lock";
/// The status ccci-promote records: the app is not deployed, its volumes are kept.
pub const STATUS_IDLE: &str = "idle";

const LOCK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canonical {
    pub schema: u32,
    pub recipe: String,
    /// The release tag that was tested and promoted.
    pub version: Version,
    /// The commit that tag points at (`git rev-parse <tag>^{commit}`).
    pub commit: String,
    /// What the retained app is doing; lowercase word, [`STATUS_IDLE`] after a promote.
    pub status: String,
    /// RFC 3339 UTC.
    pub promoted_at: String,
    /// The run whose green result was promoted.
    pub run_id: String,
    /// Docker volumes kept for warm reuse.
    pub retained_volumes: Vec<String>,
    /// The run directory holding the canonical app itself (its env, secrets and
    /// the retained volumes): the first promoted run, whose data every warm
    /// advance carries forward. Absent means `run_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_run: Option<String>,
}

impl Canonical {
    /// A fresh record stamped now, with status [`STATUS_IDLE`].
    pub fn new(
        recipe: &str,
        version: Version,
        commit: &str,
        run_id: &str,
        retained_volumes: Vec<String>,
    ) -> Canonical {
        Canonical {
            schema: SCHEMA,
            recipe: recipe.to_string(),
            version,
            commit: commit.to_string(),
            status: STATUS_IDLE.to_string(),
            promoted_at: crate::ids::now_rfc3339(),
            run_id: run_id.to_string(),
            retained_volumes,
            app_run: None,
        }
    }

    /// The run directory of the canonical app.
    pub fn app_run(&self) -> &str {
        self.app_run.as_deref().unwrap_or(&self.run_id)
    }

    /// What `read` accepts; the reason as a phrase when not.
    fn check(&self) -> std::result::Result<(), String> {
        if self.schema != SCHEMA {
            return Err(format!("schema {} is not {SCHEMA}", self.schema));
        }
        check_recipe_name(&self.recipe).map_err(|e| format!("{e:#}"))?;
        let hex = self
            .commit
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex || !(self.commit.len() == 40 || self.commit.len() == 64) {
            return Err(format!("commit {:?} is not a full commit id", self.commit));
        }
        if self.status.is_empty()
            || !self
                .status
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-')
        {
            return Err(format!("status {:?} is not a lowercase word", self.status));
        }
        if self.promoted_at.is_empty() || self.run_id.is_empty() {
            return Err("promoted_at and run_id must not be empty".into());
        }
        if let Some(v) = self.retained_volumes.iter().find(|v| {
            v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        }) {
            return Err(format!("retained volume {v:?} is not a volume name"));
        }
        Ok(())
    }
}

/// A recipe name by the one rule of [`crate::recipe_name::RecipeName`] (so
/// `..` or `a/b` can never reach outside `canonical/`).
pub fn check_recipe_name(name: &str) -> Result<()> {
    crate::recipe_name::RecipeName::parse(name).map(|_| ())
}

/// `<state_dir>/canonical/<recipe>/`.
pub fn dir(state_dir: &Path, recipe: &str) -> PathBuf {
    state_dir.join("canonical").join(recipe)
}

/// `<state_dir>/canonical/<recipe>/canonical.json`.
pub fn path(state_dir: &Path, recipe: &str) -> PathBuf {
    dir(state_dir, recipe).join(FILE)
}

/// The recipe's canonical record, `None` if it has none yet. Anything else wrong
/// with the file is exit 2 with a line naming it.
/// Every canonical app of a state dir: the run holding its data (`app_run`)
/// and the recipe it is canonical for. The reaper keeps these runs whole, so a
/// canonical file that cannot be read is an error, never "no canonical app".
pub fn app_runs(state_dir: &Path) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    let root = state_dir.join("canonical");
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            return Err(exit::usage(format!("cannot read {}: {e}", root.display())));
        }
    };
    for e in entries {
        let e = e?;
        if !e.file_type()?.is_dir() {
            continue;
        }
        let recipe = e.file_name().to_string_lossy().into_owned();
        if check_recipe_name(&recipe).is_err() {
            continue;
        }
        if let Some(c) = read(state_dir, &recipe)? {
            out.insert(c.app_run().to_string(), recipe);
        }
    }
    Ok(out)
}

pub fn read(state_dir: &Path, recipe: &str) -> Result<Option<Canonical>> {
    check_recipe_name(recipe)?;
    let p = path(state_dir, recipe);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read canonical file {}", p.display()))
                .code(exit::USAGE);
        }
    };
    parse(&bytes, recipe)
        .map(Some)
        .map_err(|why| exit::usage(format!("canonical file {} is invalid: {why}", p.display())))
}

fn parse(bytes: &[u8], recipe: &str) -> std::result::Result<Canonical, String> {
    // Look at the schema first, so a file from a newer ccci says so instead of
    // failing on whichever field changed.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    match value.get("schema").and_then(|s| s.as_u64()) {
        Some(s) if s == u64::from(SCHEMA) => {}
        Some(s) => return Err(format!("schema {s} is not {SCHEMA}")),
        None => return Err("no schema number".into()),
    }
    let c: Canonical = serde_json::from_value(value).map_err(|e| e.to_string())?;
    c.check()?;
    if c.recipe != recipe {
        return Err(format!("it names recipe {:?}", c.recipe));
    }
    Ok(c)
}

/// The recipe's canonical lock, held while the value lives.
#[must_use = "the lock is released when dropped"]
pub struct Guard {
    _lock: Lock,
    state_dir: PathBuf,
    recipe: String,
}

/// Take the recipe's canonical lock (waiting up to 30 s, then exit 75).
pub fn lock(state_dir: &Path, recipe: &str) -> Result<Guard> {
    check_recipe_name(recipe)?;
    let d = dir(state_dir, recipe);
    std::fs::create_dir_all(&d)
        .with_context(|| format!("cannot create {}", d.display()))
        .code(exit::USAGE)?;
    let lock = Lock::acquire(
        &d.join(LOCK_FILE),
        LOCK_WAIT,
        &format!("canonical state of {recipe}"),
    )?;
    Ok(Guard {
        _lock: lock,
        state_dir: state_dir.to_path_buf(),
        recipe: recipe.to_string(),
    })
}

impl Guard {
    pub fn read(&self) -> Result<Option<Canonical>> {
        read(&self.state_dir, &self.recipe)
    }

    /// Replace the record atomically. A record that `read` would refuse is never
    /// written (exit 2).
    pub fn write(&self, c: &Canonical) -> Result<()> {
        let p = path(&self.state_dir, &self.recipe);
        if c.recipe != self.recipe {
            return Err(exit::usage(format!(
                "canonical record of {:?} cannot be written to {}",
                c.recipe,
                p.display()
            )));
        }
        c.check()
            .map_err(|why| exit::usage(format!("refusing to write {}: {why}", p.display())))?;
        state::write_json(&p, c)
    }
}

/// Write `c` to its recipe's file under the recipe's lock.
pub fn write(state_dir: &Path, c: &Canonical) -> Result<()> {
    lock(state_dir, &c.recipe)?.write(c)
}

/// The commit release tag `tag` points at in `repo` (a clone or bare repository),
/// peeled through an annotated tag. Only a tag of that name counts, not a branch;
/// a missing tag is exit 2.
pub fn tag_commit(repo: &Path, tag: &str) -> Result<String> {
    if tag.is_empty() || tag.starts_with('-') {
        return Err(exit::usage(format!("{tag:?} is not a tag name")));
    }
    crate::git::git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/tags/{tag}^{{commit}}"),
        ],
    )
    .ok()
    .filter(|s| !s.is_empty())
    .ok_or_else(|| exit::usage(format!("no tag {tag:?} in {}", repo.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ccci-canonical-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn sample(recipe: &str) -> Canonical {
        Canonical::new(
            recipe,
            Version::parse("1.13.0+1.31.1").unwrap(),
            "df2e27339f983a25da548fc8b8d56e9af8645f83",
            "20260617T064012Z-a1b2c3",
            vec!["warm-custom-html_content".into()],
        )
    }

    fn put(state: &Path, recipe: &str, text: &str) -> PathBuf {
        let p = path(state, recipe);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn invalid(state: &Path, recipe: &str) -> String {
        let e = read(state, recipe).unwrap_err();
        assert_eq!(exit::code_of(&e), exit::USAGE, "{e:#}");
        let line = crate::cli::one_line(&e);
        assert!(!line.contains('\n'));
        assert!(
            line.contains(&path(state, recipe).display().to_string()),
            "{line}"
        );
        line
    }

    #[test]
    fn absent_is_none() {
        let d = tmpdir("absent");
        assert_eq!(read(&d, "custom-html").unwrap(), None);
        assert_eq!(read(&d.join("no-such-dir"), "custom-html").unwrap(), None);
    }

    #[test]
    fn round_trip() {
        let d = tmpdir("roundtrip");
        let c = sample("custom-html");
        write(&d, &c).unwrap();
        assert_eq!(read(&d, "custom-html").unwrap(), Some(c.clone()));
        let text = std::fs::read_to_string(path(&d, "custom-html")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["version"], "1.13.0+1.31.1");
        assert_eq!(v["status"], "idle");
        assert!(d.join("canonical/custom-html/canonical.lock").exists());
        // Replacing keeps exactly one data file (plus the lock), no temp files.
        let mut c2 = c;
        c2.version = Version::parse("1.14.0+1.31.1").unwrap();
        write(&d, &c2).unwrap();
        assert_eq!(read(&d, "custom-html").unwrap(), Some(c2));
        assert_eq!(
            std::fs::read_dir(dir(&d, "custom-html")).unwrap().count(),
            2
        );
    }

    #[test]
    fn corrupt_is_exit_2_naming_the_file() {
        let d = tmpdir("corrupt");
        put(&d, "a", "{\"schema\": 1, \"recipe\": \"a\"");
        invalid(&d, "a");
        put(&d, "b", "");
        invalid(&d, "b");
        // Parses, but the version is not a release tag.
        let mut v = serde_json::to_value(sample("c")).unwrap();
        v["version"] = "main".into();
        put(&d, "c", &v.to_string());
        assert!(invalid(&d, "c").contains("not a release tag"));
        // Names another recipe.
        put(&d, "e", &serde_json::to_string(&sample("f")).unwrap());
        assert!(invalid(&d, "e").contains("\"f\""));
        // A merge-commit-sized mistake: not a full commit id.
        let mut v = serde_json::to_value(sample("g")).unwrap();
        v["commit"] = "2b82eba".into();
        put(&d, "g", &v.to_string());
        assert!(invalid(&d, "g").contains("not a full commit id"));
        // Unknown fields are refused, not dropped on the next write.
        let mut v = serde_json::to_value(sample("h")).unwrap();
        v["extra"] = 1.into();
        put(&d, "h", &v.to_string());
        invalid(&d, "h");
    }

    #[test]
    fn wrong_schema_is_exit_2() {
        let d = tmpdir("schema");
        let mut v = serde_json::to_value(sample("a")).unwrap();
        v["schema"] = 2.into();
        v["new_field"] = true.into();
        put(&d, "a", &v.to_string());
        assert!(invalid(&d, "a").contains("schema 2 is not 1"));
        v.as_object_mut().unwrap().remove("schema");
        put(&d, "a", &v.to_string());
        assert!(invalid(&d, "a").contains("no schema"));
    }

    #[test]
    fn unreadable_is_exit_2() {
        let d = tmpdir("unreadable");
        // A directory where the file should be cannot be read (even as root).
        std::fs::create_dir_all(path(&d, "a")).unwrap();
        invalid(&d, "a");
    }

    #[test]
    fn bad_recipe_names_are_refused() {
        let d = tmpdir("names");
        for name in ["", "..", "a/b", ".hidden", "-x", "a b"] {
            let e = read(&d, name).unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE, "{name:?}");
        }
        assert!(!d.join("canonical").exists());
    }

    #[test]
    fn invalid_records_are_never_written() {
        let d = tmpdir("nowrite");
        let mut c = sample("a");
        c.commit = "HEAD".into();
        assert_eq!(exit::code_of(&write(&d, &c).unwrap_err()), exit::USAGE);
        assert_eq!(read(&d, "a").unwrap(), None);
        let g = lock(&d, "b").unwrap();
        assert_eq!(
            exit::code_of(&g.write(&sample("a")).unwrap_err()),
            exit::USAGE
        );
    }

    #[test]
    fn lock_is_exclusive_and_guard_reads_and_writes() {
        let d = tmpdir("lock");
        let g = lock(&d, "a").unwrap();
        assert_eq!(g.read().unwrap(), None);
        let c = sample("a");
        g.write(&c).unwrap();
        assert_eq!(g.read().unwrap(), Some(c));
        assert!(Lock::is_held(&dir(&d, "a").join(LOCK_FILE)).unwrap());
        drop(g);
        assert!(!Lock::is_held(&dir(&d, "a").join(LOCK_FILE)).unwrap());
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@localhost")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@localhost")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn tag_commit_is_the_tags_own_commit() {
        let d = tmpdir("tagcommit");
        git(&d, &["init", "-q", "-b", "main"]);
        git(&d, &["commit", "-q", "--allow-empty", "-m", "one"]);
        git(&d, &["checkout", "-q", "-b", "release"]);
        git(
            &d,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "chore: publish 1.0.0+1 release",
            ],
        );
        let tagged = git(&d, &["rev-parse", "HEAD"]);
        git(&d, &["tag", "-a", "1.0.0+1", "-m", "1.0.0+1"]);
        git(&d, &["tag", "1.1.0+1"]);
        git(&d, &["checkout", "-q", "main"]);
        git(&d, &["commit", "-q", "--allow-empty", "-m", "two"]);
        git(
            &d,
            &["merge", "-q", "--no-ff", "-m", "merge release", "release"],
        );
        let merge = git(&d, &["rev-parse", "HEAD"]);
        assert_ne!(tagged, merge);
        // Annotated: peeled to the commit, not the tag object, and not the merge.
        assert_eq!(tag_commit(&d, "1.0.0+1").unwrap(), tagged);
        // Lightweight works the same.
        assert_eq!(tag_commit(&d, "1.1.0+1").unwrap(), tagged);
        // A branch is not a tag.
        assert_eq!(
            exit::code_of(&tag_commit(&d, "main").unwrap_err()),
            exit::USAGE
        );
        assert_eq!(
            exit::code_of(&tag_commit(&d, "2.0.0+1").unwrap_err()),
            exit::USAGE
        );
        assert_eq!(
            exit::code_of(&tag_commit(&d, "--all").unwrap_err()),
            exit::USAGE
        );
    }
}
