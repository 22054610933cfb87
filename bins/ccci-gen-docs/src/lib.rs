//! `ccci-gen-docs`: write the man pages and the bash, zsh and fish completions
//! of every installed ccci tool, from each tool's `clap::Command`, so they say
//! exactly what `--help` says.
//!
//! It is a build tool, not a ccci job: the Nix package (nix/package.nix) runs it
//! at build time, installs what it wrote under share/, and does not install it.
//! By hand: `cargo run -p ccci-gen-docs -- target/docs`.

use anyhow::{Context, Result};
use ccci_core::exit;
use clap::Parser;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// A tool library's `command()`.
pub type CommandFn = fn() -> clap::Command;

/// Every installed tool: its name and its command line. This is the one list;
/// a test fails when a `bins/ccci-*` crate is missing from it (other than this
/// generator, which is not installed; `ccci-fake-gitea` is a test tool).
pub const TOOLS: &[(&str, CommandFn)] = &[
    ("ccci-bridge", ccci_bridge::command),
    ("ccci-config", ccci_config::command),
    ("ccci-deploy", ccci_deploy::command),
    ("ccci-discover", ccci_discover::command),
    ("ccci-lint", ccci_lint::command),
    ("ccci-mirror-sync", ccci_mirror_sync::command),
    ("ccci-promote", ccci_promote::command),
    ("ccci-report", ccci_report::command),
    ("ccci-run", ccci_run::command),
    ("ccci-sweep", ccci_sweep::command),
    ("ccci-sweep-decide", ccci_sweep_decide::command),
    ("ccci-verify-backup", ccci_verify_backup::command),
];

/// The shells completions are written for, each with its folder under
/// `completions/` (the file names are [`completion_file`]'s).
pub const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "bash"),
    (Shell::Zsh, "zsh"),
    (Shell::Fish, "fish"),
];

/// The file a shell loads a tool's completions from.
pub fn completion_file(shell: Shell, tool: &str) -> String {
    match shell {
        Shell::Zsh => format!("_{tool}"),
        Shell::Fish => format!("{tool}.fish"),
        _ => tool.to_string(),
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "ccci-gen-docs",
    version,
    about = "Write the man pages and shell completions of every installed ccci tool",
    long_about = "Write the man pages and shell completions of every installed ccci tool, from the \
same command-line definitions that print --help.\n\n\
Writes OUT_DIR/man/man1/<tool>.1 and one page per subcommand (<tool>-<subcommand>.1), and \
OUT_DIR/completions/bash/<tool>, OUT_DIR/completions/zsh/_<tool> and \
OUT_DIR/completions/fish/<tool>.fish. OUT_DIR is created if missing; files already there are \
replaced. A build tool, not a ccci job: the Nix package runs it at build time and does not \
install it. Exit codes: 0 written, 2 bad OUT_DIR, 70 a bug.",
    after_help = "Example:\n  ccci-gen-docs target/docs"
)]
pub struct Cli {
    /// Where to write man/ and completions/
    #[arg(value_name = "OUT_DIR")]
    out_dir: PathBuf,
}

/// The generator's own command line.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn run(cli: Cli) -> Result<i32> {
    let out = &cli.out_dir;
    if out.exists() && !out.is_dir() {
        return Err(exit::usage(format!(
            "OUT_DIR {} exists and is not a directory",
            out.display()
        )));
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create OUT_DIR {}", out.display()))
        .map_err(|e| exit::wrap(e, exit::USAGE))?;
    let written = generate(out)?;
    let pages = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "1"))
        .count();
    println!(
        "wrote {pages} man pages and {} completion files for {} tools to {}",
        written.len() - pages,
        TOOLS.len(),
        out.display()
    );
    Ok(exit::OK)
}

/// Write every installed tool's man pages and completions under `out`; returns
/// the files written.
pub fn generate(out: &Path) -> Result<Vec<PathBuf>> {
    let man1 = out.join("man").join("man1");
    mkdir(&man1)?;
    let mut written = vec![];
    for (name, command) in TOOLS {
        let cmd = command();
        anyhow::ensure!(
            cmd.get_name() == *name,
            "TOOLS names {name} but its command is {}",
            cmd.get_name()
        );
        man_pages(cmd, &man1, &mut written)?;
    }
    for (shell, dir) in SHELLS {
        let dir = out.join("completions").join(dir);
        mkdir(&dir)?;
        for (name, command) in TOOLS {
            let mut cmd = command();
            let mut buf = vec![];
            clap_complete::generate(shell, &mut cmd, *name, &mut buf);
            let path = dir.join(completion_file(shell, name));
            write(&path, &buf)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The tool's page and one per subcommand, recursively (`ccci-deploy-new.1`),
/// the way `clap_mangen::generate_to` names them; the `Example:` section clap
/// prints after the help is the page's EXAMPLES section.
fn man_pages(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    // Every page's footer names the tool and its version, as the tool's own does.
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    page(cmd, source.trim_end(), dir, written)
}

fn page(cmd: clap::Command, source: &str, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page(sub.clone(), source, dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd).source(source);
    let mut buf = vec![];
    man.render(&mut buf)?;
    let text = String::from_utf8(buf).context("a man page that is not UTF-8")?;
    let text = examples_section(&text);
    let path = dir.join(man.get_filename());
    write(&path, text.as_bytes())?;
    written.push(path);
    Ok(())
}

/// clap_mangen puts the text after the help under `.SH EXTRA`, filled like
/// prose; ours is the examples, so it gets the section name man pages use for
/// them and keeps its lines as they are (`.nf`), to be copied as typed.
fn examples_section(page: &str) -> String {
    for heading in ["Examples:", "Example:"] {
        let from = format!(".SH EXTRA\n{heading}\n");
        let Some(start) = page.find(&from) else {
            continue;
        };
        let body = start + from.len();
        let end = page[body..]
            .find("\n.SH ")
            .map_or(page.len(), |i| body + i + 1);
        return format!(
            "{}.SH EXAMPLES\n.nf\n{}.fi\n{}",
            &page[..start],
            &page[body..end],
            &page[end..]
        );
    }
    page.to_string()
}

fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
        .map_err(|e| exit::wrap(e, exit::USAGE))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
        .map_err(|e| exit::wrap(e, exit::USAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn the_example_heading_becomes_the_examples_section() {
        let page = ".TH x 1\n.SH EXTRA\nExample:\n  x \\-\\-json\n.SH VERSION\nv1\n";
        assert_eq!(
            examples_section(page),
            ".TH x 1\n.SH EXAMPLES\n.nf\n  x \\-\\-json\n.fi\n.SH VERSION\nv1\n"
        );
        let last = ".SH EXTRA\nExamples:\n  x a\n  x b\n";
        assert_eq!(
            examples_section(last),
            ".SH EXAMPLES\n.nf\n  x a\n  x b\n.fi\n"
        );
        let other = ".SH EXTRA\nNotes\n";
        assert_eq!(examples_section(other), other);
    }
}
