//! Watching a stack converge. Polls the swarm's own state (services, their update
//! status, and every task) a few times a second and ends at the first sign of
//! failure: a failed, rejected or exited task of the current spec, or an update
//! that pauses or rolls back. The timeout is the last resort, not the detector.

use crate::app::{App, LABEL_NAMESPACE};
use crate::health;
// The swarm state read each tick; moved to its own module so that `health`
// (which probes from a snapshot) does not import this one. Re-exported here for
// the paths it always had.
pub use crate::snapshot::{Snapshot, service_ids, snapshot, snapshot_of};
use anyhow::Result;
use ccci_core::docker::Docker;
use ccci_core::ids;
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub ok: bool,
    /// One line: what converged, or what failed and why.
    pub reason: String,
    /// The failing service, when one is to blame.
    pub service: Option<String>,
    /// Last log lines of the failing task's container.
    pub logs: Vec<String>,
    pub elapsed_ms: u128,
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

/// Does the task run the service's current spec? (What swarm calls up to date.)
/// Swarm fills defaults into one side only (`DNSConfig: {}`, `StopGracePeriod`,
/// `NoNewPrivileges: false`, varying with engine and CLI versions), so only the
/// fields that identify what runs are compared, with empty values dropped.
fn up_to_date(task: &Value, svc: &Value) -> bool {
    const IDENTITY: [&str; 8] = [
        "Image", "Args", "Command", "Env", "Labels", "Mounts", "Configs", "Secrets",
    ];
    let (t, s) = (
        &task["Spec"]["ContainerSpec"],
        &svc["Spec"]["TaskTemplate"]["ContainerSpec"],
    );
    task["ServiceID"] == svc["ID"]
        && IDENTITY
            .iter()
            .all(|k| normalized(&t[*k]) == normalized(&s[*k]))
}

fn normalized(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let m: serde_json::Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| normalized(v).map(|v| (k.clone(), v)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(a) => {
            let a: Vec<Value> = a.iter().filter_map(normalized).collect();
            (!a.is_empty()).then_some(Value::Array(a))
        }
        Value::String(s) if s.is_empty() => None,
        other => Some(other.clone()),
    }
}

fn short(name: &str, stack: &str) -> String {
    name.strip_prefix(&format!("{stack}_"))
        .unwrap_or(name)
        .to_string()
}

/// A failure that ends the wait, with the container to take logs from.
pub struct Failure {
    pub service: String,
    pub reason: String,
    pub container: Option<String>,
    /// Found in the service's update status (swarm paused or rolled back), as
    /// opposed to a failed task swarm may not have reacted to yet.
    pub from_update: bool,
}

/// How swarm words a container the engine could not start.
const ENGINE_START_FAILURE: &str = "starting container failed";
/// Start failures tolerated per service before they are the recipe's fault.
const ENGINE_START_ATTEMPTS: usize = 3;

pub fn failure(snap: &Snapshot, stack: &str, since: u128) -> Option<Failure> {
    for svc in &snap.services {
        let name = short(s(svc, &["Spec", "Name"]), stack);
        let us = &svc["UpdateStatus"];
        if ids::parse_docker_time(s(us, &["StartedAt"])) >= since {
            let msg = s(us, &["Message"]);
            let what = match s(us, &["State"]) {
                "paused" => Some("update paused"),
                "rollback_started" => Some("update failed and is rolling back"),
                "rollback_paused" => Some("rollback paused"),
                "rollback_completed" => Some("update rolled back to the previous spec"),
                _ => None,
            };
            if let Some(what) = what {
                // Name the task that tripped the monitor when swarm kept it.
                let task = snap.tasks.iter().find(|t| {
                    t["ServiceID"] == svc["ID"]
                        && matches!(s(t, &["Status", "State"]), "failed" | "rejected")
                        && ids::parse_docker_time(s(t, &["Status", "Timestamp"])) >= since
                });
                let detail = task
                    .map(|t| format!("; task error: {}", s(t, &["Status", "Err"])))
                    .unwrap_or_default();
                return Some(Failure {
                    service: name,
                    reason: format!("{what}: {msg}{detail}"),
                    container: task
                        .map(|t| s(t, &["Status", "ContainerStatus", "ContainerID"]).to_string()),
                    from_update: true,
                });
            }
        }
    }
    for t in &snap.tasks {
        let state = s(t, &["Status", "State"]);
        if !matches!(state, "failed" | "rejected" | "complete") {
            continue;
        }
        if ids::parse_docker_time(s(t, &["Status", "Timestamp"])) < since {
            continue;
        }
        let Some(svc) = snap.services.iter().find(|v| v["ID"] == t["ServiceID"]) else {
            continue;
        };
        if !up_to_date(t, svc) {
            continue;
        }
        let name = short(s(svc, &["Spec", "Name"]), stack);
        let err = s(t, &["Status", "Err"]);
        // The engine failing to start a container (a busy mount under load, seen
        // with dockerd 20.10) is not the app crashing, and swarm retries it; only
        // a repeat makes it the recipe's failure (a missing bind path repeats).
        let start_failures = |svc_id: &Value| {
            snap.tasks
                .iter()
                .filter(|o| {
                    o["ServiceID"] == *svc_id
                        && s(o, &["Status", "State"]) == "failed"
                        && s(o, &["Status", "Err"]).starts_with(ENGINE_START_FAILURE)
                        && ids::parse_docker_time(s(o, &["Status", "Timestamp"])) >= since
                })
                .count()
        };
        if state == "failed" && err.starts_with(ENGINE_START_FAILURE) {
            let n = start_failures(&svc["ID"]);
            if n < ENGINE_START_ATTEMPTS {
                continue;
            }
            return Some(Failure {
                service: name,
                reason: format!("container failed to start {n} times: {err}"),
                container: None,
                from_update: false,
            });
        }
        let code = &t["Status"]["ContainerStatus"]["ExitCode"];
        let reason = match state {
            "rejected" => format!("task rejected: {err}"),
            "complete" => {
                format!("task exited with status {code} though the service should keep running")
            }
            _ => format!(
                "task failed: {}",
                if err.is_empty() {
                    "no error given"
                } else {
                    err
                }
            ),
        };
        return Some(Failure {
            service: name,
            reason,
            container: Some(s(t, &["Status", "ContainerStatus", "ContainerID"]).to_string())
                .filter(|c| !c.is_empty()),
            from_update: false,
        });
    }
    None
}

/// Services not yet converged, each with a short why.
pub fn pending(snap: &Snapshot, stack: &str, since: u128, nodes: u64) -> Vec<String> {
    let mut out = vec![];
    if snap.services.is_empty() {
        out.push(format!("no services of stack {stack} exist"));
    }
    for svc in &snap.services {
        let name = short(s(svc, &["Spec", "Name"]), stack);
        let want = match svc["Spec"]["Mode"]["Replicated"]["Replicas"].as_u64() {
            Some(n) => n,
            None => nodes,
        };
        let current: Vec<&Value> = snap
            .tasks
            .iter()
            .filter(|t| up_to_date(t, svc) && s(t, &["DesiredState"]) == "running")
            .collect();
        let running = current
            .iter()
            .filter(|t| s(t, &["Status", "State"]) == "running")
            .count() as u64;
        let us = &svc["UpdateStatus"];
        // A rollback in progress is never converged, whenever it started.
        let updating = (ids::parse_docker_time(s(us, &["StartedAt"])) >= since
            && s(us, &["State"]) == "updating")
            || s(us, &["State"]) == "rollback_started";
        if running < want || updating {
            let states: Vec<&str> = current.iter().map(|t| s(t, &["Status", "State"])).collect();
            out.push(format!(
                "{name} {running}/{want}{}{}",
                if states.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", states.join(","))
                },
                if updating { " updating" } else { "" }
            ));
        }
    }
    out
}

/// The first running-but-not-healthy task of the current spec whose container's
/// healthcheck has failed at least once, with its last output: a healthcheck
/// failing within its `start_period` (or below its retry count) never fails the
/// task, so without this a timeout says only `0/1 (starting)`.
pub fn healthcheck_failing(
    docker: &Docker,
    snap: &Snapshot,
    stack: &str,
    since: u128,
) -> Option<Failure> {
    for svc in &snap.services {
        let name = short(s(svc, &["Spec", "Name"]), stack);
        for t in snap.tasks.iter().filter(|t| {
            up_to_date(t, svc)
                && s(t, &["Status", "State"]) == "starting"
                && ids::parse_docker_time(s(t, &["Status", "Timestamp"])) >= since
        }) {
            let container = s(t, &["Status", "ContainerStatus", "ContainerID"]);
            if container.is_empty() {
                continue;
            }
            let Ok(info) = docker.inspect("container", &[container.to_string()]) else {
                continue;
            };
            let health = &info
                .first()
                .map(|c| c["State"]["Health"].clone())
                .unwrap_or_default();
            let streak = health["FailingStreak"].as_u64().unwrap_or(0);
            let Some(last) = health["Log"].as_array().and_then(|l| l.last()) else {
                continue;
            };
            let code = last["ExitCode"].as_i64().unwrap_or(0);
            if code == 0 && streak == 0 {
                continue;
            }
            let output = last["Output"]
                .as_str()
                .unwrap_or("")
                .trim()
                .replace('\n', " ");
            let output = if output.is_empty() {
                "no output".to_string()
            } else {
                output
            };
            return Some(Failure {
                service: name,
                reason: format!(
                    "its healthcheck fails ({streak} times in a row, exit {code}): {output}"
                ),
                container: Some(container.to_string()),
                from_update: false,
            });
        }
    }
    None
}

fn last_logs(docker: &Docker, container: Option<&str>) -> Vec<String> {
    let Some(c) = container.filter(|c| !c.is_empty()) else {
        return vec![];
    };
    docker
        .run_combined(&["logs", "--tail", "20", c])
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default()
}

fn node_count(docker: &Docker) -> u64 {
    docker
        .lines(&["node", "ls", "--format", "{{.Status}} {{.Availability}}"])
        .map(|l| l.iter().filter(|n| n.as_str() == "Ready Active").count() as u64)
        .unwrap_or(1)
        .max(1)
}

/// Wait until the stack runs its current spec everywhere and the app answers its
/// health probe, or fail at once, or time out.
/// How long a failed task's service may take to show swarm's reaction.
const SETTLE: Duration = Duration::from_millis(1500);

/// Takes snapshots of one stack: through the Engine API on the local socket when
/// there is one, else through the CLI (caching the stack's service ids, which are
/// fixed for a deployed stack).
struct Watcher {
    api: Option<ccci_core::docker_api::Api>,
    ids: Vec<String>,
}

impl Watcher {
    fn snapshot(&mut self, docker: &Docker, stack: &str) -> Result<Snapshot> {
        if let Some(api) = &self.api {
            let services = api.services_with_label(&format!("{LABEL_NAMESPACE}={stack}"))?;
            let sids: Vec<String> = services
                .iter()
                .filter_map(|s| s["ID"].as_str().map(String::from))
                .collect();
            return Ok(Snapshot {
                tasks: api.tasks_of(&sids)?,
                services,
            });
        }
        if self.ids.is_empty() {
            self.ids = service_ids(docker, stack)?;
        }
        let snap = snapshot_of(docker, &self.ids)?;
        if snap.services.len() != self.ids.len() {
            self.ids.clear(); // one vanished: list again next time
        }
        Ok(snap)
    }
}

/// Is this service in the middle of an update started by our deploy?
fn updating(snap: &Snapshot, stack: &str, service: &str, since: u128) -> bool {
    snap.services.iter().any(|svc| {
        short(s(svc, &["Spec", "Name"]), stack) == service
            && s(&svc["UpdateStatus"], &["State"]) == "updating"
            && ids::parse_docker_time(s(&svc["UpdateStatus"], &["StartedAt"])) >= since
    })
}

pub fn wait(
    docker: &Docker,
    app: &App,
    since: u128,
    timeout: Duration,
    probe: &health::Probe,
) -> Result<Verdict> {
    let start = Instant::now();
    let mut nodes = None;
    let mut last_health = String::new();
    let mut watcher = Watcher {
        api: docker.api(),
        ids: vec![],
    };
    loop {
        let snap = watcher.snapshot(docker, &app.stack)?;
        let global = snap
            .services
            .iter()
            .any(|s| s["Spec"]["Mode"]["Global"].is_object());
        if global && nodes.is_none() {
            nodes = Some(node_count(docker));
        }
        let nodes = nodes.unwrap_or(1);
        let elapsed = || start.elapsed().as_millis();
        if let Some(mut f) = failure(&snap, &app.stack, since) {
            // A task failed mid-update: give swarm's update monitor a moment to
            // act, so the verdict says whether it paused or rolled back.
            if !f.from_update && updating(&snap, &app.stack, &f.service, since) {
                let deadline = Instant::now() + SETTLE;
                while Instant::now() < deadline {
                    std::thread::sleep(TICK);
                    let again = watcher.snapshot(docker, &app.stack)?;
                    if let Some(g) = failure(&again, &app.stack, since).filter(|g| g.from_update) {
                        f = Failure {
                            container: g.container.or(f.container),
                            ..g
                        };
                        break;
                    }
                }
            }
            let logs = last_logs(docker, f.container.as_deref());
            return Ok(Verdict {
                ok: false,
                reason: format!("service {}: {}", f.service, f.reason),
                service: Some(f.service),
                logs,
                elapsed_ms: elapsed(),
            });
        }
        let pend = pending(&snap, &app.stack, since, nodes);
        if pend.is_empty() {
            match probe.check(docker, app, &snap)? {
                Ok(what) => {
                    return Ok(Verdict {
                        ok: true,
                        reason: format!("converged and healthy ({what})"),
                        service: None,
                        logs: vec![],
                        elapsed_ms: elapsed(),
                    });
                }
                Err(why) => {
                    ccci_core::log::debug(&format!("not healthy yet: {why}"));
                    last_health = why
                }
            }
        }
        if start.elapsed() >= timeout {
            let mut why = pend.join("; ");
            if why.is_empty() {
                why = format!("health: {last_health}");
            }
            // A task stuck in `starting` is a container whose healthcheck has
            // not passed yet: say what the healthcheck itself answers.
            let stuck = healthcheck_failing(docker, &snap, &app.stack, since);
            if let Some(h) = &stuck {
                why = format!("{why}; service {}: {}", h.service, h.reason);
            }
            let logs = last_logs(docker, stuck.as_ref().and_then(|h| h.container.as_deref()));
            return Ok(Verdict {
                ok: false,
                reason: format!("timed out after {} s: {why}", timeout.as_secs()),
                service: stuck.map(|h| h.service),
                logs,
                elapsed_ms: elapsed(),
            });
        }
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(n: u32, state: &str, err: &str) -> Value {
        json!({
            "ID": format!("t{n}"), "ServiceID": "s1", "DesiredState": "running",
            "Spec": {"ContainerSpec": {"Image": "img"}},
            "Status": {"State": state, "Err": err, "Timestamp": format!("2026-01-01T00:00:0{n}Z"),
                       "ContainerStatus": {"ContainerID": format!("c{n}")}},
        })
    }

    fn snap(tasks: Vec<Value>) -> Snapshot {
        Snapshot {
            services: vec![
                json!({"ID": "s1", "Spec": {"Name": "st_db", "TaskTemplate": {"ContainerSpec": {"Image": "img"}}}}),
            ],
            tasks,
        }
    }

    #[test]
    fn engine_start_failures_are_retried_then_red_and_crashes_are_red_at_once() {
        let busy =
            "starting container failed: unable to remount dir as readonly: device or resource busy";
        assert!(failure(&snap(vec![task(1, "failed", busy)]), "st", 0).is_none());
        assert!(
            failure(
                &snap(vec![task(1, "failed", busy), task(2, "failed", busy)]),
                "st",
                0
            )
            .is_none()
        );
        let f = failure(
            &snap(vec![
                task(1, "failed", busy),
                task(2, "failed", busy),
                task(3, "failed", busy),
            ]),
            "st",
            0,
        )
        .expect("third start failure is red");
        assert_eq!(f.service, "db");
        assert!(
            f.reason.starts_with("container failed to start 3 times"),
            "{}",
            f.reason
        );
        let f = failure(
            &snap(vec![task(1, "failed", "task: non-zero exit (1)")]),
            "st",
            0,
        )
        .expect("a crash is red at once");
        assert_eq!(f.reason, "task failed: task: non-zero exit (1)");
    }
}
