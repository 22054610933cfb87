//! `ccci-discover`: list enrolled recipes, and build one run's test plan.

pub mod release;
pub mod scan;

use anyhow::{Context, Result};
use ccci_core::plan::{Plan, TIERS, TierPlan};
use ccci_core::settings::{self, GENERIC, Settings};
use ccci_core::{exit, git, log, state};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Where a recipe's pull request carries its own tests, per tier.
pub const PR_TESTS_DIR: &str = ".ccci";
/// Folders of the old layout that still run as custom tests, loudly.
const DEPRECATED: [&str; 2] = ["functional", "playwright"];

#[derive(Parser, Debug)]
#[command(
    name = "ccci-discover",
    version,
    about = "List enrolled recipes and build a run's test plan",
    long_about = "List enrolled recipes and build a run's test plan.\n\n\
Tests come from <recipes>/_generic/<tier>/ (every recipe), <recipes>/<recipe>/<tier>/ (overlays, \
run in addition), <recipes>/<recipe>/custom/ (functional tests) and, for approved recipes only, the \
recipe repository's own .ccci/<tier>/. Exit codes: 0 ok, 2 bad input, 75 repository unreachable.",
    after_help = "Examples:\n  \
ccci-discover list --long\n  \
ccci-discover plan --recipe demo --repo /srv/mirrors/demo.git --ref 0.2.0+1.1 --json"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    /// Recipes directory (default: config `recipes_dir` or $CCCI_RECIPES_DIR)
    #[arg(long, global = true, value_name = "DIR")]
    recipes_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List enrolled recipes (with --all, every recipe that has a folder)
    #[command(after_help = "Example:\n  ccci-discover list --all")]
    List {
        /// Every recipe that has a folder, enrolled or not, with its enrolled and
        /// approved flags
        #[arg(long)]
        all: bool,
        /// One line per recipe: name, repo, upstream and Gitea repo, tab-separated
        /// ("-" when unset)
        #[arg(long)]
        long: bool,
    },
    /// Build the test plan for one recipe at one ref
    #[command(
        after_help = "Example:\n  ccci-discover plan --recipe demo --repo /srv/mirrors/demo.git --ref 0.2.0+1.1 --out /tmp/plan"
    )]
    Plan(PlanArgs),
}

#[derive(Args, Debug)]
struct PlanArgs {
    /// Recipe name (its settings are <recipes>/<recipe>/recipe.json)
    #[arg(long)]
    recipe: String,
    /// Recipe repository: a local path or a git URL
    #[arg(long)]
    repo: String,
    /// The ref under test (release tag, branch, SHA)
    #[arg(long = "ref")]
    r#ref: String,
    /// Write plan.json (and the PR's own tests, if approved) into this directory
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    let recipes = settings::recipes_dir(cli.recipes_dir.as_deref(), &ctx.cfg)?;
    match cli.cmd {
        Cmd::List { all, long } => list(&recipes, all, long, ctx.json),
        Cmd::Plan(a) => {
            let plan = plan(&recipes, &a)?;
            print_plan(&plan, ctx.json)?;
            Ok(exit::OK)
        }
    }
}

fn list(recipes: &Path, all: bool, long: bool, json: bool) -> Result<i32> {
    let rows: Vec<(String, Settings)> = settings::all(recipes)?
        .into_iter()
        .filter(|(_, s)| all || s.enrolled)
        .collect();
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(n, s)| json!({"recipe": n, "enrolled": s.enrolled, "approved": s.approved, "repo": s.repo, "upstream": s.upstream, "gitea_repo": s.gitea_repo}))
            .collect();
        ccci_core::verdict::print("ok", format!("{} recipes", v.len()), json!({"recipes": v}));
    } else {
        for (n, s) in rows {
            if long {
                println!(
                    "{n}\t{}\t{}\t{}",
                    s.repo.as_deref().unwrap_or("-"),
                    s.upstream.as_deref().unwrap_or("-"),
                    s.gitea_repo.as_deref().unwrap_or("-")
                );
            } else if all {
                println!(
                    "{n}\t{}\t{}",
                    if s.enrolled {
                        "enrolled"
                    } else {
                        "not-enrolled"
                    },
                    if s.approved {
                        "approved"
                    } else {
                        "not-approved"
                    }
                );
            } else {
                println!("{n}");
            }
        }
    }
    Ok(exit::OK)
}

/// A local repository is used in place; a URL is cloned bare (no work tree, so
/// nothing of the recipe is checked out or run here).
fn open_repo(repo: &str, out: Option<&Path>) -> Result<(PathBuf, Option<PathBuf>)> {
    let p = Path::new(repo);
    if p.is_dir() {
        return Ok((p.to_path_buf(), None));
    }
    if !git::is_url(repo) {
        return Err(exit::usage(format!(
            "recipe repository {repo} does not exist"
        )));
    }
    let dest = match out {
        Some(o) => o.join("source.git"),
        None => std::env::temp_dir().join(format!("ccci-discover-{}.git", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&dest);
    git::clone_bare(repo, &dest)?;
    let cleanup = out.is_none().then(|| dest.clone());
    Ok((dest, cleanup))
}

/// Build the plan; with `--out`, write `plan.json` (and approved PR tests) there.
fn plan(recipes: &Path, a: &PlanArgs) -> Result<Plan> {
    ccci_core::recipe_name::RecipeName::parse(&a.recipe)?;
    let settings = Settings::load(recipes, &a.recipe)?;
    if let Some(o) = &a.out {
        std::fs::create_dir_all(o)
            .with_context(|| format!("cannot create {}", o.display()))
            .map_err(|e| exit::wrap(e, exit::USAGE))?;
    }
    let (repo, cleanup) = open_repo(&a.repo, a.out.as_deref())?;
    let result = build(recipes, a, settings, &repo);
    if let Some(c) = cleanup {
        let _ = std::fs::remove_dir_all(c);
    }
    let plan = result?;
    if let Some(o) = &a.out {
        state::write_json(&o.join("plan.json"), &plan)?;
    }
    Ok(plan)
}

fn build(recipes: &Path, a: &PlanArgs, settings: Settings, repo: &Path) -> Result<Plan> {
    let head = git::resolve_commit(repo, &a.r#ref)?;
    let (tested, previous) = release::previous(repo, &a.r#ref, &head)?;
    let mut warnings = vec![];
    let timeout = settings.timeouts.test;
    let generic = recipes.join(GENERIC);
    let own = recipes.join(&a.recipe);

    let pr_tests = pr_tests(
        repo,
        &head,
        settings.approved,
        a.out.as_deref(),
        &mut warnings,
    )?;

    let mut pre_deploy = vec![];
    for (dir, id) in [(&generic, GENERIC), (&own, a.recipe.as_str())] {
        if let Some(h) = scan::hook(
            &dir.join("hooks/pre-deploy"),
            format!("{id}/hooks/pre-deploy"),
            timeout,
            &mut warnings,
        ) {
            pre_deploy.push(h);
        }
    }
    let mut tiers = vec![];
    for tier in TIERS {
        let mut hooks = vec![];
        for (dir, id) in [(&generic, GENERIC), (&own, a.recipe.as_str())] {
            let file = format!("pre-{tier}");
            if let Some(h) = scan::hook(
                &dir.join("hooks").join(&file),
                format!("{id}/hooks/{file}"),
                timeout,
                &mut warnings,
            ) {
                hooks.push(h);
            }
        }
        let mut tests = scan::tests(
            &generic.join(tier),
            GENERIC,
            "generic",
            tier,
            timeout,
            &mut warnings,
        )?;
        let own_source = if tier == "custom" {
            "custom"
        } else {
            "overlay"
        };
        tests.extend(scan::tests(
            &own.join(tier),
            &a.recipe,
            own_source,
            tier,
            timeout,
            &mut warnings,
        )?);
        if tier == "custom" {
            for old in DEPRECATED {
                let found = scan::tests(
                    &own.join(old),
                    &a.recipe,
                    "deprecated",
                    old,
                    timeout,
                    &mut warnings,
                )?;
                if !found.is_empty() {
                    let w = format!(
                        "DEPRECATED: {} holds {} tests in the old {old}/ folder; they still run as custom tests, but move them to {}/",
                        own.display(),
                        found.len(),
                        own.join("custom").display()
                    );
                    log::warn(&w);
                    warnings.push(w);
                }
                tests.extend(found);
            }
        }
        if let Some(dir) = &pr_tests {
            tests.extend(scan::tests(
                &dir.join(tier),
                "pr",
                "pr",
                tier,
                timeout,
                &mut warnings,
            )?);
        }
        tiers.push(TierPlan {
            name: tier.into(),
            hooks,
            tests,
        });
    }
    Ok(Plan {
        schema: ccci_core::plan::SCHEMA,
        recipe: a.recipe.clone(),
        source_repo: a.r#repo.clone(),
        r#ref: a.r#ref.clone(),
        head_sha: head,
        tested_tag: tested.map(|t| t.tag),
        previous: previous.map(|p| p.tag),
        approved: settings.approved,
        settings,
        pre_deploy,
        overlays: ccci_core::overlay::scan(&own.join("compose"))?,
        tiers,
        warnings,
    })
}

/// The executables the ref carries under `.ccci/`. They run only for approved
/// recipes (anyone can open a PR); otherwise the plan says they were left out.
fn pr_tests(
    repo: &Path,
    head: &str,
    approved: bool,
    out: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Option<PathBuf>> {
    let listing = git::git(repo, &["ls-tree", "-r", head, "--", PR_TESTS_DIR])?;
    let count = listing
        .lines()
        .filter(|l| l.starts_with("100755 ") && !l.split('\t').nth(1).unwrap_or("").contains("/_"))
        .count();
    if count == 0 {
        return Ok(None);
    }
    if !approved {
        let w = format!(
            "the ref carries {count} tests in {PR_TESTS_DIR}/; not run: this recipe is not on the approved list (default deny)"
        );
        log::warn(&w);
        warnings.push(w);
        return Ok(None);
    }
    let Some(out) = out else {
        warnings.push(format!(
            "the ref carries {count} tests in {PR_TESTS_DIR}/ (approved); listed when the plan is written with --out"
        ));
        return Ok(None);
    };
    let dest = out.join("pr-tests");
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(&dest)?;
    git::extract(repo, head, PR_TESTS_DIR, &dest)?;
    Ok(Some(dest.join(PR_TESTS_DIR)))
}

fn print_plan(plan: &Plan, json: bool) -> Result<()> {
    if json {
        let tests: usize = plan.tiers.iter().map(|t| t.tests.len()).sum();
        ccci_core::verdict::print(
            "ok",
            format!(
                "plan for {} at {}: {tests} tests, {}",
                plan.recipe,
                plan.r#ref,
                match &plan.previous {
                    Some(p) => format!("upgrading from {p}"),
                    None => "nothing older released".into(),
                }
            ),
            serde_json::to_value(plan)?,
        );
        return Ok(());
    }
    println!(
        "plan for {} at {} ({})",
        plan.recipe,
        plan.r#ref,
        &plan.head_sha[..12.min(plan.head_sha.len())]
    );
    match &plan.previous {
        Some(p) => println!("install {p}, then upgrade to {}", plan.r#ref),
        None => println!(
            "install {} (nothing older was released: upgrade is na)",
            plan.r#ref
        ),
    }
    println!(
        "recipe tests from its own PR: {}",
        if plan.approved {
            "allowed (approved recipe)"
        } else {
            "not run (recipe not approved; default deny)"
        }
    );
    for t in &plan.tiers {
        for h in &t.hooks {
            println!("{:<8} hook {} ({} s)", t.name, h.id, h.timeout_s);
        }
        if t.tests.is_empty() {
            println!("{:<8} (no tests)", t.name);
        }
        for s in &t.tests {
            println!("{:<8} {} ({} s)", t.name, s.id, s.timeout_s);
        }
    }
    for w in &plan.warnings {
        println!("warning: {w}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
