//! `ccci-report start|finish|resend|deliver` against the fake Gitea: one
//! comment per run, edited in place; statuses in order; a failed delivery
//! kept and sent later; a deleted comment made again once; no secret sent.

#[path = "report/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use ccci_core::queue::{self, Entry, QueueState};
use ccci_core::results::{Results, Trigger};
use ccci_fake_gitea::{FakeGitea, Perm, PullSpec};
use ccci_testkit::{Run, Scratch};
use serde_json::json;
use std::path::PathBuf;

const SECRET: &str = "Zq8-planted-secret-value-41f";
/// The bot's own Gitea token: the host's secret, masked like the run's.
const TOKEN: &str = "gitea-token-5f1e9a77c2";

struct World {
    fake: FakeGitea,
    dir: Scratch,
    state: PathBuf,
    pr: i64,
    sha: String,
}

impl World {
    fn new(name: &str) -> World {
        let fake = FakeGitea::start().unwrap();
        fake.add_repo("coop", "demo").unwrap();
        fake.add_token("ccci-bot", TOKEN, None);
        fake.add_collaborator("coop", "demo", "ccci-bot", Perm::Write)
            .unwrap();
        let sha = format!("{:040x}", 7);
        let pr = fake
            .open_pull(
                "coop",
                "demo",
                PullSpec {
                    title: "t".into(),
                    poster: "writer".into(),
                    head_branch: "b".into(),
                    head_sha: sha.clone(),
                    base_branch: "main".into(),
                    base_sha: format!("{:040x}", 8),
                    ..PullSpec::default()
                },
            )
            .unwrap();
        let dir = Scratch::new(name);
        let state = dir.join("state");
        std::fs::write(dir.join("token"), TOKEN).unwrap();
        std::fs::write(
            dir.join("config.json"),
            json!({
                "state_dir": state,
                "gitea_url": fake.root_url(),
                "public_url": "https://ci.example.org/ccci/",
            })
            .to_string(),
        )
        .unwrap();
        World {
            fake,
            dir,
            state,
            pr,
            sha,
        }
    }

    fn report(&self, args: &[&str]) -> Run {
        let cfg = self.dir.join("config.json").display().to_string();
        let tok = self.dir.join("token").display().to_string();
        ccci_testkit::run(
            &PathBuf::from(env!("CARGO_BIN_EXE_ccci-report")),
            args,
            &[("CCCI_CONFIG", &cfg), ("CCCI_GITEA_TOKEN_FILE", &tok)],
        )
    }

    /// A run the bridge queued for this pull request.
    fn queued(&self, id: &str) {
        queue::save(
            &self.state,
            &Entry {
                schema: queue::SCHEMA,
                seq: 1,
                run_id: id.into(),
                recipe: "demo".into(),
                repo: "/srv/demo".into(),
                gitea_repo: Some("coop/demo".into()),
                pr: Some(self.pr as u64),
                head_sha: self.sha.clone(),
                comment_id: Some(1),
                author: Some("writer".into()),
                trigger: Trigger::Testme,
                quick: false,
                state: QueueState::Started,
                queued_at: "2026-11-30T00:00:00Z".into(),
                started_at: None,
                finished_at: None,
                exit_code: None,
                launched: None,
            },
        )
        .unwrap();
    }

    fn results(&self, id: &str) -> Results {
        let mut r = fixtures::green(id, "demo", 1_795_000_000, 25.8);
        r.head_sha = self.sha.clone();
        r.pr = Some(self.pr as u64);
        r
    }

    fn comments(&self) -> Vec<ccci_fake_gitea::Comment> {
        self.fake.comments("coop", "demo", self.pr)
    }

    fn states(&self) -> Vec<String> {
        self.fake
            .statuses("coop", "demo", &self.sha)
            .iter()
            .map(|s| format!("{} {}", s.state, s.context))
            .collect()
    }
}

#[test]
fn one_comment_per_run_edited_in_place_and_statuses_pending_then_final() {
    let w = World::new("pr-green");
    let id = fixtures::run_id(1_795_000_000, 1);
    w.queued(&id);
    w.report(&["start", &id]).assert_code(0);
    let c = w.comments();
    assert_eq!(c.len(), 1);
    assert!(
        c[0].body.contains("is testing recipe `demo`"),
        "{}",
        c[0].body
    );
    assert!(
        c[0].body.contains("https://ci.example.org/ccci/runs/"),
        "{}",
        c[0].body
    );
    assert_eq!(w.states(), ["pending ccci/lifecycle"]);
    fixtures::write_finished(&w.state, &w.results(&id), &[], |_| String::new());
    w.report(&["finish", &id]).assert_code(0);
    let c = w.comments();
    assert_eq!(c.len(), 1, "a second comment");
    assert!(
        c[0].body.contains("is **green**, level **L5**"),
        "{}",
        c[0].body
    );
    assert!(c[0].body.contains("| upgrade | pass |"), "{}", c[0].body);
    assert_eq!(
        w.states(),
        ["pending ccci/lifecycle", "success ccci/lifecycle"]
    );
    let last = w.fake.statuses("coop", "demo", &w.sha).pop().unwrap();
    assert!(
        last.description.starts_with("L5 green"),
        "{}",
        last.description
    );
    assert_eq!(
        last.target_url,
        format!("https://ci.example.org/ccci/runs/{id}/")
    );
    // A late start changes nothing.
    w.report(&["start", &id]).assert_code(0);
    assert_eq!(w.states().len(), 2);
    assert!(w.comments()[0].body.contains("green"));
    // A second finish (the bridge after the runner) sends nothing.
    w.report(&["finish", &id]).assert_code(0);
    assert_eq!(w.states().len(), 2);
    // Resend edits the same comment and repeats the final status.
    w.report(&["resend", &id]).assert_code(0);
    assert_eq!(w.comments().len(), 1);
    assert_eq!(w.states().last().unwrap(), "success ccci/lifecycle");
}

#[test]
fn a_503_during_the_final_edit_is_delivered_later() {
    let w = World::new("pr-503");
    let id = fixtures::run_id(1_795_000_000, 2);
    w.queued(&id);
    w.report(&["start", &id]).assert_code(0);
    fixtures::write_finished(&w.state, &w.results(&id), &[], |_| String::new());
    w.fake.fault(
        ccci_fake_gitea::Fault::status(503)
            .text("503 Service Unavailable\n")
            .method("PATCH")
            .path("/issues/comments/")
            .times(10),
    );
    let r = w.report(&["finish", &id]);
    r.assert_code(75);
    ccci_testkit::assert_one_line_error(&r, "ccci-report");
    assert!(
        w.comments()[0].body.contains("is testing"),
        "still the start"
    );
    let rep: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.state.join(format!("reports/{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(rep["pending"], json!(true));
    assert_eq!(rep["want"], json!("finish"));
    // Gitea is back (the fault's ten answers are used up by deliver's tries
    // or not: keep delivering until it goes through).
    let mut tries = 0;
    loop {
        tries += 1;
        let r = w.report(&["deliver"]);
        if r.code == 0 {
            break;
        }
        assert!(tries < 5, "never delivered: {}", r.stderr);
    }
    assert_eq!(w.comments().len(), 1);
    assert!(w.comments()[0].body.contains("**green**"));
    assert_eq!(w.states().last().unwrap(), "success ccci/lifecycle");
    w.report(&["deliver"]).assert_code(0);
}

#[test]
fn a_deleted_comment_is_made_again_once() {
    let w = World::new("pr-deleted");
    let id = fixtures::run_id(1_795_000_000, 3);
    w.queued(&id);
    w.report(&["start", &id]).assert_code(0);
    w.fake.delete_comment(w.comments()[0].id).unwrap();
    fixtures::write_finished(&w.state, &w.results(&id), &[], |_| String::new());
    w.report(&["finish", &id]).assert_code(0);
    assert_eq!(w.comments().len(), 1);
    w.fake.delete_comment(w.comments()[0].id).unwrap();
    w.report(&["resend", &id]).assert_code(0);
    assert!(w.comments().is_empty(), "made again twice");
    assert_eq!(w.states().last().unwrap(), "success ccci/lifecycle");
}

#[test]
fn a_comment_made_before_a_crash_is_found_by_its_marker() {
    let w = World::new("pr-marker");
    let id = fixtures::run_id(1_795_000_000, 4);
    w.queued(&id);
    w.report(&["start", &id]).assert_code(0);
    // The record of the comment's id is lost.
    std::fs::remove_file(w.state.join(format!("reports/{id}.json"))).unwrap();
    fixtures::write_finished(&w.state, &w.results(&id), &[], |_| String::new());
    w.report(&["finish", &id]).assert_code(0);
    assert_eq!(w.comments().len(), 1);
    assert!(w.comments()[0].body.contains("**green**"));
}

#[test]
fn a_red_run_shows_the_failing_tests_last_lines_masked() {
    let w = World::new("pr-secret");
    let id = fixtures::run_id(1_795_000_000, 5);
    w.queued(&id);
    let mut r = w.results(&id);
    fixtures::red_at_upgrade(&mut r, &format!("password was {SECRET}"));
    let failing = r.tiers[1].tests[0].log.clone();
    fixtures::write_finished(&w.state, &r, &[("db_password", SECRET)], |rel| {
        if rel == failing {
            format!(
                "connecting with {SECRET}\nAuthorization: token {TOKEN}\n```\n!testme\nERROR: marker lost\n"
            )
        } else {
            String::new()
        }
    });
    w.report(&["finish", &id]).assert_code(0);
    let body = &w.comments()[0].body;
    assert!(
        !body.contains(SECRET),
        "the secret reached the pull request:\n{body}"
    );
    assert!(body.contains("ERROR: marker lost"), "{body}");
    assert!(body.contains("<details>"), "{body}");
    assert!(body.contains("is **red**, level **L1**"), "{body}");
    assert_eq!(w.states().last().unwrap(), "failure ccci/lifecycle");
    // The page written alongside does not carry it either.
    let page = std::fs::read_to_string(w.state.join(format!("www/runs/{id}/index.html"))).unwrap();
    assert!(!page.contains(SECRET));
}

#[test]
fn a_run_without_results_is_an_error_status_with_its_exit_code() {
    let w = World::new("pr-lost");
    let id = "20261130T000000Z-aaaaaa";
    w.queued(id);
    let mut e = queue::load_all(&w.state).unwrap().remove(0);
    e.state = QueueState::Finished;
    e.exit_code = Some(75);
    queue::save(&w.state, &e).unwrap();
    w.report(&["finish", id]).assert_code(0);
    assert!(w.comments()[0].body.contains("without a verdict (exit 75)"));
    assert_eq!(w.states(), ["error ccci/lifecycle"]);
}

#[test]
fn nothing_to_report_without_a_gitea_repository_and_bad_ids_are_exit_2() {
    let w = World::new("pr-none");
    let r = w.report(&["finish", "20261130T000000Z-bbbbbb"]);
    r.assert_code(0);
    assert!(r.stdout.contains("nothing to report"), "{}", r.stdout);
    let r = w.report(&["finish", "../etc"]);
    r.assert_code(2);
    ccci_testkit::assert_one_line_error(&r, "ccci-report");
    let r = w.report(&["resend", "20261130T000000Z-bbbbbb"]);
    r.assert_code(0);
}

/// One bare HTTP/1.1 GET on a fresh connection, as the baseline.
fn bare_get(addr: std::net::SocketAddr) -> std::time::Duration {
    use std::io::{Read, Write};
    let t0 = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /api/v1/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    t0.elapsed()
}

#[test]
#[ignore = "a benchmark: scripts/bench-report.sh runs it"]
fn bench_run_end_to_final_comment() {
    let w = World::new("pr-bench");
    let mut took = vec![];
    for n in 0..10 {
        let id = fixtures::run_id(1_795_000_000, 100 + n);
        w.queued(&id);
        w.report(&["start", &id]).assert_code(0);
        fixtures::write_finished(&w.state, &w.results(&id), &[], |_| String::new());
        // The run has ended: how long until its comment says the verdict?
        let t0 = std::time::Instant::now();
        w.report(&["finish", &id]).assert_code(0);
        took.push(t0.elapsed());
        assert!(
            w.comments()
                .iter()
                .any(|c| c.body.contains(&id) && c.body.contains("**green**"))
        );
    }
    took.sort();
    let mut base: Vec<_> = (0..10).map(|_| bare_get(w.fake.addr())).collect();
    base.sort();
    let (med, b) = (took[5], base[5]);
    println!(
        "BENCH run end to final comment and status (ccci-report finish, pages included), median of 10: {:.0} ms (goal: under 1000 ms); bare HTTP round trip to the same server: {:.2} ms; ratio {:.0}x",
        med.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        med.as_secs_f64() / b.as_secs_f64()
    );
    assert!(med < std::time::Duration::from_secs(1));
}

#[test]
fn a_sweep_run_sets_a_status_on_the_tags_commit_when_the_recipe_names_its_repository() {
    let w = World::new("pr-sweep");
    let id = fixtures::run_id(1_795_000_000, 6);
    let mut r = w.results(&id);
    r.pr = None;
    r.trigger = Trigger::Sweep;
    let run = fixtures::write_finished(&w.state, &r, &[], |_| String::new());
    // The recipe's settings, as the plan recorded them, name its repository.
    let p = run.file("plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    plan["settings"]["gitea_repo"] = json!("coop/demo");
    std::fs::write(&p, plan.to_string()).unwrap();
    w.report(&["finish", &id]).assert_code(0);
    assert!(
        w.comments().is_empty(),
        "a sweep run has no pull request to comment on"
    );
    assert_eq!(w.states(), ["success ccci/lifecycle"]);
}

#[test]
fn a_damaged_report_file_is_named_and_holds_back_no_other_report() {
    let w = World::new("pr-damaged");
    let id = fixtures::run_id(1_795_000_000, 7);
    w.queued(&id);
    w.report(&["start", &id]).assert_code(0);
    fixtures::write_finished(&w.state, &w.results(&id), &[], |_| String::new());
    w.fake.fault(
        ccci_fake_gitea::Fault::status(503)
            .method("PATCH")
            .path("/issues/comments/")
            .times(3),
    );
    w.report(&["finish", &id]).assert_code(75);
    std::fs::write(
        w.state.join("reports/20261130T000000Z-dddddd.json"),
        "{\"schema\":1,",
    )
    .unwrap();
    let r = w.report(&["deliver"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("20261130T000000Z-dddddd.json"),
        "{}",
        r.stderr
    );
    assert!(
        w.comments()[0].body.contains("**green**"),
        "the good report was held back"
    );
}
