//! The fair start on the rig's swarm: an app that exits a few times at first
//! boot is green, one that never comes up is red within seconds of its decisive
//! failure, and an upgrade swarm pauses or rolls back is red at once.

mod common;

use common::World;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long after the decisive failure the verdict may come.
const VERDICT_WITHIN: Duration = Duration::from_secs(5);

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Swarm restarts the app after 1 s instead of 5 s: quick tests.
fn quick_restarts(w: &World) {
    w.repo.edit(
        "compose.yml",
        "        order: stop-first\n",
        "        order: stop-first\n      restart_policy:\n        condition: any\n        delay: 1s\n",
    );
}

/// Docker's own record of the deaths of a service's containers, streamed
/// while the test runs (the daemon keeps only its last 256 events, which the
/// healthchecks of parallel tests soon push out).
struct Deaths(std::process::Child);

impl Deaths {
    fn watch(service: &str) -> Deaths {
        let child = std::process::Command::new("docker")
            .args([
                "events",
                "--filter",
                "type=container",
                "--filter",
                "event=die",
                "--filter",
                &format!("label=com.docker.swarm.service.name={service}"),
                "--format",
                "{{.TimeNano}} {{index .Actor.Attributes \"exitCode\"}}",
            ])
            .stdout(std::process::Stdio::piped())
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("docker events");
        // Let it subscribe before anything dies.
        std::thread::sleep(Duration::from_millis(300));
        Deaths(child)
    }

    /// When each container died (nanoseconds since the epoch) and its exit
    /// code, oldest first.
    fn stop(mut self) -> Vec<(u128, String)> {
        // Events already sent reach the pipe within milliseconds.
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.0.kill();
        let mut text = String::new();
        if let Some(out) = self.0.stdout.as_mut() {
            use std::io::Read;
            let _ = out.read_to_string(&mut text);
        }
        let _ = self.0.wait();
        let mut out: Vec<(u128, String)> = text
            .lines()
            .filter_map(|l| {
                let (t, code) = l.split_once(' ')?;
                Some((t.parse().ok()?, code.to_string()))
            })
            .collect();
        out.sort();
        out
    }
}

impl Drop for Deaths {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Tears the run down if the test panics before its own clean teardown:
/// every object a test creates is removed, whatever happens.
struct Down<'a>(&'a World, String);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.deploy(&["teardown", &self.1]);
        }
    }
}

fn logs_contain(v: &serde_json::Value, what: &str) -> bool {
    v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().contains(what))
}

#[test]
fn an_app_that_crashes_three_times_at_first_boot_is_green() {
    let w = World::new("fair-recover");
    quick_restarts(&w);
    // The app counts its starts on its volume and gives up the first three
    // times, as an app whose database is still starting does.
    w.repo.edit_config(
        "app.sh",
        "set -eu\n",
        "set -eu\nn=$(( $(cat /www/data/starts 2>/dev/null || echo 0) + 1 ))\necho \"$n\" >/www/data/starts\n\
         if [ \"$n\" -le 3 ]; then echo \"start $n: cannot reach the database yet\" >&2; exit 1; fi\n",
    );
    w.repo.release("0.3.0+1.1");
    // The recipe's start window (recipe.json `health.start_window`, passed as
    // ccci-run passes it) is wider than the healthcheck's 5 s start_period.
    let id = w.new_app(
        "0.3.0+1.1",
        &["--health", r#"{"start_window": 60}"#, "--timeout", "90"],
    );
    let _down = Down(&w, id.clone());
    let deaths = Deaths::watch(&format!("{}_app", w.stack(&id)));
    let r = w.deploy(&["--json", "deploy", "--wait", &id]);
    let died = deaths.stop();
    r.assert_code(0);
    let v = r.json();
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("converged and healthy (HTTP 200"),
        "{reason}"
    );
    assert!(
        reason.contains(
            "started within the start window: app after 3 failed tasks (task failed: task: non-zero exit (1))"
        ),
        "the verdict says what it let pass: {reason}"
    );
    // It really crashed three times.
    assert_eq!(
        died.iter().filter(|(_, code)| code == "1").count(),
        3,
        "{died:?}"
    );
    w.teardown_clean(&id);
}

#[test]
fn an_app_that_never_comes_up_is_red_within_seconds_of_its_decisive_failure() {
    let w = World::new("fair-never");
    quick_restarts(&w);
    w.repo.edit_config(
        "app.sh",
        "exec httpd",
        "echo 'fatal: cannot reach the database' >&2; exit 1; exec httpd",
    );
    w.repo.release("0.3.0+1.1");
    // The default allowance (5 failed tasks in a row) inside a 60 s window.
    let id = w.new_app(
        "0.3.0+1.1",
        &["--health", r#"{"start_window": 60}"#, "--timeout", "90"],
    );
    let _down = Down(&w, id.clone());
    let deaths = Deaths::watch(&format!("{}_app", w.stack(&id)));
    let r = w.deploy(&["--json", "deploy", "--wait", &id]);
    let verdict_at = now_nanos();
    let died = deaths.stop();
    r.assert_code(1);
    let v = r.json();
    assert_eq!(v["service"], "app", "{v}");
    assert_eq!(
        v["reason"],
        "service app: task failed: task: non-zero exit (1); 6 tasks failed in a row while starting, past the allowance of 5"
    );
    assert!(
        logs_contain(&v, "fatal: cannot reach the database"),
        "the decisive task's last log lines: {v}"
    );
    // The 6th crash decided it; the verdict came within seconds of it, not at
    // the timeout, and long after the first (which was not red).
    let died: Vec<_> = died.into_iter().filter(|(t, _)| *t <= verdict_at).collect();
    assert!(died.len() >= 6, "{died:?}");
    let after = Duration::from_nanos((verdict_at - died[5].0) as u64);
    assert!(
        after < VERDICT_WITHIN,
        "verdict {after:?} after the decisive failure"
    );
    eprintln!("verdict {after:?} after the decisive (6th) failure");
    w.teardown_clean(&id);
}

#[test]
fn a_crash_after_the_healthchecks_start_period_is_red() {
    let w = World::new("fair-window");
    quick_restarts(&w);
    // Exits after 2 s: the crashes outlast the demo's 5 s start_period, the
    // window when the recipe sets none.
    w.repo.edit_config(
        "app.sh",
        "exec httpd",
        "sleep 2; echo 'fatal: out of memory' >&2; exit 1; exec httpd",
    );
    w.repo.release("0.3.0+1.1");
    let id = w.new_app("0.3.0+1.1", &["--timeout", "90"]);
    let _down = Down(&w, id.clone());
    let r = w.deploy(&["--json", "deploy", "--wait", &id]);
    r.assert_code(1);
    let v = r.json();
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("service app: task failed: task: non-zero exit (1); ")
            && reason.ends_with("past the service's start window of 5 s"),
        "{reason}"
    );
    assert!(logs_contain(&v, "fatal: out of memory"), "{v}");
    assert!(v["elapsed_ms"].as_u64().unwrap() < 20_000, "{v}");
    w.teardown_clean(&id);
}

#[test]
fn a_service_swarm_stops_restarting_is_red() {
    let w = World::new("fair-giveup");
    // Swarm gives up after two attempts: no new task, no progress.
    w.repo.edit(
        "compose.yml",
        "        order: stop-first\n",
        "        order: stop-first\n      restart_policy:\n        condition: any\n        delay: 1s\n        max_attempts: 2\n",
    );
    w.repo.edit_config(
        "app.sh",
        "exec httpd",
        "echo 'fatal: no licence key' >&2; exit 1; exec httpd",
    );
    w.repo.release("0.3.0+1.1");
    let id = w.new_app(
        "0.3.0+1.1",
        &["--health", r#"{"start_window": 60}"#, "--timeout", "90"],
    );
    let _down = Down(&w, id.clone());
    let r = w.deploy(&["--json", "deploy", "--wait", &id]);
    r.assert_code(1);
    let v = r.json();
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "service app: task failed: task: non-zero exit (1); swarm started no task in its place"
        ),
        "{reason}"
    );
    assert!(logs_contain(&v, "fatal: no licence key"), "{v}");
    assert!(v["elapsed_ms"].as_u64().unwrap() < 20_000, "{v}");
    w.teardown_clean(&id);
}

/// An upgrade to a release whose app exits at start, with `failure_action`
/// as given: red at once, within the start window and the allowance.
fn upgrade_to_a_crash(name: &str, failure_action: &str) -> serde_json::Value {
    let w = World::new(name);
    quick_restarts(&w);
    w.repo.edit(
        "compose.yml",
        "failure_action: rollback",
        &format!("failure_action: {failure_action}"),
    );
    w.repo.release("0.2.1+1.1");
    w.repo.edit_config(
        "app.sh",
        "exec httpd",
        "echo 'fatal: schema migration failed' >&2; exit 3; exec httpd",
    );
    w.repo.release("0.3.0+1.2");
    let id = w.new_app("0.2.1+1.1", &["--health", r#"{"start_window": 60}"#]);
    let _down = Down(&w, id.clone());
    w.deploy(&["deploy", "--wait", &id]).assert_code(0);
    let deaths = Deaths::watch(&format!("{}_app", w.stack(&id)));
    let r = w.deploy(&[
        "--json",
        "upgrade",
        &id,
        "--ref",
        "0.3.0+1.2",
        "--timeout",
        "90",
    ]);
    let verdict_at = now_nanos();
    let died = deaths.stop();
    r.assert_code(1);
    let v = r.json();
    assert_eq!(v["service"], "app", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.contains("non-zero exit (3)"), "{reason}");
    assert!(logs_contain(&v, "fatal: schema migration failed"), "{v}");
    // The first crash of the new spec is the decisive one: swarm acted on it.
    let first = died
        .iter()
        .find(|(_, code)| code == "3")
        .unwrap_or_else(|| panic!("no crash of the new spec: {died:?}"))
        .0;
    let after = Duration::from_nanos((verdict_at - first) as u64);
    assert!(
        after < VERDICT_WITHIN,
        "verdict {after:?} after the decisive failure"
    );
    eprintln!("{failure_action}: verdict {after:?} after the decisive failure");
    w.teardown_clean(&id);
    v
}

#[test]
fn an_upgrade_that_swarm_rolls_back_is_red_at_once() {
    let v = upgrade_to_a_crash("fair-rollback", "rollback");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("service app: update failed and is rolling back")
            || reason.starts_with("service app: update rolled back"),
        "{reason}"
    );
    // The old spec runs again, and the verdict says so.
    assert!(
        reason.contains("the running spec is not 0.3.0+1.2"),
        "{reason}"
    );
    assert_eq!(v["running_version"], "0.2.1+1.1", "{v}");
}

#[test]
fn an_upgrade_that_swarm_pauses_is_red_at_once() {
    let v = upgrade_to_a_crash("fair-pause", "pause");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.starts_with("service app: update paused"), "{reason}");
    // Paused half way: the service's spec is the new release, which does not serve.
    assert_eq!(v["running_version"], "0.3.0+1.2", "{v}");
}
