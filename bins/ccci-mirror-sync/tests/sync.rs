//! ccci-mirror-sync against real bare git repositories (an upstream, its
//! mirror, a working clone for upstream's commits and one for pull request
//! branches) and, for the pull requests, the fake Gitea on 127.0.0.1.

use ccci_fake_gitea::{FakeGitea, Perm, PullSpec, State};
use ccci_testkit::{Run, Scratch, run};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const OWNER: &str = "recipes";
const REPO: &str = "demo";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-mirror-sync"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "ccci-test")
        .env("GIT_AUTHOR_EMAIL", "test@localhost")
        .env("GIT_COMMITTER_NAME", "ccci-test")
        .env("GIT_COMMITTER_EMAIL", "test@localhost")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every ref of a repository, name → object id.
fn refs(repo: &Path) -> BTreeMap<String, String> {
    git(repo, &["for-each-ref", "--format=%(refname) %(objectname)"])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(r, o)| (r.to_string(), o.to_string()))
        .collect()
}

/// The mirror's branches other than main: pull request branches.
fn other_branches(repo: &Path) -> BTreeMap<String, String> {
    refs(repo)
        .into_iter()
        .filter(|(r, _)| r.starts_with("refs/heads/") && r != "refs/heads/main")
        .collect()
}

fn main_and_tags(repo: &Path) -> BTreeMap<String, String> {
    refs(repo)
        .into_iter()
        .filter(|(r, _)| r == "refs/heads/main" || r.starts_with("refs/tags/"))
        .collect()
}

struct World {
    scratch: Scratch,
    upstream: PathBuf,
    up_work: PathBuf,
    mirror: PathBuf,
    pr_work: PathBuf,
    state: PathBuf,
    token_file: PathBuf,
    fake: FakeGitea,
}

impl World {
    /// An upstream with one release, mirrored faithfully by a first sync.
    fn new(name: &str) -> World {
        let scratch = Scratch::new(name);
        let p = |s: &str| scratch.join(s);
        let (upstream, mirror) = (p("upstream.git"), p("mirror.git"));
        git(
            &scratch.path,
            &["init", "-q", "--bare", "-b", "main", "upstream.git"],
        );
        git(
            &scratch.path,
            &["init", "-q", "--bare", "-b", "main", "mirror.git"],
        );
        git(&scratch.path, &["clone", "-q", "upstream.git", "up-work"]);
        let up_work = p("up-work");
        git(&up_work, &["checkout", "-q", "-B", "main"]);
        let fake = FakeGitea::start().expect("fake gitea");
        fake.add_repo(OWNER, REPO).unwrap();
        fake.add_token(
            "ci-bot",
            "bot-token",
            Some(&["write:repository", "write:issue"]),
        );
        fake.add_collaborator(OWNER, REPO, "ci-bot", Perm::Write)
            .unwrap();
        let token_file = p("gitea-token");
        std::fs::write(&token_file, "bot-token\n").unwrap();
        let w = World {
            upstream,
            up_work,
            mirror,
            pr_work: p("pr-work"),
            state: p("state"),
            token_file,
            fake,
            scratch,
        };
        w.up_commit("compose.yml", "version: '3.8'\n", "init");
        w.up_release("0.1.0+1.0");
        w.sync(&[]).assert_code(0);
        git(&w.scratch.path, &["clone", "-q", "mirror.git", "pr-work"]);
        w.fake.clear_requests();
        w
    }

    fn args(&self) -> Vec<String> {
        [
            "--json",
            "--state-dir",
            &self.state.to_string_lossy(),
            "--upstream",
            &self.upstream.to_string_lossy(),
            "--mirror",
            &self.mirror.to_string_lossy(),
            "--gitea",
            self.fake.root_url(),
            "--repo",
            &format!("{OWNER}/{REPO}"),
            "--token-file",
            &self.token_file.to_string_lossy(),
        ]
        .map(String::from)
        .to_vec()
    }

    fn sync(&self, extra: &[&str]) -> Run {
        let mut args = self.args();
        args.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&bin(), &a, &[])
    }

    /// Commit a file upstream and push main.
    fn up_commit(&self, file: &str, text: &str, msg: &str) -> String {
        std::fs::write(self.up_work.join(file), text).unwrap();
        git(&self.up_work, &["add", "-A"]);
        git(&self.up_work, &["commit", "-q", "-m", msg]);
        git(&self.up_work, &["push", "-q", "origin", "main"]);
        git(&self.up_work, &["rev-parse", "HEAD"])
    }

    /// Tag upstream's main annotated, as `abra recipe release` does, and push it.
    fn up_release(&self, tag: &str) {
        git(&self.up_work, &["tag", "-a", tag, "-m", tag]);
        git(&self.up_work, &["push", "-q", "origin", tag]);
    }

    fn up_main(&self) -> String {
        git(&self.upstream, &["rev-parse", "main"])
    }

    fn mirror_main(&self) -> String {
        git(&self.mirror, &["rev-parse", "main"])
    }

    /// A pull request on the mirror: a branch off the mirror's main with one
    /// file changed, pushed to the mirror, and opened on the fake Gitea.
    fn pr(&self, branch: &str, file: &str, text: &str, title: &str) -> i64 {
        git(&self.pr_work, &["fetch", "-q", "origin"]);
        git(
            &self.pr_work,
            &["checkout", "-q", "-B", branch, "origin/main"],
        );
        std::fs::write(self.pr_work.join(file), text).unwrap();
        git(&self.pr_work, &["add", "-A"]);
        git(&self.pr_work, &["commit", "-q", "-m", title]);
        git(&self.pr_work, &["push", "-q", "origin", branch]);
        let head = git(&self.pr_work, &["rev-parse", "HEAD"]);
        let base = git(&self.pr_work, &["rev-parse", "origin/main"]);
        self.fake
            .open_pull(
                OWNER,
                REPO,
                PullSpec {
                    title: title.into(),
                    poster: "alice".into(),
                    head_branch: branch.into(),
                    head_sha: head,
                    base_branch: "main".into(),
                    base_sha: base,
                    ..PullSpec::default()
                },
            )
            .unwrap()
    }

    fn writes_to_gitea(&self) -> Vec<String> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

fn numbers(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect()
}

fn tag_names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn one_line_error(r: &Run) {
    ccci_testkit::assert_one_line_error(r, "ccci-mirror-sync");
}

#[test]
fn upstream_moves_forward() {
    let w = World::new("forward");
    let old = w.mirror_main();
    w.up_commit("compose.yml", "version: '3.9'\n", "bump");
    let new = w.up_commit("README.md", "hi\n", "docs");
    let r = w.sync(&[]);
    r.assert_code(0);
    let j = r.json();
    assert_eq!(j["outcome"], "synced");
    assert_eq!(j["main"]["old"], old.as_str());
    assert_eq!(j["main"]["new"], new.as_str());
    assert_eq!(j["main"]["change"], "fast-forward");
    assert_eq!(j["stray"], serde_json::json!([]));
    assert_eq!(j["pulls"]["checked"], true);
    assert_eq!(main_and_tags(&w.mirror), main_and_tags(&w.upstream));
    // A second run has nothing to do.
    let r = w.sync(&[]);
    r.assert_code(0);
    assert_eq!(r.json()["outcome"], "unchanged");
    assert_eq!(r.json()["main"]["change"], "unchanged");
    assert!(w.writes_to_gitea().is_empty());
}

#[test]
fn upstream_force_push_is_followed() {
    let w = World::new("force-push");
    w.up_commit("a.txt", "a\n", "soon rewritten");
    w.sync(&[]).assert_code(0);
    let before = w.mirror_main();
    // Upstream rewrites its last commit and force-pushes.
    git(&w.up_work, &["reset", "-q", "--hard", "HEAD~1"]);
    std::fs::write(w.up_work.join("b.txt"), "b\n").unwrap();
    git(&w.up_work, &["add", "-A"]);
    git(&w.up_work, &["commit", "-q", "-m", "rewritten"]);
    git(&w.up_work, &["push", "-q", "-f", "origin", "main"]);
    let r = w.sync(&[]);
    r.assert_code(0);
    let j = r.json();
    assert_eq!(j["main"]["change"], "forced");
    assert_eq!(j["main"]["old"], before.as_str());
    assert_eq!(
        j["stray"],
        serde_json::json!([]),
        "upstream's old commits are not ours"
    );
    assert_eq!(w.mirror_main(), w.up_main());
    assert_eq!(main_and_tags(&w.mirror), main_and_tags(&w.upstream));
}

#[test]
fn a_tag_added_and_one_moved() {
    let w = World::new("tags");
    let old_tag = refs(&w.mirror)["refs/tags/0.1.0+1.0"].clone();
    w.up_commit("compose.yml", "version: '3.9'\n", "fix");
    // 0.1.0+1.0 is re-tagged on the fix; 0.2.0+1.1 is new.
    git(
        &w.up_work,
        &["tag", "-f", "-a", "0.1.0+1.0", "-m", "retagged"],
    );
    git(&w.up_work, &["push", "-q", "-f", "origin", "0.1.0+1.0"]);
    w.up_commit("compose.yml", "version: '3.10'\n", "release");
    w.up_release("0.2.0+1.1");
    let r = w.sync(&["--prune-tags"]);
    r.assert_code(0);
    let j = r.json();
    assert_eq!(tag_names(&j["tags"]["added"]), ["0.2.0+1.1"]);
    assert_eq!(tag_names(&j["tags"]["moved"]), ["0.1.0+1.0"]);
    assert_eq!(j["tags"]["moved"][0]["old"], old_tag.as_str());
    let up = refs(&w.upstream);
    assert_eq!(
        j["tags"]["moved"][0]["new"],
        up["refs/tags/0.1.0+1.0"].as_str()
    );
    assert_eq!(j["tags"]["removed"], serde_json::json!([]));
    assert_eq!(main_and_tags(&w.mirror), main_and_tags(&w.upstream));
}

#[test]
fn tags_deleted_upstream_go_only_with_the_flag() {
    let w = World::new("prune");
    w.up_commit("x.txt", "x\n", "x");
    w.up_release("0.2.0+1.0");
    w.sync(&[]).assert_code(0);
    git(
        &w.up_work,
        &["push", "-q", "origin", ":refs/tags/0.2.0+1.0"],
    );
    let r = w.sync(&[]);
    r.assert_code(0);
    let j = r.json();
    assert_eq!(tag_names(&j["tags"]["kept"]), ["0.2.0+1.0"]);
    assert_eq!(j["tags"]["removed"], serde_json::json!([]));
    assert_eq!(j["outcome"], "unchanged");
    assert!(refs(&w.mirror).contains_key("refs/tags/0.2.0+1.0"));
    let r = w.sync(&["--prune-tags"]);
    r.assert_code(0);
    let j = r.json();
    assert_eq!(tag_names(&j["tags"]["removed"]), ["0.2.0+1.0"]);
    assert_eq!(j["outcome"], "synced");
    assert!(!refs(&w.mirror).contains_key("refs/tags/0.2.0+1.0"));
    assert_eq!(main_and_tags(&w.mirror), main_and_tags(&w.upstream));
}

#[test]
fn a_pr_upstream_already_merged_is_closed_and_a_real_one_left() {
    let w = World::new("pulls");
    let fixed = w.pr(
        "fix-typo",
        "compose.yml",
        "version: '3.8' # fixed\n",
        "Fix typo",
    );
    let feature = w.pr("add-feature", "feature.txt", "new\n", "Add feature");
    let other = {
        // A pull request against another branch is none of our business.
        let n = w.pr("to-develop", "dev.txt", "dev\n", "For develop");
        let p = w.fake.pull(OWNER, REPO, n).unwrap();
        w.fake
            .set_pull_state(OWNER, REPO, n, State::Closed)
            .unwrap();
        w.fake
            .open_pull(
                OWNER,
                REPO,
                PullSpec {
                    title: "For develop".into(),
                    head_branch: "to-develop".into(),
                    head_sha: p.head_sha,
                    base_branch: "develop".into(),
                    base_sha: p.base_sha,
                    ..PullSpec::default()
                },
            )
            .unwrap()
    };
    // Upstream makes the same change in a commit of its own, then moves on.
    w.up_commit(
        "compose.yml",
        "version: '3.8' # fixed\n",
        "fix typo upstream",
    );
    w.up_commit("other.txt", "o\n", "more upstream work");
    let branches = other_branches(&w.mirror);
    let r = w.sync(&[]);
    r.assert_code(0);
    let j = r.json();
    assert_eq!(numbers(&j["pulls"]["closed"]), [fixed]);
    assert_eq!(numbers(&j["pulls"]["left"]), [feature, other]);
    assert_eq!(
        j["pulls"]["left"][0]["reason"],
        "merging it would change main"
    );
    assert_eq!(j["outcome"], "synced");

    let closed = w.fake.pull(OWNER, REPO, fixed).unwrap();
    assert_eq!(closed.state, State::Closed);
    assert!(!closed.merged);
    let comments = w.fake.comments(OWNER, REPO, fixed);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("would change nothing"),
        "{}",
        comments[0].body
    );
    assert!(comments[0].body.contains(&w.up_main()));
    assert_eq!(w.fake.login(comments[0].user_id).as_deref(), Some("ci-bot"));
    // The real change is untouched: open, no comment, no write at all.
    assert_eq!(
        w.fake.pull(OWNER, REPO, feature).unwrap().state,
        State::Open
    );
    assert!(w.fake.comments(OWNER, REPO, feature).is_empty());
    assert_eq!(
        w.writes_to_gitea(),
        [
            format!("POST /api/v1/repos/{OWNER}/{REPO}/issues/{fixed}/comments"),
            format!("PATCH /api/v1/repos/{OWNER}/{REPO}/pulls/{fixed}"),
        ]
    );
    // Every pull request branch is exactly where it was, the closed one's too.
    assert_eq!(other_branches(&w.mirror), branches);
    assert_eq!(main_and_tags(&w.mirror), main_and_tags(&w.upstream));
    // Nothing more to do the next time.
    let r = w.sync(&[]);
    r.assert_code(0);
    assert_eq!(r.json()["outcome"], "unchanged");
    assert_eq!(numbers(&r.json()["pulls"]["left"]), [feature, other]);
}

#[test]
fn a_stray_commit_on_the_mirror_is_refused_without_force() {
    let w = World::new("stray");
    let n = w.pr(
        "fix-typo",
        "compose.yml",
        "version: '3.8' # fixed\n",
        "Fix typo",
    );
    // Someone pushes straight to the mirror's main.
    git(
        &w.pr_work,
        &["checkout", "-q", "-B", "local", "origin/main"],
    );
    std::fs::write(w.pr_work.join("ours.txt"), "ours\n").unwrap();
    git(&w.pr_work, &["add", "-A"]);
    git(&w.pr_work, &["commit", "-q", "-m", "our own change"]);
    git(&w.pr_work, &["push", "-q", "origin", "local:main"]);
    let stray = git(&w.pr_work, &["rev-parse", "HEAD"]);
    w.up_commit("compose.yml", "version: '3.8' # fixed\n", "upstream fix");
    w.up_release("0.2.0+1.0");
    let before = refs(&w.mirror);

    let r = w.sync(&[]);
    r.assert_code(1);
    let j = r.json();
    assert_eq!(j["outcome"], "refused");
    assert_eq!(j["stray"][0]["sha"], stray.as_str());
    assert_eq!(j["stray"][0]["subject"], "our own change");
    assert_eq!(j["stray"].as_array().unwrap().len(), 1);
    assert_eq!(j["pulls"]["checked"], false);
    assert_eq!(refs(&w.mirror), before, "a refusal changes nothing");
    assert!(w.writes_to_gitea().is_empty());
    assert_eq!(w.fake.pull(OWNER, REPO, n).unwrap().state, State::Open);
    // In text, too, the commit is named.
    let mut args = w.args();
    args.retain(|a| a != "--json");
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = run(&bin(), &a, &[]);
    t.assert_code(1);
    assert!(
        t.stdout
            .contains(&format!("stray commit: {} our own change", &stray[..10])),
        "{}",
        t.stdout
    );

    let r = w.sync(&["--force"]);
    r.assert_code(0);
    let j = r.json();
    assert_eq!(j["main"]["change"], "forced");
    assert_eq!(j["stray"][0]["sha"], stray.as_str());
    assert_eq!(main_and_tags(&w.mirror), main_and_tags(&w.upstream));
    assert_eq!(numbers(&j["pulls"]["closed"]), [n]);
}

#[test]
fn dry_run_changes_nothing() {
    let w = World::new("dry-run");
    let n = w.pr(
        "fix-typo",
        "compose.yml",
        "version: '3.8' # fixed\n",
        "Fix typo",
    );
    w.up_commit("compose.yml", "version: '3.8' # fixed\n", "upstream fix");
    w.up_release("0.2.0+1.0");
    git(
        &w.up_work,
        &["push", "-q", "origin", ":refs/tags/0.1.0+1.0"],
    );
    let before = refs(&w.mirror);
    let r = w.sync(&["--dry-run", "--prune-tags"]);
    r.assert_code(0);
    let j = r.json();
    assert_eq!(j["dry_run"], true);
    assert_eq!(j["outcome"], "synced");
    assert_eq!(j["main"]["change"], "fast-forward");
    assert_eq!(tag_names(&j["tags"]["added"]), ["0.2.0+1.0"]);
    assert_eq!(tag_names(&j["tags"]["removed"]), ["0.1.0+1.0"]);
    assert_eq!(numbers(&j["pulls"]["closed"]), [n]);
    assert_eq!(refs(&w.mirror), before);
    assert_eq!(w.fake.pull(OWNER, REPO, n).unwrap().state, State::Open);
    assert!(w.fake.comments(OWNER, REPO, n).is_empty());
    assert!(w.writes_to_gitea().is_empty(), "{:?}", w.writes_to_gitea());
    // A dry run needs no token: it only reads.
    let mut args = w.args();
    args.truncate(args.len() - 2);
    args.retain(|a| a != "--json");
    args.push("--dry-run".into());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = run(&bin(), &a, &[]);
    t.assert_code(0);
    assert!(
        t.stdout.starts_with("demo: dry run: would sync"),
        "{}",
        t.stdout
    );
    assert!(
        t.stdout.contains(&format!("pull closed: #{n} Fix typo")),
        "{}",
        t.stdout
    );
    assert_eq!(refs(&w.mirror), before);
}

#[test]
fn a_closing_that_failed_half_way_is_finished_without_a_second_comment() {
    let w = World::new("retry-close");
    let n = w.pr(
        "fix-typo",
        "compose.yml",
        "version: '3.8' # fixed\n",
        "Fix typo",
    );
    w.up_commit("compose.yml", "version: '3.8' # fixed\n", "upstream fix");
    w.fake.fail(Some("PATCH"), "/pulls/", 502, 1);
    let r = w.sync(&[]);
    r.assert_code(75);
    one_line_error(&r);
    assert!(
        r.stderr
            .contains("were synced, but its pull requests were not checked"),
        "{}",
        r.stderr
    );
    assert_eq!(w.mirror_main(), w.up_main());
    assert_eq!(w.fake.comments(OWNER, REPO, n).len(), 1);
    let r = w.sync(&[]);
    r.assert_code(0);
    assert_eq!(numbers(&r.json()["pulls"]["closed"]), [n]);
    assert_eq!(w.fake.comments(OWNER, REPO, n).len(), 1);
    assert_eq!(w.fake.pull(OWNER, REPO, n).unwrap().state, State::Closed);
}

#[test]
fn gitea_trouble_is_temporary() {
    let w = World::new("gitea-5xx");
    for status in [500, 503, 429] {
        w.fake.fail(Some("GET"), "/pulls", status, 1);
        let r = w.sync(&[]);
        r.assert_code(75);
        one_line_error(&r);
        assert!(r.stderr.contains(&format!("HTTP {status}")), "{}", r.stderr);
    }
    // Gitea not listening at all.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let mut args = w.args();
    let i = args.iter().position(|a| a == "--gitea").unwrap();
    args[i + 1] = url;
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&bin(), &a, &[]);
    r.assert_code(75);
    one_line_error(&r);
}

#[test]
fn an_unreachable_upstream_is_temporary() {
    let w = World::new("unreachable");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/up.git", dead.local_addr().unwrap());
    drop(dead);
    let mut args = w.args();
    let i = args.iter().position(|a| a == "--upstream").unwrap();
    args[i + 1] = url;
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let before = refs(&w.mirror);
    let r = run(&bin(), &a, &[]);
    r.assert_code(75);
    one_line_error(&r);
    assert!(r.stderr.contains("upstream"), "{}", r.stderr);
    assert_eq!(refs(&w.mirror), before);
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let w = World::new("bad-input");
    let base = w.args();
    let with = |flag: &str, value: Option<&str>| -> Run {
        let mut args = base.clone();
        if let Some(i) = args.iter().position(|a| a == flag) {
            match value {
                Some(v) => args[i + 1] = v.to_string(),
                None => {
                    args.remove(i + 1);
                    args.remove(i);
                }
            }
        } else if let Some(v) = value {
            args.push(flag.to_string());
            args.push(v.to_string());
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&bin(), &a, &[])
    };
    let missing = w.scratch.join("nope.git");
    let cases = [
        ("--upstream", Some(missing.to_str().unwrap()), "nope.git"),
        ("--repo", Some("no-slash"), "OWNER/NAME"),
        ("--branch", Some("a..b"), "not a branch name"),
        ("--branch", Some("develop"), "has no branch develop"),
        ("--token-file", Some("/nonexistent/token"), "token file"),
        (
            "--mirror",
            Some(w.upstream.to_str().unwrap()),
            "same repository",
        ),
        ("--name", Some("../x"), "not a plain name"),
    ];
    for (flag, value, says) in cases {
        let r = with(flag, value);
        r.assert_code(2);
        one_line_error(&r);
        assert!(r.stderr.contains(says), "{flag} {value:?}: {}", r.stderr);
    }
    // Neither Gitea nor --no-pulls.
    let mut args = base.clone();
    let i = args.iter().position(|a| a == "--gitea").unwrap();
    args.drain(i..i + 4);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&bin(), &a, &[("CCCI_GITEA_URL", "")]);
    r.assert_code(2);
    one_line_error(&r);
    // A token Gitea rejects.
    std::fs::write(&w.token_file, "wrong-token\n").unwrap();
    let r = w.sync(&[]);
    r.assert_code(2);
    one_line_error(&r);
    assert!(r.stderr.contains("HTTP 401"), "{}", r.stderr);
    assert!(!r.stderr.contains("wrong-token"), "{}", r.stderr);
    // An unknown repository on Gitea.
    std::fs::write(&w.token_file, "bot-token\n").unwrap();
    let r = with("--repo", Some("recipes/unknown"));
    r.assert_code(2);
    one_line_error(&r);
    // Clap's own usage errors stay 2; --help is 0.
    run(&bin(), &["--upstream"], &[]).assert_code(2);
    run(&bin(), &["--help"], &[]).assert_code(0);
}

#[test]
fn every_page_of_open_pull_requests_is_read() {
    let w = World::new("many-pulls");
    let first = w.pr("feature", "feature.txt", "new\n", "Feature");
    let p = w.fake.pull(OWNER, REPO, first).unwrap();
    for i in 0..54 {
        w.fake
            .open_pull(
                OWNER,
                REPO,
                PullSpec {
                    title: format!("copy {i}"),
                    head_branch: "feature".into(),
                    head_sha: p.head_sha.clone(),
                    base_branch: "main".into(),
                    base_sha: p.base_sha.clone(),
                    ..PullSpec::default()
                },
            )
            .unwrap();
    }
    let r = w.sync(&[]);
    r.assert_code(0);
    assert_eq!(r.json()["pulls"]["left"].as_array().unwrap().len(), 55);
    let lists = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/pulls"))
        .count();
    assert_eq!(lists, 2);
}

#[test]
fn gitea_from_the_environment_and_no_pulls_beside_it() {
    let w = World::new("gitea-env");
    w.up_commit("x.txt", "x\n", "x");
    let mut args = w.args();
    let i = args.iter().position(|a| a == "--gitea").unwrap();
    args.drain(i..i + 2);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&bin(), &a, &[("CCCI_GITEA_URL", w.fake.root_url())]);
    r.assert_code(0);
    assert_eq!(r.json()["pulls"]["checked"], true);
    // A host-wide $CCCI_GITEA_URL does not stop a mirror from syncing git only.
    w.up_commit("y.txt", "y\n", "y");
    let mut args = w.args();
    let i = args.iter().position(|a| a == "--gitea").unwrap();
    args.drain(i..i + 4);
    args.push("--no-pulls".into());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&bin(), &a, &[("CCCI_GITEA_URL", "http://127.0.0.1:9/")]);
    r.assert_code(0);
    assert_eq!(r.json()["pulls"]["checked"], false);
    assert_eq!(w.mirror_main(), w.up_main());
    // The config's gitea_url serves every mirror of a host (the units of a
    // plain host cannot set the environment).
    w.up_commit("z.txt", "z\n", "z");
    let mut args = w.args();
    let i = args.iter().position(|a| a == "--gitea").unwrap();
    args.drain(i..i + 2);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let cfg = w.state.parent().unwrap().join("config.json");
    std::fs::write(
        &cfg,
        format!("{{\"gitea_url\": \"{}\"}}", w.fake.root_url()),
    )
    .unwrap();
    let r = run(
        &bin(),
        &a,
        &[
            ("CCCI_GITEA_URL", ""),
            ("CCCI_CONFIG", cfg.to_str().unwrap()),
        ],
    );
    r.assert_code(0);
    assert_eq!(r.json()["pulls"]["checked"], true);
    // --repo without any Gitea is bad input.
    let mut args = w.args();
    let i = args.iter().position(|a| a == "--gitea").unwrap();
    args.drain(i..i + 2);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&bin(), &a, &[("CCCI_GITEA_URL", "")]);
    r.assert_code(2);
    one_line_error(&r);
}
