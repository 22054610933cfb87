//! A `!testme` on a pull request from a fork runs the fork's head, on the
//! real swarm: the commit exists only as `refs/pull/<n>/head` in the base
//! repository, as Gitea and Forgejo publish it, and no branch holds it.

use ccci_fake_gitea::{FakeGitea, Perm, PullSpec};
use ccci_testkit::{RecipeRepo, Scratch, require_rig, workspace};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "fork")
        .env("GIT_AUTHOR_EMAIL", "fork@localhost")
        .env("GIT_COMMITTER_NAME", "fork")
        .env("GIT_COMMITTER_EMAIL", "fork@localhost")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn a_forks_testme_through_the_bridge_deploys_the_forks_head_and_reports_on_the_pull_request() {
    require_rig();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ccci-bridge"));
    let run_bin = bin.parent().unwrap().join("ccci-run");
    assert!(
        run_bin.is_file(),
        "build every binary first (cargo build --workspace --bins)"
    );
    let s = Scratch::new("bridge-fork");
    // The base repository, served by URL so clones fetch only what refspecs ask.
    let upstream = RecipeRepo::from_demo(&s.join("upstream"));
    let base = s.join("base.git");
    git(
        &s.path,
        &[
            "clone",
            "-q",
            "--bare",
            &upstream.path.to_string_lossy(),
            &base.to_string_lossy(),
        ],
    );
    let main_sha = git(&base, &["rev-parse", "HEAD"]);
    // The fork's commit, pushed where Gitea keeps a pull request's head.
    upstream.write("FORK.md", "a change from a fork\n");
    let fork_sha = upstream.commit("fork: a change");
    git(
        &upstream.path,
        &[
            "push",
            "-q",
            &base.to_string_lossy(),
            "HEAD:refs/pull/1/head",
        ],
    );
    assert_eq!(
        git(&base, &["branch", "--contains", &fork_sha]),
        "",
        "no branch of the base may hold it"
    );

    let fake = FakeGitea::start().unwrap();
    fake.add_repo("coop", "demo").unwrap();
    fake.set_clone_url("coop", "demo", &format!("file://{}", base.display()))
        .unwrap();
    fake.add_token("ccci-bot", "tok", None);
    fake.add_collaborator("coop", "demo", "ccci-bot", Perm::Admin)
        .unwrap();
    fake.add_collaborator("coop", "demo", "writer", Perm::Write)
        .unwrap();
    let pr = fake
        .open_pull(
            "coop",
            "demo",
            PullSpec {
                title: "From a fork".into(),
                poster: "forker".into(),
                head_branch: "feature".into(),
                head_sha: fork_sha.clone(),
                base_branch: "main".into(),
                base_sha: main_sha,
                ..PullSpec::default()
            },
        )
        .unwrap();
    assert_eq!(pr, 1);
    let recipes = s.join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    for d in ["_generic", "demo"] {
        let st = Command::new("cp")
            .arg("-a")
            .arg(workspace().join("recipes").join(d))
            .arg(&recipes)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let state = s.join("state");
    std::fs::write(s.join("token"), "tok").unwrap();
    std::fs::write(s.join("secret"), "hook-secret").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        s.join("config.json"),
        json!({
            "state_dir": state,
            "recipes_dir": recipes,
            "gitea_url": fake.root_url(),
            "public_url": "http://ci.example.org/",
            "bridge": {
                "repos": ["coop/demo"], "launcher": "direct", "poll_interval_s": 3600,
                "listen": format!("127.0.0.1:{port}"), "webhook_secret_file": s.join("secret"),
            },
        })
        .to_string(),
    )
    .unwrap();
    let cfg = s.join("config.json").display().to_string();
    let tok = s.join("token").display().to_string();
    let env = [
        ("CCCI_CONFIG", cfg.as_str()),
        ("CCCI_GITEA_TOKEN_FILE", tok.as_str()),
    ];
    ccci_testkit::run(&bin, &["poll", "--once"], &env).assert_code(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fake.add_comment("coop", "demo", pr, "writer", "!testme")
        .unwrap();
    let r = ccci_testkit::run(&bin, &["poll", "--once", "--dispatch", "--json"], &env);
    r.assert_code(0);
    let v = r.json();
    let run_id = v["queued"][0].as_str().expect("one run queued").to_string();
    let run_dir = state.join("runs").join(&run_id);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["head_sha"], json!(fork_sha));
    assert_eq!(results["pr"], json!(1));
    assert_eq!(results["trigger"], json!("testme"));
    let log = std::fs::read_to_string(state.join("bridge/runs").join(format!("{run_id}.log")))
        .unwrap_or_default();
    assert_eq!(
        v["finished"][0]["exit_code"],
        json!(0),
        "the fork's run is not green:\n{log}"
    );
    // The upgrade deployed exactly the fork's commit.
    let ledger = std::fs::read_to_string(run_dir.join("ledger.jsonl")).unwrap();
    assert!(
        ledger.contains(&fork_sha),
        "the fork's commit was never deployed:\n{ledger}"
    );
    assert!(ccci_testkit::leftovers(&run_id).is_empty());

    // The pull request: one comment, edited into the verdict, and the status
    // went pending, then success.
    let comments = fake.comments("coop", "demo", pr);
    let ours: Vec<_> = comments
        .iter()
        .filter(|c| c.body.contains("ccci:run="))
        .collect();
    assert_eq!(ours.len(), 1, "{comments:?}");
    assert!(
        ours[0].body.contains("is **green**, level **L5**"),
        "{}",
        ours[0].body
    );
    assert!(
        ours[0]
            .body
            .contains(&format!("http://ci.example.org/runs/{run_id}/"))
    );
    let states: Vec<String> = fake
        .statuses("coop", "demo", &fork_sha)
        .iter()
        .map(|s| s.state.clone())
        .collect();
    assert_eq!(
        states.first().map(String::as_str),
        Some("pending"),
        "{states:?}"
    );
    assert_eq!(
        states.last().map(String::as_str),
        Some("success"),
        "{states:?}"
    );

    // The run's page, served by the bridge, shows the same verdict in Chromium.
    let mut serve = Command::new(&bin)
        .arg("serve")
        .env("CCCI_CONFIG", &cfg)
        .env("CCCI_GITEA_TOKEN_FILE", &tok)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/runs/{run_id}/");
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(up, "the bridge did not listen");
    let dom = chromium_dom(&s, &url);
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(
        dom.contains(&run_id),
        "the page does not name the run:\n{dom}"
    );
    assert!(
        dom.contains("L5"),
        "the page does not show the level:\n{dom}"
    );
    assert!(
        dom.to_lowercase().contains("green"),
        "the page does not say green:\n{dom}"
    );
}

/// The DOM headless Chromium renders for `url` (Debian's chromium, with the
/// flags this machine needs: no background networking, a fresh profile).
fn chromium_dom(s: &Scratch, url: &str) -> String {
    let chromium = Path::new("/usr/bin/chromium");
    assert!(
        chromium.is_file(),
        "/usr/bin/chromium is missing: scripts/rig.sh installs it"
    );
    let profile = s.join("chromium-profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
