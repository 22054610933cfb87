//! ccci-promote's decision table on recorded runs, and the weekly sweep end to
//! end on the real swarm: seed, skip, advance warm, and a failed warm advance.

use ccci_core::results::{self, AppRef, Results, Status, Teardown, Tier};
use ccci_core::rundir::{Retained, RunDir};
use ccci_testkit::{RecipeRepo, Run, Scratch, leftovers, require_rig, run, workspace};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-promote"))
        .parent()
        .unwrap()
        .to_path_buf()
}

struct World {
    _scratch: Scratch,
    state: PathBuf,
    recipes: PathBuf,
    repo: RecipeRepo,
}

impl World {
    fn new(name: &str, settings: &str) -> World {
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
        let repo = RecipeRepo::from_demo(&scratch.join("demo"));
        // The CI's own mirror of the recipe, kept in step by the sweep.
        let mirror = scratch.join("mirror.git");
        let st = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(&repo.path)
            .arg(&mirror)
            .status()
            .unwrap();
        assert!(st.success());
        let settings = settings
            .replace("@REPO@", &repo.path.to_string_lossy())
            .replace("@MIRROR@", &mirror.to_string_lossy());
        std::fs::write(recipes.join("demo/recipe.json"), settings).unwrap();
        let state = scratch.join("state");
        std::fs::create_dir_all(&state).unwrap();
        World {
            state,
            recipes,
            repo,
            _scratch: scratch,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CCCI_STATE_DIR", self.state.to_string_lossy().into_owned()),
            (
                "CCCI_RECIPES_DIR",
                self.recipes.to_string_lossy().into_owned(),
            ),
            ("CCCI_BIN_DIR", bin_dir().to_string_lossy().into_owned()),
        ]
    }

    fn tool(&self, name: &str, args: &[&str]) -> Run {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(&bin_dir().join(name), args, &env)
    }

    fn sweep(&self) -> Run {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(&bin_dir().join("ccci-sweep"), &[], &env)
    }

    fn canonical(&self) -> serde_json::Value {
        let p = self.state.join("canonical/demo/canonical.json");
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
    }

    /// A finished run as the runner records it, without deploying anything.
    fn recorded(&self, id: &str, edit: impl FnOnce(&mut Results)) -> RunDir {
        let run = RunDir::create(&self.state, id).unwrap();
        let mut r = green_results(id, &self.repo.path);
        edit(&mut r);
        ccci_core::state::write_json(&run.file(results::FILE), &r).unwrap();
        run
    }
}

fn green_results(id: &str, repo: &Path) -> Results {
    let tiers = ccci_core::plan::TIERS
        .iter()
        .map(|n| Tier {
            name: n.to_string(),
            status: Status::Pass,
            summary: String::new(),
            duration_s: 1.0,
            log: String::new(),
            tests: vec![],
            red: None,
        })
        .collect();
    Results {
        schema: results::SCHEMA,
        run_id: id.into(),
        recipe: "demo".into(),
        source_repo: repo.to_string_lossy().into_owned(),
        pr: None,
        r#ref: "0.2.0+1.1".into(),
        head_sha: "0".repeat(40),
        tested_tag: Some("0.2.0+1.1".into()),
        previous: Some("0.1.0+1.0".into()),
        trigger: results::Trigger::Sweep,
        mode: results::Mode::Cold,
        started: "2026-11-23T00:00:00Z".into(),
        finished: "2026-11-23T00:01:00Z".into(),
        duration_s: 60.0,
        overhead_s: 0.1,
        tiers,
        retained_volumes: vec![],
        deploy_count: 1,
        apps: vec![AppRef {
            role: results::Role::App,
            recipe: "demo".into(),
            run_id: id.into(),
            domain: "x".into(),
            stack: "x".into(),
        }],
        teardown: Teardown {
            status: results::TeardownStatus::Clean,
            summary: String::new(),
            log: String::new(),
        },
        level: 5,
        verdict: results::Verdict::Green,
        left_out: vec![],
        overlays: vec![],
        reruns: vec![],
        reproduced_alone: 0,
        rerun_of: None,
        budget: None,
        warnings: vec![],
        plan: "plan.json".into(),
        junit: "junit.xml".into(),
    }
}

const ENROLLED: &str = r#"{"schema": 1, "enrolled": true, "repo": "@REPO@",
  "marker_hooks": {"db": "hooks/backup-marker"}}"#;

#[test]
fn only_an_enrolled_cold_green_tagged_run_that_kept_its_data_may_promote() {
    let w = World::new("promote-refusals", ENROLLED);
    type Edit = Box<dyn FnOnce(&mut Results)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "untagged",
            Box::new(|r: &mut Results| {
                r.r#ref = "main".into();
                r.tested_tag = None;
            }),
            "an untagged green never promotes",
        ),
        (
            "quick",
            Box::new(|r: &mut Results| r.mode = results::Mode::Quick),
            "only cold runs promote",
        ),
        (
            "red",
            Box::new(|r: &mut Results| {
                r.verdict = results::Verdict::Red;
                r.level = 1;
                r.tiers[1].status = Status::Fail;
                r.tiers[1].summary = "rolled back".into();
            }),
            "not green (verdict red, level L1; upgrade is fail: rolled back)",
        ),
        (
            "skipped",
            Box::new(|r: &mut Results| r.tiers[4].status = Status::Skip),
            "not green",
        ),
        (
            "leftovers",
            Box::new(|r: &mut Results| r.teardown.status = results::TeardownStatus::Leftovers),
            "not green",
        ),
        (
            "nodata",
            Box::new(|_: &mut Results| {}),
            "kept no data to carry forward",
        ),
    ];
    for (id, edit, want) in cases {
        w.recorded(id, edit);
        let r = w.tool("ccci-promote", &[id]);
        r.assert_code(1);
        assert!(r.stdout.contains(want), "{id}: {}", r.stdout);
    }
    assert!(!w.state.join("canonical/demo/canonical.json").exists());

    // Not enrolled: refused whatever the run.
    std::fs::write(w.recipes.join("demo/recipe.json"), r#"{"schema": 1}"#).unwrap();
    let r = w.tool("ccci-promote", &["nodata"]);
    r.assert_code(1);
    assert!(r.stdout.contains("not enrolled"), "{}", r.stdout);
}

#[test]
fn a_corrupt_canonical_file_is_exit_2_and_left_as_it_is() {
    // A refused run's kept data is released through ccci-deploy: Docker is needed.
    require_rig();
    let w = World::new("promote-corrupt", ENROLLED);
    let run = w.recorded("green", |_| {});
    ccci_core::state::write_json(
        &run.retained_path(),
        &Retained {
            schema: 1,
            volumes: vec!["v".into()],
            secrets: vec![],
            since: "2026-11-23T00:00:00Z".into(),
        },
    )
    .unwrap();
    // The run's clone, where the tag's own commit is read.
    let st = Command::new("git")
        .args(["clone", "-q", &w.repo.path.to_string_lossy()])
        .arg(run.recipe_dir())
        .status()
        .unwrap();
    assert!(st.success());
    let dir = w.state.join("canonical/demo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("canonical.json"), "{\"schema\": 1, \"recipe\": ").unwrap();
    // The run tested another commit than the tag names: refused before anything.
    let r = w.tool("ccci-promote", &["green"]);
    r.assert_code(1);
    assert!(r.stdout.contains("but the run tested"), "{}", r.stdout);
    // The same run with the tag's real commit reaches the canonical file: exit 2.
    let sha = ccci_core::git::git(&w.repo.path, &["rev-parse", "0.2.0+1.1^{commit}"]).unwrap();
    let mut res: Results = ccci_core::state::read_json(&run.file(results::FILE)).unwrap();
    res.head_sha = sha;
    ccci_core::state::write_json(&run.file(results::FILE), &res).unwrap();
    ccci_core::state::write_json(
        &run.retained_path(),
        &Retained {
            schema: 1,
            volumes: vec!["v".into()],
            secrets: vec![],
            since: "2026-11-23T00:00:00Z".into(),
        },
    )
    .unwrap();
    let r = w.tool("ccci-promote", &["green"]);
    r.assert_code(2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("canonical.json"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("canonical.json")).unwrap(),
        "{\"schema\": 1, \"recipe\": "
    );
}

fn volume_file(volume: &str, rel: &str) -> PathBuf {
    let out = Command::new("docker")
        .args(["volume", "inspect", "-f", "{{.Mountpoint}}", volume])
        .output()
        .unwrap();
    assert!(out.status.success(), "no volume {volume}");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join(rel)
}

fn summary_row(w: &World, out: &str) -> serde_json::Value {
    let path = out
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .unwrap_or_else(|| panic!("no summary in {out}"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(path.starts_with(&*w.state.to_string_lossy()));
    v["recipes"][0].clone()
}

/// The sweep tests the mirror, which it syncs from upstream first.
const MIRRORED: &str = r#"{"schema": 1, "enrolled": true, "repo": "@MIRROR@", "upstream": "@REPO@",
  "marker_hooks": {"db": "hooks/backup-marker"}}"#;

#[test]
fn sweep_seeds_then_skips_then_advances_warm_on_the_same_data() {
    require_rig();
    let w = World::new("sweep-e2e", MIRRORED);

    // 1. No canonical yet: the newest tag runs cold and seeds it.
    let r = w.sweep();
    r.assert_code(0);
    let row = summary_row(&w, &r.stdout);
    assert_eq!(row["decision"], "run:seed", "{}", r.stdout);
    assert_eq!(row["result"], "green");
    assert_eq!(row["level"], "L5");
    let c = w.canonical();
    assert_eq!(c["version"], "0.2.0+1.1");
    let tag_commit =
        ccci_core::git::git(&w.repo.path, &["rev-parse", "0.2.0+1.1^{commit}"]).unwrap();
    assert_eq!(c["commit"], tag_commit.as_str());
    let seed_run = c["run_id"].as_str().unwrap().to_string();
    let volumes: Vec<String> = c["retained_volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(volumes.len(), 2, "{c}");
    let db = volumes.iter().find(|v| v.ends_with("_db")).unwrap().clone();
    let marker = std::fs::read_to_string(volume_file(&db, "rows/ccci-marker")).unwrap();
    // The reaper keeps a canonical app's data, and only that.
    w.tool("ccci-deploy", &["reap", "--grace", "0"])
        .assert_code(0);
    assert!(volume_file(&db, "rows/ccci-marker").exists());
    assert!(
        leftovers(&seed_run)
            .iter()
            .all(|o| o.starts_with("volume") || o.starts_with("secret")),
        "{:?}",
        leftovers(&seed_run)
    );

    // 2. Nothing new: everything skips; untagged commits change nothing.
    w.repo.write("NOTES", "untagged work\n");
    w.repo.commit("docs: untagged");
    let r = w.sweep();
    r.assert_code(0);
    assert_eq!(
        summary_row(&w, &r.stdout)["decision"],
        "skip:no-new-version"
    );
    assert_eq!(w.canonical()["version"], "0.2.0+1.1");

    // 3. A new release: it runs cold, then the canonical app is advanced warm on
    // the data the seed run created.
    w.repo.release("0.3.0+1.2");
    let r = w.sweep();
    r.assert_code(0);
    let row = summary_row(&w, &r.stdout);
    assert_eq!(row["decision"], "run", "{}", r.stdout);
    assert_eq!(row["result"], "green");
    assert!(
        row["note"].as_str().unwrap().contains("advanced warm"),
        "{row}"
    );
    let c = w.canonical();
    assert_eq!(c["version"], "0.3.0+1.2");
    assert_eq!(c["app_run"], seed_run.as_str());
    assert_eq!(c["retained_volumes"].as_array().unwrap().len(), 2);
    assert_eq!(
        std::fs::read_to_string(volume_file(&db, "rows/ccci-marker")).unwrap(),
        marker,
        "the warm data came through the advance"
    );
    // The tested run's own kept data was released.
    let tested = row["run_id"].as_str().unwrap();
    assert!(leftovers(tested).is_empty(), "{:?}", leftovers(tested));
    assert!(
        !w.state
            .join("runs")
            .join(tested)
            .join("retained.json")
            .exists()
    );

    // A quick run starts warm from a copy of the canonical data: green, never
    // promoted, and the canonical data is exactly as it was.
    let rows_before: Vec<_> = std::fs::read_dir(volume_file(&db, "rows"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let repo_s = w.repo.path.to_string_lossy().into_owned();
    let q = w.tool(
        "ccci-run",
        &[
            "--recipe", "demo", "--repo", &repo_s, "--ref", "main", "--quick", "--run-id", "quick",
        ],
    );
    q.assert_code(0);
    let res: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.state.join("runs/quick/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(res["mode"], "quick");
    assert_eq!(
        res["previous"], "0.3.0+1.2",
        "the app started as the canonical release"
    );
    assert_eq!(res["level"], 5);
    let rows_after: Vec<_> = std::fs::read_dir(volume_file(&db, "rows"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        rows_before, rows_after,
        "the quick run wrote to copies only"
    );
    assert!(leftovers("quick").is_empty(), "{:?}", leftovers("quick"));
    let p = w.tool("ccci-promote", &["quick"]);
    p.assert_code(1);
    assert!(p.stdout.contains("only cold runs promote"), "{}", p.stdout);
    assert_eq!(w.canonical(), c);

    // 4. A release whose cold run is green but which cannot start on the
    // long-lived data: the canonical stays as it was, and says why.
    std::fs::write(volume_file(&volumes[0], "legacy-format"), "v0\n").unwrap();
    std::fs::write(volume_file(&volumes[1], "legacy-format"), "v0\n").unwrap();
    w.repo.edit_config(
        "app.sh",
        "exec httpd",
        "if [ -f /www/data/legacy-format ]; then echo 'cannot migrate legacy data' >&2; exit 3; fi; exec httpd",
    );
    w.repo.release("0.4.0+1.2");
    let r = w.sweep();
    r.assert_code(0);
    let row = summary_row(&w, &r.stdout);
    assert_eq!(row["result"], "green", "{}", r.stdout);
    let note = row["note"].as_str().unwrap();
    assert!(
        note.contains("warm advance") && note.contains("the canonical stays 0.3.0+1.2"),
        "{note}"
    );
    assert_eq!(
        w.canonical(),
        c,
        "a failed advance leaves the canonical untouched"
    );

    // Clean up the canonical app's data for good.
    w.tool("ccci-deploy", &["teardown", &seed_run, "--release"])
        .assert_code(0);
    assert!(leftovers(&seed_run).is_empty());
}
