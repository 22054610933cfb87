//! A run's logs and junit.xml, published next to its page after masking.
//! Logs get `.txt` appended so any server sends them as text and browsers
//! show them instead of downloading them.
//!
//! Only regular files under the run's `logs/` are read: a symlink there could
//! point anywhere, and paths named in results.json are only ever matched
//! against what was published, never opened.

use super::mask::Masker;
use super::out::{self, Www};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::Path;

pub const JUNIT: &str = "junit.xml";

/// What a run's page can link to, relative to the page.
#[derive(Debug, Default)]
pub struct Logs {
    /// Run-dir-relative names (`logs/install.log`), sorted.
    pub files: BTreeSet<String>,
    pub junit: bool,
}

impl Logs {
    /// The link to a log named in results.json, if it was published.
    pub fn href(&self, rel: &str) -> Option<String> {
        self.files.contains(rel).then(|| format!("{rel}.txt"))
    }
}

/// Copy run `id`'s logs (at `run_dir`) masked to `runs/<id>/`.
pub fn publish(www: &mut Www, run_dir: &Path, id: &str, masker: &Masker) -> Result<Logs> {
    let mut logs = Logs::default();
    let mut found = vec![];
    walk(&run_dir.join("logs"), "logs", &mut found)?;
    for rel in found {
        let text = read_text(&run_dir.join(&rel))?;
        www.write(
            &format!("{}/{rel}.txt", out::run_dir(id)),
            masker.text(&text).as_bytes(),
        )?;
        logs.files.insert(rel);
    }
    let junit = run_dir.join(JUNIT);
    if std::fs::symlink_metadata(&junit).is_ok_and(|m| m.is_file()) {
        let text = read_text(&junit)?;
        www.write(
            &format!("{}/{JUNIT}", out::run_dir(id)),
            masker.text(&text).as_bytes(),
        )?;
        logs.junit = true;
    }
    Ok(logs)
}

/// Regular files below `dir`, as `prefix/...` names; names that are not
/// UTF-8 or not plain are left out (they could not be linked anyway).
fn walk(dir: &Path, prefix: &str, found: &mut Vec<String>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    for e in entries {
        let e = e?;
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let rel = format!("{prefix}/{name}");
        if out::safe_rel(&rel).is_none() {
            continue;
        }
        let kind = e.file_type()?;
        if kind.is_dir() {
            walk(&e.path(), &rel, found)?;
        } else if kind.is_file() {
            found.push(rel);
        }
    }
    Ok(())
}

/// A log as text; bytes that are not UTF-8 show as U+FFFD.
fn read_text(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_under_logs_are_published_and_linked() {
        let scratch = ccci_testkit::Scratch::new("report-logs");
        let run = scratch.join("run");
        std::fs::create_dir_all(run.join("logs/custom")).unwrap();
        std::fs::write(run.join("logs/install.log"), "deployed with pw hunter22\n").unwrap();
        std::fs::write(run.join("logs/custom/a b.log"), "ok\n").unwrap();
        std::fs::write(scratch.join("outside.txt"), "private\n").unwrap();
        std::os::unix::fs::symlink(scratch.join("outside.txt"), run.join("logs/link.log")).unwrap();
        std::fs::write(run.join(JUNIT), "<testsuites/>\n").unwrap();
        let mut www = Www::open(&scratch.path).unwrap();
        let m = Masker::default();
        m.add("hunter22");
        let logs = publish(&mut www, &run, "r1", &m).unwrap();
        assert_eq!(
            logs.files.iter().collect::<Vec<_>>(),
            ["logs/custom/a b.log", "logs/install.log"]
        );
        assert!(logs.junit);
        let copied = std::fs::read_to_string(scratch.join("www/runs/r1/logs/install.log.txt"));
        assert_eq!(copied.unwrap(), "deployed with pw [REDACTED]\n");
        assert!(!scratch.join("www/runs/r1/logs/link.log.txt").exists());
        assert_eq!(
            logs.href("logs/install.log").as_deref(),
            Some("logs/install.log.txt")
        );
        // A path results.json names is linked only when it was published.
        assert_eq!(logs.href("logs/../../outside.txt"), None);
        assert_eq!(logs.href("/etc/passwd"), None);
    }
}
