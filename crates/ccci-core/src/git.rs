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
/// Did git fail because the remote could not be reached (worth retrying)?
fn network_trouble(msg: &str) -> bool {
    [
        "Could not resolve host",
        "Connection refused",
        "Connection timed out",
        "unable to access",
        "Operation timed out",
        "The requested URL returned error: 5",
        "early EOF",
    ]
    .iter()
    .any(|w| msg.contains(w))
}

/// Bare-clone `url` into `dest` (objects and refs only, nothing checked out).
/// An unreachable remote is exit 75; a missing repository is bad input.
pub fn clone_bare(url: &str, dest: &Path) -> Result<()> {
    let parent = dest.parent().context("clone destination has no parent")?;
    let dest_s = dest.to_string_lossy();
    git(parent, &["clone", "--quiet", "--bare", url, &dest_s]).map_err(|e| {
        let code = if network_trouble(&format!("{e:#}")) {
            exit::TEMPFAIL
        } else {
            exit::USAGE
        };
        exit::wrap(
            e.context(format!("cannot clone recipe repository {url}")),
            code,
        )
    })?;
    Ok(())
}

/// Write the files under `path` (all files, when empty) at `commit` into `dest`
/// (as `dest/<path>/...`), keeping their modes, without touching the
/// repository's work tree or index.
pub fn extract(repo: &Path, commit: &str, path: &str, dest: &Path) -> Result<()> {
    let mut args = vec!["archive", "--format=tar", commit];
    if !path.is_empty() {
        args.extend(["--", path]);
    }
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run git archive")?;
    let stdout = archive.stdout.take().context("git archive has no stdout")?;
    let out = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .stdin(stdout)
        .output()
        .context("cannot run tar")?;
    let archived = archive
        .wait_with_output()
        .context("cannot run git archive")?;
    if !archived.status.success() {
        anyhow::bail!(
            "cannot archive {path} at {commit}: {}",
            String::from_utf8_lossy(&archived.stderr).trim()
        );
    }
    if !out.status.success() {
        anyhow::bail!(
            "cannot extract {path} at {commit}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
