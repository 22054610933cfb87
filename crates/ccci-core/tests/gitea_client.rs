//! The Gitea client against the fake Gitea server: paging, writes, and how
//! each kind of failure maps to an exit code.

use ccci_core::exit;
use ccci_core::gitea::{Gitea, NewStatus, RepoRef, load_token};
use ccci_fake_gitea::{FakeGitea, Perm, PullSpec};
use std::time::Duration;

fn sha(n: u32) -> String {
    format!("{n:040x}")
}

fn setup(pulls: u32) -> (FakeGitea, RepoRef) {
    let f = FakeGitea::start().unwrap();
    f.add_repo("recipes", "demo").unwrap();
    f.add_token(
        "ci-bot",
        "bot-token",
        Some(&["write:repository", "write:issue"]),
    );
    f.add_collaborator("recipes", "demo", "ci-bot", Perm::Write)
        .unwrap();
    for i in 0..pulls {
        f.open_pull(
            "recipes",
            "demo",
            PullSpec {
                title: format!("pr {i}"),
                poster: "alice".into(),
                head_branch: format!("b{i}"),
                head_sha: sha(100 + i),
                base_branch: "main".into(),
                base_sha: sha(1),
                ..PullSpec::default()
            },
        )
        .unwrap();
    }
    (f, "recipes/demo".parse().unwrap())
}

fn client(f: &FakeGitea, token: Option<&str>) -> Gitea {
    Gitea::new(
        f.root_url(),
        token.map(str::to_string),
        Duration::from_secs(5),
    )
    .unwrap()
}

#[test]
fn open_pulls_follows_every_page() {
    let (f, repo) = setup(120);
    f.set_pull_state("recipes", "demo", 7, ccci_fake_gitea::State::Closed)
        .unwrap();
    let g = client(&f, None);
    let pulls = g.open_pulls(&repo).unwrap();
    assert_eq!(pulls.len(), 119);
    assert!(pulls.iter().all(|p| p.state == "open" && p.number != 7));
    assert_eq!(pulls[0].number, 1, "oldest first");
    assert_eq!(pulls[0].head.ref_, "b0");
    assert_eq!(pulls[0].head.sha, sha(100));
    let lists: Vec<_> = f
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/pulls"))
        .collect();
    assert_eq!(lists.len(), 3, "50 + 50 + 19");
    assert!(
        lists
            .iter()
            .all(|r| r.query.contains(&("state".into(), "open".into())))
    );
    assert!(g.open_pulls(&"recipes/empty".parse().unwrap()).is_err());
}

#[test]
fn comment_close_and_status() {
    let (f, repo) = setup(2);
    let g = client(&f, Some("bot-token"));
    let c = g.comment(&repo, 1, "closing: already upstream").unwrap();
    assert_eq!(c.user.as_ref().unwrap().login, "ci-bot");
    let all = g.comments(&repo, 1).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, c.id);
    let p = g.close_pull(&repo, 1).unwrap();
    assert_eq!(p.state, "closed");
    assert_eq!(g.pull(&repo, 1).unwrap().state, "closed");
    assert_eq!(g.pull(&repo, 2).unwrap().state, "open");
    let st = NewStatus {
        state: "pending",
        context: "ccci",
        description: "queued",
        target_url: "",
    };
    let s = g.create_status(&repo, &sha(100), &st).unwrap();
    assert_eq!((s.id, s.status.as_str()), (1, "pending"));
    assert_eq!(f.statuses("recipes", "demo", &sha(100)).len(), 1);
}

#[test]
fn failures_map_to_exit_codes() {
    let (f, repo) = setup(1);
    let code = |r: anyhow::Result<_>| exit::code_of(&r.map(|_: ()| ()).unwrap_err());
    // A write without a token, a wrong token: 401, bad input.
    let anon = client(&f, None);
    assert_eq!(code(anon.close_pull(&repo, 1).map(drop)), exit::USAGE);
    let wrong = client(&f, Some("nope"));
    let e = wrong.open_pulls(&repo).unwrap_err();
    assert_eq!(exit::code_of(&e), exit::USAGE);
    assert!(
        !format!("{e:#}").contains("nope"),
        "the token never shows: {e:#}"
    );
    let g = client(&f, Some("bot-token"));
    // Unknown pull request: 404, bad input.
    assert_eq!(code(g.pull(&repo, 99).map(drop)), exit::USAGE);
    // Merged: the server refuses the state change, a clean no.
    f.merge_pull("recipes", "demo", 1, &sha(9), "ci-bot")
        .unwrap();
    assert_eq!(code(g.close_pull(&repo, 1).map(drop)), exit::NO);
    // The server failing or a proxy in front of it: retry later.
    for s in [500, 502, 503, 429] {
        f.fail(Some("GET"), "/pulls", s, 1);
        assert_eq!(code(g.open_pulls(&repo).map(drop)), exit::TEMPFAIL, "{s}");
    }
    // Nobody listening.
    let addr = f.addr();
    drop(f);
    let gone = Gitea::new(&format!("http://{addr}/"), None, Duration::from_secs(2)).unwrap();
    assert_eq!(code(gone.open_pulls(&repo).map(drop)), exit::TEMPFAIL);
}

#[test]
fn token_files() {
    let d = std::env::temp_dir().join(format!("ccci-gitea-token-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join("token");
    std::fs::write(&p, "s3cr3t-token\n").unwrap();
    assert_eq!(
        load_token(Some(&p)).unwrap().as_deref(),
        Some("s3cr3t-token")
    );
    assert_eq!(
        ccci_core::redact::global().apply("x s3cr3t-token y"),
        "x [REDACTED] y"
    );
    std::fs::write(&p, "\n").unwrap();
    assert_eq!(
        exit::code_of(&load_token(Some(&p)).unwrap_err()),
        exit::USAGE
    );
    let missing = d.join("missing");
    assert_eq!(
        exit::code_of(&load_token(Some(&missing)).unwrap_err()),
        exit::USAGE
    );
    let _ = std::fs::remove_dir_all(&d);
}
