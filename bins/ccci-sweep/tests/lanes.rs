//! The sweep's lanes on the swarm: two recipes run side by side within the
//! host's run slots, and each recipe once.

use ccci_testkit::{RecipeRepo, Scratch, require_rig, run, workspace};
use std::path::PathBuf;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-sweep"))
}

#[test]
fn two_lanes_run_two_recipes_at_once_within_the_slots() {
    require_rig();
    let s = Scratch::new("sweep-lanes");
    let recipes = s.join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(workspace().join("recipes/_generic"))
        .arg(&recipes)
        .status()
        .unwrap();
    assert!(st.success());
    for name in ["lane-a", "lane-b"] {
        let repo = RecipeRepo::from_demo(&s.join(&format!("{name}.git")));
        let dir = recipes.join(name);
        std::fs::create_dir_all(dir.join("hooks")).unwrap();
        std::fs::copy(
            workspace().join("recipes/demo/hooks/backup-marker"),
            dir.join("hooks/backup-marker"),
        )
        .unwrap();
        std::fs::write(
            dir.join("recipe.json"),
            format!(
                r#"{{"schema": 1, "enrolled": true, "repo": "{}", "marker_hooks": {{"db": "hooks/backup-marker"}}}}"#,
                repo.path.display()
            ),
        )
        .unwrap();
    }
    let state = s.join("state").to_string_lossy().into_owned();
    let recipes_s = recipes.to_string_lossy().into_owned();
    let env = [
        ("CCCI_STATE_DIR", state.as_str()),
        ("CCCI_RECIPES_DIR", recipes_s.as_str()),
        ("CCCI_MAX_PARALLEL_RUNS", "2"),
    ];
    let r = run(&bin(), &["--json", "--lanes", "2"], &env);
    r.assert_code(0);
    let v = r.json();
    let rows = v["recipes"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v:#}");
    // The summary keeps the recipes' order, whatever order they finished in.
    assert_eq!(rows[0]["recipe"], "lane-a");
    assert_eq!(rows[1]["recipe"], "lane-b");
    let window = |row: &serde_json::Value| {
        let id = row["run_id"].as_str().unwrap();
        let res: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(s.join("state/runs").join(id).join("results.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(res["verdict"], "green", "{res:#}");
        let t = |k: &str| ccci_core::ids::parse_rfc3339(res[k].as_str().unwrap()).unwrap();
        (t("started"), t("finished"))
    };
    let (a0, a1) = window(&rows[0]);
    let (b0, b1) = window(&rows[1]);
    assert!(
        a0 < b1 && b0 < a1,
        "the two runs did not overlap: {a0}-{a1} and {b0}-{b1}"
    );
    // The promoted runs keep their data as canonical apps: released here.
    let deploy = bin().parent().unwrap().join("ccci-deploy");
    for row in rows {
        run(
            &deploy,
            &["teardown", row["run_id"].as_str().unwrap(), "--release"],
            &env,
        )
        .assert_code(0);
    }
}
