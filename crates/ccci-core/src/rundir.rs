//! The run directory: `<state>/runs/<run-id>/`, everything one run knows.
//!
//! ```text
//! request.json          what was asked: recipe, repo, PR, ref, head SHA, trigger
//! app.json              the app: domain, stack, instance, deployed ref
//! app.env               the app env file (0600)
//! secrets.json          generated secret values by docker secret name (0600)
//! compose.rendered.yml  the exact config last deployed (0600)
//! ledger.jsonl          append-only record of every deploy, upgrade and teardown
//! recipe/               the recipe checkout
//! run.lock              held by whoever drives the run; a held lock = a live run
//! logs/                 per-step logs
//! progress.json         the tier running now, while there is no results.json
//! retained.json         present while the run's volumes and secrets are kept
//!                       (for a promotion, or as the canonical app's data)
//! ```

use crate::exit;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const SCHEMA: u32 = 1;

/// [`Progress`], rewritten by the runner as each tier starts.
pub const PROGRESS: &str = "progress.json";

/// The tier a run is in now, while it has no results.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    pub schema: u32,
    pub tier: String,
    /// RFC 3339 UTC.
    pub since: String,
}

/// Set by a process that holds runs' locks for its children (the runner calling
/// `ccci-deploy`), so they do not wait on their own parent: run ids, comma-separated.
pub const LOCK_HELD_ENV: &str = "CCCI_RUN_LOCK_HELD";

/// Does our parent hold this run's lock for us?
fn lock_held_for_us(id: &str) -> bool {
    std::env::var(LOCK_HELD_ENV).is_ok_and(|v| v.split(',').any(|x| x == id))
}

#[derive(Debug, Clone)]
pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    pub schema: u32,
    pub run_id: String,
    pub recipe: String,
    /// Where the recipe was cloned from (path or URL).
    pub source_repo: String,
    pub pr: Option<u64>,
    /// The ref as given (tag, branch, SHA).
    pub r#ref: String,
    pub head_sha: String,
    pub trigger: crate::results::Trigger,
    pub created: String,
}

/// One line of `ledger.jsonl`: who did what when. Every tool that acts on a
/// run appends its events; `action` names the step (`deploy`, `wait`,
/// `teardown`, `backup-restore`, `run-end`, ...) and `detail` is that step's
/// own record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LedgerEvent {
    pub schema: u32,
    /// RFC 3339 UTC.
    pub ts: String,
    pub pid: u32,
    pub action: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Objects a torn-down run keeps: its data and the secrets the data was made
/// with. Teardown and the reaper leave them until released.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Retained {
    pub schema: u32,
    /// Docker volume names.
    pub volumes: Vec<String>,
    /// Docker secret names.
    pub secrets: Vec<String>,
    pub since: String,
}

/// `<run>/rerun-of`: the run a rerun alone re-tests (its id, one line). Such
/// a run is kept off its recipe's badge, index line and history.
pub const RERUN_OF: &str = "rerun-of";

/// A red run's apps left up for probing by hand (`ccci-run --keep-app`), in
/// `<run>/kept.json` until `ccci-deploy teardown` removes them: the reaper
/// leaves such a run alone and `ccci-deploy status` says so.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Kept {
    pub schema: u32,
    pub since: String,
    /// Why: the run's first red tier, in one line.
    pub reason: String,
}

/// The run of a dependency app made for `run` alone.
pub fn dependency_id(run: &str, recipe: &str) -> String {
    format!("{run}-dep-{recipe}")
}

/// The run of the second app `run` makes beside its first.
pub fn second_id(run: &str) -> String {
    format!("{run}-second")
}

/// Run ids are safe as one path component: letters, digits, `-`, `_`, `.`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.')
}

impl RunDir {
    pub fn runs_root(state_dir: &Path) -> PathBuf {
        state_dir.join("runs")
    }

    /// Create a fresh run directory (mode 0700: it holds secrets).
    pub fn create(state_dir: &Path, id: &str) -> Result<RunDir> {
        if !valid_id(id) {
            return Err(exit::usage(format!("invalid run id {id:?}")));
        }
        let root = Self::runs_root(state_dir);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&root)
            .with_context(|| format!("cannot create {}", root.display()))
            .map_err(|e| exit::wrap(e, exit::USAGE))?;
        let path = root.join(id);
        // The runner creates the run (to hold its lock and write the plan) before
        // `ccci-deploy new` fills it; a child adopts the directory its parent holds.
        if path.is_dir() && lock_held_for_us(id) {
            return Self::open(state_dir, id);
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create run dir {}", path.display()))
            .map_err(|e| exit::wrap(e, exit::USAGE))?;
        fs::create_dir_all(path.join("logs"))?;
        Ok(RunDir {
            id: id.to_string(),
            path,
        })
    }

    /// Open an existing run by id or by path.
    pub fn open(state_dir: &Path, id_or_path: &str) -> Result<RunDir> {
        let p = Path::new(id_or_path);
        let path = if id_or_path.contains('/') {
            p.to_path_buf()
        } else {
            if !valid_id(id_or_path) {
                return Err(exit::usage(format!("invalid run id {id_or_path:?}")));
            }
            Self::runs_root(state_dir).join(id_or_path)
        };
        if !path.is_dir() {
            return Err(exit::usage(format!("no such run: {}", path.display())));
        }
        let id = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let run = RunDir { id, path };
        // Whatever a tool prints about this run from here on is masked.
        for v in run.secrets()?.values() {
            crate::redact::global().add(v);
        }
        Ok(run)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
    pub fn request_path(&self) -> PathBuf {
        self.file("request.json")
    }
    pub fn app_path(&self) -> PathBuf {
        self.file("app.json")
    }
    pub fn env_path(&self) -> PathBuf {
        self.file("app.env")
    }
    pub fn secrets_path(&self) -> PathBuf {
        self.file("secrets.json")
    }

    /// Generated secret values by docker secret name. An unreadable file is an
    /// error: silently starting afresh would lose values Docker cannot give back.
    pub fn secrets(&self) -> Result<std::collections::BTreeMap<String, String>> {
        let v: Option<serde_json::Value> = crate::state::read_json_opt(&self.secrets_path())?;
        let mut out = std::collections::BTreeMap::new();
        if let Some(map) = v.as_ref().and_then(|v| v["secrets"].as_object()) {
            for (k, v) in map {
                out.insert(k.clone(), v.as_str().unwrap_or("").to_string());
            }
        }
        Ok(out)
    }

    pub fn save_secrets(&self, secrets: &std::collections::BTreeMap<String, String>) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(&serde_json::json!({"schema": SCHEMA, "secrets": secrets}))?;
        self.write_private("secrets.json", &bytes)
    }
    pub fn recipe_dir(&self) -> PathBuf {
        self.file("recipe")
    }
    pub fn rendered_path(&self) -> PathBuf {
        self.file("compose.rendered.yml")
    }
    pub fn ledger_path(&self) -> PathBuf {
        self.file("ledger.jsonl")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.file("run.lock")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.file("logs")
    }
    pub fn retained_path(&self) -> PathBuf {
        self.file("retained.json")
    }

    pub fn kept_path(&self) -> PathBuf {
        self.file("kept.json")
    }

    /// Whether the run's apps are left up for probing.
    pub fn kept(&self) -> Result<Option<Kept>> {
        crate::state::read_json_opt(&self.kept_path())
    }

    /// What the run keeps after teardown, if anything.
    pub fn retained(&self) -> Result<Option<Retained>> {
        crate::state::read_json_opt(&self.retained_path())
    }

    /// Take the run lock unless our parent holds it for us.
    pub fn lock(&self) -> Result<Option<crate::state::Lock>> {
        if lock_held_for_us(&self.id) {
            return Ok(None);
        }
        crate::state::Lock::acquire(
            &self.lock_path(),
            std::time::Duration::from_secs(30),
            &format!("run {}", self.id),
        )
        .map(Some)
    }

    /// Append one event to the ledger (O_APPEND, fsynced: a kill loses at most the
    /// event being written, never earlier ones).
    pub fn ledger(&self, action: &str, detail: serde_json::Value) -> Result<()> {
        let mut line = serde_json::to_vec(&LedgerEvent {
            schema: SCHEMA,
            ts: crate::ids::now_rfc3339(),
            pid: std::process::id(),
            action: action.to_string(),
            detail,
        })?;
        line.push(b'\n');
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o644)
            .open(self.ledger_path())
            .with_context(|| format!("cannot open ledger in {}", self.path.display()))?;
        // A writer killed mid-line leaves no newline; start ours on a fresh line so
        // only the torn event is lost.
        let len = f.metadata()?.len();
        if len > 0 {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                line.insert(0, b'\n');
            }
        }
        f.write_all(&line)?;
        f.sync_data()?;
        Ok(())
    }

    /// Read the ledger back (for reports and for the reaper's grace check).
    pub fn ledger_events(&self) -> Result<Vec<LedgerEvent>> {
        let text = match fs::read_to_string(self.ledger_path()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        // A torn last line (killed mid-write) is skipped, not fatal.
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Write a secret-bearing file readable only by us.
    pub fn write_private(&self, name: &str, bytes: &[u8]) -> Result<()> {
        crate::state::write_atomic(&self.file(name), bytes, 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(valid_id("20261122T230000Z-ab12cd"));
        assert!(!valid_id("../x"));
        assert!(!valid_id(".hidden"));
        assert!(!valid_id(""));
    }

    #[test]
    fn ledger_survives_torn_line() {
        let d = std::env::temp_dir().join(format!("ccci-rundir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let r = RunDir::create(&d, "r1").unwrap();
        r.ledger("a", serde_json::json!({})).unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(r.ledger_path())
            .unwrap()
            .write_all(b"{\"torn")
            .unwrap();
        r.ledger("b", serde_json::json!({"x": 1})).unwrap();
        let ev = r.ledger_events().unwrap();
        assert_eq!(ev.len(), 2, "only the torn event is lost");
        assert_eq!(ev[1].action, "b");
        assert_eq!(ev[1].detail["x"], 1);
    }
}
