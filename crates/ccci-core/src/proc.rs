//! Running one child (a ccci tool, a hook, a test): output to its own log
//! through the redaction filter, a timeout, and prompt cancellation. The one
//! way ccci runs a process it waits for; `tool` builds on it.
//!
//! Each child gets its own process group, so a timeout or an interrupt kills
//! everything it started (a test's `docker exec`, a shell pipeline), and a
//! terminal's Ctrl-C reaches only the runner, which then stops the child itself
//! and tears down.

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a child gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Outcome {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub interrupted: bool,
    pub duration: Duration,
    /// The last non-empty line it printed (masked).
    pub last_line: String,
    /// Its last non-empty lines (masked), oldest first.
    pub tail: Vec<String>,
    /// Its stdout, when it was captured apart from the log (see [`run_capturing`]).
    pub stdout: String,
}

/// How many trailing lines an outcome keeps.
const TAIL: usize = 60;

impl Outcome {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The verdict line a ccci tool printed (`ok: ...`, `red: ...`, `clean: ...`),
    /// else its last line (a tool's one-line error comes last).
    pub fn verdict(&self) -> String {
        self.tail
            .iter()
            .rev()
            .find(|l| {
                ["ok: ", "red: ", "clean: "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .unwrap_or(&self.last_line)
            .clone()
    }
}

/// Run `cmd` with stdout and stderr, interleaved as written, appended to `log`.
/// Stops it on `timeout` or when `stop` is set.
pub fn run(
    cmd: Command,
    log: &Path,
    timeout: Option<Duration>,
    stop: &AtomicBool,
) -> Result<Outcome> {
    run_with(cmd, log, timeout, stop, false)
}

/// As [`run`], but stdout is kept apart (in `Outcome::stdout`, unmasked, for
/// the caller to decode) and only stderr goes to the log as it comes.
pub fn run_capturing(
    cmd: Command,
    log: &Path,
    timeout: Option<Duration>,
    stop: &AtomicBool,
) -> Result<Outcome> {
    run_with(cmd, log, timeout, stop, true)
}

fn run_with(
    mut cmd: Command,
    log: &Path,
    timeout: Option<Duration>,
    stop: &AtomicBool,
    capture: bool,
) -> Result<Outcome> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open log {}", log.display()))?;
    writeln!(file, "$ {}", describe(&cmd))?;
    let (reader, writer) = std::io::pipe()?;
    let out_reader = if capture {
        let (r, w) = std::io::pipe()?;
        cmd.stdout(w);
        Some(r)
    } else {
        cmd.stdout(writer.try_clone()?);
        None
    };
    cmd.stdin(Stdio::null()).stderr(writer).process_group(0);
    let started = Instant::now();
    let spawned = cmd.spawn();
    // The parent's copies of the write end must go, or the reader never ends.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            writeln!(file, "cannot run: {e}")?;
            return Ok(Outcome {
                code: None,
                timed_out: false,
                interrupted: false,
                duration: started.elapsed(),
                last_line: format!("cannot run: {e}"),
                tail: vec![format!("cannot run: {e}")],
                stdout: String::new(),
            });
        }
    };
    let captured = out_reader.map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut r, &mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    });
    let last = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let copier = {
        let last = last.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).split(b'\n') {
                let Ok(line) = line else { break };
                let text = crate::redact::global().apply(&String::from_utf8_lossy(&line));
                let _ = writeln!(file, "{text}");
                if !text.trim().is_empty()
                    && let Ok(mut l) = last.lock()
                {
                    if l.len() == TAIL {
                        l.remove(0);
                    }
                    l.push(text.trim().to_string());
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let pgid = Pid::from_raw(child.id() as i32);
    let mut timed_out = false;
    let mut interrupted = false;
    let mut term_sent: Option<Instant> = None;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if term_sent.is_none() {
            if timeout.is_some_and(|t| started.elapsed() >= t) {
                timed_out = true;
            } else if stop.load(Ordering::SeqCst) {
                interrupted = true;
            }
            if timed_out || interrupted {
                let _ = killpg(pgid, Signal::SIGTERM);
                term_sent = Some(Instant::now());
            }
        } else if term_sent.is_some_and(|t| t.elapsed() >= KILL_GRACE) {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let duration = started.elapsed();
    // Whatever the child left running in its group goes with it.
    let _ = killpg(pgid, Signal::SIGKILL);
    // A grandchild that escaped the group may hold the pipe open; don't wait on it.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !done.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if done.load(Ordering::SeqCst) {
        let _ = copier.join();
    }
    let tail = last.lock().map(|l| l.clone()).unwrap_or_default();
    // The group is dead; a pipe an escaped grandchild holds is not waited on.
    let stdout = match captured {
        Some(h) => {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                h.join().unwrap_or_default()
            } else {
                String::new()
            }
        }
        None => String::new(),
    };
    Ok(Outcome {
        code: status.code(),
        timed_out,
        interrupted,
        duration,
        last_line: tail.last().cloned().unwrap_or_default(),
        tail,
        stdout,
    })
}

/// The command line as the log shows it.
fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}
