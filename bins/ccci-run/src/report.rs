//! Telling people about the run: `ccci-report` comments on the pull request,
//! sets the commit status and writes the run's web pages (docs/report.md).
//! Best effort, and never part of the verdict: a Gitea that is down leaves
//! the report pending for `ccci-report deliver`, and the run goes on.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest the run waits for its final report before it exits anyway
/// (the report stays pending and is delivered later).
const FINISH_WAIT: Duration = Duration::from_secs(90);

fn command(state_dir: &Path, run_id: &str, args: &[&str]) -> Option<Command> {
    let log = state_dir
        .join("runs")
        .join(run_id)
        .join("logs")
        .join("report.log");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .ok()?;
    let mut c = Command::new(ccci_core::tool::find("ccci-report"));
    c.arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().ok()?)
        .stderr(out);
    Some(c)
}

/// Start `ccci-report` and let it finish on its own (a thread reaps it).
fn detached(state_dir: &Path, run_id: &str, args: &[&str]) {
    let Some(mut c) = command(state_dir, run_id, args) else {
        return;
    };
    match c.spawn() {
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => ccci_core::log::debug(&format!("cannot run ccci-report: {e}")),
    }
}

/// The run has started: a comment and a pending status, and its page.
pub(crate) fn start(state_dir: &Path, run_id: &str) {
    detached(state_dir, run_id, &["start", run_id]);
}

/// A tier has started: the run's page shows it.
pub(crate) fn progress(state_dir: &Path, run_id: &str) {
    detached(state_dir, run_id, &["pages", "--run", run_id]);
}

/// The run has ended: the verdict, waited for up to [`FINISH_WAIT`].
pub(crate) fn finish(state_dir: &Path, run_id: &str) {
    let Some(mut c) = command(state_dir, run_id, &["finish", run_id]) else {
        return;
    };
    let Ok(mut child) = c.spawn() else {
        return;
    };
    let t0 = Instant::now();
    while t0.elapsed() < FINISH_WAIT {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ccci_core::log::warn(
        "the run's report is still being sent; it stays pending and is delivered later",
    );
    let _ = child.kill();
    let _ = child.wait();
}
