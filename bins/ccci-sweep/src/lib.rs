//! `ccci-sweep`: the weekly sweep. For every enrolled recipe (or the ones
//! named): sync its mirror from upstream when `recipe.json` names one, decide
//! from versions alone (`ccci-sweep-decide`), run the newest release tag cold
//! (`ccci-run --keep-volumes`) and promote it when green (`ccci-promote`).
//! One recipe's failure never stops the others.
//!
//! Every tool is called through `ccci_core::tool` (typed verdicts, one exit
//! table); the state dir is the configuration's, the same the tools use.

use anyhow::Result;
use ccci_core::results::Results;
use ccci_core::rundir::RunDir;
use ccci_core::settings::{self, Settings};
use ccci_core::sweep::{self, Row, Summary};
use ccci_core::tool::{self, Answer};
use ccci_core::{exit, ids, known_red, log, state};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-sweep",
    version,
    about = "The weekly sweep: sync, decide, run the newest release cold, promote",
    long_about = "For every enrolled recipe (or the ones named): sync its mirror from upstream when \
recipe.json names one, decide from versions alone (ccci-sweep-decide), run the newest release tag \
cold (ccci-run --keep-volumes) and promote it when green (ccci-promote). One recipe's failure \
never stops the others. Prints a table (or the summary with --json) and writes \
<state>/sweeps/<time>-<pid>.json; each recipe's tool output is in <state>/sweeps/<time>-<pid>/.\n\n\
Exit codes: 0 every recipe was handled (red runs and refused promotions are results), 1 some \
recipe could not be handled (a failed sync, bad settings, Docker trouble), 2 bad usage, 75 \
another sweep is running.",
    after_help = "Example:\n  ccci-sweep                  # every enrolled recipe\n  ccci-sweep custom-html      # one recipe, by hand"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    /// Recipes dir (default: $CCCI_RECIPES_DIR or the configured one)
    #[arg(long, value_name = "DIR")]
    recipes_dir: Option<PathBuf>,
    /// Only these recipes (each must be enrolled)
    recipes: Vec<String>,
    /// Test this recipe's newest release even when it is known red
    /// (repeatable)
    #[arg(long, value_name = "RECIPE")]
    force: Vec<String>,
    /// Recipes to run side by side (default and most: the configured
    /// max_parallel_runs, the host's run slots)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    lanes: Option<u32>,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    let state_dir = ctx.cfg.ensure_state_dir()?.to_path_buf();
    let recipes_dir = settings::recipes_dir(cli.recipes_dir.as_deref(), &ctx.cfg)?;
    let enrolled: Vec<(String, Settings)> = settings::all(&recipes_dir)?
        .into_iter()
        .filter(|(_, s)| s.enrolled)
        .collect();
    for r in cli.recipes.iter().chain(&cli.force) {
        if !enrolled.iter().any(|(n, _)| n == r) {
            return Err(exit::usage(format!("{r} is not an enrolled recipe")));
        }
    }
    // Two sweeps at once would run the same releases twice and race their
    // promotions: the second one says so and leaves (75, worth retrying).
    let lock_path = state_dir.join("sweep.lock");
    let Some(_lock) = state::Lock::try_acquire(&lock_path)? else {
        return Err(exit::tempfail(format!(
            "another sweep is running (it holds {})",
            lock_path.display()
        )));
    };
    let stop = ccci_core::signals::install()?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = format!("{}-{}", ids::utc_compact(secs), std::process::id());
    let logs = sweep::dir(&state_dir).join(&stamp);
    std::fs::create_dir_all(&logs)?;
    let sweeper = Sweeper {
        state_dir: &state_dir,
        recipes_dir: &recipes_dir,
        logs: &logs,
        stamp: &stamp,
        stop: &stop,
        force: &cli.force,
        build: ccci_build(),
    };
    if !ctx.json {
        println!(
            "{:<20} {:<22} {:<12} {:<6} {:<9} NOTE",
            "RECIPE", "DECISION", "RESULT", "LEVEL", "SECONDS"
        );
    }
    // Lanes: recipes run side by side up to the host's run slots (each run
    // takes one; a lane beyond them would only wait). One recipe is never run
    // twice at once: each is one item of the queue.
    let todo: Vec<(usize, &(String, Settings))> = enrolled
        .iter()
        .filter(|(name, _)| cli.recipes.is_empty() || cli.recipes.contains(name))
        .enumerate()
        .collect();
    let lanes = cli
        .lanes
        .unwrap_or(ctx.cfg.max_parallel_runs)
        .clamp(1, ctx.cfg.max_parallel_runs.max(1)) as usize;
    let queue = std::sync::Mutex::new(todo.into_iter());
    let done: std::sync::Mutex<Vec<(usize, Row)>> = std::sync::Mutex::new(vec![]);
    let failed: std::sync::Mutex<Option<anyhow::Error>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..lanes {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some((i, (name, s))) = queue.lock().expect("queue").next() else {
                        break;
                    };
                    match sweeper.recipe(name, s) {
                        Ok(row) => {
                            if !ctx.json {
                                println!(
                                    "{:<20} {:<22} {:<12} {:<6} {:<9} {}",
                                    row.recipe,
                                    row.decision,
                                    row.result,
                                    row.level,
                                    row.seconds,
                                    row.note
                                );
                            }
                            done.lock().expect("rows").push((i, row));
                        }
                        Err(e) => {
                            failed.lock().expect("error").get_or_insert(e);
                            stop_lanes(&queue);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().expect("error") {
        return Err(e);
    }
    let mut done = done.into_inner().expect("rows");
    done.sort_by_key(|(i, _)| *i);
    let rows: Vec<Row> = done.into_iter().map(|(_, r)| r).collect();
    let summary = Summary {
        schema: sweep::SCHEMA,
        started: stamp.clone(),
        finished: ids::now_rfc3339(),
        recipes: rows,
    };
    let path = sweep::dir(&state_dir).join(format!("{stamp}.json"));
    state::write_json(&path, &summary)?;
    let unhandled = summary.recipes.iter().filter(|r| !r.handled).count();
    let interrupted = stop.load(Ordering::SeqCst);
    let said = format!(
        "{} recipes swept, {unhandled} not handled{}; summary {}",
        summary.recipes.len(),
        if interrupted { ", interrupted" } else { "" },
        path.display()
    );
    if ctx.json {
        ccci_core::verdict::print(
            if unhandled == 0 && !interrupted {
                "ok"
            } else {
                "red"
            },
            &said,
            serde_json::to_value(&summary)?,
        );
    } else {
        println!("summary: {}", path.display());
    }
    log::info(&said);
    Ok(if interrupted {
        exit::TEMPFAIL
    } else if unhandled == 0 {
        exit::OK
    } else {
        exit::NO
    })
}

/// An error in one lane stops the others from taking more recipes.
fn stop_lanes<I: Iterator>(queue: &std::sync::Mutex<I>) {
    let mut q = queue.lock().expect("queue");
    for _ in q.by_ref() {}
}

struct Sweeper<'a> {
    state_dir: &'a Path,
    recipes_dir: &'a Path,
    logs: &'a Path,
    stamp: &'a str,
    stop: &'a AtomicBool,
    /// Recipes to test even when known red.
    force: &'a [String],
    /// `ccci_build()`, once per sweep.
    build: String,
}

/// ccci's build, as the sweep's memory of known reds records it: the crate
/// version and a hash of the runner next to us, so any new build of ccci
/// (a fix included) tests known reds again.
fn ccci_build() -> String {
    let runner = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("ccci-run")))
        .and_then(|p| std::fs::read(p).ok())
        .map(|b| format!("{:016x}", ccci_core::classify::fnv(&b)))
        .unwrap_or_else(|| "unknown".into());
    format!("{}+{runner}", env!("CARGO_PKG_VERSION"))
}

/// A recipe that could not be handled: the row says why.
fn unhandled(mut row: Row, note: String) -> Row {
    row.note = note;
    row.handled = false;
    row
}

impl Sweeper<'_> {
    fn call(&self, recipe: &str, tool_name: &str, args: &[&str]) -> Result<Answer> {
        let log = self.logs.join(format!("{recipe}.log"));
        let mut c = tool::Call::new(tool_name, args, Some(&log), self.stop);
        c.state_dir = Some(self.state_dir);
        c.env = vec![(
            "CCCI_RECIPES_DIR".into(),
            self.recipes_dir.display().to_string(),
        )];
        Ok(tool::call(c)?.answer)
    }

    fn recipe(&self, name: &str, s: &Settings) -> Result<Row> {
        let started = Instant::now();
        let mut row = self.decide_run_promote(name, s)?;
        row.seconds = started.elapsed().as_secs();
        // A lane that waited for the host's budget says so: its seconds are
        // not all the recipe's.
        if !row.run_id.is_empty() {
            let run = RunDir::runs_root(self.state_dir).join(&row.run_id);
            let waited = state::read_json_opt::<Results>(&run.join(ccci_core::results::FILE))
                .ok()
                .flatten()
                .and_then(|r| r.budget)
                .map(|b| b.waited_s)
                .unwrap_or(0.0);
            if waited >= 1.0 {
                row.note = format!(
                    "{}{}waited {:.0} s for the host's budget",
                    row.note,
                    if row.note.is_empty() { "" } else { "; " },
                    waited
                );
            }
        }
        Ok(row)
    }

    fn decide_run_promote(&self, name: &str, s: &Settings) -> Result<Row> {
        let mut row = Row {
            recipe: name.to_string(),
            decision: "-".into(),
            result: "-".into(),
            level: "-".into(),
            run_id: String::new(),
            seconds: 0,
            note: String::new(),
            handled: true,
        };
        let Some(repo) = &s.repo else {
            row.decision = "error".into();
            return Ok(unhandled(row, "recipe.json names no repo".into()));
        };
        // Never test a mirror that failed to sync: it may be stale or half-moved.
        if let Some(upstream) = &s.upstream {
            // Pull requests live on Gitea: without the mirror's Gitea repository
            // only git is synced.
            let mut args = vec!["--upstream", upstream, "--mirror", repo];
            match &s.gitea_repo {
                Some(g) => args.extend(["--repo", g]),
                None => args.push("--no-pulls"),
            }
            let synced = self.call(name, "ccci-mirror-sync", &args)?;
            if !synced.is_yes() {
                row.decision = "error".into();
                return Ok(unhandled(
                    row,
                    format!("mirror sync failed: {}", synced.summary()),
                ));
            }
        }
        let newest = match self.call(name, "ccci-sweep-decide", &[name, "--repo", repo])? {
            Answer::Yes(v) => {
                row.decision = v.outcome.clone();
                v.detail
                    .get("newest")
                    .and_then(|n| n.as_str())
                    .unwrap_or_default()
                    .to_string()
            }
            Answer::No(v) => {
                row.decision = v.outcome.clone();
                row.note = v.summary;
                return Ok(row);
            }
            other => {
                row.decision = "error".into();
                return Ok(unhandled(row, other.summary()));
            }
        };
        // A release known red for the recipe's reasons is not tested again
        // until something that could change the answer changes.
        let suite = known_red::suite_hash(self.recipes_dir, name)?;
        if let Some(k) = known_red::read(self.state_dir, name)? {
            match known_red::stale(&k, &newest, &suite, &self.build) {
                None if !self.force.iter().any(|f| f == name) => {
                    row.decision = "skip:known-red".into();
                    row.run_id = k.run_id.clone();
                    row.note = format!(
                        "{newest} was red in run {} ({}); `ccci-sweep --force {name}` tests it again",
                        k.run_id,
                        k.reds.join(", ")
                    );
                    return Ok(row);
                }
                None => log::info(&format!("{name}: known red, tested again (--force)")),
                Some(why) => log::info(&format!(
                    "{name}: was red in run {}, tested again: {why}",
                    k.run_id
                )),
            }
        }
        let run_id = format!("sweep-{}-{name}", self.stamp);
        row.run_id = run_id.clone();
        let ran = self.call(
            name,
            "ccci-run",
            &[
                "--recipe",
                name,
                "--repo",
                repo,
                "--ref",
                &newest,
                "--trigger",
                "sweep",
                "--keep-volumes",
                "--run-id",
                &run_id,
                // A red release is run again alone: a flake is retried next
                // week, a defect is remembered.
                "--rerun-alone",
                &s.rerun_alone.max(1).to_string(),
            ],
        )?;
        let run = RunDir {
            id: run_id.clone(),
            path: RunDir::runs_root(self.state_dir).join(&run_id),
        };
        if let Some(r) = state::read_json_opt::<Results>(&run.file(ccci_core::results::FILE))? {
            row.result = r.verdict.to_string();
            row.level = format!("L{}", r.level);
            if let Some(c) = r.tiers.iter().find_map(|t| t.red.as_ref().map(|x| x.class)) {
                row.result = format!("{}:{c}", r.verdict);
            }
            known_red::record(self.state_dir, &r, &newest, &suite, &self.build)?;
        }
        match ran {
            Answer::Yes(_) => {}
            Answer::No(_) => {
                return Ok(Row {
                    note: format!("{newest} is red: see {}", run.path.display()),
                    ..row
                });
            }
            other => {
                row.result = "error".into();
                return Ok(unhandled(row, format!("ccci-run: {}", other.summary())));
            }
        }
        match self.call(name, "ccci-promote", &[&run_id])? {
            Answer::Yes(v) | Answer::No(v) => row.note = v.summary,
            other => return Ok(unhandled(row, format!("ccci-promote: {}", other.summary()))),
        }
        Ok(row)
    }
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
