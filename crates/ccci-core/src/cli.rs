//! The one `main` every tool shares: parse, run, print one line on error, exit.

use crate::exit;
use std::process::ExitCode;

/// Run a tool. `run` returns the exit code of a normal outcome (0 or 1); an error
/// prints one line `tool: message` on stderr and exits with its mapped code.
/// Clap's own errors keep clap's codes (usage 2, `--help` 0).
pub fn main<A: clap::Parser>(run: fn(A) -> anyhow::Result<i32>) -> ExitCode {
    let args = match A::try_parse() {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let tool = std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "ccci".into());
    crate::log::init(&tool);
    let code = match run(args) {
        Ok(c) => c,
        Err(e) => {
            let code = exit::code_of(&e);
            let msg = crate::redact::global().apply(&one_line(&e));
            crate::log::error(&msg);
            code
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(exit::BUG as u8))
}

/// Join an error chain into one line, dropping the bare code markers.
pub fn one_line(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .filter(|c| c.downcast_ref::<exit::Code>().is_none())
        .map(|c| c.to_string().replace('\n', " "))
        .collect();
    let mut s = parts.join(": ");
    if s.is_empty() {
        s = e.to_string();
    }
    s
}
