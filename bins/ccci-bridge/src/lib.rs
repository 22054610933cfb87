//! ccci-bridge: every `!testme` on a watched recipe pull request becomes
//! exactly one queued run of that pull request's head, and queued runs are
//! started within the host's run budget. The contract is docs/bridge.md.

pub mod accept;
pub mod context;
pub mod daemon;
pub mod dispatch;
pub mod ledger;
pub mod listen;
pub mod poll;
pub mod report;
pub mod secret;
pub mod trigger;
pub mod webhook;

use anyhow::Result;
use ccci_core::queue::{self, QueueState};
use ccci_core::{exit, log};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-bridge",
    version,
    about = "Turn each !testme on a recipe pull request into exactly one queued run, and start queued runs",
    long_about = "Turn each !testme on a recipe pull request into exactly one queued run, and start queued runs.\n\n\
Watches the repositories and organisations of the config's `bridge` section on the Gitea server \
`gitea_url` (polling; signed webhooks on `bridge.listen` make it faster). A comment triggers when a \
line starts with !testme (`!testme quick` for a warm run), its author has write, admin or owner \
permission or is on `bridge.allow`, and the pull request is open. Comments written before a \
repository was first watched never trigger; comments written while the bridge was stopped do. \
The token is read from --token-file, $CCCI_GITEA_TOKEN_FILE, the systemd credential gitea-token \
or $CCCI_GITEA_TOKEN. Exit codes: 0 done, 2 bad configuration or corrupt state (the file is named), or (poll --once) \
a repository that cannot be polled as configured, \
75 Gitea or the host in trouble (poll --once), 70 a bug.",
    after_help = "Examples:\n  \
ccci-bridge poll --once              # one poll cycle by hand\n  \
ccci-bridge poll --once --dispatch   # and start what is queued\n  \
ccci-bridge queue --json"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run until SIGTERM under systemd (Type=notify, watchdog)
    #[command(
        after_help = "Examples:\n  ccci-bridge serve                    # as its systemd unit runs it\n  ccci-bridge serve --token-file /etc/ccci/gitea-token"
    )]
    Serve {
        /// File holding the Gitea token (relative: in $CREDENTIALS_DIRECTORY)
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// One poll cycle, then exit (by hand, and for tests)
    #[command(
        after_help = "Example:\n  ccci-bridge poll --once --dispatch --token-file /etc/ccci/gitea-token"
    )]
    Poll {
        /// Required: say that one cycle is meant (`serve` loops)
        #[arg(long, required = true)]
        once: bool,
        /// Also start queued runs, and wait for the runs started
        #[arg(long)]
        dispatch: bool,
        /// File holding the Gitea token (relative: in $CREDENTIALS_DIRECTORY)
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// The run queue: what is queued, started and finished
    #[command(after_help = "Example:\n  ccci-bridge queue --json")]
    Queue,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    let json = ctx.json;
    let cfg = ctx.cfg;
    cfg.ensure_state_dir()?;
    match cli.cmd {
        Cmd::Queue => show_queue(&cfg, json),
        Cmd::Serve { token_file } => {
            let stop = ccci_core::signals::install()?;
            let b = context::Bridge::new(cfg, token_file.as_deref())?;
            daemon::serve(b, &stop)
        }
        Cmd::Poll {
            once: _,
            dispatch,
            token_file,
        } => {
            let stop = ccci_core::signals::install()?;
            let mut b = context::Bridge::new(cfg, token_file.as_deref())?;
            let repos = poll::configured(&b)?;
            let mut repos_all = repos.clone();
            for org in b.cfg.bridge.orgs.clone() {
                for r in poll::org_repos(&mut b, &org)? {
                    if !repos_all.contains(&r) {
                        repos_all.push(r);
                    }
                }
            }
            let c = poll::cycle(&mut b, &repos_all)?;
            let mut started = vec![];
            let mut finished = vec![];
            if dispatch {
                let mut d = dispatch::Dispatcher::default();
                loop {
                    let st = {
                        let _l = b.lock()?;
                        d.step(&b.cfg)?
                    };
                    started.extend(st.started);
                    finished.extend(st.finished);
                    if d.children() == 0 || stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                d.stop_all(std::time::Duration::from_secs(280), &mut || {});
                let _l = b.lock()?;
                finished.extend(d.step(&b.cfg)?.finished);
            }
            let code = if !c.broken.is_empty() {
                exit::USAGE
            } else if !c.trouble.is_empty() {
                exit::TEMPFAIL
            } else {
                0
            };
            if json {
                let v = json!({
                    "repos": c.repos,
                    "requests": c.requests,
                    "queued": c.queued,
                    "trouble": c.trouble,
                    "broken": c.broken,
                    "started": started,
                    "finished": finished.iter().map(|(r, c)| json!({"run_id": r, "exit_code": c})).collect::<Vec<_>>(),
                });
                println!("{v}");
            } else {
                println!(
                    "polled {} repositories with {} requests; queued {}",
                    c.repos,
                    c.requests,
                    if c.queued.is_empty() {
                        "nothing".into()
                    } else {
                        c.queued.join(" ")
                    }
                );
                for (r, m) in &c.trouble {
                    println!("trouble: {r}: {m}");
                }
                for (r, m) in &c.broken {
                    println!("cannot be polled as configured: {r}: {m}");
                }
                for (r, code) in &finished {
                    println!("run {r} ended with exit {code}");
                }
            }
            if !c.trouble.is_empty() || !c.broken.is_empty() {
                log::warn(&format!(
                    "{} repositories could not be polled",
                    c.trouble.len() + c.broken.len()
                ));
            }
            Ok(code)
        }
    }
}

fn show_queue(cfg: &ccci_core::config::Config, json: bool) -> Result<i32> {
    let entries = queue::load_all(&cfg.state_dir)?;
    if json {
        println!("{}", serde_json::to_string(&entries)?);
        return Ok(0);
    }
    if entries.is_empty() {
        println!("the queue is empty");
        return Ok(0);
    }
    println!(
        "{:<24} {:<9} {:<16} {:<28} {:<12} {:<12} {:<20} exit",
        "run", "state", "recipe", "pull request", "head", "author", "queued"
    );
    for e in &entries {
        let pr = match (&e.gitea_repo, e.pr) {
            (Some(r), Some(n)) => format!("{r}#{n}"),
            _ => "-".into(),
        };
        let code = match (e.state, e.exit_code) {
            (QueueState::Finished, Some(c)) => c.to_string(),
            _ => "-".into(),
        };
        println!(
            "{:<24} {:<9} {:<16} {:<28} {:<12} {:<12} {:<20} {code}",
            e.run_id,
            e.state.as_str(),
            e.recipe,
            pr,
            &e.head_sha[..12.min(e.head_sha.len())],
            e.author.as_deref().unwrap_or("-"),
            e.queued_at
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
