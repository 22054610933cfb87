//! `ccci-report`: what ccci tells people about its runs: on the pull request
//! (`start`, `finish`, `resend`, `deliver`; docs/report.md), and on the web.
//! `pages` writes the
//! static web view under `<state>/www/` (run pages, recipe histories, the
//! index with the queue, badges); any web server can serve that folder as it is.

pub mod pr;
pub mod web;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "ccci-report",
    version,
    about = "Report ccci's runs: a comment and a commit status on the pull request, and static web pages",
    long_about = "Report ccci's runs where people look.\n\n\
`start` and `finish` comment on the run's pull request (one comment, edited into the verdict) and \
set the commit status `ccci/lifecycle` (pending, then success, failure or error), with the run's \
page as its link; a delivery Gitea refused stays pending for `deliver` or `resend` (exit 75). \
`pages` writes static HTML under <state>/www/: a page \
per run (request, plan, tiers and tests, level, teardown, masked logs), a page per recipe (its \
history drawn for every run, its canonical release), the index (every recipe's last level, the \
queue) and a badge per recipe. Links are relative, so the folder can be served under any prefix.\n\n\
Exit codes: 0 done (pages written, report sent, or nothing to report), 75 a report still pending (Gitea in trouble), 2 bad usage or an input that could not be read (the pages that \
could be written are written, and say what was unreadable), 70 a bug.",
    after_help = "Example:\n  ccci-report pages                 # everything\n  ccci-report pages --run 20261122T230000Z-ab12cd"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    #[command(subcommand)]
    command: Command,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the web pages: one run's page, its recipe's page and badge and the
    /// index (--run), or everything
    #[command(
        after_help = "Examples:\n  ccci-report pages                 # everything\n  ccci-report pages --run 20261130T020000Z-ab12cd"
    )]
    Pages(web::PagesArgs),
    /// A run has started: a comment on its pull request, a pending commit
    /// status, and its pages
    #[command(
        after_help = "Example:\n  ccci-report start 20261130T020000Z-ab12cd --token-file /etc/ccci/gitea-token"
    )]
    Start(pr::RunArgs),
    /// A run has ended: its comment edited into the verdict, the final status
    #[command(after_help = "Example:\n  ccci-report finish 20261130T020000Z-ab12cd")]
    Finish(pr::RunArgs),
    /// Send the run's newest report again (by hand)
    #[command(after_help = "Example:\n  ccci-report resend 20261130T020000Z-ab12cd")]
    Resend(pr::RunArgs),
    /// Send every report still pending (Gitea was down)
    #[command(after_help = "Example:\n  ccci-report deliver")]
    Deliver(pr::DeliverArgs),
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    match cli.command {
        Command::Pages(args) => web::pages_command(&ctx, &args),
        Command::Start(a) => pr::command(&ctx.cfg, &a, Some(pr::deliver::Phase::Start), ctx.json),
        Command::Finish(a) => pr::command(&ctx.cfg, &a, Some(pr::deliver::Phase::Finish), ctx.json),
        Command::Resend(a) => pr::command(&ctx.cfg, &a, None, ctx.json),
        Command::Deliver(a) => pr::deliver_pending(&ctx.cfg, &a, ctx.json),
    }
}
