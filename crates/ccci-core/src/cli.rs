//! The one `main` every tool shares: parse, run, print one line on error, exit.

use crate::exit;
use std::process::ExitCode;

/// Run a tool. `run` returns the exit code of a normal outcome (0 or 1); an error
/// prints one line `tool: message` on stderr and exits with its mapped code.
/// Clap's own errors keep clap's codes (usage 2, `--help` 0).
pub fn main<A: clap::Parser>(run: fn(A) -> anyhow::Result<i32>) -> ExitCode {
    let tool = std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "ccci".into());
    crate::log::init(&tool);
    // A caller that asked for JSON gets its answer in the verdict shape even
    // when the tool fails, with the cause; clap's help and version stay text.
    let json = std::env::args().skip(1).any(|a| a == "--json");
    let args = match A::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if json && !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let first = e.to_string();
                let first = first
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                crate::verdict::ToolVerdict::error(
                    exit::USAGE,
                    crate::verdict::Cause::Usage,
                    first,
                )
                .print();
            }
            e.exit()
        }
    };
    // A panic is a bug in ccci (70), said in one line; a reader that closed our
    // stdout (`... | head -1`) wanted no more, which is no error at all. Rust
    // ignores SIGPIPE, so the closed pipe surfaces as a panic in `println!`.
    std::panic::set_hook(Box::new(|info| {
        let msg = panic_message(info.payload());
        if is_broken_pipe(&msg) {
            return;
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        crate::log::error(&format!("bug: panic: {msg}{at}"));
    }));
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(args))) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            let code = exit::code_of(&e);
            let msg = crate::redact::global().apply(&one_line(&e));
            crate::log::error(&msg);
            if json {
                use crate::verdict::Cause;
                let cause = match code {
                    exit::USAGE => Cause::Input,
                    exit::TEMPFAIL => Cause::Trouble,
                    _ => Cause::Bug,
                };
                crate::verdict::ToolVerdict::error(code, cause, &msg).print();
            }
            code
        }
        Err(payload) if is_broken_pipe(&panic_message(payload.as_ref())) => exit::OK,
        Err(payload) => {
            if json {
                let msg = format!("panic: {}", panic_message(payload.as_ref()));
                crate::verdict::ToolVerdict::error(exit::BUG, crate::verdict::Cause::Bug, &msg)
                    .print();
            }
            exit::BUG
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(exit::BUG as u8))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// How std words a write to a closed stdout or stderr pipe.
fn is_broken_pipe(msg: &str) -> bool {
    msg.contains("Broken pipe") || msg.contains("os error 32")
}

/// Another ccci tool: the one installed next to this executable, else on `PATH`.
/// `CCCI_<NAME>` (e.g. `CCCI_DEPLOY` for `ccci-deploy`) overrides it.
pub fn sibling(tool: &str) -> std::path::PathBuf {
    let var = format!(
        "CCCI_{}",
        tool.trim_start_matches("ccci-")
            .replace('-', "_")
            .to_uppercase()
    );
    if let Some(p) = std::env::var_os(var) {
        return p.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(tool)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| tool.into())
}

// `one_line` lives in `exit` (so `exit` and `docker` need nothing from here);
// it stays reachable as `ccci_core::cli::one_line`.
pub use crate::exit::one_line;

/// Flags every tool takes, flattened into its clap parser.
#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// State directory (default: config file, $CCCI_STATE_DIR, $STATE_DIRECTORY, /var/lib/ccci)
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
}

/// What a tool's commands work with: the configuration, the engine, the output mode.
pub struct Ctx {
    pub cfg: crate::config::Config,
    pub docker: crate::docker::Docker,
    pub json: bool,
}

impl Global {
    /// Load the configuration (with `--state-dir` on top) and set up Docker access.
    pub fn ctx(&self) -> anyhow::Result<Ctx> {
        let mut cfg = crate::config::Config::load()?;
        if let Some(d) = &self.state_dir {
            cfg.state_dir = d.clone();
            cfg.validate()?;
        }
        Ok(Ctx {
            docker: crate::docker::Docker::new(&cfg.docker_context),
            cfg,
            json: self.json,
        })
    }
}
