//! The bridge against the fake Gitea: each "Done when" of the `!testme`
//! bridge as its own test (docs/bridge.md). Everything is real but Gitea:
//! the bridge binary, its state files, HTTP, webhooks with real signatures,
//! systemd's notify protocol on a real socket.

use ccci_core::queue::{self, Entry, QueueState};
use ccci_fake_gitea::{FakeGitea, Perm, PullSpec, State};
use ccci_testkit::{Run, Scratch};
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const OWNER: &str = "coop";
const REPO: &str = "demo";
const BOT: &str = "ccci-bot";
const TOKEN: &str = "bot-token-0123456789";
const SECRET: &str = "hook-secret-abc";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-bridge"))
}

fn sha(n: u32) -> String {
    format!("{n:040x}")
}

struct World {
    fake: FakeGitea,
    dir: Scratch,
    state: PathBuf,
    pr: i64,
}

impl World {
    /// A repository with one open pull request, a bot that may read
    /// permissions, a writer, a reader; the config points the bridge at it.
    fn new(name: &str) -> World {
        let fake = FakeGitea::start().expect("fake gitea");
        fake.add_repo(OWNER, REPO).unwrap();
        fake.add_token(BOT, TOKEN, None);
        fake.add_collaborator(OWNER, REPO, BOT, Perm::Admin)
            .unwrap();
        fake.add_collaborator(OWNER, REPO, "writer", Perm::Write)
            .unwrap();
        fake.add_collaborator(OWNER, REPO, "reader", Perm::Read)
            .unwrap();
        fake.add_user("stranger");
        let pr = fake
            .open_pull(
                OWNER,
                REPO,
                PullSpec {
                    title: "Bump the app".into(),
                    poster: "writer".into(),
                    head_branch: "bump".into(),
                    head_sha: sha(1),
                    base_branch: "main".into(),
                    base_sha: sha(2),
                    ..PullSpec::default()
                },
            )
            .unwrap();
        let dir = Scratch::new(name);
        let state = dir.join("state");
        std::fs::write(dir.join("token"), TOKEN).unwrap();
        std::fs::write(dir.join("secret"), SECRET).unwrap();
        let w = World {
            fake,
            dir,
            state,
            pr,
        };
        w.configure(json!({}));
        w
    }

    /// Write the config, with `bridge` settings merged over the defaults.
    fn configure(&self, bridge: serde_json::Value) {
        let mut b = json!({
            "repos": [format!("{OWNER}/{REPO}")],
            "poll_interval_s": 1,
            "max_backoff_s": 4,
            "gitea_timeout_s": 3,
            "launcher": "direct",
            "webhook_secret_file": self.dir.join("secret"),
        });
        for (k, v) in bridge.as_object().unwrap() {
            b[k] = v.clone();
        }
        let cfg = json!({
            "state_dir": self.state,
            "recipes_dir": ccci_testkit::workspace().join("recipes"),
            "gitea_url": self.fake.root_url(),
            "bridge": b,
        });
        std::fs::write(self.dir.join("config.json"), cfg.to_string()).unwrap();
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "CCCI_CONFIG".into(),
                self.dir.join("config.json").display().to_string(),
            ),
            (
                "CCCI_GITEA_TOKEN_FILE".into(),
                self.dir.join("token").display().to_string(),
            ),
        ]
    }

    fn bridge(&self, args: &[&str]) -> Run {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ccci_testkit::run(&bin(), args, &env)
    }

    fn poll(&self) -> Run {
        self.bridge(&["poll", "--once", "--json"])
    }

    fn comment(&self, who: &str, body: &str) -> i64 {
        self.fake
            .add_comment(OWNER, REPO, self.pr, who, body)
            .unwrap()
    }

    fn queue(&self) -> Vec<Entry> {
        queue::load_all(&self.state).unwrap()
    }

    /// Start `serve` with a notify socket of our own; what it sends is kept.
    fn serve(&self, extra_env: &[(&str, &str)]) -> Daemon {
        let sock_path = self.dir.join("notify.sock");
        let _ = std::fs::remove_file(&sock_path);
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let msgs: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        {
            let msgs = msgs.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match sock.recv(&mut buf) {
                        Ok(n) => msgs
                            .lock()
                            .unwrap()
                            .push((Instant::now(), String::from_utf8_lossy(&buf[..n]).into())),
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => return,
                    }
                }
            });
        }
        let log = self.dir.join("serve.log");
        let child = Command::new(bin())
            .arg("serve")
            .envs(self.env())
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "2000000")
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .unwrap();
        let d = Daemon { child, msgs, log };
        d.wait_for("READY=1", Duration::from_secs(20));
        d
    }
}

struct Daemon {
    child: Child,
    msgs: Arc<Mutex<Vec<(Instant, String)>>>,
    log: PathBuf,
}

impl Daemon {
    fn wait_for(&self, what: &str, timeout: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self
                .msgs
                .lock()
                .unwrap()
                .iter()
                .any(|(_, m)| m.contains(what))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no {what} from the bridge in {timeout:?}; log:\n{}",
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, and the exit code.
    fn stop(mut self) -> i32 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code().unwrap_or(-1);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the bridge ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The old comments are an hour old when the bridge first looks.
fn in_the_past<T>(fake: &FakeGitea, f: impl FnOnce() -> T) -> T {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    fake.set_clock(Some(now - 3600));
    let r = f();
    fake.set_clock(None);
    r
}

fn first_poll(w: &World) {
    // The first look at a repository starts watching it; a second later
    // counts as after.
    w.poll().assert_code(0);
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn a_writers_testme_queues_one_run_of_the_head_sha() {
    let w = World::new("bridge-writer");
    first_poll(&w);
    let id = w.comment("writer", "Looks good.\n\n!testme");
    let r = w.poll();
    r.assert_code(0);
    let q = w.queue();
    assert_eq!(q.len(), 1, "{q:?}");
    let e = &q[0];
    assert_eq!(e.head_sha, sha(1));
    assert_eq!(
        (e.pr, e.comment_id, e.author.as_deref()),
        (Some(w.pr as u64), Some(id), Some("writer"))
    );
    assert_eq!(e.state, QueueState::Queued);
    assert_eq!(e.recipe, "demo");
    assert!(!e.quick);
    assert_eq!(r.json()["queued"], json!([e.run_id]));
    // The queue says so, by hand too.
    let shown = w.bridge(&["queue"]);
    shown.assert_code(0);
    assert!(
        shown.stdout.contains(&e.run_id) && shown.stdout.contains("queued"),
        "{}",
        shown.stdout
    );
    // Polling again changes nothing.
    w.poll().assert_code(0);
    assert_eq!(w.queue().len(), 1);
}

#[test]
fn quick_asks_for_a_warm_run_and_the_owner_may_trigger() {
    let w = World::new("bridge-quick");
    first_poll(&w);
    // The owner is no collaborator (the plain check says 404) but has the
    // owner permission.
    w.comment(OWNER, "!testme quick");
    w.poll().assert_code(0);
    let q = w.queue();
    assert_eq!(q.len(), 1);
    assert!(q[0].quick);
}

#[test]
fn a_readers_a_strangers_and_the_bots_own_testme_make_no_run() {
    let w = World::new("bridge-refused");
    first_poll(&w);
    let ids = [
        w.comment("reader", "!testme"),
        w.comment("stranger", "!testme"),
        w.comment(BOT, "!testme"),
    ];
    let r = w.poll();
    r.assert_code(0);
    assert!(w.queue().is_empty(), "{:?}", w.queue());
    // Each refusal is recorded with why, once.
    let ledger: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.state.join("bridge/repos/coop/demo.json")).unwrap(),
    )
    .unwrap();
    let outcome = |id: i64| {
        ledger["handled"][id.to_string()]["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(outcome(ids[0]), "not-permitted");
    assert_eq!(outcome(ids[1]), "not-permitted");
    assert_eq!(outcome(ids[2]), "own-comment");
    assert!(
        r.stderr.contains("reader has read permission"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_allow_listed_stranger_may_trigger() {
    let w = World::new("bridge-allow");
    w.configure(json!({"allow": ["Stranger"]}));
    first_poll(&w);
    w.comment("stranger", "!testme");
    w.poll().assert_code(0);
    assert_eq!(w.queue().len(), 1);
}

#[test]
fn a_quoted_testme_or_one_inside_a_sentence_makes_no_run() {
    let w = World::new("bridge-quoted");
    first_poll(&w);
    w.comment("writer", "> !testme\n\nI agree with the above.");
    w.comment("writer", "Someone should say !testme here");
    w.comment("writer", "```\n!testme\n```");
    w.poll().assert_code(0);
    assert!(w.queue().is_empty());
}

#[test]
fn a_second_testme_while_queued_queues_nothing_a_new_head_queues_one() {
    let w = World::new("bridge-dup");
    first_poll(&w);
    w.comment("writer", "!testme");
    w.poll().assert_code(0);
    w.comment("writer", "!testme");
    w.poll().assert_code(0);
    assert_eq!(w.queue().len(), 1);
    w.fake.push_pull(OWNER, REPO, w.pr, &sha(3)).unwrap();
    w.comment("writer", "!testme");
    w.poll().assert_code(0);
    let q = w.queue();
    assert_eq!(q.len(), 2);
    assert_eq!(q[1].head_sha, sha(3));
}

#[test]
fn a_closed_or_merged_pull_request_makes_no_run() {
    let w = World::new("bridge-closed");
    first_poll(&w);
    w.fake
        .set_pull_state(OWNER, REPO, w.pr, State::Closed)
        .unwrap();
    w.comment("writer", "!testme");
    w.poll().assert_code(0);
    assert!(w.queue().is_empty());
    // Reopening does not bring that comment back.
    w.fake
        .set_pull_state(OWNER, REPO, w.pr, State::Open)
        .unwrap();
    w.poll().assert_code(0);
    assert!(w.queue().is_empty());
}

#[test]
fn a_pull_request_closed_when_watching_began_with_two_old_testmes_reopened_then_one_new_makes_one_run()
 {
    let w = World::new("bridge-reopen");
    in_the_past(&w.fake, || {
        w.comment("writer", "!testme");
        w.comment("writer", "!testme");
        w.fake
            .set_pull_state(OWNER, REPO, w.pr, State::Closed)
            .unwrap();
    });
    first_poll(&w);
    w.fake
        .set_pull_state(OWNER, REPO, w.pr, State::Open)
        .unwrap();
    w.poll().assert_code(0);
    assert!(w.queue().is_empty(), "old comments replayed");
    let new = w.comment("writer", "!testme");
    w.poll().assert_code(0);
    let q = w.queue();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].comment_id, Some(new));
    // An old comment edited now is still old.
    let old = w.fake.comments(OWNER, REPO, w.pr)[0].id;
    w.fake.edit_comment(old, "writer", "!testme quick").unwrap();
    w.poll().assert_code(0);
    assert_eq!(w.queue().len(), 1);
}

#[test]
fn a_comment_made_while_the_bridge_was_stopped_makes_one_run_when_it_starts() {
    let w = World::new("bridge-stopped");
    let d = w.serve(&[]);
    d.wait_for("last poll 2", Duration::from_secs(10));
    assert_eq!(d.stop(), 0);
    // Down for a while: comments keep coming.
    std::thread::sleep(Duration::from_millis(1100));
    let id = w.comment("writer", "!testme");
    let d = w.serve(&[]);
    wait_until(Duration::from_secs(15), "the run request", || {
        !w.queue().is_empty()
    });
    // No dispatching in this test: the runs would need the swarm.
    let q = w.queue();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].comment_id, Some(id));
    drop(d);
}

#[test]
fn a_restart_does_not_replay_and_overlapping_polls_make_one_run() {
    let w = World::new("bridge-restart");
    first_poll(&w);
    w.comment("writer", "!testme");
    // Two polls at once: the lock makes them take turns.
    let a = std::thread::scope(|s| {
        let h1 = s.spawn(|| w.poll());
        let h2 = s.spawn(|| w.poll());
        [h1.join().unwrap(), h2.join().unwrap()]
    });
    for r in &a {
        r.assert_code(0);
    }
    assert_eq!(w.queue().len(), 1);
    // A "restart" is a new process reading the same state.
    for _ in 0..3 {
        w.poll().assert_code(0);
    }
    assert_eq!(w.queue().len(), 1);
}

#[test]
fn a_crash_after_queueing_but_before_recording_makes_no_second_run() {
    let w = World::new("bridge-crash");
    first_poll(&w);
    w.comment("writer", "!testme");
    w.poll().assert_code(0);
    // As if the process died before writing its ledger: the decision is lost
    // but the queue entry is there.
    let p = w.state.join("bridge/repos/coop/demo.json");
    let mut l: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    l["handled"] = json!({});
    l["cursor"] = l["watching_since"].clone();
    std::fs::write(&p, l.to_string()).unwrap();
    w.poll().assert_code(0);
    assert_eq!(w.queue().len(), 1);
}

#[test]
fn a_corrupt_ledger_is_exit_2_naming_the_file_and_is_not_reset() {
    let w = World::new("bridge-corrupt");
    first_poll(&w);
    let p = w.state.join("bridge/repos/coop/demo.json");
    std::fs::write(&p, "{\"schema\":1,\"repo\":").unwrap();
    let r = w.poll();
    r.assert_code(2);
    ccci_testkit::assert_one_line_error(&r, "ccci-bridge");
    assert!(
        r.stderr.contains("bridge/repos/coop/demo.json"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "{\"schema\":1,\"repo\":"
    );
    // serve refuses to start on it too, before READY.
    let out = Command::new(bin())
        .arg("serve")
        .envs(w.env())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn malformed_json_is_logged_and_skipped_then_caught_up() {
    let w = World::new("bridge-malformed");
    first_poll(&w);
    w.comment("writer", "!testme");
    w.fake.fault(
        ccci_fake_gitea::Fault::truncated()
            .path("/issues/comments")
            .times(1),
    );
    let r = w.poll();
    r.assert_code(75);
    assert!(
        r.stdout.contains("JSON we cannot read") || r.stderr.contains("JSON we cannot read"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(w.queue().is_empty());
    w.poll().assert_code(0);
    assert_eq!(w.queue().len(), 1);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_webhook_with_a_bad_or_missing_signature_is_refused() {
    let w = World::new("bridge-badsig");
    let port = free_port();
    w.configure(json!({"listen": format!("127.0.0.1:{port}"), "poll_interval_s": 3600}));
    let d = w.serve(&[]);
    let body = br#"{"action":"created","is_pull":true,"issue":{"number":1,"pull_request":{}},"comment":{"id":999,"body":"!testme","user":{"login":"writer"},"created_at":"2030-01-01T00:00:00Z"},"repository":{"full_name":"coop/demo"}}"#;
    let url = format!("http://127.0.0.1:{port}/hooks/gitea");
    let post = |sig: Option<&str>| {
        let mut req = ureq::post(&url)
            .header("X-Gitea-Event", "issue_comment")
            .config()
            .http_status_as_error(false)
            .build();
        if let Some(s) = sig {
            req = req.header("X-Gitea-Signature", s);
        }
        req.send(&body[..]).unwrap().status().as_u16()
    };
    assert_eq!(post(None), 401);
    assert_eq!(post(Some(&"0".repeat(64))), 401);
    let wrong = ccci_bridge::webhook::sign(b"not-the-secret", body);
    assert_eq!(post(Some(&wrong)), 401);
    std::thread::sleep(Duration::from_millis(300));
    assert!(w.queue().is_empty());
    assert!(d.log_text().contains("webhook refused"), "{}", d.log_text());
    assert_eq!(d.stop(), 0);
}

#[test]
fn the_same_comment_by_webhook_and_poll_makes_one_run_and_is_fast() {
    let w = World::new("bridge-hook");
    let port = free_port();
    // Polls are rare here: the webhook must do it.
    w.configure(json!({"listen": format!("127.0.0.1:{port}"), "poll_interval_s": 3600}));
    let d = w.serve(&[]);
    w.fake
        .add_webhook(
            OWNER,
            REPO,
            &format!("http://127.0.0.1:{port}/hooks/gitea"),
            Some(SECRET),
            false,
        )
        .unwrap();
    let t0 = Instant::now();
    w.comment("writer", "!testme");
    wait_until(Duration::from_secs(10), "the webhook's run request", || {
        !w.queue().is_empty()
    });
    let took = t0.elapsed();
    let dl = w
        .fake
        .wait_deliveries(1, Duration::from_secs(5))
        .expect("a delivery");
    assert_eq!(dl[0].outcome, Ok(202), "{:?}", dl[0].outcome);
    // Redelivered (a new delivery id, the same comment), then polled.
    w.fake.redeliver(0).unwrap();
    w.fake
        .wait_deliveries(2, Duration::from_secs(5))
        .expect("a redelivery");
    assert_eq!(d.stop(), 0);
    w.poll().assert_code(0);
    assert_eq!(w.queue().len(), 1, "{:?}", w.queue());
    assert!(
        took < Duration::from_secs(2),
        "webhook to queue took {took:?}"
    );
}

#[test]
fn serve_says_ready_status_and_feeds_the_watchdog_and_stops_on_sigterm() {
    let w = World::new("bridge-notify");
    let d = w.serve(&[]);
    d.wait_for("STATUS=watching 1 repositories", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    let feeds = d
        .msgs
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .count();
    assert!(feeds >= 2, "watchdog fed {feeds} times in 3 s");
    let msgs = d.msgs.clone();
    assert_eq!(d.stop(), 0);
    assert!(msgs.lock().unwrap().iter().any(|(_, m)| m == "STOPPING=1"));
}

#[test]
fn a_two_minute_429_and_503_storm_leaves_the_daemon_alive_and_fed_and_catches_up() {
    let w = World::new("bridge-storm");
    let mut d = w.serve(&[]);
    d.wait_for("last poll 2", Duration::from_secs(10));
    let storm = Duration::from_secs(120);
    w.fake.fault(
        ccci_fake_gitea::Fault::status(429)
            .path("/api/v1/")
            .for_duration(storm / 2),
    );
    w.fake.fault(
        ccci_fake_gitea::Fault::status(503)
            .text("503 Service Unavailable\n\nNo server is available to handle this request.\n")
            .path("/api/v1/")
            .for_duration(storm),
    );
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(1100));
    // Written during the storm, read after it.
    let id = w.comment("writer", "!testme");
    let mut last_fed = Instant::now();
    let mut max_gap = Duration::ZERO;
    while t0.elapsed() < storm {
        assert!(d.alive(), "the bridge died in the storm:\n{}", d.log_text());
        let fed: Vec<Instant> = d
            .msgs
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m)| m == "WATCHDOG=1")
            .map(|(t, _)| *t)
            .collect();
        if let Some(t) = fed.last() {
            last_fed = last_fed.max(*t);
        }
        max_gap = max_gap.max(last_fed.elapsed());
        assert!(
            w.queue().is_empty(),
            "a run was queued while Gitea could not answer"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        max_gap < Duration::from_secs(3),
        "the watchdog went unfed for {max_gap:?}"
    );
    wait_until(
        Duration::from_secs(30),
        "the storm's comment to run",
        || !w.queue().is_empty(),
    );
    assert_eq!(w.queue()[0].comment_id, Some(id));
    // The cycle that queued the run is judged when it ends: the line that
    // Gitea answers again comes after the queue file, not before.
    wait_until(Duration::from_secs(10), "Gitea answers again", || {
        d.log_text().contains("answers again")
    });
    let log = d.log_text();
    // One line per change of state, not one per request.
    let trouble_lines = log.lines().filter(|l| l.contains("Gitea")).count();
    assert!(trouble_lines <= 6, "{trouble_lines} lines:\n{log}");
    assert_eq!(d.stop(), 0);
}

#[test]
fn the_queue_starts_runs_in_order_within_the_budget_and_records_exits() {
    // A stand-in `ccci-run` (a script that sleeps and exits by its recipe):
    // this test is about the queue, not the runner.
    let w = World::new("bridge-dispatch");
    let fake_bin = w.dir.join("bin");
    std::fs::create_dir_all(&fake_bin).unwrap();
    let script = fake_bin.join("ccci-run");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/calls\"\nsleep 1\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    first_poll(&w);
    w.comment("writer", "!testme");
    w.poll().assert_code(0);
    w.fake.push_pull(OWNER, REPO, w.pr, &sha(4)).unwrap();
    w.comment("writer", "!testme quick");
    let env = w.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run_bin = script.display().to_string();
    env.push(("CCCI_RUN", &run_bin));
    let r = ccci_testkit::run(&bin(), &["poll", "--once", "--dispatch", "--json"], &env);
    r.assert_code(0);
    let q = w.queue();
    assert_eq!(q.len(), 2);
    assert!(
        q.iter()
            .all(|e| e.state == QueueState::Finished && e.exit_code == Some(1)),
        "{q:?}"
    );
    // max_parallel_runs is 1: the second started after the first ended.
    let (a, b) = (&q[0], &q[1]);
    assert!(a.finished_at <= b.started_at, "{a:?}\n{b:?}");
    let calls = std::fs::read_to_string(fake_bin.join("calls")).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(
        lines[0].contains(&format!("--ref {}", sha(1))) && lines[0].contains("--trigger testme"),
        "{calls}"
    );
    assert!(
        lines[1].contains(&format!("--ref {}", sha(4))) && lines[1].ends_with("--quick"),
        "{calls}"
    );
    assert!(lines[0].contains(&format!("--pr {}", w.pr)), "{calls}");
}

#[test]
fn the_queue_never_runs_one_recipe_twice_at_once_and_lets_the_next_recipe_pass() {
    // Two lanes, three requests: demo, demo again, then another recipe. The
    // second demo waits for the first; the other recipe takes the free lane
    // meanwhile instead of waiting behind it.
    let w = World::new("bridge-one-recipe");
    let runner = slow_runner(&w, 3, 0);
    first_poll(&w);
    let entry = |seq: u64, recipe: &str| Entry {
        schema: queue::SCHEMA,
        seq,
        run_id: format!("q{seq}-{recipe}"),
        recipe: recipe.into(),
        repo: "/srv/nowhere".into(),
        gitea_repo: None,
        pr: None,
        head_sha: sha(seq as u32),
        comment_id: None,
        author: None,
        trigger: ccci_core::results::Trigger::Manual,
        quick: false,
        state: QueueState::Queued,
        queued_at: "2026-01-01T00:00:00Z".into(),
        started_at: None,
        finished_at: None,
        exit_code: None,
        launched: None,
    };
    for (seq, recipe) in [(1, "demo"), (2, "demo"), (3, "other")] {
        queue::save(&w.state, &entry(seq, recipe)).unwrap();
    }
    let env = w.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CCCI_RUN", &runner));
    env.push(("CCCI_MAX_PARALLEL_RUNS", "2"));
    // One dispatch step: the first demo and the other recipe start, the
    // second demo waits although a lane is free.
    let r = ccci_testkit::run(&bin(), &["poll", "--once", "--dispatch", "--json"], &env);
    r.assert_code(0);
    let q = w.queue();
    let by = |id: &str| q.iter().find(|e| e.run_id == id).unwrap().clone();
    let (a, b, c) = (by("q1-demo"), by("q2-demo"), by("q3-other"));
    assert!(
        a.state == QueueState::Finished && b.state == QueueState::Finished,
        "{q:?}"
    );
    assert_eq!(c.state, QueueState::Finished, "{q:?}");
    assert!(
        a.finished_at <= b.started_at,
        "demo ran twice at once:\n{a:?}\n{b:?}"
    );
    assert!(
        c.started_at < a.finished_at,
        "the other recipe waited:\n{a:?}\n{c:?}"
    );
}

#[test]
fn bad_configuration_is_one_line_exit_2() {
    let w = World::new("bridge-badcfg");
    // No token.
    let r = ccci_testkit::run(
        &bin(),
        &["poll", "--once"],
        &[(
            "CCCI_CONFIG",
            &w.dir.join("config.json").display().to_string(),
        )],
    );
    r.assert_code(2);
    ccci_testkit::assert_one_line_error(&r, "ccci-bridge");
    // A listener without a secret.
    w.configure(json!({"listen": "127.0.0.1:0", "webhook_secret_file": null}));
    let out = Command::new(bin())
        .arg("serve")
        .envs(w.env())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no webhook secret"));
    // A repository that is not OWNER/NAME.
    w.configure(json!({"repos": ["nope"]}));
    let r = w.poll();
    r.assert_code(2);
    // poll without --once is a usage error.
    w.bridge(&["poll"]).assert_code(2);
}

/// A stand-in `ccci-run` that takes its time and takes no run lock at first,
/// as the real one does before its preflight and slot wait.
fn slow_runner(w: &World, secs: u32, code: i32) -> String {
    let dir = w.dir.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("ccci-run");
    std::fs::write(&script, format!("#!/bin/sh\nsleep {secs}\nexit {code}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

#[test]
fn a_second_dispatcher_leaves_a_run_it_did_not_start_alone() {
    let w = World::new("bridge-two-dispatchers");
    let runner = slow_runner(&w, 3, 0);
    first_poll(&w);
    w.comment("writer", "!testme");
    let env = w.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CCCI_RUN", &runner));
    let (a, b) = std::thread::scope(|s| {
        let first = s
            .spawn(|| ccci_testkit::run(&bin(), &["poll", "--once", "--dispatch", "--json"], &env));
        std::thread::sleep(Duration::from_millis(1000));
        let second = ccci_testkit::run(&bin(), &["poll", "--once", "--dispatch", "--json"], &env);
        (first.join().unwrap(), second)
    });
    a.assert_code(0);
    b.assert_code(0);
    let q = w.queue();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].state, QueueState::Finished);
    assert_eq!(
        q[0].exit_code,
        Some(0),
        "the run's real exit was lost: {q:?}\n{}\n{}",
        a.stdout,
        b.stdout
    );
}

#[test]
fn a_repository_that_cannot_be_polled_does_not_slow_the_others() {
    let w = World::new("bridge-broken-repo");
    // A second repository the bot may not read permissions on.
    w.fake.add_repo(OWNER, "custom-html").unwrap();
    w.fake
        .add_collaborator(OWNER, "custom-html", BOT, Perm::Write)
        .unwrap();
    w.fake
        .add_collaborator(OWNER, "custom-html", "writer", Perm::Write)
        .unwrap();
    let other = w
        .fake
        .open_pull(
            OWNER,
            "custom-html",
            PullSpec {
                title: "t".into(),
                poster: "writer".into(),
                head_branch: "b".into(),
                head_sha: sha(5),
                base_branch: "main".into(),
                base_sha: sha(6),
                ..PullSpec::default()
            },
        )
        .unwrap();
    w.configure(json!({"repos": [format!("{OWNER}/custom-html"), format!("{OWNER}/{REPO}")]}));
    first_poll(&w);
    w.fake
        .add_comment(OWNER, "custom-html", other, "writer", "!testme")
        .unwrap();
    w.comment("writer", "!testme");
    let r = w.poll();
    r.assert_code(2);
    let v = r.json();
    assert!(
        v["broken"][format!("{OWNER}/custom-html")]
            .as_str()
            .unwrap()
            .contains("403"),
        "{v}"
    );
    assert_eq!(v["trouble"], json!({}));
    // The other repository's run is queued all the same.
    assert_eq!(w.queue().len(), 1);
    assert_eq!(w.queue()[0].gitea_repo.as_deref(), Some("coop/demo"));
    // A configured repository that holds no recipe is refused at start.
    w.configure(json!({"repos": ["coop/Not_A_Recipe"]}));
    let r = w.poll();
    r.assert_code(2);
    ccci_testkit::assert_one_line_error(&r, "ccci-bridge");
    assert!(r.stderr.contains("not a recipe name"), "{}", r.stderr);
}
