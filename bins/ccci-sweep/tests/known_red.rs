//! The sweep remembers, on the swarm: a release red for the recipe's reasons
//! is not tested again until something changes, while a flake is retried on
//! the next sweep.

mod common;

use ccci_testkit::Run;
use common::World;

fn rows(r: &Run) -> serde_json::Value {
    let path = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .unwrap_or_else(|| panic!("no summary in {}\n{}", r.stdout, r.stderr));
    serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(path).unwrap()).unwrap()
        ["recipes"]
        .clone()
}

fn row<'a>(rows: &'a serde_json::Value, recipe: &str) -> &'a serde_json::Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["recipe"] == recipe)
        .unwrap_or_else(|| panic!("no row for {recipe}: {rows:#}"))
}

#[test]
fn a_second_sweep_runs_the_flake_again_and_not_the_known_red() {
    let w = World::new("sweep-known-red");
    // crashy: its newest release crash-loops: red, class recipe, alone too.
    let crashy = w.enroll(
        "crashy",
        r#", "health": {"kind": "http", "service": "app", "path": "/", "codes": [200], "max_restarts": 0}"#,
    );
    crashy.edit_config("app.sh", "#!/bin/sh\n", "#!/bin/sh\nexit 3\n");
    crashy.release("0.3.0+1.1");
    // flaky: one test fails on its first attempt only.
    w.enroll("flaky", "");
    let seen = w.scratch.join("seen-once");
    w.add_test(
        "flaky/custom/under-load",
        &format!(
            "#!/bin/sh\nif [ -e {0} ]; then exit 0; fi\ntouch {0}\necho 'timed out waiting for the page'\nexit 1\n",
            seen.display()
        ),
    );

    let first = w.sweep(&[]);
    first.assert_code(0);
    let rows1 = rows(&first);
    assert_eq!(row(&rows1, "crashy")["result"], "red:recipe", "{rows1:#}");
    assert_eq!(row(&rows1, "flaky")["result"], "red:flake", "{rows1:#}");
    let known: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.state.join("known-red/crashy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(known["tag"], "0.3.0+1.1");
    assert!(
        !w.state.join("known-red/flaky.json").exists(),
        "a flake is not remembered"
    );

    // Right after: the known red is skipped, saying which run showed it; the
    // flake runs again (and is green now).
    let second = w.sweep(&[]);
    second.assert_code(0);
    let rows2 = rows(&second);
    let c = row(&rows2, "crashy");
    assert_eq!(c["decision"], "skip:known-red", "{rows2:#}");
    assert_eq!(c["run_id"], known["run_id"]);
    assert!(
        c["note"]
            .as_str()
            .unwrap()
            .contains("`ccci-sweep --force crashy` tests it again"),
        "{c:#}"
    );
    let f = row(&rows2, "flaky");
    assert!(
        f["decision"].as_str().unwrap().starts_with("run"),
        "{rows2:#}"
    );
    assert_eq!(f["result"], "green", "{rows2:#}");
    // The promoted run keeps its data as the canonical app's: released at
    // the end, so the test leaves nothing behind.
    let promoted = f["run_id"].as_str().unwrap().to_string();

    // A change to ccci's tests for it, or --force, tests it again.
    let forced = w.sweep(&["crashy", "--force", "crashy"]);
    let rows3 = rows(&forced);
    assert_eq!(row(&rows3, "crashy")["decision"], "run:seed", "{rows3:#}");
    w.add_test("crashy/custom/new-check", "#!/bin/sh\nexit 0\n");
    let changed = w.sweep(&["crashy"]);
    let rows4 = rows(&changed);
    assert_eq!(row(&rows4, "crashy")["decision"], "run:seed", "{rows4:#}");
    w.release(&promoted);
}
