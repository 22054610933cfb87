//! Watching a stack converge. Polls the swarm's own state (services, their update
//! status, and every task) a few times a second and ends at the first failure
//! that is red by the fair start (see `Judge`): a service that keeps failing
//! past its allowance or its start window, a rejected task, or an update that
//! pauses or rolls back. The timeout is the last resort, not the detector.

use crate::app::{App, LABEL_NAMESPACE};
use crate::health;
// The swarm state read each tick; moved to its own module so that `health`
// (which probes from a snapshot) does not import this one. Re-exported here for
// the paths it always had.
pub use crate::snapshot::{Snapshot, snapshot, snapshot_of};
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

// The fair start: when is a failed task red?
//
// Real apps often exit a few times at first boot while the database they need
// is still starting (a blog's app restarted four to five times before serving,
// in production), and swarm restarts them: that is the recipe working, not a
// red deploy. An app that never comes up must still be red at once, with the
// task error and its last log lines, not at the timeout. So, per service:
//
// - Its start window is the recipe's `health.start_window` (seconds), else its
//   healthcheck's `start_period`, else `DEFAULT_START_WINDOW`, counted from the
//   start of the deploy (`since`).
// - Within the window, a task that fails (or exits) and that swarm replaces
//   with a new one is progress, not red, as long as the failed tasks in a row
//   of one slot, with none between them that came up (stayed `running` for
//   `CAME_UP`), stay within the allowance: `health.max_restarts`, else
//   `DEFAULT_MAX_RESTARTS`. `max_restarts: 0` is the strict rule: any failed
//   task is red. (Came up, not just reached `running`: without a healthcheck
//   swarm calls a container `running` the moment it starts, so every task of
//   a crash loop would reach it.)
// - Red at once: the failure past the allowance (the decisive one), a task
//   failing after the window, a failed task swarm does not replace (its restart
//   policy says so, or no new task within `NO_RESTART`), a rejected task, and
//   an update that pauses or rolls back (the recipe's own `update_config` says
//   a failed task of an update is fatal, and swarm acted on it).
// - The engine failing to start a container is not the app crashing: it is
//   red only on the `ENGINE_START_ATTEMPTS`th time, whatever the window.
//
// Swarm keeps only a few tasks per slot (`TaskHistoryRetentionLimit`, 5 by
// default), so the count is remembered across snapshots (`Judge`), not read
// from one.

/// A service's start window when neither the recipe nor its healthcheck gives one.
pub const DEFAULT_START_WINDOW: Duration = Duration::from_secs(60);
/// Failed tasks in a row a service may have within its start window.
pub const DEFAULT_MAX_RESTARTS: u32 = 5;
/// A task that stayed `running` this long came up: its failure starts a new count.
const CAME_UP: Duration = Duration::from_secs(5);
/// Swarm creates a failed task's replacement at once (it waits out the restart
/// delay as `ready`); a failed task still the newest of its slot this long
/// after we saw it fail will not be replaced (`max_attempts` reached).
const NO_RESTART: Duration = Duration::from_secs(2);

/// How a failed task sounds to swarm when the engine could not start it.
const ENGINE_START_FAILURE: &str = "starting container failed";
/// Start failures tolerated per service before they are the recipe's fault.
const ENGINE_START_ATTEMPTS: usize = 3;

/// The recipe's part of the fair start (`health.start_window`, `health.max_restarts`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartPolicy {
    /// Overrides every service's own start window.
    pub window: Option<Duration>,
    pub max_restarts: u32,
}

impl Default for StartPolicy {
    fn default() -> Self {
        StartPolicy {
            window: None,
            max_restarts: DEFAULT_MAX_RESTARTS,
        }
    }
}

impl StartPolicy {
    pub fn of(h: &crate::app::Health) -> StartPolicy {
        StartPolicy {
            window: h.start_window.map(Duration::from_secs),
            max_restarts: h.max_restarts.unwrap_or(DEFAULT_MAX_RESTARTS),
        }
    }

    /// The service's start window: the recipe's, else its healthcheck's
    /// `start_period`, else the default.
    pub fn window(&self, svc: &Value) -> Duration {
        self.window
            .or_else(|| {
                svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["StartPeriod"]
                    .as_u64()
                    .filter(|n| *n > 0)
                    .map(Duration::from_nanos)
            })
            .unwrap_or(DEFAULT_START_WINDOW)
    }
}

/// What the watch has seen of one task of a current spec.
struct Seen {
    service: String,
    /// The slot (replicated) or node (global) the task fills.
    slot: String,
    created: u128,
    /// When swarm first reported it `running` (swarm's clock).
    running_at: Option<u128>,
    ended: Option<Ended>,
}

/// A task that ended (failed, rejected, or exited) since the deploy began.
struct Ended {
    /// Swarm's clock.
    at: u128,
    /// Ours: when this watch first saw it ended.
    seen_at: u128,
    state: String,
    err: String,
    exit_code: Value,
    container: Option<String>,
}

impl Ended {
    fn engine(&self) -> bool {
        self.state == "failed" && self.err.starts_with(ENGINE_START_FAILURE)
    }

    /// The task error, as the verdict says it.
    fn what(&self) -> String {
        match self.state.as_str() {
            "rejected" => format!("task rejected: {}", self.err),
            "complete" => format!(
                "task exited with status {} though the service should keep running",
                self.exit_code
            ),
            _ => format!(
                "task failed: {}",
                if self.err.is_empty() {
                    "no error given"
                } else {
                    &self.err
                }
            ),
        }
    }
}

/// Judges a deploy's failed tasks by the fair start, one snapshot after the
/// other, remembering what swarm no longer shows.
pub struct Judge {
    policy: StartPolicy,
    since: u128,
    seen: std::collections::HashMap<String, Seen>,
}

/// A failed task the policy let pass, for the verdict.
pub struct Tolerated {
    pub service: String,
    /// Failed tasks of the service since the deploy began.
    pub failed: usize,
    pub last: String,
    pub container: Option<String>,
}

/// A failed or rolled-back update of one of the stack's services, started by
/// this deploy: red at once.
fn update_failure(snap: &Snapshot, stack: &str, since: u128) -> Option<Failure> {
    for svc in &snap.services {
        let name = short(s(svc, &["Spec", "Name"]), stack);
        let us = &svc["UpdateStatus"];
        if ids::parse_docker_time(s(us, &["StartedAt"])) < since {
            continue;
        }
        let msg = s(us, &["Message"]);
        let what = match s(us, &["State"]) {
            "paused" => "update paused",
            "rollback_started" => "update failed and is rolling back",
            "rollback_paused" => "rollback paused",
            "rollback_completed" => "update rolled back to the previous spec",
            _ => continue,
        };
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
    None
}

/// Does swarm's restart policy for this service replace a task that ended so?
fn restarts(svc: &Value, e: &Ended) -> Result<(), String> {
    let cond = s(
        &svc["Spec"]["TaskTemplate"]["RestartPolicy"],
        &["Condition"],
    );
    match (cond, e.state.as_str()) {
        ("none", _) => Err("restart condition none".into()),
        ("on-failure", "complete") => Err("restart condition on-failure and it exited 0".into()),
        _ => Ok(()),
    }
}

impl Judge {
    pub fn new(policy: StartPolicy, since: u128) -> Judge {
        Judge {
            policy,
            since,
            seen: Default::default(),
        }
    }

    fn observe(&mut self, snap: &Snapshot, now: u128) {
        for t in &snap.tasks {
            let Some(svc) = snap.services.iter().find(|v| v["ID"] == t["ServiceID"]) else {
                continue;
            };
            let Some(id) = t["ID"].as_str() else { continue };
            let known = self.seen.contains_key(id);
            if !known && !up_to_date(t, svc) {
                continue;
            }
            let seen = self.seen.entry(id.to_string()).or_insert_with(|| Seen {
                service: s(svc, &["ID"]).to_string(),
                slot: match t["Slot"].as_u64() {
                    Some(n) => n.to_string(),
                    None => s(t, &["NodeID"]).to_string(),
                },
                created: ids::parse_docker_time(s(t, &["CreatedAt"])),
                running_at: None,
                ended: None,
            });
            let state = s(t, &["Status", "State"]);
            let at = ids::parse_docker_time(s(t, &["Status", "Timestamp"]));
            if state == "running" && seen.running_at.is_none() {
                seen.running_at = Some(at);
            }
            if matches!(state, "failed" | "rejected" | "complete")
                && at >= self.since
                && seen.ended.is_none()
            {
                seen.ended = Some(Ended {
                    at,
                    seen_at: now,
                    state: state.to_string(),
                    err: s(t, &["Status", "Err"]).to_string(),
                    exit_code: t["Status"]["ContainerStatus"]["ExitCode"].clone(),
                    container: Some(s(t, &["Status", "ContainerStatus", "ContainerID"]))
                        .filter(|c| !c.is_empty())
                        .map(String::from),
                });
            }
        }
    }

    /// The first failure that is red by the fair start, if any. `now` is our
    /// clock, in nanoseconds since the epoch.
    pub fn failure(&mut self, snap: &Snapshot, stack: &str, now: u128) -> Option<Failure> {
        if let Some(f) = update_failure(snap, stack, self.since) {
            return Some(f);
        }
        self.observe(snap, now);
        for svc in &snap.services {
            if let Some(f) = self.judge_service(svc, stack, now) {
                return Some(f);
            }
        }
        None
    }

    fn judge_service(&self, svc: &Value, stack: &str, now: u128) -> Option<Failure> {
        let sid = s(svc, &["ID"]);
        let name = short(s(svc, &["Spec", "Name"]), stack);
        let red = |e: &Ended, why: String| Failure {
            service: name.clone(),
            reason: format!("{}{why}", e.what()),
            container: e.container.clone(),
            from_update: false,
        };
        let mut tasks: Vec<&Seen> = self.seen.values().filter(|t| t.service == sid).collect();
        tasks.sort_by_key(|t| t.created);

        // The engine could not start a container: swarm retries it; only a
        // repeat makes it the recipe's failure (a missing bind path repeats).
        let engine: Vec<&Ended> = tasks
            .iter()
            .filter_map(|t| t.ended.as_ref())
            .filter(|e| e.engine())
            .collect();
        if let Some(last) = engine.last()
            && engine.len() >= ENGINE_START_ATTEMPTS
        {
            return Some(Failure {
                service: name,
                reason: format!(
                    "container failed to start {} times: {}",
                    engine.len(),
                    last.err
                ),
                container: None,
                from_update: false,
            });
        }

        let window = self.policy.window(svc);
        let window_end = self.since + window.as_nanos();
        let max = self.policy.max_restarts;
        let mut slots: Vec<&str> = tasks.iter().map(|t| t.slot.as_str()).collect();
        slots.sort_unstable();
        slots.dedup();
        for slot in slots {
            let slot_tasks: Vec<&&Seen> = tasks.iter().filter(|t| t.slot == slot).collect();
            let mut streak = 0u32;
            for (i, t) in slot_tasks.iter().enumerate() {
                let Some(e) = &t.ended else { continue };
                if e.state == "rejected" {
                    return Some(red(e, String::new()));
                }
                if e.engine() {
                    continue;
                }
                let came_up = t
                    .running_at
                    .is_some_and(|r| e.at.saturating_sub(r) >= CAME_UP.as_nanos());
                streak = if came_up { 1 } else { streak + 1 };
                if e.at > window_end {
                    return Some(red(
                        e,
                        format!(
                            "; {:.1} s after the deploy began, past the service's start window of {} s",
                            e.at.saturating_sub(self.since) as f64 / 1e9,
                            window.as_secs()
                        ),
                    ));
                }
                if streak > max {
                    return Some(red(
                        e,
                        format!(
                            "; {streak} tasks failed in a row while starting, past the allowance of {max}"
                        ),
                    ));
                }
                if i + 1 == slot_tasks.len() {
                    // Progress is a new task in its place.
                    if let Err(why) = restarts(svc, e) {
                        return Some(red(e, format!("; swarm does not restart it ({why})")));
                    }
                    if now.saturating_sub(e.seen_at) > NO_RESTART.as_nanos() {
                        return Some(red(
                            e,
                            format!(
                                "; swarm started no task in its place within {} s (restart_policy max_attempts?)",
                                NO_RESTART.as_secs()
                            ),
                        ));
                    }
                }
            }
        }
        None
    }

    /// Per service, the failed tasks the fair start let pass so far.
    pub fn tolerated(&self, snap: &Snapshot, stack: &str) -> Vec<Tolerated> {
        let mut out = vec![];
        for svc in &snap.services {
            let sid = s(svc, &["ID"]);
            let mut ended: Vec<&Ended> = self
                .seen
                .values()
                .filter(|t| t.service == sid)
                .filter_map(|t| t.ended.as_ref())
                .collect();
            ended.sort_by_key(|e| e.at);
            if let Some(last) = ended.last() {
                out.push(Tolerated {
                    service: short(s(svc, &["Spec", "Name"]), stack),
                    failed: ended.len(),
                    last: last.what(),
                    container: last.container.clone(),
                });
            }
        }
        out
    }
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
            self.ids = docker.stack_service_ids(stack)?;
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

/// Wait until the stack runs its current spec everywhere and the app answers its
/// health probe, or fail at once (by the fair start), or time out.
pub fn wait(
    docker: &Docker,
    app: &App,
    since: u128,
    timeout: Duration,
    probe: &health::Probe,
) -> Result<Verdict> {
    let start = Instant::now();
    let mut judge = Judge::new(StartPolicy::of(&app.health), since);
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
        if let Some(mut f) = judge.failure(&snap, &app.stack, ids::now_nanos()) {
            // A task failed mid-update: give swarm's update monitor a moment to
            // act, so the verdict says whether it paused or rolled back.
            if !f.from_update && updating(&snap, &app.stack, &f.service, since) {
                let deadline = Instant::now() + SETTLE;
                while Instant::now() < deadline {
                    std::thread::sleep(TICK);
                    let again = watcher.snapshot(docker, &app.stack)?;
                    if let Some(g) = judge
                        .failure(&again, &app.stack, ids::now_nanos())
                        .filter(|g| g.from_update)
                    {
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
                    // Say what the fair start let pass: a green deploy that
                    // restarted is worth knowing about.
                    let restarted: Vec<String> = judge
                        .tolerated(&snap, &app.stack)
                        .iter()
                        .map(|t| {
                            format!("{} after {} failed tasks ({})", t.service, t.failed, t.last)
                        })
                        .collect();
                    let restarted = if restarted.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; started within the start window: {}",
                            restarted.join(", ")
                        )
                    };
                    return Ok(Verdict {
                        ok: true,
                        reason: format!("converged and healthy ({what}){restarted}"),
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
            let mut stuck = healthcheck_failing(docker, &snap, &app.stack, since);
            if let Some(h) = &stuck {
                why = format!("{why}; service {}: {}", h.service, h.reason);
            } else if let Some(t) = judge.tolerated(&snap, &app.stack).into_iter().next() {
                // Still restarting within its allowance when time ran out.
                why = format!(
                    "{why}; service {}: {} failed tasks while starting, the last: {}",
                    t.service, t.failed, t.last
                );
                stuck = Some(Failure {
                    service: t.service,
                    reason: t.last,
                    container: t.container,
                    from_update: false,
                });
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

    /// Swarm's time `ms` milliseconds after the deploy began (at 00:00:00).
    fn at(ms: u64) -> String {
        format!(
            "2026-01-01T{:02}:{:02}:{:02}.{:03}Z",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    }

    fn since() -> u128 {
        ids::parse_docker_time(&at(0))
    }

    /// Task `n` of slot 1, created at `n` s, in `state` since `ts_ms`.
    fn task_at(n: u32, state: &str, err: &str, ts_ms: u64) -> Value {
        json!({
            "ID": format!("t{n}"), "ServiceID": "s1", "Slot": 1, "DesiredState": "running",
            "CreatedAt": at(u64::from(n) * 1000),
            "Spec": {"ContainerSpec": {"Image": "img"}},
            "Status": {"State": state, "Err": err, "Timestamp": at(ts_ms),
                       "ContainerStatus": {"ContainerID": format!("c{n}"),
                                           "ExitCode": i32::from(state != "complete")}},
        })
    }

    /// Task `n`, in `state` half a second after it was created.
    fn task(n: u32, state: &str, err: &str) -> Value {
        task_at(n, state, err, u64::from(n) * 1000 + 500)
    }

    fn crash(n: u32) -> Value {
        task(n, "failed", "task: non-zero exit (1)")
    }

    fn service(extra: Value) -> Value {
        let mut svc = json!({"ID": "s1", "Spec": {"Name": "st_db",
            "TaskTemplate": {"ContainerSpec": {"Image": "img"},
                             "RestartPolicy": {"Condition": "any", "MaxAttempts": 0}}}});
        if let (Some(o), Some(e)) = (svc.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if k == "Spec" {
                    o["Spec"]["TaskTemplate"]
                        .as_object_mut()
                        .unwrap()
                        .extend(v.as_object().unwrap().clone());
                } else {
                    o.insert(k.clone(), v.clone());
                }
            }
        }
        svc
    }

    fn snap_of(svc: Value, tasks: Vec<Value>) -> Snapshot {
        Snapshot {
            services: vec![svc],
            tasks,
        }
    }

    fn snap(tasks: Vec<Value>) -> Snapshot {
        snap_of(service(json!({})), tasks)
    }

    fn judge(max_restarts: u32, window: Option<u64>) -> Judge {
        Judge::new(
            StartPolicy {
                window: window.map(Duration::from_secs),
                max_restarts,
            },
            since(),
        )
    }

    /// Judge a snapshot at swarm time + 0.1 s (our clock, as seen by the judge).
    fn verdict(j: &mut Judge, sn: &Snapshot, now_ms: u64) -> Option<Failure> {
        j.failure(sn, "st", since() + u128::from(now_ms) * 1_000_000)
    }

    #[test]
    fn engine_start_failures_are_retried_then_red() {
        let busy =
            "starting container failed: unable to remount dir as readonly: device or resource busy";
        let mut j = judge(DEFAULT_MAX_RESTARTS, None);
        let mut tasks = vec![task(1, "failed", busy), task(2, "pending", "")];
        assert!(verdict(&mut j, &snap(tasks.clone()), 2000).is_none());
        tasks.extend([task(2, "failed", busy), task(3, "pending", "")]);
        assert!(verdict(&mut j, &snap(tasks.clone()), 3000).is_none());
        tasks.extend([task(3, "failed", busy), task(4, "pending", "")]);
        let f = verdict(&mut j, &snap(tasks), 4000).expect("third start failure is red");
        assert_eq!(f.service, "db");
        assert!(
            f.reason.starts_with("container failed to start 3 times"),
            "{}",
            f.reason
        );
        // Even with no allowance for the app's own crashes: it is not the app.
        let mut j = judge(0, None);
        assert!(
            verdict(
                &mut j,
                &snap(vec![task(1, "failed", busy), task(2, "pending", "")]),
                2000
            )
            .is_none()
        );
    }

    #[test]
    fn crashes_within_the_allowance_are_not_red() {
        let mut j = judge(5, None);
        let mut tasks = vec![];
        for n in 1..=5 {
            tasks.push(crash(n));
            tasks.push(task(n + 1, "ready", ""));
            let sn = snap(tasks.clone());
            assert!(
                verdict(&mut j, &sn, u64::from(n) * 1000 + 600).is_none(),
                "failure {n} of 5 allowed is red"
            );
            tasks.pop();
        }
        // The strict rule, for a recipe that asks for it: the first crash is red.
        let mut j = judge(0, None);
        let f = verdict(&mut j, &snap(vec![crash(1), task(2, "ready", "")]), 1600)
            .expect("no allowance: red at once");
        assert_eq!(
            f.reason,
            "task failed: task: non-zero exit (1); 1 tasks failed in a row while starting, past the allowance of 0"
        );
        assert_eq!(f.container.as_deref(), Some("c1"));
    }

    #[test]
    fn the_failure_past_the_allowance_is_red_though_swarm_forgot_the_first() {
        // Swarm keeps 5 tasks per slot: by the 6th failure the 1st is gone.
        let mut j = judge(5, None);
        let mut history: Vec<Value> = vec![];
        let mut red = None;
        for n in 1..=6 {
            history.push(crash(n));
            let mut shown: Vec<Value> = history.iter().rev().take(4).cloned().collect();
            shown.push(task(n + 1, "ready", ""));
            red = verdict(&mut j, &snap(shown), u64::from(n) * 1000 + 600);
            if n < 6 {
                assert!(red.is_none(), "failure {n} is red");
            }
        }
        let f = red.expect("the 6th failure in a row is red");
        assert_eq!(f.service, "db");
        assert_eq!(
            f.reason,
            "task failed: task: non-zero exit (1); 6 tasks failed in a row while starting, past the allowance of 5"
        );
        assert_eq!(
            f.container.as_deref(),
            Some("c6"),
            "the decisive task's logs"
        );
        assert!(!f.from_update);
    }

    #[test]
    fn a_task_failing_after_the_start_window_is_red() {
        // The healthcheck's start_period (10 s) is the window.
        let hc = || {
            service(json!({"Spec": {"ContainerSpec": {"Image": "img",
            "Healthcheck": {"Test": ["CMD", "true"], "StartPeriod": 10_000_000_000u64}}}}))
        };
        let late = |n| task_at(n, "failed", "task: non-zero exit (137)", 12_000);
        let mut j = judge(5, None);
        assert!(
            verdict(
                &mut j,
                &snap_of(hc(), vec![crash(1), task(2, "ready", "")]),
                1600
            )
            .is_none()
        );
        let f = verdict(
            &mut j,
            &snap_of(hc(), vec![crash(1), late(2), task(3, "ready", "")]),
            12_100,
        )
        .expect("a failure after the window is red");
        assert_eq!(
            f.reason,
            "task failed: task: non-zero exit (137); 12.0 s after the deploy began, past the service's start window of 10 s"
        );
        assert_eq!(f.container.as_deref(), Some("c2"));
        // The recipe's window (30 s) wins over the healthcheck's.
        let mut j = judge(5, Some(30));
        assert!(
            verdict(
                &mut j,
                &snap_of(hc(), vec![crash(1), late(2), task(3, "ready", "")]),
                12_100
            )
            .is_none()
        );
        // No healthcheck and no setting: the default window.
        let mut j = judge(5, None);
        let sn = snap(vec![task_at(
            1,
            "failed",
            "task: non-zero exit (1)",
            61_000,
        )]);
        let f = verdict(&mut j, &sn, 61_100).expect("past the default window");
        assert!(f.reason.ends_with("start window of 60 s"), "{}", f.reason);
    }

    #[test]
    fn paused_and_rolled_back_updates_are_red_at_once() {
        for (state, what) in [
            ("paused", "update paused"),
            ("rollback_started", "update failed and is rolling back"),
            ("rollback_paused", "rollback paused"),
            (
                "rollback_completed",
                "update rolled back to the previous spec",
            ),
        ] {
            let svc = service(
                json!({"UpdateStatus": {"State": state, "StartedAt": at(100),
                "Message": "update paused due to failure or early termination of task t1"}}),
            );
            // One crash, well within the window and the allowance: swarm's
            // update monitor, not the fair start, has the last word.
            let mut j = judge(5, None);
            let f = verdict(
                &mut j,
                &snap_of(svc, vec![crash(1), task(2, "ready", "")]),
                1600,
            )
            .expect("red at once");
            assert!(f.from_update, "{state}");
            assert!(f.reason.starts_with(what), "{state}: {}", f.reason);
            assert!(
                f.reason.ends_with("; task error: task: non-zero exit (1)"),
                "{}",
                f.reason
            );
            assert_eq!(f.container.as_deref(), Some("c1"));
        }
        // An update of an earlier deploy is history.
        let svc = service(
            json!({"UpdateStatus": {"State": "paused", "StartedAt": "2025-12-31T23:59:00Z"}}),
        );
        let mut j = judge(5, None);
        assert!(verdict(&mut j, &snap_of(svc, vec![task(1, "running", "")]), 1600).is_none());
    }

    #[test]
    fn a_run_that_recovers_is_not_red() {
        let mut j = judge(3, None);
        let mut tasks = vec![crash(1), crash(2), crash(3), task(4, "starting", "")];
        assert!(verdict(&mut j, &snap(tasks.clone()), 3600).is_none());
        // The 4th task comes up and stays (14.5 s): then fails, and again once.
        tasks[3] = task_at(4, "running", "", 4500);
        assert!(verdict(&mut j, &snap(tasks.clone()), 4600).is_none());
        tasks[3] = task_at(4, "failed", "task: non-zero exit (1)", 19_000);
        tasks.push(task_at(5, "failed", "task: non-zero exit (1)", 21_000));
        tasks.push(task_at(6, "running", "", 23_000));
        assert!(
            verdict(&mut j, &snap(tasks), 23_100).is_none(),
            "a task that came up starts a new count: 2 in a row, not 5"
        );
        // Without coming up in between, the same five in a row are red.
        let mut j = judge(3, None);
        let tasks = vec![
            crash(1),
            crash(2),
            crash(3),
            task_at(4, "failed", "task: non-zero exit (1)", 4600),
            task(5, "ready", ""),
        ];
        let f = verdict(&mut j, &snap(tasks), 4700).expect("4 in a row, 3 allowed");
        assert!(f.reason.contains("4 tasks failed in a row"), "{}", f.reason);
    }

    #[test]
    fn a_failed_task_swarm_does_not_replace_is_red() {
        let cond = |c: &str| service(json!({"Spec": {"RestartPolicy": {"Condition": c}}}));
        let mut j = judge(5, None);
        let f = verdict(&mut j, &snap_of(cond("none"), vec![crash(1)]), 1600)
            .expect("no restart: no progress");
        assert!(
            f.reason
                .ends_with("; swarm does not restart it (restart condition none)"),
            "{}",
            f.reason
        );
        let exited = task(1, "complete", "");
        let mut j = judge(5, None);
        let f = verdict(
            &mut j,
            &snap_of(cond("on-failure"), vec![exited.clone()]),
            1600,
        )
        .expect("an exit 0 on-failure never restarts");
        assert!(
            f.reason
                .starts_with("task exited with status 0 though the service should keep running"),
            "{}",
            f.reason
        );
        // Exit 0 under `any` is restarted like a crash.
        let mut j = judge(5, None);
        assert!(
            verdict(
                &mut j,
                &snap_of(cond("any"), vec![exited, task(2, "ready", "")]),
                1600
            )
            .is_none()
        );
        // `any` but no new task (max_attempts reached): red once it is clear.
        let mut j = judge(5, None);
        assert!(verdict(&mut j, &snap(vec![crash(1)]), 1600).is_none());
        assert!(verdict(&mut j, &snap(vec![crash(1)]), 3000).is_none());
        let f = verdict(&mut j, &snap(vec![crash(1)]), 3700).expect("no task in its place");
        assert!(
            f.reason.contains("swarm started no task in its place"),
            "{}",
            f.reason
        );
    }

    #[test]
    fn a_rejected_task_and_old_failures_are_judged_as_before() {
        let mut j = judge(5, None);
        let f = verdict(
            &mut j,
            &snap(vec![
                task(1, "rejected", "invalid mount config"),
                task(2, "ready", ""),
            ]),
            1600,
        )
        .expect("rejected is red at once");
        assert_eq!(f.reason, "task rejected: invalid mount config");
        // Failures before the deploy began, or of another spec, are history.
        let mut j = judge(0, None);
        let mut old = task_at(1, "failed", "task: non-zero exit (1)", 0);
        old["Status"]["Timestamp"] = json!("2025-12-31T23:00:00Z");
        let mut other = crash(2);
        other["Spec"]["ContainerSpec"]["Image"] = json!("old-img");
        assert!(
            verdict(
                &mut j,
                &snap(vec![old, other, task(3, "running", "")]),
                3000
            )
            .is_none()
        );
    }
}
