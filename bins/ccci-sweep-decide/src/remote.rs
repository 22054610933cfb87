//! A repository's tag names without cloning it: `git ls-remote --tags`, which
//! reads only the ref advertisement, for a local path or a URL alike.

use anyhow::{Context, Result};
use ccci_core::exit;
use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
    let names: BTreeSet<&str> = ls_remote
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(_, r)| r.trim_end()))
        .filter_map(|r| r.strip_prefix("refs/tags/"))
        .map(|n| n.strip_suffix("^{}").unwrap_or(n))
        .filter(|n| !n.is_empty())
        .collect();
    names.into_iter().map(str::to_string).collect()
}

/// The tag names of `repo`. A missing local repository, or one git refuses as
/// not a repository, is exit 2; a remote that cannot be reached (or does not
/// answer within `timeout`) is exit 75.
pub fn list_tags(repo: &str, timeout: Duration) -> Result<Vec<String>> {
    if repo.is_empty() || repo.starts_with('-') {
        return Err(exit::usage(format!(
            "{repo:?} is not a repository path or URL"
        )));
    }
    let url = is_url(repo);
    if !url && !Path::new(repo).exists() {
        return Err(exit::usage(format!(
            "recipe repository {repo} does not exist"
        )));
    }
    let out = run_git(&["ls-remote", "--tags", repo], timeout).map_err(|e| match e {
        Failure::Spawn(e) => e,
        Failure::Timeout => exit::tempfail(format!(
            "git ls-remote {repo} did not answer within {}s",
            timeout.as_secs()
        )),
    })?;
    if out.status.success() {
        return Ok(tag_names(&out.stdout));
    }
    let why = out.stderr.trim().replace('\n', " ");
    let msg = format!("cannot list tags of {repo}: {why}");
    if !url || permanent(&why) {
        Err(exit::usage(msg))
    } else {
        Err(exit::tempfail(msg))
    }
}

/// Failures of a remote that retrying will not fix: it does not exist, refuses
/// our credentials, or speaks no protocol we have. Anything else (DNS, refused
/// or reset connections, HTTP 5xx/429) is worth retrying.
fn permanent(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    if ["returned error: 408", "returned error: 429"]
        .iter()
        .any(|p| s.contains(p))
    {
        return false;
    }
    [
        "does not appear to be a git repository",
        "not found",
        "authentication failed",
        "terminal prompts disabled",
        "could not read username",
        "permission denied",
        "returned error: 4",
        "is not supported",
        "unable to find remote helper",
        "not a git repository",
    ]
    .iter()
    .any(|p| s.contains(p))
}

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

enum Failure {
    Spawn(anyhow::Error),
    Timeout,
}

/// Run git with a deadline. git runs in its own process group so that on timeout
/// its helpers (ssh, git-remote-https) die with it and release our pipes; outside
/// the terminal's foreground group, an ssh that wants to prompt stops instead of
/// hanging on the operator's tty, and the deadline ends it.
fn run_git(args: &[&str], timeout: Duration) -> std::result::Result<Output, Failure> {
    let mut child = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("GIT_TERMINAL_PROMPT", "0")
        .process_group(0)
        .spawn()
        .map_err(|e| {
            Failure::Spawn(if e.kind() == std::io::ErrorKind::NotFound {
                exit::usage("git is not installed (not found on PATH)")
            } else {
                anyhow::Error::new(e).context("cannot run git")
            })
        })?;
    let pgid = child.id() as i32;
    let deadline = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    for (i, pipe) in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
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
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, b)) => bufs[i] = b,
            Err(_) => {
                kill_group(pgid);
                let _ = child.wait();
                return Err(Failure::Timeout);
            }
        }
    }
    let status = child
        .wait()
        .context("cannot wait for git")
        .map_err(Failure::Spawn)?;
    let [out, err] = bufs;
    Ok(Output {
        status,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

fn kill_group(pgid: i32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeled_refs_count_once() {
        let out = "\
1111111111111111111111111111111111111111\trefs/tags/0.1.0+1.0
2222222222222222222222222222222222222222\trefs/tags/0.1.0+1.0^{}
3333333333333333333333333333333333333333\trefs/tags/0.2.0+1.1
4444444444444444444444444444444444444444\trefs/tags/release/x^{}
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
    fn permanent_and_temporary_failures() {
        assert!(permanent("fatal: repository 'https://x/y.git/' not found"));
        assert!(permanent(
            "fatal: could not read Username for 'https://x': terminal prompts disabled"
        ));
        assert!(permanent("The requested URL returned error: 403"));
        assert!(!permanent("The requested URL returned error: 503"));
        assert!(!permanent("The requested URL returned error: 429"));
        assert!(!permanent(
            "fatal: unable to access 'https://x/': Could not resolve host: x"
        ));
        assert!(!permanent(
            "fatal: unable to access 'http://127.0.0.1:9/': Failed to connect to 127.0.0.1 port 9: Connection refused"
        ));
    }
}
