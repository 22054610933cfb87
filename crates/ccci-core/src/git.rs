//! Git access through the `git` CLI (what operators have, and what speaks every
//! transport a recipe remote may use).

use crate::exit;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// Run git in `dir` and return trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                exit::usage("git is not installed (not found on PATH)")
            } else {
                anyhow::Error::new(e).context("cannot run git")
            }
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!(
            "git {} failed: {}",
            args.first().unwrap_or(&""),
            stderr.trim().replace('\n', " ")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Resolve `rev` to a full commit SHA; an unknown ref is bad input.
pub fn resolve_commit(repo: &Path, rev: &str) -> Result<String> {
    if rev.is_empty() || rev.starts_with('-') {
        return Err(exit::usage(format!("{rev:?} is not a git ref")));
    }
    git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .ok()
    .filter(|s| !s.is_empty())
    .ok_or_else(|| exit::usage(format!("unknown ref {rev:?} in {}", repo.display())))
}

/// Bring a clone up to date with its origin: branches as `origin/*`, tags moved
/// where upstream moved them.
pub fn fetch(repo: &Path) -> Result<()> {
    git(
        repo,
        &[
            "fetch",
            "--quiet",
            "--force",
            "--tags",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
        ],
    )
    .map(|_| ())
}

/// Resolve a ref in a clone: a branch name means origin's branch (the newest
/// commit), anything else (tag, SHA) as given.
pub fn resolve_in_clone(repo: &Path, rev: &str) -> Result<String> {
    if !rev.starts_with('-')
        && let Ok(sha) = git(
            repo,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/remotes/origin/{rev}^{{commit}}"),
            ],
        )
        && !sha.is_empty()
    {
        return Ok(sha);
    }
    resolve_commit(repo, rev)
}

/// Is `name` a tag in `repo`?
pub fn is_tag(repo: &Path, name: &str) -> bool {
    git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/tags/{name}"),
        ],
    )
    .is_ok_and(|s| !s.is_empty())
}

/// Clone `url` (a path or URL) into `dest` without checking anything out.
pub fn clone(url: &str, dest: &Path) -> Result<()> {
    let parent = dest.parent().context("clone destination has no parent")?;
    let dest_s = dest.to_string_lossy();
    git(parent, &["clone", "--quiet", "--no-checkout", url, &dest_s])
        .with_context(|| format!("cannot clone recipe repository {url}"))
        .map_err(|e| exit::wrap(e, exit::USAGE))?;
    Ok(())
}

/// Check out `commit` detached, discarding anything in the work tree.
pub fn checkout(repo: &Path, commit: &str) -> Result<()> {
    git(
        repo,
        &["checkout", "--quiet", "--force", "--detach", commit],
    )?;
    git(repo, &["clean", "-qfdx"])?;
    Ok(())
}
