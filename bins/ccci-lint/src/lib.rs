//! `ccci-lint`: static checks of a recipe, a superset of `abra recipe lint`.
//! Every rule has an id (abra's `R001`..`R016`, ccci's own `C001`..), a short
//! name and a level (rules.rs); errors fail (exit 1), warnings are reported.
//! Lint reads the recipe at the ref and never the running app: Docker's loader
//! renders the compose files without a daemon.

pub mod checks;
pub mod recipe;
pub mod rules;
pub mod yamlpos;

use anyhow::Result;
use ccci_core::recipe_name::RecipeName;
use ccci_core::settings::Settings;
use ccci_core::{exit, git};
use checks::{Options, Report, Status};
use clap::Parser;
use recipe::{Recipe, TextFile};
use rules::Level;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "ccci-lint",
    version,
    about = "Static checks of a recipe: abra's lint rules and ccci's own",
    long_about = "Static checks of a recipe: abra's lint rules (R001..R016, same ids and levels) and \
ccci's own (C001..). Reads the recipe's files (of a commit, with --ref) and renders its compose \
files with Docker's loader and the sample env; it never looks at a running app. `--explain ID` \
says what a rule checks and how to fix a finding.\n\n\
Exit codes: 0 no errors (warnings allowed), 1 errors, 2 bad input (or an unknown --explain id), \
70 bug.",
    after_help = "Examples:\n  \
ccci-lint ./custom-html                    # the files in a recipe checkout\n  \
ccci-lint /srv/mirrors/demo.git --ref 0.2.0+1.1 --tag 0.2.0+1.1 --json\n  \
ccci-lint ./demo --overlay recipes/demo/compose/ci.yml\n  \
ccci-lint --explain R012"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    /// The recipe: a directory, or with --ref a git repository
    #[arg(required_unless_present = "explain")]
    recipe: Option<PathBuf>,
    /// Lint this commit of the repository instead of the directory's files
    #[arg(long = "ref")]
    r#ref: Option<String>,
    /// The release tag under test: app's version label must equal it
    #[arg(long)]
    tag: Option<String>,
    /// A CI compose overlay to check (repeatable), besides those found in --recipes-dir
    #[arg(long = "overlay", value_name = "FILE")]
    overlays: Vec<PathBuf>,
    /// ccci's recipes tree: the recipe's recipe.json (timeouts.deploy) and compose/*.yml overlays
    #[arg(long, env = "CCCI_RECIPES_DIR", value_name = "DIR")]
    recipes_dir: Option<PathBuf>,
    /// The recipe's name in --recipes-dir (default: TYPE in .env.sample)
    #[arg(long = "recipe", env = "CCCI_RECIPE", value_name = "NAME")]
    recipe_name: Option<String>,
    /// Print what a rule (id or name) checks and how to fix a finding, and exit
    #[arg(long, value_name = "ID")]
    explain: Option<String>,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn run(cli: Cli) -> Result<i32> {
    if let Some(id) = &cli.explain {
        return explain(id, cli.global.json);
    }
    let Some(path) = &cli.recipe else {
        return Err(exit::usage("give a recipe (or --explain ID)"));
    };
    if !path.is_dir() {
        return Err(exit::usage(format!(
            "recipe {} is not a directory",
            path.display()
        )));
    }
    let path = path.canonicalize()?;
    let ctx = cli.global.ctx()?;
    let tmp;
    let (dir, repo): (&Path, Option<PathBuf>) = match &cli.r#ref {
        Some(r) => {
            let sha = git::resolve_commit(&path, r)?;
            tmp = Scratch::new()?;
            git::extract(&path, &sha, "", &tmp.0)?;
            (&tmp.0, Some(path.clone()))
        }
        None => {
            let repo = path.join(".git").exists().then(|| path.clone());
            (&path, repo)
        }
    };
    let recipe = Recipe::load(&ctx.docker, dir, repo)?;
    let mut opts = Options {
        tag: cli.tag.clone(),
        today: ccci_core::ids::now_rfc3339()[..10].to_string(),
        ..Options::default()
    };
    for p in &cli.overlays {
        let text = std::fs::read_to_string(p)
            .map_err(|e| exit::usage(format!("cannot read overlay {}: {e}", p.display())))?;
        opts.overlays
            .push(TextFile::new(p.display().to_string(), text));
    }
    if let Some(dir) = &cli.recipes_dir {
        let name = cli
            .recipe_name
            .clone()
            .or_else(|| recipe.sample.get("TYPE").map(String::from))
            .filter(|n| RecipeName::is_valid(n));
        if let Some(name) = name
            && dir.join(&name).is_dir()
        {
            let settings = Settings::load(dir, &name)?;
            opts.deploy_timeout = settings.timeouts.deploy;
            opts.flaky = settings.flaky;
            opts.overlays
                .extend(overlays_in(&dir.join(&name).join("compose"))?);
        }
    }
    let report = checks::run(&recipe, &opts);
    print(&report, ctx.json);
    Ok(if report.count(Level::Error) == 0 {
        exit::OK
    } else {
        exit::NO
    })
}

/// `compose/*.yml` (and `*.yaml`) of the recipe's folder in ccci's recipes tree.
fn overlays_in(dir: &Path) -> Result<Vec<TextFile>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(vec![]);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| exit::usage(format!("cannot read overlay {}: {e}", p.display())))?;
            Ok(TextFile::new(p.display().to_string(), text))
        })
        .collect()
}

fn explain(key: &str, json: bool) -> Result<i32> {
    let Some(rule) = rules::find(key) else {
        return Err(exit::usage(format!(
            "unknown rule {key:?}: the ids are R001..R016 and C001..C{:03}, or their names",
            rules::RULES
                .iter()
                .filter(|r| r.id.starts_with('C'))
                .count()
        )));
    };
    if json {
        ccci_core::verdict::print(
            "ok",
            format!("{} {}", rule.id, rule.name),
            json!({"rule": {
                "id": rule.id,
                "name": rule.name,
                "level": rule.level,
                "checked": rule.scope == rules::Scope::Static,
                "summary": rule.summary,
                "explain": rule.explain,
            }}),
        );
    } else {
        println!("{} {} ({})", rule.id, rule.name, rule.level.as_str());
        println!("{}", rule.summary);
        println!();
        for para in rule.explain.split('\n') {
            println!("{}", wrap(para, 79));
        }
    }
    Ok(exit::OK)
}

/// Words of `text` on lines of at most `width` characters (a longer word
/// stands alone).
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut len = 0;
    for w in text.split_whitespace() {
        let n = w.chars().count();
        if len > 0 && len + 1 + n > width {
            out.push('\n');
            len = 0;
        } else if len > 0 {
            out.push(' ');
            len += 1;
        }
        out.push_str(w);
        len += n;
    }
    out
}

fn print(report: &Report, json: bool) {
    let errors = report.count(Level::Error);
    let warnings = report.count(Level::Warning);
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let summary = format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    let statuses = report.statuses();
    if json {
        ccci_core::verdict::print(
            ccci_core::verdict::ok_or_red(errors == 0),
            summary,
            json!({
                "ok": errors == 0,
                "errors": errors,
                "warnings": warnings,
                "findings": report.findings,
                "rules": statuses,
            }),
        );
        return;
    }
    for f in &report.findings {
        let at = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!("{file}:{line}: "),
            (Some(file), None) => format!("{file}: "),
            _ => String::new(),
        };
        println!(
            "{:<7} {} {}: {at}{}",
            f.level.as_str(),
            f.id,
            f.name,
            f.message
        );
    }
    for s in statuses.iter().filter(|s| s.status == Status::Skip) {
        println!(
            "skip    {} {}: {}",
            s.id,
            s.name,
            s.note.as_deref().unwrap_or("")
        );
    }
    let count = |st: Status| statuses.iter().filter(|s| s.status == st).count();
    println!(
        "{}: {summary} ({} rules: {} passed, {} failed, {} not checked)",
        if errors == 0 { "ok" } else { "red" },
        statuses.len(),
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip)
    );
}

/// A private temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let p = std::env::temp_dir().join(format!(
            "ccci-lint-{}-{}",
            std::process::id(),
            ccci_core::ids::random_hex(6)?
        ));
        std::fs::create_dir_all(&p)?;
        Ok(Scratch(p.canonicalize()?))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wraps_words() {
        assert_eq!(super::wrap("aa bb cc dd", 5), "aa bb\ncc dd");
        assert_eq!(super::wrap("averylongword x", 4), "averylongword\nx");
        assert_eq!(super::wrap("", 4), "");
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
