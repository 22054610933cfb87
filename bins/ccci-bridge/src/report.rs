//! Handing verdicts to `ccci-report` (docs/report.md): the runner reports
//! its own start and end; the bridge reports the end of a run that died
//! without reporting (lost at start, killed), and sends pending reports
//! again every cycle until Gitea takes them. Always in the background: a slow
//! Gitea must not hold up the loop or starve the watchdog.

use std::path::Path;
use std::process::{Child, Command, Stdio};

#[derive(Default)]
pub struct Reporter {
    deliver: Option<Child>,
}

impl Reporter {
    /// A run ended: make sure its verdict (or its lack of one) is reported;
    /// `finish` does nothing when the runner already delivered it.
    pub fn finished(&mut self, state_dir: &Path, run_id: &str) {
        spawn(state_dir, &["finish", run_id]);
    }

    /// Send pending reports, unless the last delivery is still at it.
    pub fn deliver(&mut self, state_dir: &Path) {
        if let Some(c) = &mut self.deliver
            && matches!(c.try_wait(), Ok(None))
        {
            return;
        }
        let any = std::fs::read_dir(state_dir.join("reports"))
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".json"))
            })
            .unwrap_or(false);
        if any {
            self.deliver = spawn(state_dir, &["deliver"]);
        }
    }
}

fn spawn(state_dir: &Path, args: &[&str]) -> Option<Child> {
    let log = crate::ledger::root(state_dir).join("report.log");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .ok()?;
    Command::new(ccci_core::tool::find("ccci-report"))
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().ok()?)
        .stderr(out)
        .spawn()
        .map_err(|e| ccci_core::log::warn(&format!("cannot run ccci-report: {e}")))
        .ok()
}
