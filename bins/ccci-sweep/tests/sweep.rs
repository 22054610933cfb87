//! ccci-sweep without Docker: where its state comes from, its lock, and what
//! it does with recipes it cannot handle. (The whole sweep on the swarm, seed,
//! skip and warm advance, is tested with ccci-promote's tests.)

use ccci_testkit::{RecipeRepo, Run, Scratch, run};
use std::path::{Path, PathBuf};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-sweep"))
}

/// Siblings the sweep calls must be built next to it.
fn require_siblings() {
    for t in [
        "ccci-sweep-decide",
        "ccci-run",
        "ccci-promote",
        "ccci-mirror-sync",
    ] {
        assert!(
            bin().parent().unwrap().join(t).is_file(),
            "{t} is not built next to ccci-sweep: run `cargo build --workspace --bins` first"
        );
    }
}

struct World {
    scratch: Scratch,
    recipes: PathBuf,
    repo: RecipeRepo,
}

impl World {
    fn new(name: &str, settings: &str) -> World {
        require_siblings();
        let scratch = Scratch::new(name);
        let recipes = scratch.join("recipes");
        std::fs::create_dir_all(recipes.join("_generic")).unwrap();
        std::fs::create_dir_all(recipes.join("demo")).unwrap();
        let repo = RecipeRepo::from_demo(&scratch.join("demo"));
        std::fs::write(
            recipes.join("demo/recipe.json"),
            settings.replace("@REPO@", &repo.path.to_string_lossy()),
        )
        .unwrap();
        World {
            scratch,
            recipes,
            repo,
        }
    }

    fn sweep(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let recipes = self.recipes.to_string_lossy().into_owned();
        let mut e = vec![("CCCI_RECIPES_DIR", recipes.as_str())];
        e.extend_from_slice(env);
        run(&bin(), args, &e)
    }

    /// Record `version` as the demo's canonical release in `state`.
    fn canonical(&self, state: &Path, version: &str) {
        let sha = ccci_core::git::git(
            &self.repo.path,
            &["rev-parse", &format!("{version}^{{commit}}")],
        )
        .unwrap();
        let c = ccci_core::canonical::Canonical::new(
            "demo",
            ccci_core::version::Version::parse(version).unwrap(),
            &sha,
            "seed-run",
            vec![],
        );
        ccci_core::canonical::write(state, &c).unwrap();
    }
}

fn summary(r: &Run) -> serde_json::Value {
    let path = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .unwrap_or_else(|| panic!("no summary in {}", r.stdout));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const ENROLLED: &str = r#"{"schema": 1, "enrolled": true, "repo": "@REPO@"}"#;

#[test]
fn the_state_dir_comes_from_the_config_file_as_for_every_tool() {
    let w = World::new("sweep-config", ENROLLED);
    let state = w.scratch.join("state-from-config");
    std::fs::create_dir_all(&state).unwrap();
    // The canonical release is the newest tag, recorded in the configured
    // state dir only: a sweep that looked elsewhere would decide to seed.
    w.canonical(&state, "0.2.0+1.1");
    let config = w.scratch.join("config.json");
    std::fs::write(
        &config,
        format!(r#"{{"state_dir": "{}"}}"#, state.display()),
    )
    .unwrap();
    let cfg = config.to_string_lossy().into_owned();
    let r = w.sweep(&[], &[("CCCI_CONFIG", cfg.as_str())]);
    r.assert_code(0);
    let s = summary(&r);
    assert_eq!(s["schema"], 1);
    let row = &s["recipes"][0];
    assert_eq!(row["recipe"], "demo");
    assert_eq!(row["decision"], "skip:no-new-version", "{s}");
    assert_eq!(row["handled"], true);
    // Written atomically into the configured state dir, with the tools' logs.
    let files: Vec<String> = std::fs::read_dir(state.join("sweeps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|f| f.ends_with(".json")), "{files:?}");
    assert!(!files.iter().any(|f| f.ends_with(".tmp")), "{files:?}");
    // The same in --json, in the shape every tool shares.
    let r = w.sweep(&["--json"], &[("CCCI_CONFIG", cfg.as_str())]);
    r.assert_code(0);
    let v = r.json();
    assert_eq!(v["tool"], "ccci-sweep");
    assert_eq!(v["outcome"], "ok");
    assert_eq!(v["recipes"][0]["decision"], "skip:no-new-version");
}

#[test]
fn two_sweeps_never_overlap() {
    let w = World::new("sweep-lock", ENROLLED);
    let state = w.scratch.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.join("sweep.lock"))
        .unwrap();
    lock.lock().unwrap();
    let s = state.to_string_lossy().into_owned();
    let r = w.sweep(&[], &[("CCCI_STATE_DIR", s.as_str())]);
    r.assert_code(75);
    assert!(
        r.stderr.contains("another sweep is running"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        !state.join("sweeps").exists(),
        "a refused sweep wrote a summary"
    );
    drop(lock);
    w.canonical(&state, "0.2.0+1.1");
    w.sweep(&[], &[("CCCI_STATE_DIR", s.as_str())])
        .assert_code(0);
}

#[test]
fn a_recipe_it_cannot_handle_is_a_row_and_exit_1_and_bad_names_are_exit_2() {
    let w = World::new("sweep-bad", r#"{"schema": 1, "enrolled": true}"#);
    let state = w.scratch.join("state");
    let s = state.to_string_lossy().into_owned();
    let env = [("CCCI_STATE_DIR", s.as_str())];
    let r = w.sweep(&[], &env);
    r.assert_code(1);
    let row = &summary(&r)["recipes"][0];
    assert_eq!(row["decision"], "error");
    assert_eq!(row["note"], "recipe.json names no repo");
    assert_eq!(row["handled"], false);

    let r = w.sweep(&["nosuch"], &env);
    r.assert_code(2);
    assert!(
        r.stderr.contains("nosuch is not an enrolled recipe"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1);
}
