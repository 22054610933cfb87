//! ccci-config: the configuration as the tools read it, and whether this host
//! can run ccci at all.
//!
//! `check FILE` reads a config file exactly as every tool does (unknown keys,
//! wrong types, relative paths, bad domains are exit 2 naming the key), so the
//! NixOS module can refuse a bad configuration at build time. `show` prints
//! the configuration in effect (file and environment). `preflight` checks the
//! host before a unit deploys anything, one line per problem with what to run.

pub mod preflight;

use anyhow::Result;
use ccci_core::config::Config;
use ccci_core::exit;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-config",
    version,
    about = "Check a ccci config file, show the configuration in effect, and check the host (preflight)",
    long_about = "Check a ccci config file, show the configuration in effect, and check the host (preflight).\n\n\
`check FILE` reads FILE as every ccci tool reads its config file: unknown keys, wrong types, \
relative paths and bad domains are exit 2 with one line naming the key. `show` prints the \
configuration in effect ($CCCI_CONFIG or /etc/ccci/config.json, then the environment). \
`preflight` checks that Docker answers, the engine is an active swarm manager, live-restore is \
off, and the probe image is on the host; each problem is one line saying what to run. \
`budget` prints the host's budget for runs side by side (budget_memory_mb, budget_disk_mb) and \
what holds it now: runs going, runs kept up or stopped before their teardown, shared apps. \
Exit codes: 0 fine, 2 a bad config or a host that cannot run ccci, 75 Docker does not answer.",
    after_help = "Examples:\n  ccci-config check /etc/ccci/config.json\n  ccci-config show --json\n  ccci-config preflight\n  ccci-config budget"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Check a config file as the tools read it
    #[command(after_help = "Example:\n  ccci-config check /etc/ccci/config.json")]
    Check {
        /// The config file
        file: PathBuf,
    },
    /// Print the configuration in effect (file, then environment)
    #[command(after_help = "Example:\n  CCCI_CONFIG=/etc/ccci/config.json ccci-config show --json")]
    Show,
    /// Check this host can run ccci: Docker, swarm, live-restore, probe image
    #[command(after_help = "Example:\n  ccci-config preflight")]
    Preflight,
    /// The host's budget for runs side by side, and what holds it now
    #[command(after_help = "Example:\n  ccci-config budget")]
    Budget,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn run(cli: Cli) -> Result<i32> {
    let json = cli.global.json;
    match cli.cmd {
        Cmd::Check { file } => {
            let cfg = Config::from_file(&file)?;
            cfg.validate()
                .map_err(|e| exit::usage(format!("{}: {}", file.display(), exit::one_line(&e))))?;
            let summary = format!("{}: a valid ccci config", file.display());
            if json {
                ccci_core::verdict::print("ok", &summary, serde_json::json!({}));
            } else {
                println!("{summary}");
            }
            Ok(0)
        }
        Cmd::Show => {
            let mut cfg = Config::load()?;
            if let Some(d) = &cli.global.state_dir {
                cfg.state_dir = d.clone();
                cfg.validate()?;
            }
            let v = serde_json::to_value(&cfg)?;
            if json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
            Ok(0)
        }
        Cmd::Preflight => {
            let ctx = cli.global.ctx()?;
            preflight::run(&ctx, json)
        }
        Cmd::Budget => budget(&cli.global.ctx()?, json),
    }
}

/// `ccci-config budget`: what runs may take together, and who holds what.
fn budget(ctx: &ccci_core::cli::Ctx, json: bool) -> Result<i32> {
    use ccci_core::budget::claims;
    let sd = ctx.cfg.ensure_state_dir()?;
    let host = claims::Host::of(&ctx.cfg, &ctx.docker)?;
    let holders = claims::look(sd, &ctx.cfg.recipes_dir, &host)?;
    let held: ccci_core::budget::Figures = holders.iter().map(|h| h.figures).sum();
    let runs: u64 = holders
        .iter()
        .filter(|h| !h.standing)
        .map(|h| h.figures.disk_mb)
        .sum();
    let summary = format!(
        "memory: {} of {} MiB held ({}); disk: {}{}",
        held.memory_mb,
        host.memory_mb,
        host.memory_from,
        match host.disk_cap_mb {
            Some(cap) => format!("{} of {cap} MiB held (budget_disk_mb)", held.disk_mb),
            None => "no cap (budget_disk_mb)".into(),
        },
        match host.disk_free_mb {
            Some(free) => format!(
                "; {runs} MiB claimed by runs going, {free} MiB free above min_free_disk_mb"
            ),
            None => "; free disk not weighed (min_free_disk_mb is 0, the engine is not local, \
                     or df cannot see its data root)"
                .into(),
        }
    );
    if json {
        let list: Vec<serde_json::Value> = holders
            .iter()
            .map(|h| {
                serde_json::json!({"what": h.what, "memory_mb": h.figures.memory_mb,
                    "disk_mb": h.figures.disk_mb, "standing": h.standing})
            })
            .collect();
        ccci_core::verdict::print(
            "ok",
            &summary,
            serde_json::json!({"memory_mb": host.memory_mb, "disk_cap_mb": host.disk_cap_mb,
                "disk_free_mb": host.disk_free_mb, "holders": list}),
        );
    } else {
        println!("{summary}");
        println!("{:>10} {:>10}  HOLDER", "MEMORY MiB", "DISK MiB");
        for h in &holders {
            println!(
                "{:>10} {:>10}  {}",
                h.figures.memory_mb, h.figures.disk_mb, h.what
            );
        }
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
