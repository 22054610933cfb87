//! `ccci-lint`: ccci's own static checks of a recipe. Each check has an id, a
//! severity and a one-line reason; errors fail (exit 1), warnings are reported.

pub mod checks;

use anyhow::Result;
use ccci_core::envfile::EnvFile;
use ccci_core::{compose, exit, git};
use checks::{Finding, Severity};
use clap::Parser;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "ccci-lint",
    version,
    about = "ccci's static checks of a recipe",
    long_about = "ccci's static checks of a recipe: the compose files parse and interpolate with the \
sample env, every service has a healthcheck, images are pinned, the version label matches the \
release tag, secrets used and declared agree, backup-bot labels are well formed.\n\n\
Exit codes: 0 no errors (warnings allowed), 1 errors, 2 bad input, 75 Docker unreachable.",
    after_help = "Examples:\n  \
ccci-lint ./custom-html                    # the files in a recipe checkout\n  \
ccci-lint /srv/mirrors/demo.git --ref 0.2.0+1.1 --tag 0.2.0+1.1 --json"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    /// The recipe: a directory, or with --ref a git repository
    recipe: PathBuf,
    /// Lint this commit of the repository instead of the directory's files
    #[arg(long = "ref")]
    r#ref: Option<String>,
    /// The release tag under test: the version label must equal it
    #[arg(long)]
    tag: Option<String>,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    if !cli.recipe.is_dir() {
        return Err(exit::usage(format!(
            "recipe {} is not a directory",
            cli.recipe.display()
        )));
    }
    let tmp;
    let dir: &Path = match &cli.r#ref {
        Some(r) => {
            let sha = git::resolve_commit(&cli.recipe, r)?;
            tmp = Scratch::new()?;
            git::extract(&cli.recipe, &sha, "", &tmp.0)?;
            &tmp.0
        }
        None => &cli.recipe,
    };
    let findings = lint(&ctx.docker, dir, cli.tag.as_deref())?;
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    if ctx.json {
        ccci_core::verdict::print(
            ccci_core::verdict::ok_or_red(errors == 0),
            format!("{errors} errors, {warnings} warnings"),
            json!({"ok": errors == 0, "errors": errors, "warnings": warnings, "findings": findings}),
        );
    } else {
        for f in &findings {
            let sev = match f.severity {
                Severity::Ok => "ok",
                Severity::Warning => "warning",
                Severity::Error => "error",
            };
            println!("{sev:<8} {:<17} {}", f.id, f.reason);
        }
        println!(
            "{}: {errors} errors, {warnings} warnings",
            if errors == 0 { "ok" } else { "red" }
        );
    }
    Ok(if errors == 0 { exit::OK } else { exit::NO })
}

/// Run every check; later checks need the rendered config, so a recipe that
/// does not render stops there (with that as the error).
pub fn lint(
    docker: &ccci_core::docker::Docker,
    dir: &Path,
    tag: Option<&str>,
) -> Result<Vec<Finding>> {
    let mut out = vec![];
    let sample = match EnvFile::read(&dir.join(".env.sample")) {
        Ok(s) => {
            out.push(Finding {
                id: "env-sample",
                severity: Severity::Ok,
                reason: ".env.sample present and well formed".into(),
            });
            s
        }
        Err(e) => {
            out.push(Finding {
                id: "env-sample",
                severity: Severity::Error,
                reason: ccci_core::cli::one_line(&e),
            });
            return Ok(out);
        }
    };
    let rendered = (|| -> Result<serde_json::Value> {
        let files = compose::files(dir, &sample)?;
        let vars = compose::interpolation_vars(dir, &sample, checks::STACK)?;
        compose::render(docker, dir, &files, &vars)
    })();
    let config = match rendered {
        Ok(c) => c,
        Err(e) if exit::code_of(&e) == exit::TEMPFAIL => return Err(e),
        Err(e) => {
            out.push(Finding {
                id: "compose-render",
                severity: Severity::Error,
                reason: ccci_core::cli::one_line(&e),
            });
            return Ok(out);
        }
    };
    out.push(Finding {
        id: "compose-render",
        severity: Severity::Ok,
        reason: "the compose files render with the sample env".into(),
    });
    out.push(checks::app_service(&config));
    out.push(checks::healthchecks(&config));
    out.push(checks::images_pinned(&config));
    out.push(checks::version_label(&config, tag));
    out.push(checks::secrets_declared(&config, &sample));
    out.push(checks::backup_labels(&config));
    Ok(out)
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
        Ok(Scratch(p))
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
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
