//! What the sweep's swarm tests share: a state dir and a recipes dir with
//! ccci's generic tests, and demo-class recipes enrolled in it.

#![allow(dead_code)]

use ccci_testkit::{RecipeRepo, Run, Scratch, require_rig, run, workspace};
use std::path::PathBuf;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-sweep"))
}

pub struct World {
    pub scratch: Scratch,
    pub recipes: PathBuf,
    pub state: PathBuf,
}

impl World {
    pub fn new(name: &str) -> World {
        require_rig();
        let scratch = Scratch::new(name);
        let recipes = scratch.join("recipes");
        std::fs::create_dir_all(&recipes).unwrap();
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(workspace().join("recipes/_generic"))
            .arg(&recipes)
            .status()
            .unwrap();
        assert!(st.success());
        World {
            state: scratch.join("state"),
            recipes,
            scratch,
        }
    }

    /// Enroll the demo recipe's repository as `name`, with `settings` merged
    /// into its recipe.json; returns its repository.
    pub fn enroll(&self, name: &str, settings: &str) -> RecipeRepo {
        let repo = RecipeRepo::from_demo(&self.scratch.join(&format!("{name}.git")));
        let dir = self.recipes.join(name);
        std::fs::create_dir_all(dir.join("hooks")).unwrap();
        std::fs::copy(
            workspace().join("recipes/demo/hooks/backup-marker"),
            dir.join("hooks/backup-marker"),
        )
        .unwrap();
        std::fs::write(
            dir.join("recipe.json"),
            format!(
                r#"{{"schema": 1, "enrolled": true, "repo": "{}",
                    "marker_hooks": {{"db": "hooks/backup-marker"}}{settings}}}"#,
                repo.path.display()
            ),
        )
        .unwrap();
        repo
    }

    pub fn add_test(&self, rel: &str, script: &str) {
        let p = self.recipes.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn sweep(&self, args: &[&str]) -> Run {
        self.sweep_env(args, &[])
    }

    /// The sweep with more environment (run slots, the budget).
    pub fn sweep_env(&self, args: &[&str], more: &[(&str, &str)]) -> Run {
        run(&bin(), args, &self.env(more))
    }

    /// A promoted run keeps its data as the canonical app: released here.
    pub fn release(&self, run_id: &str) {
        let deploy = bin().parent().unwrap().join("ccci-deploy");
        run(&deploy, &["teardown", run_id, "--release"], &self.env(&[])).assert_code(0);
    }

    /// The state and recipes dirs, and `more`, for any tool of the sweep.
    pub fn env<'a>(&'a self, more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut env = vec![
            ("CCCI_STATE_DIR", self.state.to_str().unwrap()),
            ("CCCI_RECIPES_DIR", self.recipes.to_str().unwrap()),
        ];
        env.extend_from_slice(more);
        env
    }
}
