//! The sweep's lanes on the swarm: two recipes run side by side within the
//! host's run slots and its budget (docs/budget.md), and each recipe once.

use ccci_testkit::{RecipeRepo, Scratch, require_rig, run, workspace};
use serde_json::Value;
use std::path::PathBuf;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-sweep"))
}

/// Two enrolled demo-class recipes, `lane-a` and `lane-b`, with `extra`
/// merged into each recipe.json.
fn two_recipes(s: &Scratch, extra: &str) -> PathBuf {
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
                r#"{{"schema": 1, "enrolled": true, "repo": "{}", "marker_hooks": {{"db": "hooks/backup-marker"}}{extra}}}"#,
                repo.path.display()
            ),
        )
        .unwrap();
    }
    recipes
}

fn results(s: &Scratch, row: &Value) -> Value {
    let id = row["run_id"].as_str().unwrap();
    serde_json::from_str(
        &std::fs::read_to_string(s.join("state/runs").join(id).join("results.json")).unwrap(),
    )
    .unwrap()
}

/// A green run's start and end.
fn window(res: &Value) -> (i64, i64) {
    assert_eq!(res["verdict"], "green", "{res:#}");
    let t = |k: &str| ccci_core::ids::parse_rfc3339(res[k].as_str().unwrap()).unwrap();
    (t("started"), t("finished"))
}

/// The promoted runs keep their data as canonical apps: released here.
fn release(rows: &[Value], env: &[(&str, &str)]) {
    let deploy = bin().parent().unwrap().join("ccci-deploy");
    for row in rows {
        run(
            &deploy,
            &["teardown", row["run_id"].as_str().unwrap(), "--release"],
            env,
        )
        .assert_code(0);
    }
}

#[test]
fn two_lanes_run_two_recipes_at_once_within_the_slots() {
    require_rig();
    let s = Scratch::new("sweep-lanes");
    let recipes = two_recipes(&s, "");
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
    let (ra, rb) = (results(&s, &rows[0]), results(&s, &rows[1]));
    let (a0, a1) = window(&ra);
    let (b0, b1) = window(&rb);
    assert!(
        a0 < b1 && b0 < a1,
        "the two runs did not overlap: {a0}-{a1} and {b0}-{b1}"
    );
    // Never measured, each was counted at the default; what its app took
    // was measured and is what its next run is counted at.
    let id = rows[0]["run_id"].as_str().unwrap();
    let b = &ra["budget"];
    assert_eq!(b["need"][0]["memory_from"], "default", "{b:#}");
    let took = &b["measured"][id];
    assert!(took["memory_mb"].as_u64().unwrap() > 0, "{b:#}");
    assert!(took["disk_mb"].as_u64().unwrap() > 0, "{b:#}");
    let learned: Value = serde_json::from_str(
        &std::fs::read_to_string(s.join("state/budget/learned/lane-a.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(learned["samples"][0]["run_id"], id, "{learned:#}");
    assert_eq!(learned["samples"][0]["memory_mb"], took["memory_mb"]);
    release(rows, &env);
}

#[test]
fn a_spent_budget_makes_a_lane_wait_and_say_for_what() {
    require_rig();
    let s = Scratch::new("sweep-budget");
    // Each declares 600 MiB; the host gives runs 1000: two lanes, two run
    // slots, and still one run at a time.
    let recipes = two_recipes(&s, r#", "budget": {"memory_mb": 600}"#);
    let state = s.join("state").to_string_lossy().into_owned();
    let recipes_s = recipes.to_string_lossy().into_owned();
    let env = [
        ("CCCI_STATE_DIR", state.as_str()),
        ("CCCI_RECIPES_DIR", recipes_s.as_str()),
        ("CCCI_MAX_PARALLEL_RUNS", "2"),
        ("CCCI_BUDGET_MEMORY_MB", "1000"),
    ];
    let r = run(&bin(), &["--json", "--lanes", "2"], &env);
    r.assert_code(0);
    let v = r.json();
    let rows = v["recipes"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v:#}");
    let (ra, rb) = (results(&s, &rows[0]), results(&s, &rows[1]));
    let (a0, a1) = window(&ra);
    let (b0, b1) = window(&rb);
    assert!(
        a1 <= b0 || b1 <= a0,
        "the runs overlapped beyond the budget: {a0}-{a1} and {b0}-{b1}"
    );
    // The one that went second waited, and said for what: the memory it
    // needs, what is left, and which run holds the rest.
    let (first, second, waited) = if a0 <= b0 {
        (&rows[0], &rows[1], &rb)
    } else {
        (&rows[1], &rows[0], &ra)
    };
    assert!(
        waited["budget"]["waited_s"].as_f64().unwrap() > 1.0,
        "{waited:#}"
    );
    // Its row says so, as its seconds are not all the recipe's.
    assert!(
        second["note"]
            .as_str()
            .unwrap()
            .contains("s for the host's budget"),
        "{second:#}"
    );
    let log = std::fs::read_to_string(
        s.join("state/sweeps")
            .join(v["started"].as_str().unwrap())
            .join(format!("{}.log", second["recipe"].as_str().unwrap())),
    )
    .unwrap();
    let said = format!(
        "waiting for the host's budget: memory: it needs 600 MiB ({} 600 MiB (declared)) and 400 MiB \
         of the 1000 MiB budget (budget_memory_mb) are left, held by run {} ({}) 600 MiB",
        second["recipe"].as_str().unwrap(),
        first["run_id"].as_str().unwrap(),
        first["recipe"].as_str().unwrap(),
    );
    assert!(log.contains(&said), "{said}\nnot in:\n{log}");
    release(rows, &env);
}
