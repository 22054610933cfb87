//! The recipes modelled on real Co-op Cloud recipes (`demo/custom-html`,
//! `demo/mumble`, `demo/pgapp`), each on real server software from the rig's
//! registry, through `ccci-run`'s whole lifecycle with its own test suite in
//! `recipes/<name>/`: each reaches L5.

mod common;

use ccci_testkit::{RecipeWorld, leftovers};
use common::{assert_valid, bin, statuses, tier};
use std::time::Instant;

/// Run the recipe's newest release (installed at the one before) and check
/// it climbs to L5 green, with every test of its suite run and passed, its
/// data marker restored through its marker hook, and nothing left behind.
fn climbs_to_l5(recipe: &str, newest: &str, previous: &str, own_tests: &[&str]) -> RecipeWorld {
    let w = RecipeWorld::new(&format!("real-{recipe}"), recipe);
    let id = format!("real-{recipe}");
    let t0 = Instant::now();
    let r = w.run(&bin(), &id, newest, &[]);
    eprintln!(
        "{recipe}: ccci-run took {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    r.assert_code(0);
    assert!(r.stdout.contains("level L5 (green)"), "{}", r.stdout);
    let res = w.results(&id);
    assert_valid(&res);
    assert_eq!(statuses(&res), ["pass"; 6], "{res:#}");
    assert_eq!(res["level"], 5);
    assert_eq!(res["verdict"], "green");
    assert_eq!(res["tested_tag"], newest);
    assert_eq!(res["previous"], previous);
    assert_eq!(res["teardown"]["status"], "clean");
    let mut ran = vec![];
    for t in res["tiers"].as_array().unwrap() {
        for test in t["tests"].as_array().unwrap() {
            ran.push((
                test["id"].as_str().unwrap().to_string(),
                test["outcome"].as_str().unwrap().to_string(),
            ));
        }
    }
    for want in own_tests
        .iter()
        .copied()
        .chain(["_generic/upgrade/marker-kept", "_generic/restore/roundtrip"])
    {
        assert!(
            ran.iter()
                .any(|(id, outcome)| id == want && outcome == "pass"),
            "{want} did not pass: {ran:?}"
        );
    }
    // The marker went through the recipe's own hook, in the upgrade and in
    // the restore: data as the app keeps it, not a file ccci wrote.
    for log in [
        "logs/upgrade/_generic_upgrade_marker-kept.log",
        "logs/restore/_generic_restore_roundtrip.log",
    ] {
        let text = w.read_run_file(&id, log);
        assert!(text.contains("restored (recipe hook)"), "{log}:\n{text}");
    }
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    eprintln!(
        "{recipe}: {}",
        res["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!(
                "{} {:.1} s",
                t["name"].as_str().unwrap(),
                t["duration_s"].as_f64().unwrap()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    w
}

#[test]
fn custom_html_serves_its_volume_and_reaches_l5() {
    let w = climbs_to_l5(
        "custom-html",
        "1.1.0+1.22.1",
        "1.0.0+1.22",
        &[
            "custom-html/custom/file-roundtrip",
            "custom-html/custom/content-types",
        ],
    );
    let res = w.results("real-custom-html");
    let custom = tier(&res, "custom");
    let said: Vec<&str> = custom["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["summary"].as_str().unwrap())
        .collect();
    assert!(
        said.iter()
            .any(|s| s.contains(".html is text/html") && s.contains(".txt is text/plain")),
        "{said:?}"
    );
    assert!(said.iter().any(|s| s.contains("byte for byte")), "{said:?}");
}

#[test]
fn mumble_speaks_its_protocol_keeps_channels_and_reaches_l5() {
    let w = climbs_to_l5(
        "mumble",
        "0.2.0+1.3.4",
        "0.1.0+1.3",
        &["mumble/install/tcp-serves", "mumble/custom/protocol"],
    );
    let res = w.results("real-mumble");
    let protocol = tier(&res, "custom")["summary"].as_str().unwrap();
    assert!(
        protocol.contains("welcome text 'Welcome to this Co-op Cloud Mumble server'"),
        "{protocol}"
    );
    // The restore put the database copy back and restarted the server: the
    // channel the restore brought back is one the new server read from SQLite.
    let restore = tier(&res, "restore")["summary"].as_str().unwrap();
    assert!(restore.contains("every marker came back"), "{restore}");
}

#[test]
fn pgapp_on_postgres_dumps_restores_and_reaches_l5() {
    let w = climbs_to_l5(
        "pgapp",
        "0.2.0+1.0",
        "0.1.0+1.0",
        &["pgapp/custom/rows-over-http"],
    );
    let res = w.results("real-pgapp");
    let backup = w.read_run_file("real-pgapp", "logs/restore/_generic_restore_roundtrip.log");
    assert!(
        backup.contains("db           postgres     backup.sql"),
        "{backup}"
    );
    assert_eq!(tier(&res, "custom")["status"], "pass");
}
