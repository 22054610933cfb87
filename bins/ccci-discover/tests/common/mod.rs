//! A recipes dir, a state dir and the demo recipe repository for driving
//! `ccci-discover`. Nothing here needs Docker: discovery reads files and git.
#![allow(dead_code)]

use ccci_core::plan::{Plan, TierPlan};
use ccci_testkit::{RecipeRepo, Run, Scratch, run, workspace};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-discover"))
}

pub struct World {
    pub scratch: Scratch,
    pub state: PathBuf,
    pub recipes: PathBuf,
    pub repo: RecipeRepo,
}

/// Copy the contents of `from` into `to` (created), keeping modes.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(from.join("."))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

fn write_mode(p: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl World {
    /// The source tree's `_generic/`, an empty `demo/` recipe folder (no
    /// recipe.json: not enrolled, not approved) and the demo repository with
    /// its two releases, 0.1.0+1.0 and 0.2.0+1.1, on branch main.
    pub fn new(name: &str) -> World {
        let scratch = Scratch::new(&format!("discover-{name}"));
        let recipes = scratch.join("recipes");
        copy_dir(
            &workspace().join("recipes").join("_generic"),
            &recipes.join("_generic"),
        );
        std::fs::create_dir_all(recipes.join("demo")).unwrap();
        let state = scratch.join("state");
        std::fs::create_dir_all(&state).unwrap();
        let repo = RecipeRepo::from_demo(&scratch.join("recipe"));
        World {
            scratch,
            state,
            recipes,
            repo,
        }
    }

    /// As [`World::new`], with the source tree's real `demo/` folder.
    pub fn with_real_demo(name: &str) -> World {
        let w = World::new(name);
        copy_dir(
            &workspace().join("recipes").join("demo"),
            &w.recipes.join("demo"),
        );
        w
    }

    /// An executable (mode 755) under the recipes dir.
    pub fn exec(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.recipes.join(rel);
        write_mode(&p, text, 0o755);
        p
    }

    /// A plain file (mode 644) under the recipes dir.
    pub fn file(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.recipes.join(rel);
        write_mode(&p, text, 0o644);
        p
    }

    /// Write `recipes/demo/recipe.json`.
    pub fn settings(&self, json: &str) {
        self.file("demo/recipe.json", json);
    }

    /// A file in the recipe repository's work tree (commit it with `repo.commit`).
    pub fn repo_file(&self, rel: &str, text: &str, mode: u32) {
        write_mode(&self.repo.path.join(rel), text, mode);
    }

    pub fn repo_path(&self) -> String {
        self.repo.path.to_string_lossy().into_owned()
    }

    /// Git in the recipe repository; trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.repo.path)
            .args(args)
            .env("GIT_AUTHOR_NAME", "ccci-test")
            .env("GIT_AUTHOR_EMAIL", "test@localhost")
            .env("GIT_COMMITTER_NAME", "ccci-test")
            .env("GIT_COMMITTER_EMAIL", "test@localhost")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The commit a ref names.
    pub fn sha(&self, r#ref: &str) -> String {
        self.git(&["rev-parse", &format!("{ref}^{{commit}}")])
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CCCI_STATE_DIR", self.state.to_string_lossy().into_owned()),
            (
                "CCCI_RECIPES_DIR",
                self.recipes.to_string_lossy().into_owned(),
            ),
        ]
    }

    /// Run `ccci-discover ARGS` with this world's state and recipes dirs.
    pub fn discover(&self, args: &[&str]) -> Run {
        self.discover_env(args, &[])
    }

    /// As [`World::discover`], with more (or overriding) environment.
    pub fn discover_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let env = self.env();
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend(extra.iter().copied());
        run(&bin(), args, &env)
    }

    /// `ccci-discover --json plan` for the demo at `r#ref`, plus `extra` args.
    pub fn plan_run(&self, r#ref: &str, extra: &[&str]) -> Run {
        let repo = self.repo_path();
        let mut args = vec![
            "--json", "plan", "--recipe", "demo", "--repo", &repo, "--ref", r#ref,
        ];
        args.extend(extra);
        self.discover(&args)
    }

    /// The plan for the demo at `r#ref`; the run must succeed.
    pub fn plan(&self, r#ref: &str) -> Plan {
        parse(self.plan_run(r#ref, &[]).assert_code(0))
    }
}

/// The plan a successful `--json plan` printed.
pub fn parse(r: &Run) -> Plan {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a plan ({e}):\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        )
    })
}

pub fn tier<'a>(p: &'a Plan, name: &str) -> &'a TierPlan {
    p.tier(name)
        .unwrap_or_else(|| panic!("no tier {name} in {p:#?}"))
}

/// Test ids of a tier, in plan order.
pub fn ids(p: &Plan, name: &str) -> Vec<String> {
    tier(p, name).tests.iter().map(|s| s.id.clone()).collect()
}

/// Hook ids of a tier, in plan order.
pub fn hook_ids(p: &Plan, name: &str) -> Vec<String> {
    tier(p, name).hooks.iter().map(|s| s.id.clone()).collect()
}

/// Every test and hook id of the plan.
pub fn all_ids(p: &Plan) -> Vec<String> {
    p.tiers
        .iter()
        .flat_map(|t| t.hooks.iter().chain(&t.tests))
        .map(|s| s.id.clone())
        .collect()
}

/// Stderr lines containing `needle`.
pub fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}
