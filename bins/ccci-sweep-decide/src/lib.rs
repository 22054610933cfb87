//! `ccci-sweep-decide`: should the weekly sweep test this recipe?
//!
//! It compares the recipe's newest release tag (from its repository, read with
//! `git ls-remote` and never cloned, or given with `--newest`) with its canonical
//! version (from `canonical/<recipe>/canonical.json`, or given with `--canonical`)
//! and prints one word: `run`, `run:seed`, `skip:no-new-version`, `skip:older` or
//! `skip:never-released`. Exit 0 means run, 1 skip.

pub mod decide;

use anyhow::Result;
use ccci_core::version::{self, Version};
use ccci_core::{canonical, exit};
use clap::{ArgGroup, Parser};
use decide::decide;
use serde_json::json;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-sweep-decide",
    version,
    about = "Decide whether the sweep tests a recipe: its newest release tag against its canonical version",
    long_about = "Decide whether the weekly sweep tests a recipe, from versions only: the recipe's \
newest release tag (<recipe semver>+<upstream>; other tags are ignored) against its canonical \
version. Commits are never looked at, so new untagged commits never trigger a run.\n\n\
Prints one of: run (newer release), run:seed (no canonical yet), skip:no-new-version, \
skip:older (canonical is newer than every tag), skip:never-released (no release tag), and the \
reason on stderr.\n\n\
Exit codes: 0 run, 1 skip, 2 bad input (unparsable version, missing repository, corrupt \
canonical.json), 75 repository unreachable (retry).",
    after_help = "Examples:\n  \
ccci-sweep-decide custom-html --repo /srv/mirrors/custom-html.git\n  \
ccci-sweep-decide --newest 1.14.0+1.31.1 --canonical 1.13.0+1.31.1"
)]
#[command(group(ArgGroup::new("newest_from").required(true).args(["repo", "newest", "no_tags"])))]
#[command(group(ArgGroup::new("canonical_from").args(["canonical", "no_canonical"])))]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    /// Recipe name; its canonical version is read from <state>/canonical/<recipe>/canonical.json
    /// unless --canonical or --no-canonical is given
    recipe: Option<String>,
    /// Read the newest release tag from this repository (path or URL) with `git ls-remote --tags`
    #[arg(long, value_name = "PATH|URL")]
    repo: Option<String>,
    /// The newest release tag, given directly
    #[arg(long, value_name = "TAG")]
    newest: Option<String>,
    /// The recipe has no release tag
    #[arg(long)]
    no_tags: bool,
    /// The canonical version, given directly instead of read from the state dir
    #[arg(long, value_name = "VERSION")]
    canonical: Option<String>,
    /// The recipe has no canonical version yet
    #[arg(long)]
    no_canonical: bool,
    /// Seconds to wait for the repository before giving up (exit 75)
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Parse a version the operator typed; naming the flag it came from.
fn given(flag: &str, s: &str) -> Result<Version> {
    Version::parse(s).map_err(|e| exit::usage(format!("--{flag}: {e}")))
}

pub fn run(cli: Cli) -> Result<i32> {
    if let Some(r) = &cli.recipe {
        canonical::check_recipe_name(r)?;
    }
    // The local answer first: a corrupt canonical file fails before any network.
    let canon = if let Some(c) = &cli.canonical {
        Some(given("canonical", c)?)
    } else if cli.no_canonical {
        None
    } else {
        let Some(recipe) = &cli.recipe else {
            return Err(exit::usage(
                "name the recipe (to read its canonical.json), or give --canonical VERSION or --no-canonical",
            ));
        };
        let state_dir = cli.global.ctx()?.cfg.state_dir;
        if !state_dir.is_dir() {
            // Most likely a wrong --state-dir; treating it as "no canonical yet"
            // would send every recipe to a seeding run.
            return Err(exit::usage(format!(
                "state dir {} does not exist",
                state_dir.display()
            )));
        }
        canonical::read(&state_dir, recipe)?.map(|c| c.version)
    };
    let (newest, seen) = if let Some(n) = &cli.newest {
        (Some(given("newest", n)?), None)
    } else if let Some(repo) = &cli.repo {
        let tags = ccci_core::git::list_tags(repo, Duration::from_secs(cli.timeout))?;
        (version::newest(&tags), Some(tags.len()))
    } else {
        (None, None)
    };
    let (decision, mut reason) = decide(newest.as_ref(), canon.as_ref());
    if newest.is_none()
        && let Some(n) = seen.filter(|&n| n > 0)
    {
        reason.push_str(&format!(
            " ({n} tag{} in the repository, none of them a release tag)",
            if n == 1 { "" } else { "s" }
        ));
    }
    let name = cli.recipe.as_deref();
    if cli.global.json {
        ccci_core::verdict::print(
            decision.as_str(),
            &reason,
            json!({
                "recipe": name,
                "decision": decision.as_str(),
                "newest": newest.as_ref().map(|v| v.to_string()),
                "canonical": canon.as_ref().map(|v| v.to_string()),
                "reason": reason,
            }),
        );
    } else {
        println!("{}", decision.as_str());
    }
    ccci_core::log::info(&match name {
        Some(r) => format!("{r}: {}: {reason}", decision.as_str()),
        None => format!("{}: {reason}", decision.as_str()),
    });
    Ok(decision.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
