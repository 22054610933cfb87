//! The generator writes a man page for every installed tool and each of its
//! subcommands, and completions for bash, zsh and fish; every `--help` ends with
//! an example that parses as the tool's own command line.

use ccci_gen_docs::{SHELLS, TOOLS, completion_file};
use ccci_testkit::{Run, Scratch, assert_one_line_error};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ccci-gen-docs");

fn gen_docs(args: &[&str]) -> Run {
    Run::from(
        Command::new(BIN)
            .args(args)
            .output()
            .expect("run ccci-gen-docs"),
    )
}

/// The workspace root (this crate lives at `bins/ccci-gen-docs`).
fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
}

/// Every command as man pages name it (`ccci-deploy`, `ccci-deploy-new`), with
/// the command line that reaches it (`ccci-deploy new`) and its built command.
fn every_command(cmd: clap::Command) -> Vec<(String, String, clap::Command)> {
    fn walk(
        cmd: &clap::Command,
        page: &str,
        line: &str,
        out: &mut Vec<(String, String, clap::Command)>,
    ) {
        out.push((page.to_string(), line.to_string(), cmd.clone()));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_name();
            walk(
                sub,
                &format!("{page}-{name}"),
                &format!("{line} {name}"),
                out,
            );
        }
    }
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let name = cmd.get_name().to_string();
    let mut out = vec![];
    walk(&cmd, &name, &name, &mut out);
    out
}

/// The installed tools and the generator itself, whose help is held to the
/// same rule.
fn every_cli() -> Vec<clap::Command> {
    let mut all: Vec<_> = TOOLS.iter().map(|(_, c)| c()).collect();
    all.push(ccci_gen_docs::command());
    all
}

#[test]
fn every_tool_under_bins_is_listed() {
    let mut dirs = BTreeSet::new();
    for e in std::fs::read_dir(workspace().join("bins")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().join("Cargo.toml").is_file()
            && name.starts_with("ccci-")
            && name != "ccci-gen-docs"
        {
            dirs.insert(name);
        }
    }
    let listed: BTreeSet<String> = TOOLS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(listed.len(), TOOLS.len(), "a tool is listed twice in TOOLS");
    let missing: Vec<_> = dirs.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "bins/ has tools that ccci-gen-docs's TOOLS (src/lib.rs) does not name, so they \
         would get no man page or completions: {missing:?}; add each to TOOLS and to \
         bins/ccci-gen-docs/Cargo.toml"
    );
    let stale: Vec<_> = listed.difference(&dirs).collect();
    assert!(
        stale.is_empty(),
        "TOOLS names tools that bins/ lacks: {stale:?}"
    );
    for (name, command) in TOOLS {
        assert_eq!(
            command().get_name(),
            *name,
            "TOOLS pairs {name} with another tool's command"
        );
    }
    assert!(
        !listed.contains("ccci-fake-gitea"),
        "the fake Gitea is a test tool"
    );
}

#[test]
fn every_command_line_is_well_formed() {
    for cli in every_cli() {
        cli.debug_assert();
    }
}

#[test]
fn writes_a_valid_man_page_for_every_tool_and_subcommand() {
    let dir = Scratch::new("gen-docs-man");
    let r = gen_docs(&[dir.path.to_str().unwrap()]);
    r.assert_code(0);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(r.stdout.starts_with("wrote "), "{}", r.stdout);
    let man1 = dir.join("man/man1");
    let mut expected = BTreeSet::new();
    for (tool, command) in TOOLS {
        for (page, line, _) in every_command(command()) {
            let file = format!("{page}.1");
            let path = man1.join(&file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
            // Only the apostrophe preamble and comments may come before .TH.
            let first = text
                .lines()
                .find(|l| {
                    !(l.starts_with(".ie ") || l.starts_with(".el ") || l.starts_with(".\\\""))
                })
                .unwrap_or("");
            assert!(
                first.starts_with(&format!(".TH {page} 1 ")),
                "{file}: {first:?}"
            );
            // The footer names the tool and its version, on subcommand pages too.
            assert!(
                first.ends_with(&format!("\"{tool} {}\" ", env!("CARGO_PKG_VERSION"))),
                "{file}: {first:?}"
            );
            let roff_tool = tool.replace('-', "\\-");
            assert!(text.contains(&roff_tool), "{file} does not name {tool}");
            assert!(text.contains("\n.SH SYNOPSIS\n"), "{file}");
            assert!(
                text.contains("\n.SH EXAMPLES\n.nf\n"),
                "{file}: no EXAMPLES"
            );
            assert!(!text.contains(".SH EXTRA"), "{file}");
            let roff_line = line.replace('-', "\\-");
            let examples = &text[text.find(".SH EXAMPLES").unwrap()..];
            assert!(
                examples.contains(&roff_line),
                "{file}: no example of {line}"
            );
            groff_has_no_warnings(&path);
            expected.insert(file);
        }
    }
    let written: BTreeSet<String> = std::fs::read_dir(&man1)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, expected, "exactly the installed tools' pages");
    for not_installed in ["ccci-gen-docs.1", "ccci-fake-gitea.1"] {
        assert!(!written.contains(not_installed), "{not_installed}");
    }
}

/// groff renders the page without a warning (when groff is installed; `man`
/// itself needs it, so a machine without groff reads no man pages anyway).
fn groff_has_no_warnings(page: &Path) {
    let Ok(out) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
    else {
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.is_empty(),
        "{}: groff says: {err}",
        page.display()
    );
}

#[test]
fn writes_completions_for_bash_zsh_and_fish() {
    let dir = Scratch::new("gen-docs-completions");
    gen_docs(&[dir.path.to_str().unwrap()]).assert_code(0);
    for (shell, folder) in SHELLS {
        let written: BTreeSet<String> =
            std::fs::read_dir(dir.join(&format!("completions/{folder}")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        let expected: BTreeSet<String> = TOOLS
            .iter()
            .map(|(n, _)| completion_file(shell, n))
            .collect();
        assert_eq!(written, expected, "{folder}");
    }
    for (tool, _) in TOOLS {
        let bash = dir.join(&format!("completions/bash/{tool}"));
        let text = std::fs::read_to_string(&bash).unwrap();
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with("complete -F ")
                    && l.ends_with(&format!(" {tool}"))),
            "{tool}: no `complete -F ... {tool}`"
        );
        let check = Command::new("bash")
            .arg("-n")
            .arg(&bash)
            .output()
            .expect("bash");
        assert!(
            check.status.success(),
            "{}: bash -n: {}",
            bash.display(),
            String::from_utf8_lossy(&check.stderr)
        );
        // Loaded, it registers the completion for the tool.
        let loaded = Command::new("bash")
            .arg("-c")
            .arg(format!("source \"$1\" && complete -p {tool}"))
            .arg("bash")
            .arg(&bash)
            .output()
            .expect("bash");
        let said = String::from_utf8_lossy(&loaded.stdout);
        assert!(
            loaded.status.success() && said.trim_end().ends_with(&format!(" {tool}")),
            "{tool}: {said}{}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        let zsh = std::fs::read_to_string(dir.join(&format!("completions/zsh/_{tool}"))).unwrap();
        assert!(
            zsh.starts_with(&format!("#compdef {tool}")),
            "{tool}: {zsh}"
        );
        let fish =
            std::fs::read_to_string(dir.join(&format!("completions/fish/{tool}.fish"))).unwrap();
        assert!(fish.contains(&format!("complete -c {tool} ")), "{tool}");
    }
    // Again into the same folder: what is there is replaced.
    gen_docs(&[dir.path.to_str().unwrap()]).assert_code(0);
}

#[test]
fn every_help_ends_with_an_example_of_that_command() {
    for cli in every_cli() {
        for (_, line, mut cmd) in every_command(cli) {
            let help = cmd.render_long_help().to_string();
            let at = help
                .rfind("\nExamples:\n")
                .or_else(|| help.rfind("\nExample:\n"))
                .unwrap_or_else(|| panic!("`{line} --help` has no Example section:\n{help}"));
            let section = &help[at + 1..];
            assert!(
                section
                    .lines()
                    .skip(1)
                    .all(|l| l.is_empty() || l.starts_with("  ")),
                "`{line} --help` does not end with its examples:\n{section}"
            );
            let path: Vec<&str> = line.split(' ').collect();
            assert!(
                example_commands(section)
                    .iter()
                    .any(|words| words.len() >= path.len() && words[..path.len()] == path[..]),
                "`{line} --help`: no example runs `{line}`:\n{section}"
            );
        }
    }
}

#[test]
fn every_example_parses_as_its_tools_command_line() {
    let mut seen = 0;
    for cli in every_cli() {
        for (_, line, cmd) in every_command(cli) {
            let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) else {
                continue;
            };
            for words in example_commands(&after.to_string()) {
                let program = &words[0];
                let Some(tool) = every_cli().into_iter().find(|c| c.get_name() == program) else {
                    panic!("`{line}`: an example runs {program}, which is no ccci tool: {words:?}");
                };
                if let Err(e) = tool.try_get_matches_from(&words) {
                    panic!("`{line}`: the example does not parse:\n  {words:?}\n{e}");
                }
                seen += 1;
            }
        }
    }
    assert!(seen > 40, "only {seen} examples");
}

/// The ccci command lines of an after-help text, as words: its indented lines,
/// with `\` continuations joined, `# comments` dropped, and what the shell
/// would take off before the program: `VAR=value` settings, and `run=$(`...`)`.
fn example_commands(text: &str) -> Vec<Vec<String>> {
    let mut lines = vec![];
    let mut cur = String::new();
    for l in text.lines().filter(|l| l.starts_with(' ')) {
        let l = l.trim();
        match l.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(l);
                lines.push(std::mem::take(&mut cur));
            }
        }
    }
    let mut out = vec![];
    for line in lines {
        let mut words = shell_words(&line);
        if let Some(first) = words.first_mut()
            && let Some((_, program)) = first.split_once("=$(")
        {
            *first = program.to_string();
            let last = words.last_mut().unwrap();
            *last = last.strip_suffix(')').expect("`$(` is closed").to_string();
        }
        let words: Vec<String> = words
            .into_iter()
            .skip_while(|w| {
                w.split_once('=').is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                })
            })
            .collect();
        if words.first().is_some_and(|w| w.starts_with("ccci-")) {
            out.push(words);
        }
    }
    out
}

/// Split a command line the way sh does for the examples' needs: blanks,
/// single and double quotes, and a `#` comment at the start of a word.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = vec![];
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '#') if word.is_none() => break,
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in {line:?}");
    words.extend(word);
    words
}

#[test]
fn every_tool_prints_help_on_dash_dash_help() {
    for cli in every_cli() {
        for (_, line, _) in every_command(cli) {
            let mut args: Vec<&str> = line.split(' ').collect();
            args.push("--help");
            let root = every_cli()
                .into_iter()
                .find(|c| c.get_name() == args[0])
                .unwrap();
            let e = root
                .try_get_matches_from(&args)
                .expect_err("--help is not an argument");
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp,
                "{line} --help"
            );
            assert_eq!(e.exit_code(), 0, "{line} --help");
            let shown = e.render().to_string();
            assert!(
                shown.contains(&format!("Usage: {line}")),
                "{line} --help:\n{shown}"
            );
        }
    }
}

#[test]
fn ccci_sweep_help_prints_usage() {
    let e = ccci_sweep::command()
        .try_get_matches_from(["ccci-sweep", "--help"])
        .expect_err("--help prints help");
    assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
    assert_eq!(e.exit_code(), 0);
    let help = e.render().to_string();
    assert!(
        help.contains("Usage: ccci-sweep [OPTIONS] [RECIPES]..."),
        "{help}"
    );
    assert!(help.contains("Example:"), "{help}");
}

#[test]
fn a_bad_out_dir_is_one_line_and_exit_2() {
    let dir = Scratch::new("gen-docs-bad");
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    let under_file = file.join("docs");
    for (arg, says) in [
        (file.to_str().unwrap(), "is not a directory"),
        (under_file.to_str().unwrap(), "cannot create"),
    ] {
        let r = gen_docs(&[arg]);
        r.assert_code(2);
        assert_one_line_error(&r, "ccci-gen-docs");
        assert!(r.stderr.contains(says), "{arg:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    // Clap's own usage errors keep clap's exit code 2.
    gen_docs(&[]).assert_code(2);
    gen_docs(&[""]).assert_code(2);
    gen_docs(&["--bogus", "x"]).assert_code(2);
    assert_eq!(
        std::fs::read_dir(&dir.path).unwrap().count(),
        1,
        "nothing was written"
    );
}
