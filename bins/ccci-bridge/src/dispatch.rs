//! Starting queued runs, oldest first, within `max_parallel_runs`, and
//! noticing when they end (docs/bridge.md, "The queue").
//!
//! An entry is marked `started` *before* the run is launched: a crash between
//! the two leaves a run that never ran, which the next step marks finished
//! with exit 75, rather than a run started twice.

use anyhow::Result;
use ccci_core::config::Launcher;
use ccci_core::queue::{self, Entry, QueueState};
use ccci_core::results::{Results, Verdict};
use ccci_core::rundir::RunDir;
use ccci_core::{exit, ids, log, state};
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The runs this process started itself (launcher `direct`).
#[derive(Default)]
pub struct Dispatcher {
    children: HashMap<String, Child>,
}

/// What one step changed.
#[derive(Debug, Default)]
pub struct Step {
    pub started: Vec<String>,
    pub finished: Vec<(String, i32)>,
    pub running: usize,
    pub waiting: usize,
}

impl Dispatcher {
    pub fn step(&mut self, cfg: &ccci_core::config::Config) -> Result<Step> {
        let sd = &cfg.state_dir;
        let mut out = Step::default();
        let mut entries = queue::load_all(sd)?;
        // Our own children first, whatever their entries say: their real exit
        // code is the one to keep.
        let ours: Vec<String> = self.children.keys().cloned().collect();
        for id in ours {
            let Some(e) = entries.iter_mut().find(|e| e.run_id == id) else {
                continue;
            };
            if e.state != QueueState::Started
                && let Some(code) = self.ended(cfg, e)
            {
                e.exit_code = Some(code);
                queue::save(sd, e)?;
            }
        }
        for e in entries
            .iter_mut()
            .filter(|e| e.state == QueueState::Started)
        {
            if let Some(code) = self.ended(cfg, e) {
                e.state = QueueState::Finished;
                e.exit_code = Some(code);
                e.finished_at = Some(ids::now_rfc3339());
                queue::save(sd, e)?;
                log::info(&format!(
                    "run {} ({}) ended with exit {code}",
                    e.run_id, e.recipe
                ));
                out.finished.push((e.run_id.clone(), code));
            }
        }
        let mut running = entries
            .iter()
            .filter(|e| e.state == QueueState::Started)
            .count();
        // One recipe is never run twice at once: a second pull request of a
        // recipe waits for the first's run, and the queue's next recipe takes
        // the free lane meanwhile (the runner holds the same rule, for runs
        // the bridge did not start).
        let mut busy: std::collections::BTreeSet<String> = entries
            .iter()
            .filter(|e| e.state == QueueState::Started)
            .map(|e| e.recipe.clone())
            .collect();
        for e in entries.iter_mut().filter(|e| e.state == QueueState::Queued) {
            if running >= cfg.max_parallel_runs as usize || busy.contains(&e.recipe) {
                out.waiting += 1;
                continue;
            }
            busy.insert(e.recipe.clone());
            e.state = QueueState::Started;
            e.started_at = Some(ids::now_rfc3339());
            queue::save(sd, e)?;
            running += 1;
            match self.launch(cfg, e) {
                Ok(how) => {
                    e.launched = Some(how);
                    queue::save(sd, e)?;
                    log::info(&format!(
                        "started run {} of {} at {}",
                        e.run_id, e.recipe, e.head_sha
                    ));
                    out.started.push(e.run_id.clone());
                }
                Err(err) => {
                    log::error(&format!(
                        "cannot start run {}: {}",
                        e.run_id,
                        exit::one_line(&err)
                    ));
                    e.state = QueueState::Finished;
                    e.exit_code = Some(exit::TEMPFAIL);
                    e.finished_at = Some(ids::now_rfc3339());
                    queue::save(sd, e)?;
                    running -= 1;
                    out.finished.push((e.run_id.clone(), exit::TEMPFAIL));
                }
            }
        }
        out.running = running;
        Ok(out)
    }

    /// The exit code of a started run that has ended, `None` while it runs.
    fn ended(&mut self, cfg: &ccci_core::config::Config, e: &Entry) -> Option<i32> {
        if let Some(child) = self.children.get_mut(&e.run_id) {
            return match child.try_wait() {
                Ok(None) => None,
                Ok(Some(st)) => {
                    self.children.remove(&e.run_id);
                    // Killed by a signal: the run was stopped, not judged.
                    Some(st.code().unwrap_or(exit::TEMPFAIL))
                }
                Err(_) => None,
            };
        }
        // Not ours: another process launched it (a hand-run `poll --once
        // --dispatch`, or this daemon before a restart). Its runner takes the
        // run lock only after its preflight and slot wait, so the launcher's
        // own record (the pid, the unit) decides too.
        let alive = match cfg.bridge.launcher {
            Launcher::Systemd => unit_active(&e.run_id),
            Launcher::Direct => {
                run_lock_held(&cfg.state_dir, &e.run_id)
                    || pid_alive(e.launched.as_deref(), &e.run_id)
            }
        };
        if alive {
            return None;
        }
        Some(code_from_results(&cfg.state_dir, &e.run_id))
    }

    fn launch(&mut self, cfg: &ccci_core::config::Config, e: &Entry) -> Result<String> {
        match cfg.bridge.launcher {
            Launcher::Direct => {
                let log_path = crate::ledger::root(&cfg.state_dir)
                    .join("runs")
                    .join(format!("{}.log", e.run_id));
                if let Some(d) = log_path.parent() {
                    std::fs::create_dir_all(d)?;
                }
                let log = std::fs::File::create(&log_path)?;
                let mut cmd = Command::new(ccci_core::tool::find("ccci-run"));
                cmd.arg("--state-dir").arg(&cfg.state_dir);
                cmd.args(run_args(e));
                // Its own process group: a Ctrl-C at the bridge's terminal is
                // the bridge's to handle; the bridge forwards SIGTERM itself.
                let child = cmd
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .process_group(0)
                    .spawn()
                    .map_err(|err| exit::tempfail(format!("cannot run ccci-run: {err}")))?;
                let how = format!("direct pid {}", child.id());
                self.children.insert(e.run_id.clone(), child);
                Ok(how)
            }
            Launcher::Systemd => {
                let req = cfg
                    .state_dir
                    .join("requests")
                    .join(format!("{}.env", e.run_id));
                state::write_atomic(&req, request_env(e).as_bytes(), 0o600)?;
                let unit = format!("ccci-run@{}.service", e.run_id);
                let o = Command::new("systemctl")
                    .args(["start", "--no-block", &unit])
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|err| exit::tempfail(format!("cannot run systemctl: {err}")))?;
                if !o.status.success() {
                    return Err(exit::tempfail(format!(
                        "systemctl start {unit}: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    )));
                }
                Ok(format!("systemd {unit}"))
            }
        }
    }

    /// Runs this process started and that still run.
    pub fn children(&self) -> usize {
        self.children.len()
    }

    /// Ask every run we started to stop (they tear down and exit 75) and wait
    /// up to `grace` for them.
    pub fn stop_all(&mut self, grace: Duration, feed: &mut dyn FnMut()) {
        for c in self.children.values() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let start = Instant::now();
        while self
            .children
            .values_mut()
            .any(|c| matches!(c.try_wait(), Ok(None)))
            && start.elapsed() < grace
        {
            feed();
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `ccci-run`'s arguments for an entry: exactly the accepted head, never a
/// branch name that may have moved since.
pub fn run_args(e: &Entry) -> Vec<String> {
    let mut a = vec![
        "--recipe".into(),
        e.recipe.clone(),
        "--repo".into(),
        e.repo.clone(),
        "--ref".into(),
        e.head_sha.clone(),
        "--trigger".into(),
        e.trigger.as_str().into(),
        "--run-id".into(),
        e.run_id.clone(),
    ];
    if let Some(pr) = e.pr {
        a.extend(["--pr".into(), pr.to_string()]);
    }
    if e.quick {
        a.push("--quick".into());
    }
    a
}

/// The same request as `ccci-run@.service` reads it (`EnvironmentFile=`).
pub fn request_env(e: &Entry) -> String {
    let mut s = format!(
        "CCCI_RUN_RECIPE={}\nCCCI_RUN_REPO={}\nCCCI_RUN_REF={}\nCCCI_RUN_TRIGGER={}\n",
        e.recipe,
        e.repo,
        e.head_sha,
        e.trigger.as_str()
    );
    if let Some(pr) = e.pr {
        s.push_str(&format!("CCCI_RUN_PR={pr}\n"));
    }
    if e.quick {
        s.push_str("CCCI_RUN_QUICK=true\n");
    }
    s
}

fn unit_active(run_id: &str) -> bool {
    let unit = format!("ccci-run@{run_id}.service");
    Command::new("systemctl")
        .args(["is-active", "--quiet", &unit])
        .status()
        .is_ok_and(|s| s.success())
}

/// Is the process `launched` names (`direct pid N`) still this run's runner?
fn pid_alive(launched: Option<&str>, run_id: &str) -> bool {
    let Some(pid) = launched
        .and_then(|l| l.strip_prefix("direct pid "))
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return false;
    };
    // A recycled pid is some other program: its command line (which holds
    // `--run-id <id>`) says so.
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(run_id))
        .unwrap_or(false)
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|st| !st.rsplit(") ").next().unwrap_or("").starts_with('Z'))
            .unwrap_or(false)
}

fn run_lock_held(state_dir: &Path, run_id: &str) -> bool {
    let p = RunDir::runs_root(state_dir).join(run_id).join("run.lock");
    state::Lock::is_held(&p).unwrap_or(false)
}

/// A run that ended without us seeing its exit: its verdict says how (0
/// green, 1 red), and no verdict at all means it was lost (75).
fn code_from_results(state_dir: &Path, run_id: &str) -> i32 {
    let p = RunDir::runs_root(state_dir)
        .join(run_id)
        .join(ccci_core::results::FILE);
    match state::read_json_opt::<Results>(&p) {
        Ok(Some(r)) => match r.verdict {
            Verdict::Green | Verdict::Partial => 0,
            Verdict::Red => 1,
            Verdict::Error | Verdict::Interrupted => exit::TEMPFAIL,
        },
        _ => exit::TEMPFAIL,
    }
}
