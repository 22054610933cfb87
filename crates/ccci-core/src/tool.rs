//! Calling another ccci tool: the one way it is done.
//!
//! A tool is found by one rule ([`crate::cli::sibling`]: next to this
//! executable, `CCCI_<NAME>` overriding it for tests), gets the caller's state
//! directory with `--state-dir` and is always asked for `--json`; its stdout is
//! decoded as a [`ToolVerdict`] while its stderr goes to the caller's log. Its
//! exit code is mapped through one table into an [`Answer`]:
//!
//! | exit | answer |
//! |---|---|
//! | 0 | `Yes` |
//! | 1 | `No` (a red verdict, a clean no) |
//! | 2, cause `usage` | `Bug`: the caller built a command line the tool refuses |
//! | 2, cause `input` | `Input`: the tool found bad input; the caller decides whose fault |
//! | 75, or the timeout | `Trouble` |
//! | stopped by the caller | `Interrupted` |
//! | anything else, or no verdict | `Bug` |

use crate::proc;
use crate::verdict::{Cause, ToolVerdict};
use anyhow::Result;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// What a called tool answered.
#[derive(Debug, Clone)]
pub enum Answer {
    Yes(ToolVerdict),
    No(ToolVerdict),
    /// Exit 2 for bad input the tool found (not its command line).
    Input(ToolVerdict),
    /// Exit 75 or the timeout: worth retrying, nobody's fault.
    Trouble(String),
    /// A ccci bug: exit 70, a signal, a refused command line, no verdict.
    Bug(String),
    Interrupted,
}

impl Answer {
    pub fn is_yes(&self) -> bool {
        matches!(self, Answer::Yes(_))
    }

    /// The verdict of a yes, a no or bad input.
    pub fn verdict(&self) -> Option<&ToolVerdict> {
        match self {
            Answer::Yes(v) | Answer::No(v) | Answer::Input(v) => Some(v),
            _ => None,
        }
    }

    /// For a caller that is itself a tool: a yes or a no, and everything else
    /// as the error it is for that caller too (bad input stays exit 2, trouble
    /// and an interrupt 75, a bug 70), each saying `what` failed.
    pub fn yes_or_no(self, what: &str) -> Result<(bool, ToolVerdict)> {
        match self {
            Answer::Yes(v) => Ok((true, v)),
            Answer::No(v) => Ok((false, v)),
            Answer::Input(v) => Err(crate::exit::usage(format!("{what}: {}", v.summary))),
            Answer::Trouble(why) => Err(crate::exit::tempfail(format!("{what}: {why}"))),
            Answer::Interrupted => Err(crate::exit::tempfail(format!("{what}: interrupted"))),
            Answer::Bug(why) => Err(crate::exit::coded(
                crate::exit::BUG,
                format!("{what}: {why}"),
            )),
        }
    }

    /// The one line that says what happened.
    pub fn summary(&self) -> String {
        match self {
            Answer::Yes(v) | Answer::No(v) | Answer::Input(v) => v.summary.clone(),
            Answer::Trouble(s) | Answer::Bug(s) => s.clone(),
            Answer::Interrupted => "interrupted".into(),
        }
    }
}

/// One call of a tool.
pub struct Call<'a> {
    pub tool: &'a str,
    pub args: Vec<String>,
    /// Passed as `--state-dir` (the callee would otherwise read the config
    /// itself, which is right only when the caller did too).
    pub state_dir: Option<&'a Path>,
    pub env: Vec<(String, String)>,
    /// Variables of ours the tool must not inherit (a request's
    /// `CCCI_RUN_*`, which would make a rerun a pull request's run).
    pub env_remove: Vec<String>,
    /// Where the tool's stderr and its verdict are appended; `None`: its
    /// stderr is ours (a tool called by a tool an operator runs by hand).
    pub log: Option<&'a Path>,
    pub timeout: Option<Duration>,
    pub stop: &'a AtomicBool,
}

impl<'a> Call<'a> {
    pub fn new(
        tool: &'a str,
        args: &[&str],
        log: Option<&'a Path>,
        stop: &'a AtomicBool,
    ) -> Call<'a> {
        Call {
            tool,
            args: args.iter().map(|a| a.to_string()).collect(),
            state_dir: None,
            env: vec![],
            env_remove: vec![],
            log,
            timeout: None,
            stop,
        }
    }
}

/// The answer and how long it took.
#[derive(Debug, Clone)]
pub struct Reply {
    pub answer: Answer,
    pub duration: Duration,
}

/// Call a tool on a run whose lock the caller holds (the callee must not wait
/// for it), with the caller's stderr and no deadline of its own: how a tool an
/// operator runs by hand (a promotion, a backup round trip) asks another.
pub fn call_for_run(tool: &str, args: &[&str], state_dir: &Path, run_id: &str) -> Result<Answer> {
    let never = AtomicBool::new(false);
    let mut c = Call::new(tool, args, None, &never);
    c.state_dir = Some(state_dir);
    c.env = vec![(crate::rundir::LOCK_HELD_ENV.into(), run_id.to_string())];
    Ok(call(c)?.answer)
}

/// The executable of a sibling tool (one rule for every caller).
pub fn find(tool: &str) -> PathBuf {
    crate::cli::sibling(tool)
}

pub fn call(c: Call<'_>) -> Result<Reply> {
    let mut cmd = Command::new(find(c.tool));
    for k in &c.env_remove {
        cmd.env_remove(k);
    }
    cmd.envs(c.env.iter().map(|(k, v)| (k, v)));
    if let Some(d) = c.state_dir {
        cmd.arg("--state-dir").arg(d);
    }
    cmd.arg("--json").args(&c.args);
    let o = match c.log {
        Some(log) => proc::run_capturing(cmd, log, c.timeout, c.stop)?,
        None => inherit_stderr(cmd)?,
    };
    let decoded: Option<ToolVerdict> = serde_json::from_str(o.stdout.trim()).ok();
    if let Some(v) = &decoded
        && let Some(log) = c.log
        && let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log)
    {
        let _ = writeln!(f, "verdict: {}: {}", v.outcome, v.summary);
        // The last log lines a red verdict carries (a crash-looping task's)
        // belong in the step log the operator reads, not only in the ledger.
        if let Some(lines) = v.detail.get("logs").and_then(|l| l.as_array()) {
            for l in lines.iter().filter_map(|l| l.as_str()) {
                let _ = writeln!(f, "  | {l}");
            }
        }
    }
    let answer = answer(c.tool, &o, decoded);
    Ok(Reply {
        answer,
        duration: o.duration,
    })
}

/// Run with our stderr as the tool's, its stdout kept (no deadline: the
/// callee's own flags bound it).
fn inherit_stderr(mut cmd: Command) -> Result<proc::Outcome> {
    let started = std::time::Instant::now();
    let out = cmd
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            crate::exit::tempfail(format!(
                "cannot run {}: {e}",
                cmd.get_program().to_string_lossy()
            ))
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Ok(proc::Outcome {
        code: out.status.code(),
        timed_out: false,
        interrupted: false,
        duration: started.elapsed(),
        last_line: stdout.lines().last().unwrap_or("").to_string(),
        tail: vec![],
        stdout,
    })
}

/// The one table from a tool's exit to an [`Answer`].
fn answer(tool: &str, o: &proc::Outcome, v: Option<ToolVerdict>) -> Answer {
    if o.interrupted {
        return Answer::Interrupted;
    }
    if o.timed_out {
        return Answer::Trouble(format!("{tool} did not finish in time"));
    }
    let said = || {
        v.as_ref()
            .map(|v| v.summary.clone())
            .unwrap_or_else(|| o.last_line.clone())
    };
    match (o.code, v.clone()) {
        (Some(crate::exit::OK), Some(v)) => Answer::Yes(v),
        (Some(crate::exit::NO), Some(v)) => Answer::No(v),
        (Some(crate::exit::USAGE), Some(v)) if v.cause() != Some(Cause::Usage) => Answer::Input(v),
        (Some(crate::exit::USAGE), _) => Answer::Bug(format!(
            "{tool} refused the command line ccci gave it: {}",
            said()
        )),
        (Some(crate::exit::TEMPFAIL), _) => Answer::Trouble(said()),
        (Some(c @ (crate::exit::OK | crate::exit::NO)), None) => Answer::Bug(format!(
            "{tool} exited {c} without a verdict: {}",
            o.last_line
        )),
        (Some(c), _) => Answer::Bug(format!("{tool} exited {c}: {}", said())),
        (None, _) => Answer::Bug(format!("{tool} was killed by a signal: {}", o.last_line)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: Option<i32>) -> proc::Outcome {
        proc::Outcome {
            code,
            timed_out: false,
            interrupted: false,
            duration: Duration::ZERO,
            last_line: "last words".into(),
            tail: vec![],
            stdout: String::new(),
        }
    }

    #[test]
    fn one_table_for_every_exit() {
        let v = ToolVerdict::new("red", "it failed", serde_json::Value::Null);
        assert!(matches!(
            answer("t", &outcome(Some(0)), Some(v.clone())),
            Answer::Yes(_)
        ));
        assert!(matches!(
            answer("t", &outcome(Some(1)), Some(v.clone())),
            Answer::No(_)
        ));
        let input = ToolVerdict::error(2, Cause::Input, "no compose.yml");
        assert!(matches!(
            answer("t", &outcome(Some(2)), Some(input)),
            Answer::Input(_)
        ));
        let usage = ToolVerdict::error(2, Cause::Usage, "unexpected argument");
        let Answer::Bug(why) = answer("t", &outcome(Some(2)), Some(usage)) else {
            panic!("a refused command line is ccci's bug")
        };
        assert!(why.contains("refused the command line"), "{why}");
        assert!(matches!(
            answer("t", &outcome(Some(75)), None),
            Answer::Trouble(_)
        ));
        assert!(matches!(
            answer("t", &outcome(Some(70)), None),
            Answer::Bug(_)
        ));
        assert!(matches!(
            answer("t", &outcome(Some(0)), None),
            Answer::Bug(_)
        ));
        assert!(matches!(answer("t", &outcome(None), None), Answer::Bug(_)));
        let mut o = outcome(Some(0));
        o.interrupted = true;
        assert!(matches!(answer("t", &o, Some(v)), Answer::Interrupted));
    }
}
