//! How a run ends when it is not allowed to finish: SIGTERM (systemd stopping
//! the unit), SIGKILL of everything (then the reaper), a busy run slot, bad input.

mod common;

use ccci_testkit::{docker_objects, leftovers, run};
use common::{World, assert_valid, bin};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(w: &World, id: &str, r#ref: &str) -> std::process::Child {
    spawn_env(w, id, r#ref, &[])
}

fn spawn_env(w: &World, id: &str, r#ref: &str, env: &[(&str, &str)]) -> std::process::Child {
    // `setsid` makes the run a session of its own, so the test can kill every
    // process of it at once, as systemd's KillMode=control-group would.
    let mut cmd = Command::new("setsid");
    cmd.arg(bin()).args([
        "--recipe",
        "demo",
        "--repo",
        &w.repo.path.to_string_lossy(),
        "--ref",
        r#ref,
        "--run-id",
        id,
    ]);
    for (k, v) in w.env() {
        cmd.env(k, v);
    }
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ledger_has(w: &World, id: &str, action: &str) -> bool {
    std::fs::read_to_string(w.run_dir(id).join("ledger.jsonl"))
        .is_ok_and(|l| l.contains(&format!("\"action\":\"{action}\"")))
}

#[test]
fn sigterm_mid_run_tears_down_and_says_interrupted() {
    let w = World::new("run-term");
    let mut child = spawn(&w, "term", "0.2.0+1.1");
    // Stop it in the middle of the upgrade's convergence wait.
    wait_for("the upgrade to start", Duration::from_secs(120), || {
        ledger_has(&w, "term", "deploy-start")
            && std::fs::read_to_string(w.run_dir("term").join("ledger.jsonl"))
                .is_ok_and(|l| l.matches("\"action\":\"deploy-start\"").count() >= 2)
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(status.code(), Some(75), "{out}");
    let res = w.results("term");
    assert_valid(&res);
    assert_eq!(res["verdict"], "interrupted");
    assert_eq!(res["teardown"]["status"], "clean", "{res:#}");
    // Every tier is still reported: the ones after the stop as not run.
    assert_eq!(res["tiers"][5]["status"], "skip");
    assert!(
        res["tiers"][5]["summary"]
            .as_str()
            .unwrap()
            .contains("interrupted")
    );
    assert!(leftovers("term").is_empty(), "{:?}", leftovers("term"));
}

fn random_below(n: u64) -> u64 {
    let b = ccci_core::ids::random_bytes(8).unwrap();
    u64::from_le_bytes(b.try_into().unwrap()) % n
}

#[test]
fn sigkill_at_random_points_then_reap_leaves_nothing() {
    let w = World::new("run-kill");
    let deploy = bin().parent().unwrap().join("ccci-deploy");
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut debris = 0;
    for i in 0..5 {
        let id = format!("kill{i}");
        let after = Duration::from_millis(500 + random_below(24_000));
        let child = spawn(&w, &id, "0.2.0+1.1");
        let sid = child.id();
        if i == 0 {
            // Once for certain where there is something to reap: right after
            // the app was deployed (a test that only ever killed too early
            // would prove nothing about the reaper).
            wait_for("the install deploy", Duration::from_secs(90), || {
                ledger_has(&w, &id, "deploy")
            });
        } else {
            std::thread::sleep(after);
        }
        // Everything in the run's session: the runner, ccci-deploy, tests.
        let st = Command::new("pkill")
            .args(["-KILL", "-s", &sid.to_string()])
            .status()
            .unwrap();
        assert!(st.code().is_some());
        let mut child = child;
        let _ = child.wait();
        if !leftovers(&id).is_empty() {
            debris += 1;
        }
        if i == 0 {
            assert!(
                !leftovers(&id).is_empty(),
                "{id}: a kill after the deploy left nothing to reap"
            );
        }
        eprintln!(
            "kill {i} after {after:?}: {} objects left",
            leftovers(&id).len()
        );
        run(&deploy, &["reap", "--grace", "0"], &env).assert_code(0);
        assert!(leftovers(&id).is_empty(), "{id}: {:?}", leftovers(&id));
    }
    eprintln!("{debris} of 5 kills left debris; the reaper removed all of it");
    let instance = std::fs::read_to_string(PathBuf::from(&w.state).join("instance-id")).unwrap();
    let mine = docker_objects(&format!("label=ccci.instance={}", instance.trim()));
    assert!(mine.is_empty(), "{mine:?}");
}

#[test]
fn a_busy_run_slot_makes_the_run_wait_and_say_so() {
    waits_for_a_held_lock("run-slot", "run-slot-0", "waiting for a run slot");
}

#[test]
fn a_second_run_of_a_recipe_waits_for_the_first() {
    waits_for_a_held_lock(
        "run-recipe-lock",
        "recipe-demo",
        "waiting: run other-run is testing demo, and one recipe is never run twice at once",
    );
}

/// `<state>/locks/<lock>.lock` held by "other-run" (until the file is
/// dropped), and run `id` started as a `Type=notify` unit would be: the
/// socket hears what it tells systemd.
fn held_lock_and_a_run(
    w: &World,
    lock: &str,
    id: &str,
) -> (
    std::fs::File,
    std::os::unix::net::UnixDatagram,
    std::process::Child,
) {
    let locks = PathBuf::from(&w.state).join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    let f = std::fs::File::create(locks.join(format!("{lock}.lock"))).unwrap();
    f.lock().unwrap();
    std::fs::write(locks.join(format!("{lock}.run")), "other-run").unwrap();
    let sock_path = w.scratch.join(&format!("notify-{id}.sock"));
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let child = spawn_env(
        w,
        id,
        "0.2.0+1.1",
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    (f, sock, child)
}

/// A run started while another holds `<state>/locks/<lock>.lock` waits,
/// says `said` (naming the holder), creates nothing, and stops cleanly.
fn waits_for_a_held_lock(name: &str, lock: &str, said: &str) {
    let w = World::new(name);
    // As a `ccci-run@` unit: the wait must keep systemd's start timeout off.
    let (f, sock, mut child) = held_lock_and_a_run(&w, lock, "waits");
    let mut err = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while !seen.contains(said) {
        assert!(start.elapsed() < Duration::from_secs(30), "{seen}");
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "runner ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("other-run"), "{seen}");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).unwrap();
    let note = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        note.starts_with("EXTEND_TIMEOUT_USEC=60000000\nSTATUS=") && note.contains(said),
        "{note}"
    );
    // Nothing was created while it waited; a stop while waiting is clean.
    assert!(!w.run_dir("waits").exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(75));
    drop(f);
}

#[test]
fn after_a_long_wait_the_plan_gets_the_units_whole_start_allowance() {
    // Past the unit's start timeout systemd holds a run to its last
    // extension (60 s while waiting): once the wait ends, the plan is given
    // 15 minutes, as a run that never waited has.
    let w = World::new("run-wait-then-plan");
    let (f, sock, mut child) = held_lock_and_a_run(&w, "recipe-demo", "plans");
    let mut buf = [0u8; 4096];
    let mut heard = vec![];
    let n = sock.recv(&mut buf).unwrap();
    heard.push(String::from_utf8_lossy(&buf[..n]).to_string());
    assert!(
        heard[0].starts_with("EXTEND_TIMEOUT_USEC=60000000\n"),
        "{heard:?}"
    );
    drop(f);
    while !heard.last().unwrap().starts_with("READY=1") {
        let n = sock.recv(&mut buf).unwrap();
        heard.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    let planning = heard
        .iter()
        .position(|m| m == "EXTEND_TIMEOUT_USEC=900000000\nSTATUS=planning")
        .unwrap_or_else(|| panic!("{heard:?}"));
    assert_eq!(planning, heard.len() - 2, "{heard:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(75));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let w = World::new("run-bad");
    let one_line = |r: &ccci_testkit::Run, want: &str| {
        r.assert_code(2);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", r.stderr);
        assert!(lines[0].contains(want), "{want}: {}", r.stderr);
    };
    one_line(&w.run("bad1", "no-such-ref", &[]), "unknown ref");
    let repo = w.repo.path.to_string_lossy().into_owned();
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    one_line(
        &run(
            &bin(),
            &["--recipe", "Demo!", "--repo", &repo, "--ref", "main"],
            &env,
        ),
        "recipe name",
    );
    one_line(
        &run(
            &bin(),
            &[
                "--recipe",
                "demo",
                "--repo",
                "/no/such/repo",
                "--ref",
                "main",
            ],
            &env,
        ),
        "does not exist",
    );
    one_line(&w.run("bad3", "main", &["--quick"]), "no canonical release");
    std::fs::write(
        w.recipes.join("demo/recipe.json"),
        r#"{"schema": 1, "aproved": true}"#,
    )
    .unwrap();
    one_line(&w.run("bad2", "main", &[]), "recipe.json");
    // No app was ever created for any of them.
    for id in ["bad1", "bad2", "bad3"] {
        assert!(leftovers(id).is_empty());
        assert!(!w.run_dir(id).join("app.json").exists());
    }
}
