//! `ccci-mirror-sync`: make a mirror of a recipe repository faithfully equal
//! its upstream, and nothing else.
//!
//! The mirror's main becomes exactly upstream's main and its tags exactly
//! upstream's tags (added, moved; removed only with `--prune-tags`). Nothing of
//! ours is ever pushed to main or to tags, and no other branch is touched, so
//! pull request branches stay. If the mirror's main holds commits upstream
//! lacks, the sync is refused and they are listed (`--force` discards them).
//! Then each open pull request on the mirror whose merge into the new main
//! would change nothing is closed with a comment saying why; every other one is
//! left as it was.

pub mod git;
pub mod pulls;
pub mod report;

use anyhow::{Context, Result};
use ccci_core::gitea::{self, Gitea, RepoRef};
use ccci_core::{exit, state::Lock};
use clap::Parser;
use git::{Cache, Refs, Update, is_url};
use report::{Commit, Main, MainChange, Outcome, Pulls, Report, Tag, Tags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-mirror-sync",
    version,
    about = "Make a recipe mirror faithfully equal its upstream (main and tags); close mirror PRs made redundant",
    long_about = "Make a mirror of a recipe repository equal its upstream and nothing else: the mirror's \
main becomes exactly upstream's main, its tags exactly upstream's tags (new ones added, moved ones \
moved; tags deleted upstream are removed only with --prune-tags). Nothing of ours is pushed to main \
or tags, and no other branch is touched: pull request branches stay.\n\n\
If the mirror's main has commits upstream lacks, the sync is refused and they are listed; --force \
discards them. Commits that were upstream's main when last synced are upstream's, so an upstream \
force-push is followed without --force.\n\n\
Then each open pull request on the mirror (read from Gitea) whose merge into the new main would \
change nothing, because its changes are already upstream (git merge-tree, compared by tree), is \
closed with a comment saying why. Every other pull request is left exactly as it was.\n\n\
The Gitea token is read from --token-file, $CCCI_GITEA_TOKEN_FILE, the systemd credential \
gitea-token, or $CCCI_GITEA_TOKEN; never from the command line. A working cache lives in \
<state>/mirrors/<name>.git.\n\n\
Exit codes: 0 synced or nothing to do, 1 refused (the mirror's main has commits upstream lacks), \
2 bad input (missing repository, no such branch, bad token, unknown Gitea repository), 75 \
temporary trouble (a remote or Gitea unreachable, HTTP 5xx/429, the mirror moved during the sync, \
another sync of the same mirror running).",
    after_help = "Examples:\n  \
ccci-mirror-sync --upstream https://git.coopcloud.tech/coop-cloud/custom-html.git \\\n    \
--mirror ssh://git@ci.example.org/recipes/custom-html.git \\\n    \
--gitea https://ci.example.org/ --repo recipes/custom-html --token-file gitea-token\n  \
ccci-mirror-sync --dry-run --no-pulls --upstream /srv/up/x.git --mirror /srv/mirrors/x.git"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    /// Upstream repository (path or URL); the only source of main and tags
    #[arg(long, value_name = "PATH|URL")]
    upstream: String,
    /// The mirror (path or URL) to make equal to upstream
    #[arg(long, value_name = "PATH|URL")]
    mirror: String,
    /// Name of the mirror for the cache and the lock (default: --repo's name, else the mirror's)
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The branch to mirror
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    branch: String,
    /// Gitea serving the mirror (ROOT_URL), for its pull requests
    #[arg(long, value_name = "URL", env = "CCCI_GITEA_URL")]
    gitea: Option<String>,
    /// The mirror's repository on Gitea
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
    /// Do not look at pull requests (a Gitea from $CCCI_GITEA_URL is then ignored)
    #[arg(long, conflicts_with = "repo")]
    no_pulls: bool,
    /// File holding the Gitea token (relative: in $CREDENTIALS_DIRECTORY)
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print what would be done; change nothing on the mirror or on Gitea
    #[arg(long)]
    dry_run: bool,
    /// Discard commits on the mirror's main that upstream lacks
    #[arg(long)]
    force: bool,
    /// Remove tags from the mirror that upstream deleted
    #[arg(long)]
    prune_tags: bool,
    /// Seconds to wait for each git remote or Gitea request before giving up (exit 75)
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// A remote given as a path becomes absolute (git runs in the cache); a path
/// that does not exist is bad input now rather than a puzzling git error later.
fn locate(flag: &str, repo: &str) -> Result<String> {
    if repo.is_empty() || repo.starts_with('-') || repo.contains(['\n', '\0']) {
        return Err(exit::usage(format!(
            "--{flag} {repo:?} is not a repository path or URL"
        )));
    }
    if is_url(repo) {
        return Ok(repo.to_string());
    }
    let p = Path::new(repo);
    let abs = p
        .canonicalize()
        .map_err(|e| exit::usage(format!("--{flag} {repo}: {e}")))?;
    if !abs.is_dir() {
        return Err(exit::usage(format!("--{flag} {repo} is not a directory")));
    }
    Ok(abs.to_string_lossy().into_owned())
}

fn check_branch(b: &str) -> Result<()> {
    let ok = !b.is_empty()
        && !b.starts_with(['-', '/', '.'])
        && !b.ends_with(['/', '.'])
        && !b.ends_with(".lock")
        && !b.contains("..")
        && !b.contains("//")
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'/'));
    if ok {
        Ok(())
    } else {
        Err(exit::usage(format!("--branch {b:?} is not a branch name")))
    }
}

fn check_name(n: &str) -> Result<()> {
    let ok = !n.is_empty()
        && n.len() <= 100
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(exit::usage(format!(
            "mirror name {n:?} is not a plain name (letters, digits, . _ -); give --name"
        )))
    }
}

/// The default name: the last path component of the mirror, without `.git`.
fn default_name(mirror: &str) -> String {
    let last = mirror
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("");
    last.strip_suffix(".git").unwrap_or(last).to_string()
}

pub fn run(cli: Cli) -> Result<i32> {
    // Everything local is checked before any remote is asked.
    check_branch(&cli.branch)?;
    let upstream = locate("upstream", &cli.upstream)?;
    let mirror = locate("mirror", &cli.mirror)?;
    if upstream == mirror {
        return Err(exit::usage(
            "--upstream and --mirror are the same repository",
        ));
    }
    let repo: Option<RepoRef> = cli.repo.as_deref().map(str::parse).transpose()?;
    let cfg = cli.global.ctx()?.cfg;
    // --gitea may come from the environment or the config's gitea_url for
    // every mirror of a host, so it alone never makes --no-pulls a
    // contradiction.
    let gitea_url = cli
        .gitea
        .as_deref()
        .filter(|u| !u.is_empty())
        .or(cfg.gitea_url.as_deref())
        .filter(|u| !u.is_empty() && !cli.no_pulls);
    if !cli.no_pulls && (repo.is_none() || gitea_url.is_none()) {
        return Err(exit::usage(
            "give --gitea URL (or $CCCI_GITEA_URL, or gitea_url in the config) and --repo OWNER/NAME for the mirror's pull requests, or --no-pulls",
        ));
    }
    let name = match (&cli.name, &repo) {
        (Some(n), _) => n.clone(),
        (None, Some(r)) => r.name.clone(),
        (None, None) => default_name(&mirror),
    };
    check_name(&name)?;
    if cli.timeout == 0 {
        return Err(exit::usage("--timeout must be at least 1 second"));
    }
    let timeout = Duration::from_secs(cli.timeout);
    let gitea = match (gitea_url, &repo) {
        (Some(url), Some(_)) => {
            let token = gitea::load_token(cli.token_file.as_deref())?;
            if token.is_none() && !cli.dry_run {
                return Err(exit::usage(
                    "closing pull requests needs a Gitea token: --token-file, $CCCI_GITEA_TOKEN_FILE, \
                     the gitea-token credential or $CCCI_GITEA_TOKEN",
                ));
            }
            Some(Gitea::new(url, token, timeout)?)
        }
        _ => None,
    };
    let state = cfg.ensure_state_dir()?;
    let dir = state.join("mirrors");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _lock = Lock::acquire(
        &dir.join(format!("{name}.lock")),
        Duration::from_secs(60),
        &format!("the sync of mirror {name}"),
    )?;
    let cache = Cache::open(
        &dir.join(format!("{name}.git")),
        &upstream,
        &mirror,
        timeout,
    )?;
    let job = Job {
        cache: &cache,
        gitea: gitea.as_ref().zip(repo.as_ref()),
        name: &name,
        upstream: &upstream,
        mirror: &mirror,
        branch: &cli.branch,
        dry_run: cli.dry_run,
        force: cli.force,
        prune_tags: cli.prune_tags,
    };
    let report = sync(&job)?;
    if cli.global.json {
        let v = serde_json::to_value(&report)?;
        let outcome = v["outcome"].as_str().unwrap_or("").to_string();
        let summary = report::text(&report);
        ccci_core::verdict::print(&outcome, summary.lines().next().unwrap_or(""), v);
    } else {
        print!("{}", report::text(&report));
    }
    Ok(if report.outcome == Outcome::Refused {
        exit::NO
    } else {
        exit::OK
    })
}

struct Job<'a> {
    cache: &'a Cache,
    gitea: Option<(&'a Gitea, &'a RepoRef)>,
    name: &'a str,
    upstream: &'a str,
    mirror: &'a str,
    branch: &'a str,
    dry_run: bool,
    force: bool,
    prune_tags: bool,
}

/// Tag name → object id, from refs under `prefix` (`refs/tags/`, `refs/upstream/tags/`).
fn tags(refs: &Refs, prefix: &str) -> BTreeMap<String, String> {
    refs.iter()
        .filter_map(|(r, o)| r.strip_prefix(prefix).map(|n| (n.to_string(), o.clone())))
        .collect()
}

fn sync(j: &Job) -> Result<Report> {
    let b = j.branch;
    let cache = j.cache;
    let head_ref = format!("refs/heads/{b}");
    let up_ref = format!("refs/upstream/heads/{b}");
    let mirror_ref = format!("refs/mirror/heads/{b}");
    let synced_ref = format!("refs/ccci/synced/{b}");
    let mut refs = cache.refs()?;

    // Both remotes at once: on a no-op sync, this is nearly all the time spent.
    let (up_ls, mi_ls) = std::thread::scope(|s| {
        let up = s.spawn(|| cache.ls_remote("upstream", j.upstream, &[&head_ref, "refs/tags/*"]));
        let mi = s.spawn(|| cache.ls_remote("mirror", j.mirror, &[]));
        (up.join(), mi.join())
    });
    let up_ls = up_ls.map_err(|_| anyhow::anyhow!("ls-remote of the upstream panicked"))??;
    let mi_ls = mi_ls.map_err(|_| anyhow::anyhow!("ls-remote of the mirror panicked"))??;
    if !up_ls.contains_key(&head_ref) {
        return Err(exit::usage(format!(
            "the upstream {} has no branch {b}",
            j.upstream
        )));
    }

    // Upstream's objects, into the cache, unless it already holds exactly these refs.
    let cached = (refs.get(&up_ref), tags(&refs, "refs/upstream/tags/"));
    if cached != (up_ls.get(&head_ref), tags(&up_ls, "refs/tags/")) {
        let specs = [
            format!("+{head_ref}:{up_ref}"),
            "+refs/tags/*:refs/upstream/tags/*".to_string(),
        ];
        cache.fetch("upstream", &specs, true)?;
        refs = cache.refs()?;
    }
    // What the cache fetched is what we push: if upstream moved since
    // ls-remote, the newer state wins, and we have its objects.
    let up_main = refs
        .get(&up_ref)
        .cloned()
        .ok_or_else(|| exit::usage(format!("the upstream {} has no branch {b}", j.upstream)))?;
    let up_tags = tags(&refs, "refs/upstream/tags/");
    let mi_main = mi_ls.get(&head_ref).cloned();
    let mi_tags = tags(&mi_ls, "refs/tags/");

    // Commits on the mirror's main that upstream never had.
    let mut stray = vec![];
    if let Some(m) = mi_main.as_ref().filter(|m| **m != up_main) {
        if refs.get(&mirror_ref) != Some(m) {
            cache.fetch("mirror", &[format!("+{head_ref}:{mirror_ref}")], false)?;
            if cache.refs()?.get(&mirror_ref) != Some(m) {
                return Err(exit::tempfail(format!(
                    "the mirror's {b} moved during the sync; run again"
                )));
            }
        }
        let mut not = vec![up_main.clone()];
        not.extend(refs.get(&synced_ref).cloned());
        not.push("--glob=refs/upstream/tags/*".into());
        stray = cache
            .commits_not_in(m, &not)?
            .into_iter()
            .map(|(sha, subject)| Commit { sha, subject })
            .collect();
    }
    let change = match &mi_main {
        None => MainChange::Created,
        Some(m) if *m == up_main => MainChange::Unchanged,
        Some(m) if stray.is_empty() && cache.is_ancestor(m, &up_main) => MainChange::FastForward,
        Some(_) => MainChange::Forced,
    };
    let mut updates = vec![];
    if change != MainChange::Unchanged {
        updates.push(Update {
            dst: head_ref.clone(),
            expect: mi_main.clone(),
            new: Some(up_main.clone()),
        });
    }

    let mut t = Tags::default();
    for (name, new) in &up_tags {
        let old = mi_tags.get(name);
        if old == Some(new) {
            continue;
        }
        let tag = Tag {
            name: name.clone(),
            old: old.cloned(),
            new: Some(new.clone()),
        };
        updates.push(Update {
            dst: format!("refs/tags/{name}"),
            expect: old.cloned(),
            new: Some(new.clone()),
        });
        if old.is_some() {
            t.moved.push(tag);
        } else {
            t.added.push(tag);
        }
    }
    for (name, old) in mi_tags.iter().filter(|(n, _)| !up_tags.contains_key(*n)) {
        let tag = Tag {
            name: name.clone(),
            old: Some(old.clone()),
            new: None,
        };
        if j.prune_tags {
            updates.push(Update {
                dst: format!("refs/tags/{name}"),
                expect: Some(old.clone()),
                new: None,
            });
            t.removed.push(tag);
        } else {
            t.kept.push(tag);
        }
    }

    let refused = !stray.is_empty() && !j.force;
    let mut report = Report {
        schema: report::SCHEMA,
        mirror: j.name.to_string(),
        upstream_url: j.upstream.to_string(),
        mirror_url: j.mirror.to_string(),
        branch: b.to_string(),
        dry_run: j.dry_run,
        outcome: Outcome::Unchanged,
        main: Main {
            old: mi_main.clone(),
            new: up_main.clone(),
            change,
        },
        tags: t,
        stray,
        pulls: Pulls::default(),
    };
    if refused {
        report.outcome = Outcome::Refused;
        return Ok(report);
    }
    if !j.dry_run {
        cache.push(&updates)?;
        if refs.get(&synced_ref) != Some(&up_main) {
            cache.set_ref(&synced_ref, &up_main)?;
        }
    }
    if let Some((gitea, repo)) = j.gitea {
        let check = pulls::Check {
            cache,
            gitea,
            repo,
            branch: b,
            main: &up_main,
            mirror_refs: &mi_ls,
            cached: &refs,
            dry_run: j.dry_run,
        };
        report.pulls = pulls::check(&check).map_err(|e| {
            if updates.is_empty() || j.dry_run {
                e
            } else {
                e.context(format!(
                    "the mirror's {b} and tags were synced, but its pull requests were not checked"
                ))
            }
        })?;
    }
    if !updates.is_empty() || !report.pulls.closed.is_empty() {
        report.outcome = Outcome::Synced;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn names() {
        assert_eq!(default_name("/srv/mirrors/custom-html.git"), "custom-html");
        assert_eq!(default_name("git@host:recipes/gitea.git/"), "gitea");
        assert_eq!(default_name("https://h/r/x"), "x");
        assert!(check_name("custom-html").is_ok());
        for bad in ["", ".x", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_branch("main").is_ok());
        assert!(check_branch("release/1.x").is_ok());
        for bad in ["", "-x", "a..b", "a b", "x.lock", "a/"] {
            assert!(check_branch(bad).is_err(), "{bad}");
        }
    }
}
