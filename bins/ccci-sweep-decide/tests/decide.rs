//! ccci-sweep-decide against real git repositories with real tags: an upstream
//! work tree, published to a bare mirror that the tool reads with ls-remote.

use ccci_core::canonical::{self, Canonical};
use ccci_core::version::Version;
use ccci_testkit::{Run, Scratch, run};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-sweep-decide"))
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

/// A recipe: its upstream work tree, its bare mirror, and a state dir.
struct World {
    scratch: Scratch,
    work: PathBuf,
    mirror: PathBuf,
    state: PathBuf,
}

impl World {
    fn new(name: &str) -> World {
        let scratch = Scratch::new(name);
        let work = scratch.join("upstream");
        let mirror = scratch.join("mirror.git");
        let state = scratch.join("state");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        git(&scratch.path, &["init", "-q", "--bare", "mirror.git"]);
        let w = World {
            scratch,
            work,
            mirror,
            state,
        };
        w.commit("init");
        w
    }

    fn commit(&self, msg: &str) -> String {
        std::fs::write(self.work.join("compose.yml"), format!("# {msg}\n")).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", msg]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Commit and tag annotated, the way `abra recipe release` does.
    fn release(&self, tag: &str) -> String {
        let sha = self.commit(&format!("chore: publish {tag} release"));
        git(&self.work, &["tag", "-a", tag, "-m", tag]);
        sha
    }

    fn lightweight(&self, tag: &str) {
        self.commit(&format!("lightweight {tag}"));
        git(&self.work, &["tag", tag]);
    }

    /// Make the mirror exactly the upstream: main and tags, deleted tags too.
    fn publish(&self) {
        let m = self.mirror.to_string_lossy();
        git(
            &self.work,
            &[
                "push",
                "-q",
                "--force",
                "--prune",
                &m,
                "refs/heads/*:refs/heads/*",
                "refs/tags/*:refs/tags/*",
            ],
        );
    }

    fn set_canonical(&self, tag: &str) {
        let commit = canonical::tag_commit(&self.work, tag).unwrap();
        let c = Canonical::new(
            "demo",
            Version::parse(tag).unwrap(),
            &commit,
            "20260101T000000Z-abcdef",
            vec!["demo_content".into()],
        );
        canonical::write(&self.state, &c).unwrap();
    }

    fn canonical_path(&self) -> PathBuf {
        canonical::path(&self.state, "demo")
    }

    fn decide(&self, extra: &[&str]) -> Run {
        let m = self.mirror.to_string_lossy().into_owned();
        let mut args = vec!["demo", "--repo", m.as_str()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn decide_json(&self) -> (i32, serde_json::Value) {
        let r = self.decide(&["--json"]);
        (r.code, r.json())
    }

    fn run(&self, args: &[&str]) -> Run {
        let s = self.state.to_string_lossy().into_owned();
        run(&bin(), args, &[("CCCI_STATE_DIR", s.as_str())])
    }
}

fn expect(r: &Run, code: i32, word: &str) {
    r.assert_code(code);
    assert_eq!(r.stdout, format!("{word}\n"), "stderr: {}", r.stderr);
}

#[test]
fn newer_release_runs() {
    let w = World::new("newer");
    w.release("1.13.0+1.31.1");
    w.set_canonical("1.13.0+1.31.1");
    w.release("1.14.0+1.31.1");
    w.publish();
    let r = w.decide(&[]);
    expect(&r, 0, "run");
    assert!(
        r.stderr
            .contains("1.14.0+1.31.1 is newer than canonical 1.13.0+1.31.1")
    );
    let (code, j) = w.decide_json();
    assert_eq!(code, 0);
    assert_eq!(
        j,
        serde_json::json!({
            "schema": 1,
            "tool": "ccci-sweep-decide",
            "outcome": "run",
            "summary": "newest release 1.14.0+1.31.1 is newer than canonical 1.13.0+1.31.1",
            "recipe": "demo",
            "decision": "run",
            "newest": "1.14.0+1.31.1",
            "canonical": "1.13.0+1.31.1",
            "reason": "newest release 1.14.0+1.31.1 is newer than canonical 1.13.0+1.31.1",
        })
    );
}

#[test]
fn equal_skips_and_running_twice_changes_nothing() {
    let w = World::new("equal");
    w.release("3.5.3+1.24.2-rootless");
    w.release("3.6.0+1.24.2-rootless");
    w.set_canonical("3.6.0+1.24.2-rootless");
    w.publish();
    let before = std::fs::read(w.canonical_path()).unwrap();
    expect(&w.decide(&[]), 1, "skip:no-new-version");
    expect(&w.decide(&[]), 1, "skip:no-new-version");
    assert_eq!(std::fs::read(w.canonical_path()).unwrap(), before);
    let (code, j) = w.decide_json();
    assert_eq!(
        (code, j["decision"].as_str()),
        (1, Some("skip:no-new-version"))
    );
}

#[test]
fn older_when_the_canonical_tag_was_deleted_upstream() {
    let w = World::new("older");
    w.release("1.0.0+1.0");
    w.release("1.1.0+1.0");
    w.set_canonical("1.1.0+1.0");
    git(&w.work, &["tag", "-d", "1.1.0+1.0"]);
    w.publish();
    let r = w.decide(&[]);
    expect(&r, 1, "skip:older");
    assert!(
        r.stderr.contains("older than canonical 1.1.0+1.0"),
        "{}",
        r.stderr
    );
}

#[test]
fn no_tag_is_never_released() {
    let w = World::new("never");
    w.commit("feat: more");
    w.publish();
    let r = w.decide(&[]);
    expect(&r, 1, "skip:never-released");
    // Even with no canonical: nothing to seed from.
    expect(&w.decide(&["--no-canonical"]), 1, "skip:never-released");
}

#[test]
fn only_non_release_tags_is_never_released() {
    let w = World::new("junk");
    w.release("latest");
    w.lightweight("v2.0.0+1.0");
    w.release("1.13.4_1");
    w.release("1.0");
    w.publish();
    let r = w.decide(&[]);
    expect(&r, 1, "skip:never-released");
    assert!(
        r.stderr
            .contains("4 tags in the repository, none of them a release tag"),
        "{}",
        r.stderr
    );
}

#[test]
fn no_canonical_yet_seeds() {
    let w = World::new("seed");
    w.release("0.1.0+1.0");
    w.release("0.2.0+1.1");
    w.publish();
    assert!(!w.canonical_path().exists());
    let (code, j) = w.decide_json();
    assert_eq!(code, 0);
    assert_eq!(j["decision"], "run:seed");
    assert_eq!(j["newest"], "0.2.0+1.1");
    assert_eq!(j["canonical"], serde_json::Value::Null);
    // Deciding writes nothing.
    assert!(!w.canonical_path().exists());
}

#[test]
fn untagged_commits_after_the_canonical_tag_never_run() {
    let w = World::new("untagged");
    w.release("1.13.0+1.31.1");
    w.set_canonical("1.13.0+1.31.1");
    // Work lands on main after the release, including a merge commit, all untagged.
    w.commit("fix: typo");
    git(&w.work, &["checkout", "-q", "-b", "feature"]);
    w.commit("feat: thing");
    git(&w.work, &["checkout", "-q", "main"]);
    git(
        &w.work,
        &["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"],
    );
    w.publish();
    expect(&w.decide(&[]), 1, "skip:no-new-version");
    // The canonical record names the tag's own commit, not main's head.
    let c = canonical::read(&w.state, "demo").unwrap().unwrap();
    assert_eq!(
        c.commit,
        canonical::tag_commit(&w.mirror, "1.13.0+1.31.1").unwrap()
    );
    assert_ne!(c.commit, git(&w.work, &["rev-parse", "main"]));
}

#[test]
fn non_release_tags_are_ignored_next_to_release_tags() {
    let w = World::new("mixed");
    w.release("1.0.0+1.0");
    w.set_canonical("1.0.0+1.0");
    w.release("v9.0.0+1.0");
    w.lightweight("latest");
    w.release("10.0.0_1");
    w.release("release/11.0.0");
    w.publish();
    expect(&w.decide(&[]), 1, "skip:no-new-version");
    // A lightweight release tag still counts as a release (abra lint complains
    // about it; the sweep does not hide it).
    w.lightweight("1.1.0+1.0");
    w.publish();
    expect(&w.decide(&[]), 0, "run");
}

#[test]
fn pre_releases_order_below_their_release() {
    let w = World::new("prerelease");
    w.release("1.0.0+4.0");
    w.set_canonical("1.0.0+4.0");
    w.release("2.0.0-rc.2+5.0");
    w.release("2.0.0-rc.10+5.0");
    w.publish();
    let (code, j) = w.decide_json();
    assert_eq!((code, j["decision"].as_str()), (0, Some("run")));
    assert_eq!(j["newest"], "2.0.0-rc.10+5.0", "rc.10 is newer than rc.2");
    w.set_canonical("2.0.0-rc.10+5.0");
    expect(&w.decide(&[]), 1, "skip:no-new-version");
    w.release("2.0.0+5.0");
    w.publish();
    let (code, j) = w.decide_json();
    assert_eq!((code, j["newest"].as_str()), (0, Some("2.0.0+5.0")));
    // The release is canonical; its tag vanishes; only candidates remain.
    w.set_canonical("2.0.0+5.0");
    git(&w.work, &["tag", "-d", "2.0.0+5.0"]);
    w.publish();
    expect(&w.decide(&[]), 1, "skip:older");
}

#[test]
fn the_recipe_part_decides_not_the_upstream_part() {
    let w = World::new("semver");
    w.release("1.9.0+9.9.9");
    w.set_canonical("1.9.0+9.9.9");
    w.release("1.10.0+0.0.1");
    w.publish();
    let (_, j) = w.decide_json();
    assert_eq!(j["decision"], "run");
    assert_eq!(j["newest"], "1.10.0+0.0.1");
}

#[test]
fn corrupt_canonical_is_exit_2_and_left_alone() {
    let w = World::new("corrupt");
    w.release("1.0.0+1.0");
    w.publish();
    let p = w.canonical_path();
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, "{\"schema\": 1, \"recipe\": \"demo\", \"vers").unwrap();
    let r = w.decide(&[]);
    r.assert_code(2);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(&p.display().to_string()), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "{\"schema\": 1, \"recipe\": \"demo\", \"vers"
    );
    // A newer schema is refused the same way.
    let mut v = serde_json::json!({"schema": 2, "recipe": "demo", "version": "1.0.0+1.0"});
    std::fs::write(&p, v.to_string()).unwrap();
    let r = w.decide(&[]);
    r.assert_code(2);
    assert!(r.stderr.contains("schema 2 is not 1"), "{}", r.stderr);
    // So is a version that is not a release tag.
    v["schema"] = 1.into();
    v["version"] = "main".into();
    std::fs::write(&p, v.to_string()).unwrap();
    w.decide(&[]).assert_code(2);
    // Given directly, the state file is not read at all.
    expect(&w.decide(&["--no-canonical"]), 0, "run:seed");
}

#[test]
fn missing_repo_is_exit_2() {
    let w = World::new("missing");
    let missing = w.scratch.join("nope.git").to_string_lossy().into_owned();
    let r = w.run(&["demo", "--repo", &missing]);
    r.assert_code(2);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    // A directory that is not a repository.
    let plain = w.scratch.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let r = w.run(&["demo", "--repo", &plain.to_string_lossy()]);
    r.assert_code(2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    // A file:// URL to nothing.
    let url = format!("file://{missing}");
    w.run(&["demo", "--repo", &url]).assert_code(2);
}

#[test]
fn urls_work_and_unreachable_ones_are_exit_75() {
    let w = World::new("url");
    w.release("1.0.0+1.0");
    w.publish();
    let url = format!("file://{}", w.mirror.display());
    expect(&w.run(&["demo", "--repo", &url]), 0, "run:seed");
    // Nothing listens on port 1: connection refused, worth retrying.
    let r = w.run(&["demo", "--repo", "http://127.0.0.1:1/demo.git"]);
    r.assert_code(75);
    assert_eq!(r.stdout, "");
    // A server that accepts but never answers: the deadline ends it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/demo.git");
    let t = std::time::Instant::now();
    let r = w.run(&["demo", "--repo", &url, "--timeout", "1"]);
    r.assert_code(75);
    assert!(
        r.stderr.contains("did not answer within 1s"),
        "{}",
        r.stderr
    );
    assert!(t.elapsed().as_secs() < 10);
    drop(listener);
}

#[test]
fn versions_given_directly() {
    let w = World::new("direct");
    let d = |args: &[&str]| w.run(args);
    expect(
        &d(&["--newest", "1.14.0+1.31.1", "--canonical", "1.13.0+1.31.1"]),
        0,
        "run",
    );
    expect(
        &d(&["--newest", "1.13.0+1.31.1", "--canonical", "1.13.0+1.31.1"]),
        1,
        "skip:no-new-version",
    );
    expect(
        &d(&["--newest", "1.12.0+1", "--canonical", "1.13.0+1"]),
        1,
        "skip:older",
    );
    expect(
        &d(&["--no-tags", "--canonical", "1.0.0+1"]),
        1,
        "skip:never-released",
    );
    expect(
        &d(&["--newest", "0.1.0+1", "--no-canonical"]),
        0,
        "run:seed",
    );
    // With a recipe name, the canonical version comes from the state dir.
    w.release("1.0.0+1.0");
    w.set_canonical("1.0.0+1.0");
    expect(
        &d(&["demo", "--newest", "1.0.0+1.0"]),
        1,
        "skip:no-new-version",
    );
    expect(&d(&["demo", "--newest", "1.0.1+1.0"]), 0, "run");
    let r = d(&[
        "--json",
        "--newest",
        "2.0.0-rc.1+5.0",
        "--canonical",
        "2.0.0+5.0",
    ]);
    r.assert_code(1);
    assert_eq!(r.json()["recipe"], serde_json::Value::Null);
    assert_eq!(r.json()["decision"], "skip:older");
}

#[test]
fn bad_input_is_exit_2_with_one_line() {
    let w = World::new("bad");
    let cases: &[&[&str]] = &[
        &["--newest", "1.0.0+1", "--canonical", "v1.0.0"],
        &["--newest", "latest", "--canonical", "1.0.0+1"],
        &["--newest", "1.0.0+1"],
        &["../etc", "--newest", "1.0.0+1"],
        &["demo", "--repo", "-x"],
        &["demo"],
        &["demo", "--newest", "1.0.0+1", "--no-tags"],
        &[
            "demo",
            "--newest",
            "1.0.0+1",
            "--canonical",
            "1.0.0+1",
            "--no-canonical",
        ],
    ];
    for args in cases {
        let r = w.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{args:?}");
    }
    let r = w.run(&["--newest", "1.0.0+1", "--canonical", "v1.0.0"]);
    assert_eq!(r.stderr.lines().count(), 1);
    assert!(r.stderr.contains("--canonical"), "{}", r.stderr);
    assert!(r.stderr.contains("leading v"), "{}", r.stderr);
    // A state dir that does not exist is a configuration mistake, not "no canonical".
    let gone = w.scratch.join("gone").to_string_lossy().into_owned();
    let r = run(
        &bin(),
        &["demo", "--newest", "1.0.0+1"],
        &[("CCCI_STATE_DIR", gone.as_str())],
    );
    r.assert_code(2);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
}

#[test]
fn help_exits_0() {
    let r = run(&bin(), &["--help"], &[]);
    r.assert_code(0);
    assert!(r.stdout.contains("skip:never-released"));
}
