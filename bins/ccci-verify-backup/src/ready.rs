//! Ready, not just healthy, after a restore: a database-backed server can pass
//! its health check while still refusing writes for seconds after its data was
//! replaced. A recipe's readiness hook (a write request that must succeed, say)
//! is run until it passes, bounded, before anything checks the restored data.

use crate::app_json;
use anyhow::Result;
use ccci_core::exit;
use ccci_core::rundir::RunDir;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// What a restore waits for once its hooks ran.
#[derive(Args, Debug, Clone)]
pub(crate) struct AfterRestore {
    /// Health timeout after the restore, seconds
    #[arg(long)]
    pub(crate) timeout: Option<u64>,
    /// Executable that exits 0 once the app is ready after the restore (run
    /// with the run's context until it passes; recipe.json `readiness.hook`)
    #[arg(long, value_name = "PATH", env = "CCCI_READY_HOOK")]
    pub(crate) ready_hook: Option<PathBuf>,
    /// How long the readiness hook may take to pass, seconds
    #[arg(
        long,
        value_name = "SECS",
        env = "CCCI_READY_TIMEOUT",
        default_value_t = 60
    )]
    pub(crate) ready_timeout: u64,
}

/// Between two attempts: short, since the first seconds are the usual case.
const PAUSE: Duration = Duration::from_millis(500);
/// One attempt may not take longer than this (nor than what is left).
const ATTEMPT: Duration = Duration::from_secs(30);

/// Run the readiness hook until it passes. Red (exit 1) with its last words
/// when it never does within the bound.
pub(crate) fn wait_ready(run: &RunDir, a: &AfterRestore) -> Result<()> {
    let Some(hook) = a.ready_hook.as_ref().filter(|h| !h.as_os_str().is_empty()) else {
        return Ok(());
    };
    if !hook.is_file() {
        return Err(exit::usage(format!(
            "readiness hook {} does not exist",
            hook.display()
        )));
    }
    let app = app_json(run)?;
    let log = run.file("logs/restore/readiness.log");
    let never = AtomicBool::new(false);
    let started = Instant::now();
    let bound = Duration::from_secs(a.ready_timeout);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut cmd = Command::new(hook);
        cmd.env("CCCI_RUN_DIR", &run.path)
            .env("CCCI_STACK", &app.stack)
            .env("CCCI_DOMAIN", &app.domain);
        let left = bound.saturating_sub(started.elapsed()).max(PAUSE);
        let o = ccci_core::proc::run(cmd, &log, Some(left.min(ATTEMPT)), &never)?;
        if o.ok() {
            run.ledger(
                "ready",
                json!({"attempts": attempts, "seconds": started.elapsed().as_secs_f64()}),
            )?;
            return Ok(());
        }
        if started.elapsed() + PAUSE >= bound {
            return Err(exit::no(format!(
                "the app is healthy but not ready after the restore: readiness hook {} did not pass in {} s ({attempts} attempts; last: {})",
                hook.display(),
                a.ready_timeout,
                if o.timed_out {
                    "timed out".to_string()
                } else {
                    o.last_line.clone()
                }
            )));
        }
        std::thread::sleep(PAUSE);
    }
}
