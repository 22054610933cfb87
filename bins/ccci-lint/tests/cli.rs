//! The command line: --explain, bad input, and the rule tables of docs/lint.md
//! and the README against the one table in the code.

use ccci_lint::rules::{Level, RULES};
use ccci_testkit::{Run, Scratch, assert_one_line_error, workspace};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn lint(args: &[&str]) -> Run {
    let out = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_ccci-lint")))
        .args(args)
        .env_remove("CCCI_RECIPES_DIR")
        .env_remove("CCCI_RECIPE")
        .stdin(Stdio::null())
        .output()
        .expect("run ccci-lint");
    Run::from(out)
}

/// The rows `| `ID` | `name` | level | ... |` of the markdown tables in `text`.
fn table_rows(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .strip_prefix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            let id = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
            let is_id = id.len() == 4
                && (id.starts_with('R') || id.starts_with('C'))
                && id[1..].bytes().all(|b| b.is_ascii_digit());
            if !is_id {
                return None;
            }
            let name = cells.get(1)?.trim_matches('`');
            let level = cells.get(2)?;
            Some((id.to_string(), name.to_string(), level.to_string()))
        })
        .collect()
}

fn expected() -> Vec<(String, String, String)> {
    RULES
        .iter()
        .map(|r| {
            let level = match r.level {
                Level::Error => "error",
                Level::Warning => "warning",
            };
            (r.id.to_string(), r.name.to_string(), level.to_string())
        })
        .collect()
}

#[test]
fn docs_and_readme_list_exactly_the_rules_of_the_code() {
    let doc = std::fs::read_to_string(workspace().join("docs/lint.md")).unwrap();
    let start = doc.find("## The rules").unwrap();
    let end = start + doc[start..].find("\n## ").unwrap_or(doc.len() - start);
    assert_eq!(table_rows(&doc[start..end]), expected(), "docs/lint.md");
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let start = readme.find("### ccci-lint\n").unwrap();
    let end = start + 1 + readme[start + 1..].find("\n### ").unwrap();
    assert_eq!(table_rows(&readme[start..end]), expected(), "README.md");
}

#[test]
fn explain_a_rule_by_id_or_name() {
    let r = lint(&["--explain", "R012"]);
    r.assert_code(0);
    assert!(
        r.stdout.starts_with("R012 abra-sh-vendors (error)\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\nFix: "), "{}", r.stdout);
    let r = lint(&["--explain", "hook-pipefail", "--json"]);
    r.assert_code(0);
    let v = r.json();
    assert_eq!(v["tool"], "ccci-lint");
    assert_eq!(v["rule"]["id"], "C007");
    assert_eq!(v["rule"]["level"], "warning");
    assert_eq!(v["rule"]["checked"], true);
    let v = lint(&["--explain", "r006", "--json"]).json();
    assert_eq!(v["rule"]["checked"], false);
    for rule in RULES {
        lint(&["--explain", rule.id]).assert_code(0);
    }
}

#[test]
fn unknown_rule_is_bad_input_in_one_line() {
    let r = lint(&["--explain", "R099"]);
    r.assert_code(2);
    assert_one_line_error(&r, "ccci-lint");
    assert!(r.stderr.contains("unknown rule \"R099\""), "{}", r.stderr);
    let r = lint(&["--explain", "nope", "--json"]);
    r.assert_code(2);
    assert_one_line_error(&r, "ccci-lint");
}

#[test]
fn bad_recipe_and_overlay_paths_are_bad_input() {
    let s = Scratch::new("lint-cli");
    let missing = s.join("missing").to_string_lossy().into_owned();
    let r = lint(&[&missing]);
    r.assert_code(2);
    assert_one_line_error(&r, "ccci-lint");
    let r = lint(&[]);
    r.assert_code(2);
    let dir = s.path.to_string_lossy().into_owned();
    let r = lint(&[&dir, "--overlay", &missing, "--json"]);
    r.assert_code(2);
    assert_one_line_error(&r, "ccci-lint");
    let r = lint(&[&dir, "--ref", "nope"]);
    r.assert_code(2);
    assert_one_line_error(&r, "ccci-lint");
}

#[test]
fn an_empty_directory_is_a_red_recipe_not_bad_input() {
    let s = Scratch::new("lint-empty");
    let dir = s.path.to_string_lossy().into_owned();
    let r = lint(&[&dir, "--json"]);
    r.assert_code(1);
    let v = r.json();
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"R008") && ids.contains(&"C001") && ids.contains(&"R007"),
        "{ids:?}"
    );
    // A relative path works as well as an absolute one.
    let r = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_ccci-lint")))
        .arg(".")
        .current_dir(&s.path)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(out.lines().last().unwrap().starts_with("red: "), "{out}");
}
