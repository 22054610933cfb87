//! The runner's state for one run, and how it calls the sibling tools. Its
//! work is spread by phase: `ladder` (the tiers), `context` (what hooks and
//! tests see), `finish` (teardown and results).

use anyhow::Result;
use ccci_core::plan::Plan;
use ccci_core::results::{AppRef, Tier, Trigger};
use ccci_core::rundir::RunDir;
use ccci_core::state;
use ccci_core::tool::{self, Answer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Why a run stopped early: every tier after it is `skip` with this reason.
#[derive(Debug, Clone)]
pub(crate) enum Abort {
    Interrupted,
    /// Docker or the network: worth retrying (exit 75).
    Trouble(String),
    /// A ccci tool broke (exit 70).
    Bug(String),
}

impl Abort {
    pub(crate) fn reason(&self) -> String {
        match self {
            Abort::Interrupted => "interrupted (SIGTERM/SIGINT)".into(),
            Abort::Trouble(r) => format!("infrastructure trouble: {r}"),
            Abort::Bug(r) => format!("ccci failed: {r}"),
        }
    }
}

/// The parts of the command line the runner reads while it runs, taken from
/// the `Cli` once in setup (the rest of it is used up there).
#[derive(Debug, Clone)]
pub(crate) struct RunRequest {
    /// What started the run.
    pub(crate) trigger: Trigger,
    /// Pull request number, when the run tests one.
    pub(crate) pr: Option<u64>,
    /// Start warm from the canonical app's data instead of cold.
    pub(crate) quick: bool,
    /// When the run is green, keep the app's volumes and secrets after teardown.
    pub(crate) keep_volumes: bool,
    /// The tiers to run (`--tiers`); all of them unless the run is partial.
    pub(crate) tiers: crate::selection::Selection,
    /// When the run is red, leave its apps up for probing.
    pub(crate) keep_app: bool,
    /// This run tests that run again, alone.
    pub(crate) rerun_of: Option<String>,
}

pub(crate) struct Runner {
    pub(crate) state_dir: PathBuf,
    pub(crate) run: RunDir,
    /// Locks of the dependency runs, held for the whole run.
    pub(crate) dep_locks: Vec<state::Lock>,
    pub(crate) plan: Plan,
    pub(crate) recipes: PathBuf,
    pub(crate) bin_dir: PathBuf,
    /// Environment of every child: the run's context.
    pub(crate) vars: BTreeMap<String, String>,
    pub(crate) stop: Arc<AtomicBool>,
    /// What the command line asked for, beyond the plan.
    pub(crate) request: RunRequest,
    pub(crate) tiers: Vec<Tier>,
    pub(crate) apps: Vec<AppRef>,
    pub(crate) deps: Vec<crate::deps::DepApp>,
    pub(crate) app_created: bool,
    /// Install or upgrade converged at some point: there is an app to test.
    pub(crate) converged: bool,
    /// Why the app cannot be tested, in words that are true for this run (set
    /// when a failed upgrade left nothing serving).
    pub(crate) not_serving: Option<String>,
    pub(crate) abort: Option<Abort>,
    /// Wall time spent in children (tools that drive Docker, hooks, tests).
    pub(crate) child_time: Duration,
    /// The second instance's run, once the custom tier made one.
    pub(crate) second: Option<String>,
    /// The run's share of the host's budget, for results.json.
    pub(crate) budget: Option<ccci_core::results::BudgetUse>,
    /// For what the runner asks Docker itself (the two instances' objects).
    pub(crate) docker: ccci_core::docker::Docker,
    /// systemd, when the run is a unit (`ccci-run@`, `Type=notify`).
    pub(crate) notify: ccci_core::notify::Notifier,
}

impl Runner {
    /// A step (hook or test) ran: its time was a child's, and one that was
    /// interrupted stops the run.
    pub(crate) fn ran(&mut self, r: &ccci_core::results::TestResult) {
        self.child_time += Duration::from_secs_f64(r.duration_s);
        if r.outcome == ccci_core::results::Outcome::Interrupted {
            self.abort = Some(Abort::Interrupted);
        }
    }

    /// Call a sibling tool (`ccci_core::tool`: `--json`, `--state-dir`, one
    /// exit-code table). Its yes or no comes back with its one-line summary;
    /// bad input counts as a no (what the recipe under test gave it). Trouble,
    /// a ccci bug or an interrupt end the run: `None`.
    pub(crate) fn tool(
        &mut self,
        name: &str,
        args: &[String],
        log_rel: &str,
    ) -> Result<Option<(bool, String)>> {
        Ok(match self.call(name, args, log_rel)? {
            Answer::Yes(v) => Some((true, v.summary)),
            Answer::No(v) | Answer::Input(v) => Some((false, v.summary)),
            Answer::Trouble(why) => {
                self.abort = Some(Abort::Trouble(why));
                None
            }
            Answer::Bug(why) => {
                self.abort = Some(Abort::Bug(why));
                None
            }
            Answer::Interrupted => {
                self.abort = Some(Abort::Interrupted);
                None
            }
        })
    }

    /// The tool's answer as it is, for a caller that judges it itself.
    pub(crate) fn call(&mut self, name: &str, args: &[String], log_rel: &str) -> Result<Answer> {
        let log = self.run.file(log_rel);
        if let Some(d) = log.parent() {
            std::fs::create_dir_all(d)?;
        }
        let reply = tool::call(tool::Call {
            tool: name,
            args: args.to_vec(),
            state_dir: Some(&self.state_dir),
            env: self
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            env_remove: vec![],
            log: Some(&log),
            timeout: None,
            stop: &self.stop,
        })?;
        self.child_time += reply.duration;
        Ok(reply.answer)
    }

    pub(crate) fn new_args(
        &self,
        run_id: &str,
        recipe: &str,
        repo: &str,
        r#ref: &str,
    ) -> Vec<String> {
        let mut a: Vec<String> = [
            "new", "--run-id", run_id, "--recipe", recipe, "--repo", repo, "--ref", r#ref,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(["--trigger".into(), self.request.trigger.to_string()]);
        a
    }
}
