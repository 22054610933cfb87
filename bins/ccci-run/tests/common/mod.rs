//! A recipe fixture, a recipes dir and a state dir for driving `ccci-run`.
#![allow(dead_code)]

use ccci_testkit::{RecipeRepo, Run, Scratch, require_rig, run, workspace};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-run"))
}

/// The runner calls its siblings; a test of a stale or missing one tests nothing.
fn require_siblings() {
    let dir = bin().parent().unwrap().to_path_buf();
    for t in [
        "ccci-deploy",
        "ccci-discover",
        "ccci-verify-backup",
        "ccci-lint",
    ] {
        assert!(
            dir.join(t).is_file(),
            "{t} is not built next to ccci-run: run `cargo build --workspace --bins` first"
        );
    }
}

pub struct World {
    pub scratch: Scratch,
    pub state: String,
    pub recipes: PathBuf,
    pub repo: RecipeRepo,
}

impl World {
    pub fn new(name: &str) -> World {
        require_rig();
        require_siblings();
        let scratch = Scratch::new(name);
        let recipes = scratch.join("recipes");
        std::fs::create_dir_all(&recipes).unwrap();
        for d in ["_generic", "demo"] {
            let st = Command::new("cp")
                .arg("-a")
                .arg(workspace().join("recipes").join(d))
                .arg(&recipes)
                .status()
                .unwrap();
            assert!(st.success());
        }
        let repo = RecipeRepo::from_demo(&scratch.join("recipe"));
        World {
            state: scratch.join("state").to_string_lossy().into_owned(),
            recipes,
            repo,
            scratch,
        }
    }

    pub fn env(&self) -> Vec<(&str, String)> {
        vec![
            ("CCCI_STATE_DIR", self.state.clone()),
            (
                "CCCI_RECIPES_DIR",
                self.recipes.to_string_lossy().into_owned(),
            ),
        ]
    }

    /// Run the demo recipe at `r#ref` as run `id`.
    pub fn run(&self, id: &str, r#ref: &str, extra: &[&str]) -> Run {
        self.run_env(id, r#ref, extra, &[])
    }

    /// The same, with more environment.
    pub fn run_env(&self, id: &str, r#ref: &str, extra: &[&str], more: &[(&str, &str)]) -> Run {
        let repo = self.repo.path.to_string_lossy().into_owned();
        let mut args = vec![
            "--recipe", "demo", "--repo", &repo, "--ref", r#ref, "--run-id", id,
        ];
        args.extend(extra);
        let env = self.env();
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend_from_slice(more);
        run(&bin(), &args, &env)
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        Path::new(&self.state).join("runs").join(id)
    }

    pub fn results(&self, id: &str) -> serde_json::Value {
        let p = self.run_dir(id).join("results.json");
        serde_json::from_str(
            &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap()
    }

    /// Add an executable to the recipes dir (a test, a hook).
    pub fn add_test(&self, rel: &str, script: &str) {
        let p = self.recipes.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, script).unwrap();
        let st = Command::new("chmod").arg("+x").arg(&p).status().unwrap();
        assert!(st.success());
    }
}

/// Tier statuses in ladder order, e.g. `["pass", "fail", ...]`.
pub fn statuses(r: &serde_json::Value) -> Vec<String> {
    r["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap().to_string())
        .collect()
}

pub fn tier<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tier {name} in {r}"))
}

/// Check a results.json against the documented schema.
pub fn assert_valid(r: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("schemas/results.schema.json")).unwrap(),
    )
    .unwrap();
    let errors = ccci_testkit::schema::validate(&schema, r);
    assert!(
        errors.is_empty(),
        "results.json violates its schema: {errors:#?}\n{r:#}"
    );
}
