//! Logging to stderr that journald understands.
//!
//! Under journald (`JOURNAL_STREAM` names our stderr) each line gets a `<N>` syslog
//! priority prefix and no tool name or timestamp, since journald adds both. In a
//! terminal lines read `tool: message`.

use std::io::Write;
use std::sync::OnceLock;

struct Style {
    started: std::time::Instant,
    tool: String,
    journal: bool,
    verbose: bool,
}

static STYLE: OnceLock<Style> = OnceLock::new();

pub fn init(tool: &str) {
    let _ = STYLE.set(Style {
        started: std::time::Instant::now(),
        tool: tool.to_string(),
        journal: connected_to_journal(),
        verbose: std::env::var_os("CCCI_VERBOSE").is_some_and(|v| v != "0"),
    });
}

/// The running tool's name (`ccci-deploy`), for the verdicts it prints.
pub fn tool_name() -> String {
    STYLE
        .get()
        .map(|s| s.tool.clone())
        .unwrap_or_else(|| "ccci".into())
}

/// True when stderr is the journal stream systemd gave us, not merely inherited env.
fn connected_to_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(js) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = js.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(meta.dev()) && ino.parse::<u64>().ok() == Some(meta.ino())
}

fn emit(prio: u8, msg: &str) {
    let style = STYLE.get();
    let msg = crate::redact::global().apply(msg);
    let mut err = std::io::stderr().lock();
    for line in msg.lines() {
        let _ = match style {
            Some(s) if s.journal => writeln!(err, "<{prio}>{line}"),
            Some(s) => writeln!(err, "{}: {line}", s.tool),
            None => writeln!(err, "{line}"),
        };
    }
}

pub fn error(msg: &str) {
    emit(3, msg)
}
pub fn warn(msg: &str) {
    emit(4, &format!("warning: {msg}"))
}
pub fn info(msg: &str) {
    emit(6, msg)
}
/// Shown only with `CCCI_VERBOSE=1`, stamped with milliseconds since start.
pub fn debug(msg: &str) {
    if let Some(s) = STYLE.get().filter(|s| s.verbose) {
        emit(7, &format!("+{}ms {msg}", s.started.elapsed().as_millis()))
    }
}
