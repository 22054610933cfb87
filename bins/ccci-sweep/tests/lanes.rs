//! The sweep's lanes on the swarm: two recipes run side by side within the
//! host's run slots and its budget (docs/budget.md), and each recipe once.

mod common;

use common::World;
use serde_json::Value;

/// Two enrolled demo-class recipes, `lane-a` and `lane-b`, with `extra`
/// merged into each recipe.json.
fn two_recipes(name: &str, extra: &str) -> World {
    let w = World::new(name);
    for recipe in ["lane-a", "lane-b"] {
        w.enroll(recipe, extra);
    }
    w
}

fn results(w: &World, row: &Value) -> Value {
    let id = row["run_id"].as_str().unwrap();
    serde_json::from_str(
        &std::fs::read_to_string(w.state.join("runs").join(id).join("results.json")).unwrap(),
    )
    .unwrap()
}

/// A green run's start and end.
fn window(res: &Value) -> (i64, i64) {
    assert_eq!(res["verdict"], "green", "{res:#}");
    let t = |k: &str| ccci_core::ids::parse_rfc3339(res[k].as_str().unwrap()).unwrap();
    (t("started"), t("finished"))
}

/// A sweep of both on two lanes and two run slots, with `more` environment:
/// its rows and their results.
fn sweep(w: &World, more: &[(&str, &str)]) -> (Value, Vec<Value>) {
    let mut env = vec![("CCCI_MAX_PARALLEL_RUNS", "2")];
    env.extend_from_slice(more);
    let r = w.sweep_env(&["--json", "--lanes", "2"], &env);
    r.assert_code(0);
    let v = r.json();
    let rows = v["recipes"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2, "{v:#}");
    let res = rows.iter().map(|row| results(w, row)).collect();
    (v, res)
}

#[test]
fn two_lanes_run_two_recipes_at_once_within_the_slots() {
    let w = two_recipes("sweep-lanes", "");
    let (v, res) = sweep(&w, &[]);
    let rows = v["recipes"].as_array().unwrap();
    // The summary keeps the recipes' order, whatever order they finished in.
    assert_eq!(rows[0]["recipe"], "lane-a");
    assert_eq!(rows[1]["recipe"], "lane-b");
    let (a0, a1) = window(&res[0]);
    let (b0, b1) = window(&res[1]);
    assert!(
        a0 < b1 && b0 < a1,
        "the two runs did not overlap: {a0}-{a1} and {b0}-{b1}"
    );
    // Never measured, each was counted at the default; what its app took
    // was measured and is what its next run is counted at.
    let id = rows[0]["run_id"].as_str().unwrap();
    let b = &res[0]["budget"];
    assert_eq!(b["need"][0]["memory_from"], "default", "{b:#}");
    let took = &b["measured"][id];
    assert!(took["memory_mb"].as_u64().unwrap() > 0, "{b:#}");
    assert!(took["disk_mb"].as_u64().unwrap() > 0, "{b:#}");
    let learned: Value = serde_json::from_str(
        &std::fs::read_to_string(w.state.join("budget/learned/lane-a.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(learned["samples"][0]["run_id"], id, "{learned:#}");
    assert_eq!(learned["samples"][0]["memory_mb"], took["memory_mb"]);
    for row in rows {
        w.release(row["run_id"].as_str().unwrap());
    }
}

#[test]
fn a_spent_budget_makes_a_lane_wait_and_say_for_what() {
    // Each declares 600 MiB; the host gives runs 1000: two lanes, two run
    // slots, and still one run at a time.
    let w = two_recipes("sweep-budget", r#", "budget": {"memory_mb": 600}"#);
    let (v, res) = sweep(&w, &[("CCCI_BUDGET_MEMORY_MB", "1000")]);
    let rows = v["recipes"].as_array().unwrap();
    let (a0, a1) = window(&res[0]);
    let (b0, b1) = window(&res[1]);
    assert!(
        a1 <= b0 || b1 <= a0,
        "the runs overlapped beyond the budget: {a0}-{a1} and {b0}-{b1}"
    );
    // The one that went second waited, and said for what: the memory it
    // needs, what is left, and which run holds the rest.
    let (first, second, waited) = if a0 <= b0 {
        (&rows[0], &rows[1], &res[1])
    } else {
        (&rows[1], &rows[0], &res[0])
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
        w.state
            .join("sweeps")
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
    for row in rows {
        w.release(row["run_id"].as_str().unwrap());
    }
}
