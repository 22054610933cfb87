//! The mirror's git side: a bare working cache under the state directory that
//! knows two explicitly pinned remotes, `upstream` and `mirror`, and is only
//! ever fetched into and pushed from with explicit refspecs.
//!
//! Upstream's refs land in `refs/upstream/*`, the mirror's main and pull
//! request heads in `refs/mirror/*`, and `refs/ccci/synced/<branch>` remembers
//! the upstream main last pushed to the mirror: a commit reachable from it was
//! upstream's once, so after upstream force-pushes, the mirror's old main is
//! recognised as upstream history rather than as commits of ours.

use anyhow::{Context, Result};
use ccci_core::exit;
use ccci_core::git::{self, remote_failure_code, run_remote};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A full ref name → object id.
pub type Refs = BTreeMap<String, String>;

pub struct Cache {
    pub dir: PathBuf,
    timeout: Duration,
}

pub use ccci_core::git::is_url;

impl Cache {
    /// Open (creating it if needed) the cache at `dir` and pin its remotes to
    /// exactly these URLs, whatever they were before.
    pub fn open(dir: &Path, upstream: &str, mirror: &str, timeout: Duration) -> Result<Cache> {
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            git::git(dir, &["init", "--quiet", "--bare"])?;
            // Our own fetches decide what the cache keeps; no automatic gc
            // in the middle of a sync.
            git::git(dir, &["config", "gc.auto", "0"])?;
        }
        let cache = Cache {
            dir: dir.to_path_buf(),
            timeout,
        };
        let current =
            git::git(dir, &["config", "--get-regexp", r"^remote\..*\.url$"]).unwrap_or_default();
        for (name, url) in [("upstream", upstream), ("mirror", mirror)] {
            if !current
                .lines()
                .any(|l| l == format!("remote.{name}.url {url}"))
            {
                git::git(dir, &["config", &format!("remote.{name}.url"), url])?;
            }
        }
        Ok(cache)
    }

    pub fn git(&self, args: &[&str]) -> Result<String> {
        git::git(&self.dir, args)
    }

    /// Our own refs: what we fetched and what we last synced.
    pub fn refs(&self) -> Result<Refs> {
        let out = self.git(&[
            "for-each-ref",
            "--format=%(objectname) %(refname)",
            "refs/upstream/",
            "refs/mirror/",
            "refs/ccci/",
        ])?;
        Ok(parse_refs(&out, ' '))
    }

    /// The refs a remote advertises (peeled `^{}` entries left out), limited
    /// to `patterns` when given. `role` names the remote in messages.
    pub fn ls_remote(&self, role: &str, url: &str, patterns: &[&str]) -> Result<Refs> {
        let mut args = vec!["ls-remote", "--refs", url];
        args.extend_from_slice(patterns);
        let out = run_remote(&self.dir, &args, self.timeout)
            .with_context(|| format!("cannot read the {role} {url}"))?;
        if !out.success {
            return Err(remote_error(
                &format!("cannot read the {role} {url}"),
                &out.stderr,
            ));
        }
        Ok(parse_refs(&out.stdout, '\t'))
    }

    /// Fetch exactly `refspecs` from the pinned remote `remote`.
    pub fn fetch(&self, remote: &str, refspecs: &[String], prune: bool) -> Result<()> {
        let mut args = vec!["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"];
        if prune {
            args.push("--prune");
        }
        args.push(remote);
        args.extend(refspecs.iter().map(String::as_str));
        let out = run_remote(&self.dir, &args, self.timeout)
            .with_context(|| format!("cannot fetch from the {remote}"))?;
        if !out.success {
            return Err(remote_error(
                &format!("cannot fetch from the {remote}"),
                &out.stderr,
            ));
        }
        Ok(())
    }

    /// One atomic push to the mirror. Every ref carries a lease on the value we
    /// planned from, so a ref that moved meanwhile fails the whole push (75)
    /// instead of being overwritten.
    pub fn push(&self, updates: &[Update]) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut args: Vec<String> = ["push", "--quiet", "--atomic", "--porcelain", "--no-verify"]
            .map(String::from)
            .to_vec();
        for u in updates {
            args.push(format!(
                "--force-with-lease={}:{}",
                u.dst,
                u.expect.as_deref().unwrap_or("")
            ));
        }
        args.push("mirror".into());
        for u in updates {
            args.push(format!("{}:{}", u.new.as_deref().unwrap_or(""), u.dst));
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out =
            run_remote(&self.dir, &argv, self.timeout).context("cannot push to the mirror")?;
        if !out.success {
            // --porcelain reports per ref on stdout; the reason may be there.
            let why = format!("{} {}", out.stderr, out.stdout);
            return Err(remote_error("cannot push to the mirror", &why));
        }
        Ok(())
    }

    /// The commits of `tip` reachable from none of `not` (full ids or ref
    /// patterns via `--glob=`), newest first, with their subjects.
    pub fn commits_not_in(&self, tip: &str, not: &[String]) -> Result<Vec<(String, String)>> {
        let mut args = vec!["log", "--format=%H %s", tip, "--not"];
        args.extend(not.iter().map(String::as_str));
        let out = self.git(&args)?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let (sha, subject) = l.split_once(' ').unwrap_or((l, ""));
                (!sha.is_empty()).then(|| (sha.to_string(), subject.to_string()))
            })
            .collect())
    }

    pub fn is_ancestor(&self, a: &str, b: &str) -> bool {
        self.git(&["merge-base", "--is-ancestor", a, b]).is_ok()
    }

    pub fn tree_of(&self, commit: &str) -> Result<String> {
        self.git(&["rev-parse", "--verify", &format!("{commit}^{{tree}}")])
    }

    /// The tree of merging `head` into `base`, or `None` when they conflict.
    pub fn merge_tree(&self, base: &str, head: &str) -> Result<Option<String>> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["merge-tree", "--write-tree", "--no-messages", base, head])
            .stdin(std::process::Stdio::null())
            .output()
            .context("cannot run git merge-tree")?;
        let tree = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        // 0: clean merge; 1: conflicts (the first line is still a tree, but
        // one with conflict markers); anything else: git failed.
        match out.status.code() {
            Some(0) if !tree.is_empty() => Ok(Some(tree)),
            Some(1) => Ok(None),
            _ => anyhow::bail!(
                "git merge-tree {base} {head} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    }

    pub fn set_ref(&self, name: &str, oid: &str) -> Result<()> {
        self.git(&["update-ref", name, oid]).map(drop)
    }
}

/// One ref update on the mirror: `dst` from `expect` (None: must not exist) to
/// `new` (None: delete).
#[derive(Debug, Clone)]
pub struct Update {
    pub dst: String,
    pub expect: Option<String>,
    pub new: Option<String>,
}

fn parse_refs(out: &str, sep: char) -> Refs {
    out.lines()
        .filter_map(|l| l.split_once(sep))
        .map(|(oid, name)| (name.trim().to_string(), oid.trim().to_string()))
        .filter(|(n, o)| !n.is_empty() && !o.is_empty())
        .collect()
}

fn remote_error(what: &str, stderr: &str) -> anyhow::Error {
    let why = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Done")
        .collect::<Vec<_>>()
        .join(" ");
    exit::coded(remote_failure_code(stderr), format!("{what}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse() {
        let r = parse_refs("aaa\trefs/heads/main\nbbb\trefs/tags/1.0.0\n\n", '\t');
        assert_eq!(r["refs/heads/main"], "aaa");
        assert_eq!(r.len(), 2);
    }
}
