//! CI compose overlays on the swarm: an image re-pinned because the release's
//! was deleted upstream, and a longer start period for the install only.

mod common;

use common::*;

/// The app service's healthcheck start period, as a test sees it.
const START_PERIOD_TEST: &str = r#"#!/bin/sh
got=$(docker service inspect "${CCCI_STACK}_app" --format '{{.Spec.TaskTemplate.ContainerSpec.Healthcheck.StartPeriod}}')
[ "$got" = "$WANT" ] || { echo "start period is $got, not $WANT"; exit 1; }
"#;

fn check_start_period(want_ns: &str) -> String {
    START_PERIOD_TEST.replace("$WANT", want_ns)
}

#[test]
fn overlays_layer_over_the_recipe_for_their_phase_and_the_run_says_so() {
    let w = World::new("run-overlays");
    // A release whose app image is gone from the registry (as when upstream
    // deletes a tag): red as it is.
    w.repo.edit(
        "compose.yml",
        "image: 127.0.0.1:5000/ccci/busybox:1.1\n    command: [\"/bin/sh\", \"/srv/app.sh\"]",
        "image: 127.0.0.1:5000/ccci/busybox:0.0.404\n    command: [\"/bin/sh\", \"/srv/app.sh\"]",
    );
    w.repo.release("0.3.0+1.1");
    let r = w.run("no-overlay", "0.3.0+1.1", &["--tiers", "install"]);
    r.assert_code(1);
    let res = w.results("no-overlay");
    let install = tier(&res, "install")["summary"].as_str().unwrap();
    assert!(install.contains("busybox:0.0.404"), "{install}");
    assert!(res.get("overlays").is_none(), "{res:#}");

    // The CI host re-pins the image for both deploys and gives the install a
    // longer start period (a slow first migration).
    let compose = w.recipes.join("demo/compose");
    std::fs::create_dir_all(&compose).unwrap();
    std::fs::write(
        compose.join("repin.yml"),
        "version: \"3.8\"\nservices:\n  app:\n    image: 127.0.0.1:5000/ccci/busybox:1.1\n",
    )
    .unwrap();
    std::fs::write(
        compose.join("install-slow-start.yml"),
        "version: \"3.8\"\nservices:\n  app:\n    healthcheck:\n      start_period: 45s\n",
    )
    .unwrap();
    w.add_test("demo/install/start-period", &check_start_period("45s"));
    // After the upgrade the install-only overlay no longer applies.
    w.add_test("demo/custom/start-period", &check_start_period("5s"));
    w.repo.write("NOTES.md", "a second release\n");
    w.repo.release("0.4.0+1.1");
    let r = w.run("overlay", "0.4.0+1.1", &[]);
    let res = w.results("overlay");
    assert_eq!(
        statuses(&res),
        ["pass", "pass", "pass", "pass", "pass", "pass"],
        "{res:#}\n{}",
        r.stderr
    );
    r.assert_code(0);
    assert_valid(&res);
    assert_eq!(
        res["overlays"],
        serde_json::json!([
            {"file": "install-slow-start.yml", "phase": "install"},
            {"file": "repin.yml", "phase": "both"}
        ])
    );
    assert!(
        r.stdout
            .contains("CI overlays: install-slow-start.yml (install), repin.yml (both)"),
        "{}",
        r.stdout
    );
    // The deploys say which overlays they layered.
    let ledger = std::fs::read_to_string(w.run_dir("overlay").join("ledger.jsonl")).unwrap();
    let starts: Vec<&str> = ledger
        .lines()
        .filter(|l| l.contains("\"deploy-start\""))
        .collect();
    assert_eq!(starts.len(), 2, "{ledger}");
    assert!(
        starts[0].contains(r#""overlays":["install-slow-start.yml","repin.yml"]"#),
        "{}",
        starts[0]
    );
    assert!(
        starts[1].contains(r#""overlays":["repin.yml"]"#),
        "{}",
        starts[1]
    );
}

#[test]
fn lint_fails_an_overlay_that_changes_more_than_it_may() {
    let w = World::new("run-overlay-lint");
    let compose = w.recipes.join("demo/compose");
    std::fs::create_dir_all(&compose).unwrap();
    // An overlay that changes the app's command tests another app.
    std::fs::write(
        compose.join("sneaky.yml"),
        "version: \"3.8\"\nservices:\n  app:\n    command: [\"/bin/true\"]\n",
    )
    .unwrap();
    let r = w.run("sneaky", "0.2.0+1.1", &["--tiers", "lint"]);
    r.assert_code(1);
    let res = w.results("sneaky");
    let lint = tier(&res, "lint");
    assert_eq!(lint["status"], "fail", "{res:#}");
    let log = std::fs::read_to_string(
        w.run_dir("sneaky")
            .join(lint["tests"][0]["log"].as_str().unwrap()),
    )
    .unwrap();
    assert!(log.contains("C011"), "{log}");
}
