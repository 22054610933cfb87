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
            PULL_HEADS,
        ],
    )
    .map(|_| ())
}

/// Pull request heads as Gitea and Forgejo publish them in the base
/// repository (`refs/pull/<N>/head`), fork or not: a run of a pull request
/// tests that exact commit, which no branch of the base may hold. A remote
/// without such refs matches nothing, which is no error.
pub const PULL_HEADS: &str = "+refs/pull/*/head:refs/remotes/origin/pull/*";

/// Fetch the pull request heads into a fresh clone (`git clone` copies
/// branches and tags only).
fn fetch_pull_heads(repo: &Path) -> Result<()> {
    git(repo, &["fetch", "--quiet", "origin", PULL_HEADS]).map(|_| ())
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
    fetch_pull_heads(dest)
        .with_context(|| format!("cannot fetch the pull request heads of {url}"))
        .map_err(|e| exit::wrap(e, exit::USAGE))
}

/// Clone `url` into `dest` from a local clone of it (`local`, e.g. the one
/// planning made): the same commits, fetched once, with `origin` then pointing
/// at `url` so a later fetch asks the real remote.
pub fn clone_via(local: &Path, url: &str, dest: &Path) -> Result<()> {
    clone(&local.to_string_lossy(), dest)?;
    git(dest, &["remote", "set-url", "origin", url]).map_err(|e| exit::wrap(e, exit::USAGE))?;
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

/// Bare-clone `url` into `dest` (objects and refs only, nothing checked out).
/// An unreachable remote is exit 75; a missing repository is bad input.
pub fn clone_bare(url: &str, dest: &Path) -> Result<()> {
    let parent = dest.parent().context("clone destination has no parent")?;
    let dest_s = dest.to_string_lossy();
    let failed = |e: anyhow::Error| {
        let code = remote_failure_code(&format!("{e:#}"));
        exit::wrap(
            e.context(format!("cannot clone recipe repository {url}")),
            code,
        )
    };
    git(parent, &["clone", "--quiet", "--bare", url, &dest_s]).map_err(failed)?;
    // A bare clone keeps the server's layout, so a clone of it (`clone_via`)
    // finds the pull heads where it would find them on the server.
    git(
        dest,
        &[
            "fetch",
            "--quiet",
            "origin",
            "+refs/pull/*/head:refs/pull/*/head",
        ],
    )
    .map(|_| ())
    .map_err(failed)
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

/// What a git command that talked to a remote printed, and whether it succeeded.
#[derive(Debug)]
pub struct RemoteOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run git in `dir` for a command that talks to a remote (`fetch`, `push`,
/// `ls-remote`), giving up after `timeout` (exit 75). git runs in its own
/// process group so that on timeout its helpers (ssh, git-remote-https) die
/// with it; outside the terminal's foreground group an ssh that wants to prompt
/// stops instead of waiting on the operator's tty, and the deadline ends it.
/// A failure of git itself is returned, not raised: the caller knows what the
/// command meant and classifies it with [`remote_failure_code`].
pub fn run_remote(dir: &Path, args: &[&str], timeout: std::time::Duration) -> Result<RemoteOutput> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("GIT_TERMINAL_PROMPT", "0")
        .process_group(0)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                exit::usage("git is not installed (not found on PATH)")
            } else {
                anyhow::Error::new(e).context("cannot run git")
            }
        })?;
    let pgid = child.id() as i32;
    let deadline = std::time::Instant::now() + timeout;
    let (tx, rx) = std::sync::mpsc::channel();
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    for (i, pipe) in pipes.into_iter().enumerate() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send((i, buf));
        });
    }
    drop(tx);
    // Both pipes reach EOF when git and its helpers are done with them.
    let mut bufs: [Vec<u8>; 2] = [vec![], vec![]];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, b)) => bufs[i] = b,
            Err(_) => {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = child.wait();
                return Err(exit::tempfail(format!(
                    "git {} did not finish within {}s",
                    args.first().unwrap_or(&""),
                    timeout.as_secs()
                )));
            }
        }
    }
    let status = child.wait().context("cannot wait for git")?;
    let [out, err] = bufs;
    Ok(RemoteOutput {
        success: status.success(),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

/// The exit code for a failed fetch, push or ls-remote, from git's message:
/// 75 when retrying may help (the remote is unreachable or overloaded, HTTP
/// 5xx/429/408, or a ref moved under us while we pushed), 2 when it cannot
/// (no such repository, refused credentials, an HTTP 4xx, a rejected push).
pub fn remote_failure_code(stderr: &str) -> i32 {
    let s = stderr.to_ascii_lowercase();
    let retry_http = [
        "returned error: 408",
        "returned error: 429",
        "returned error: 5",
    ];
    if retry_http.iter().any(|p| s.contains(p)) {
        return exit::TEMPFAIL;
    }
    if s.contains("returned error: 4") {
        return exit::USAGE;
    }
    let temporary = [
        "stale info",
        "cannot lock ref",
        "connection reset",
        "failed to connect",
        "connection refused",
        "could not resolve host",
        "timed out",
        "early eof",
        "the remote end hung up unexpectedly",
        "unable to access",
    ];
    if temporary.iter().any(|p| s.contains(p)) {
        exit::TEMPFAIL
    } else {
        exit::USAGE
    }
}

/// Is `repo` a URL (`scheme://...` or scp-like `host:path`) rather than a path?
/// git's own rule: a colon before any slash means a remote.
pub fn is_url(repo: &str) -> bool {
    if repo.contains("://") {
        return true;
    }
    match (repo.find(':'), repo.find('/')) {
        (Some(c), Some(s)) => c > 0 && c < s,
        (Some(c), None) => c > 0,
        _ => false,
    }
}

/// Tag names from `git ls-remote --tags` output. Annotated tags appear twice, the
/// second time peeled (`refs/tags/X^{}`); each name is kept once.
pub fn tag_names(ls_remote: &str) -> Vec<String> {
    let names: std::collections::BTreeSet<&str> = ls_remote
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(_, r)| r.trim_end()))
        .filter_map(|r| r.strip_prefix("refs/tags/"))
        .map(|n| n.strip_suffix("^{}").unwrap_or(n))
        .filter(|n| !n.is_empty())
        .collect();
    names.into_iter().map(str::to_string).collect()
}

/// The tag names of `repo` (a path or URL) without cloning it: `git ls-remote
/// --tags` reads only the ref advertisement. A missing local repository, or
/// one git refuses, is exit 2; a remote that cannot be reached or does not
/// answer within `timeout` is exit 75.
pub fn list_tags(repo: &str, timeout: std::time::Duration) -> Result<Vec<String>> {
    if repo.is_empty() || repo.starts_with('-') {
        return Err(exit::usage(format!(
            "{repo:?} is not a repository path or URL"
        )));
    }
    if !is_url(repo) && !Path::new(repo).exists() {
        return Err(exit::usage(format!(
            "recipe repository {repo} does not exist"
        )));
    }
    let out = run_remote(Path::new("."), &["ls-remote", "--tags", repo], timeout).map_err(|e| {
        if exit::code_of(&e) == exit::TEMPFAIL {
            exit::tempfail(format!(
                "git ls-remote {repo} did not answer within {}s",
                timeout.as_secs()
            ))
        } else {
            e
        }
    })?;
    if out.success {
        return Ok(tag_names(&out.stdout));
    }
    let why = out.stderr.trim().replace('\n', " ");
    let code = if is_url(repo) {
        remote_failure_code(&why)
    } else {
        exit::USAGE
    };
    Err(exit::coded(
        code,
        format!("cannot list tags of {repo}: {why}"),
    ))
}

#[cfg(test)]
mod remote_tests {
    use super::*;

    #[test]
    fn failures_are_classified() {
        for t in [
            "fatal: unable to access 'http://127.0.0.1:9/x.git/': Failed to connect to 127.0.0.1 port 9: Connection refused",
            "fatal: unable to access 'https://x/': The requested URL returned error: 503",
            "fatal: unable to access 'https://x/': Could not resolve host: x",
            " ! [rejected]        main -> main (stale info)",
            "ssh: connect to host x port 22: Connection timed out",
        ] {
            assert_eq!(remote_failure_code(t), exit::TEMPFAIL, "{t}");
        }
        for t in [
            "fatal: '/nope' does not appear to be a git repository",
            "fatal: unable to access 'https://x/': The requested URL returned error: 403",
            "fatal: repository 'https://x/y.git/' not found",
            "fatal: couldn't find remote ref refs/heads/main",
            " ! [remote rejected] main -> main (pre-receive hook declined)",
        ] {
            assert_eq!(remote_failure_code(t), exit::USAGE, "{t}");
        }
    }

    #[test]
    fn tag_names_once_each() {
        let out = "1111111111111111111111111111111111111111\trefs/tags/0.1.0+1.0
2222222222222222222222222222222222222222\trefs/tags/0.1.0+1.0^{}
3333333333333333333333333333333333333333\trefs/tags/0.2.0+1.1
4444444444444444444444444444444444444444\trefs/tags/release/x
5555555555555555555555555555555555555555\trefs/heads/main
";
        assert_eq!(tag_names(out), ["0.1.0+1.0", "0.2.0+1.1", "release/x"]);
        assert!(tag_names("").is_empty());
    }

    #[test]
    fn urls_and_paths() {
        for u in [
            "https://git.coopcloud.tech/coop-cloud/custom-html.git",
            "file:///srv/mirrors/a.git",
            "git@git.coopcloud.tech:coop-cloud/gitea.git",
            "host:repo",
        ] {
            assert!(is_url(u), "{u}");
        }
        for p in ["/srv/mirrors/a.git", "./a:b", "relative/dir", "a.git"] {
            assert!(!is_url(p), "{p}");
        }
    }

    #[test]
    fn deadline_kills_a_hanging_git() {
        // `git -c alias` runs a shell that outlives a short deadline.
        let t = std::time::Instant::now();
        let e = run_remote(
            Path::new("."),
            &["-c", "alias.hang=!sleep 5", "hang"],
            std::time::Duration::from_millis(300),
        )
        .unwrap_err();
        assert_eq!(exit::code_of(&e), exit::TEMPFAIL);
        assert!(t.elapsed() < std::time::Duration::from_secs(3));
    }
}
