//! The world of one ccci-deploy test on the rig's swarm: a state dir (one ccci
//! instance) and a recipe repository, and the calls the tests make.
#![allow(dead_code)]

use ccci_testkit::{RecipeRepo, Run, Scratch, leftovers, require_rig, run};
use std::path::{Path, PathBuf};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-deploy"))
}

pub struct World {
    pub scratch: Scratch,
    pub state: PathBuf,
    pub repo: RecipeRepo,
}

impl World {
    pub fn new(name: &str) -> World {
        require_rig();
        let scratch = Scratch::new(name);
        let state = scratch.join("state");
        let repo = RecipeRepo::from_demo(&scratch.join("recipe"));
        World {
            scratch,
            state,
            repo,
        }
    }

    pub fn deploy(&self, args: &[&str]) -> Run {
        self.deploy_env(args, &[])
    }

    pub fn deploy_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let state = self.state.to_string_lossy().into_owned();
        let mut e = vec![("CCCI_STATE_DIR", state.as_str())];
        e.extend_from_slice(env);
        run(&bin(), args, &e)
    }

    /// Another ccci instance (its own state dir) on the same recipe repository.
    pub fn with_state(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    pub fn deploy_in(&self, state: &Path, args: &[&str]) -> Run {
        let state = state.to_string_lossy().into_owned();
        run(&bin(), args, &[("CCCI_STATE_DIR", state.as_str())])
    }

    /// `new` at `ref`, returning the run id.
    pub fn new_app(&self, r#ref: &str, extra: &[&str]) -> String {
        let repo = self.repo.path.to_string_lossy().into_owned();
        let mut args = vec!["new", "--recipe", "demo", "--repo", &repo, "--ref", r#ref];
        args.extend_from_slice(extra);
        let r = self.deploy(&args);
        r.assert_code(0);
        r.stdout.trim().to_string()
    }

    /// `new` of the demo at 0.1.0+1.0 with a fixed run id in `state`.
    pub fn new_in(&self, state: &Path, id: &str) -> Run {
        let repo = self.repo.path.to_string_lossy().into_owned();
        self.deploy_in(
            state,
            &[
                "new",
                "--recipe",
                "demo",
                "--repo",
                &repo,
                "--ref",
                "0.1.0+1.0",
                "--run-id",
                id,
            ],
        )
    }

    /// As [`World::new_in`], which must succeed.
    pub fn new_app_in(&self, state: &Path, id: &str) {
        self.new_in(state, id).assert_code(0);
    }

    /// Point the demo's healthcheck at a path that answers 404 (in the compose
    /// file; the next release carries it).
    pub fn break_healthcheck(&self) {
        self.repo.edit(
            "compose.yml",
            "\"http://127.0.0.1:8080/\"",
            "\"http://127.0.0.1:8080/nope\"",
        );
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.state.join("runs").join(id)
    }

    pub fn stack(&self, id: &str) -> String {
        self.stack_in(&self.state, id)
    }

    pub fn stack_in(&self, state: &Path, id: &str) -> String {
        let p = state.join("runs").join(id).join("app.json");
        let app: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        app["stack"].as_str().unwrap().to_string()
    }

    /// `deploy --wait --json` expecting `code`; returns the verdict's reason.
    pub fn deploy_wait(&self, id: &str, code: i32) -> String {
        let r = self.deploy(&["--json", "deploy", "--wait", id]);
        r.assert_code(code);
        r.json()["reason"].as_str().unwrap_or_default().to_string()
    }

    /// Teardown must leave nothing; checked against Docker directly.
    pub fn teardown_clean(&self, id: &str) {
        self.deploy(&["teardown", id]).assert_code(0);
        assert_eq!(
            leftovers(id),
            Vec::<String>::new(),
            "leftovers after teardown of {id}"
        );
    }
}
