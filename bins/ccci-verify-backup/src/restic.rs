//! restic, as backup-bot-two uses it: one repository, snapshots of host paths.

use anyhow::{Context, Result};
use ccci_core::exit;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Restic {
    pub repo: PathBuf,
    pub password_file: PathBuf,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Summary {
    pub snapshot_id: String,
    pub files: u64,
    pub bytes: u64,
    pub added_bytes: u64,
    pub seconds: f64,
}

impl Restic {
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("restic")
            .args(["--no-cache", "--quiet"])
            .args(args)
            .env("RESTIC_REPOSITORY", &self.repo)
            .env("RESTIC_PASSWORD_FILE", &self.password_file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    exit::usage("restic is not installed (not found on PATH)")
                } else {
                    anyhow::Error::new(e).context("cannot run restic")
                }
            })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let err = String::from_utf8_lossy(&out.stderr)
            .trim()
            .replace('\n', " ");
        let repo = self.repo.display();
        if err.contains("wrong password") {
            return Err(exit::usage(format!(
                "wrong password for the restic repository {repo}"
            )));
        }
        if err.contains("Is there a repository")
            || err.contains("unable to open config file")
            || err.contains("repository does not exist")
        {
            return Err(exit::usage(format!(
                "no readable restic repository at {repo}: {err}"
            )));
        }
        if err.contains("repository is already locked") {
            return Err(exit::tempfail(format!(
                "the restic repository {repo} is locked by another process: {err}"
            )));
        }
        Err(exit::no(format!(
            "restic {} failed: {err}",
            args.first().unwrap_or(&"")
        )))
    }

    pub fn init(&self) -> Result<()> {
        self.run(&["init"]).map(|_| ())
    }

    /// Is there a repository already (config file present)?
    pub fn exists(&self) -> bool {
        self.repo.join("config").exists()
    }

    /// Check the repository opens with our password (bad input otherwise).
    pub fn check_access(&self) -> Result<()> {
        self.run(&["cat", "config"]).map(|_| ())
    }

    pub fn backup(&self, paths: &[PathBuf], tag: &str) -> Result<Summary> {
        let mut args: Vec<String> =
            vec!["backup".into(), "--json".into(), "--tag".into(), tag.into()];
        args.extend(paths.iter().map(|p| p.display().to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        // --quiet suppresses progress but keeps the JSON summary line.
        let out = self.run(&argv)?;
        let summary: Value = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message_type"] == "summary")
            .context("restic backup printed no summary")?;
        Ok(Summary {
            snapshot_id: summary["snapshot_id"].as_str().unwrap_or("").to_string(),
            files: summary["total_files_processed"].as_u64().unwrap_or(0),
            bytes: summary["total_bytes_processed"].as_u64().unwrap_or(0),
            added_bytes: summary["data_added"].as_u64().unwrap_or(0),
            seconds: summary["total_duration"].as_f64().unwrap_or(0.0),
        })
    }

    /// Every path in a snapshot.
    pub fn ls(&self, snapshot: &str) -> Result<Vec<String>> {
        let out = self.run(&["ls", "--json", snapshot])?;
        Ok(out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["struct_type"] == "node")
            .filter_map(|v| v["path"].as_str().map(String::from))
            .collect())
    }

    /// Restore a snapshot's absolute paths in place (into the live volumes).
    pub fn restore(&self, snapshot: &str) -> Result<()> {
        self.run(&["restore", snapshot, "--target", "/"])
            .map(|_| ())
    }
}

/// A host path inside a volume.
pub fn host_path(mountpoint: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        mountpoint.to_path_buf()
    } else {
        mountpoint.join(rel)
    }
}
