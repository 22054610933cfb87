//! Whole runs on the real swarm: the level each fixture recipe climbs to, and
//! that every tier is reported whatever failed before it.

mod common;

use ccci_testkit::leftovers;
use common::{World, assert_valid, statuses, tier};

#[test]
fn demo_release_climbs_to_l5_and_results_validate() {
    let w = World::new("run-l5");
    // As a `ccci-run@` unit (Type=notify): systemd hears READY and each tier.
    let sock_path = w.scratch.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_nonblocking(true).unwrap();
    let r = w.run_env(
        "l5",
        "0.2.0+1.1",
        &[],
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    r.assert_code(0);
    let mut heard = vec![];
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        heard.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    assert!(
        heard[0].starts_with("READY=1\nSTATUS=planned demo at "),
        "{heard:?}"
    );
    let tiers: Vec<&str> = heard
        .iter()
        .filter_map(|m| m.strip_prefix("STATUS=tier "))
        .map(|m| m.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        tiers,
        ["install", "upgrade", "backup", "restore", "custom", "lint"]
    );
    assert_eq!(heard.last().unwrap(), "STATUS=tearing down");
    assert!(r.stdout.contains("level L5 (green)"), "{}", r.stdout);
    let res = w.results("l5");
    assert_valid(&res);
    assert_eq!(statuses(&res), ["pass"; 6]);
    assert_eq!(res["level"], 5);
    assert_eq!(res["verdict"], "green");
    assert_eq!(res["deploy_count"], 1);
    assert_eq!(res["previous"], "0.1.0+1.0");
    assert_eq!(res["tested_tag"], "0.2.0+1.1");
    assert_eq!(res["teardown"]["status"], "clean");
    assert!(leftovers("l5").is_empty(), "{:?}", leftovers("l5"));
    // Every test ran and left its log; the generic ones and the recipe's own.
    let dir = w.run_dir("l5");
    let mut ids = vec![];
    for t in res["tiers"].as_array().unwrap() {
        for test in t["tests"].as_array().unwrap() {
            assert!(dir.join(test["log"].as_str().unwrap()).is_file(), "{test}");
            ids.push(test["id"].as_str().unwrap().to_string());
        }
    }
    for want in [
        "_generic/install/http-serves",
        "_generic/upgrade/marker-kept",
        "_generic/upgrade/runs-ref",
        "_generic/backup/artifact",
        "_generic/restore/roundtrip",
        "demo/custom/rows-over-http",
        "_generic/lint/ccci-lint",
    ] {
        assert!(ids.iter().any(|i| i == want), "{want} not in {ids:?}");
    }
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 6);
    assert!(junit.contains("failures=\"0\""));
    // The runner's own overhead, recorded per run (the benchmark reports it).
    assert!(
        res["overhead_s"].as_f64().unwrap() < 2.0,
        "{}",
        res["overhead_s"]
    );
}

#[test]
fn crash_looping_upgrade_is_l1_and_later_tiers_still_report() {
    let w = World::new("run-l1");
    w.repo.edit_config(
        "app.sh",
        "exec httpd",
        "echo 'fatal: cannot open database' >&2; exit 3; exec httpd",
    );
    w.repo.release("0.3.0+1.2");
    let r = w.run("l1", "0.3.0+1.2", &[]);
    r.assert_code(1);
    let res = w.results("l1");
    assert_valid(&res);
    assert_eq!(res["level"], 1, "{res:#}");
    assert_eq!(res["verdict"], "red");
    let up = tier(&res, "upgrade");
    assert_eq!(up["status"], "fail");
    let why = up["summary"].as_str().unwrap();
    assert!(
        why.contains("rolled back") && why.contains("0.2.0+1.1"),
        "{why}"
    );
    // The rolled-back app is still tested: a failing upgrade hides nothing above it.
    assert_eq!(
        statuses(&res),
        ["pass", "fail", "pass", "pass", "pass", "pass"]
    );
    assert_eq!(res["teardown"]["status"], "clean");
    assert!(leftovers("l1").is_empty());
}

#[test]
fn broken_restore_is_l2() {
    let w = World::new("run-l2");
    // The release forgets to replay the dump after a restore.
    w.repo.edit(
        "compose.yml",
        r#"backupbot.restore.post-hook: "/bin/sh /srv/db.sh load""#,
        r#"backupbot.restore.post-hook: "true""#,
    );
    w.repo.release("0.3.0+1.1");
    let r = w.run("l2", "0.3.0+1.1", &[]);
    r.assert_code(1);
    let res = w.results("l2");
    assert_valid(&res);
    assert_eq!(res["level"], 2, "{res:#}");
    assert_eq!(
        statuses(&res),
        ["pass", "pass", "pass", "fail", "pass", "pass"]
    );
    let restore = tier(&res, "restore")["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        restore.contains("MISSING") || restore.contains("db"),
        "{restore}"
    );
    assert!(leftovers("l2").is_empty());
}

#[test]
fn never_released_with_a_failing_custom_test_is_l3_and_upgrade_na() {
    let w = World::new("run-l3");
    for t in ["0.1.0+1.0", "0.2.0+1.1"] {
        let st = std::process::Command::new("git")
            .args(["-C", &w.repo.path.to_string_lossy(), "tag", "-d", t])
            .output()
            .unwrap();
        assert!(st.status.success());
    }
    w.add_test(
        "demo/custom/count-rows",
        "#!/bin/sh\necho 'expected 2 rows, found 1'\nexit 1\n",
    );
    w.add_test(
        "demo/custom/not-here",
        "#!/bin/sh\necho 'needs a browser'\nexit 77\n",
    );
    let r = w.run("l3", "main", &[]);
    r.assert_code(1);
    let res = w.results("l3");
    assert_valid(&res);
    assert_eq!(res["level"], 3, "{res:#}");
    assert_eq!(res["previous"], serde_json::Value::Null);
    assert_eq!(res["tested_tag"], serde_json::Value::Null);
    assert_eq!(
        statuses(&res),
        ["pass", "na", "pass", "pass", "fail", "pass"]
    );
    let custom = tier(&res, "custom");
    let outcomes: Vec<(&str, &str)> = custom["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["outcome"].as_str().unwrap()))
        .collect();
    assert!(
        outcomes.contains(&("demo/custom/count-rows", "fail")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("demo/custom/not-here", "skip")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("demo/custom/rows-over-http", "pass")),
        "{outcomes:?}"
    );
    assert!(
        custom["summary"]
            .as_str()
            .unwrap()
            .contains("expected 2 rows, found 1")
    );
    let junit = std::fs::read_to_string(w.run_dir("l3").join("junit.xml")).unwrap();
    assert!(
        junit.contains("<failure message=\"expected 2 rows, found 1\"/>"),
        "{junit}"
    );
    assert!(
        junit.contains("<skipped message=\"needs a browser\"/>"),
        "{junit}"
    );
    assert!(leftovers("l3").is_empty());
}

#[test]
fn a_dependency_whose_tests_all_skip_keeps_the_run_from_green() {
    let w = World::new("run-deps");
    let repo = w.repo.path.to_string_lossy().into_owned();
    std::fs::write(
        w.recipes.join("demo/recipe.json"),
        format!(
            r#"{{"schema": 1, "enrolled": true, "marker_hooks": {{"db": "hooks/backup-marker"}},
               "dependencies": [{{"recipe": "demo", "repo": "{repo}", "ref": "0.1.0+1.0",
                                  "tests": ["custom/sso-login"]}}]}}"#
        ),
    )
    .unwrap();
    // The test sees the dependency; it skips as a test does when its
    // integration cannot be exercised.
    w.add_test(
        "demo/custom/sso-login",
        "#!/bin/sh\n[ \"$CCCI_DEP_DEMO_READY\" = 1 ] || exit 99\n[ -n \"$CCCI_DEP_DEMO_STACK\" ] || exit 99\necho 'no SSO client configured'\nexit 77\n",
    );
    let r = w.run("deps", "0.1.0+1.0", &[]);
    r.assert_code(1);
    let res = w.results("deps");
    assert_valid(&res);
    assert_eq!(res["deploy_count"], 2, "{res:#}");
    let custom = tier(&res, "custom");
    assert_eq!(custom["status"], "fail", "{custom:#}");
    assert!(
        custom["summary"]
            .as_str()
            .unwrap()
            .contains("dependency demo unverified: all 1 of its tests skipped"),
        "{custom:#}"
    );
    assert_eq!(res["level"], 3);
    assert_eq!(res["teardown"]["status"], "clean");
    assert!(leftovers("deps").is_empty());
    assert!(leftovers("deps-dep-demo").is_empty());
}

#[test]
fn a_recipe_without_marker_hooks_runs_every_tier() {
    let w = World::new("run-nohooks");
    std::fs::write(
        w.recipes.join("demo/recipe.json"),
        r#"{"schema": 1, "enrolled": true, "health": {"kind": "http", "service": "app"}}"#,
    )
    .unwrap();
    // The demo as released: its db is backed up only as a dump, which no file
    // marker can sit in, so with no marker hook its restore is not provable.
    let r = w.run("nohooks", "0.2.0+1.1", &[]);
    r.assert_code(1);
    let res = w.results("nohooks");
    assert_valid(&res);
    assert_eq!(
        statuses(&res),
        ["pass", "pass", "pass", "fail", "pass", "pass"],
        "{res:#}"
    );
    let restore = tier(&res, "restore")["summary"].as_str().unwrap();
    assert!(restore.contains("not provable"), "{restore}");
    assert!(!restore.contains("no backup labels"), "{restore}");
    // Backup and restore are one rung (L3): the run stops at L2.
    assert_eq!(res["level"], 2);

    // Backed up only where file markers prove it: green, with no hooks at all.
    w.repo.edit(
        "compose.yml",
        "      labels:\n        backupbot.backup: \"true\"\n",
        "      labels:\n",
    );
    w.repo.release("0.3.0+1.1");
    let r = w.run("nohooks-green", "0.3.0+1.1", &[]);
    r.assert_code(0);
    let res = w.results("nohooks-green");
    assert_eq!(statuses(&res), ["pass"; 6], "{res:#}");
    assert_eq!(res["level"], 5);
    assert!(leftovers("nohooks").is_empty());
    assert!(leftovers("nohooks-green").is_empty());
}

#[test]
fn a_paused_upgrade_says_what_is_true_and_tests_an_app_that_still_serves() {
    let w = World::new("run-paused");
    w.repo.edit(
        "compose.yml",
        "failure_action: rollback",
        "failure_action: pause",
    );
    w.repo.release("0.2.1+1.1");
    w.repo
        .edit_config("app.sh", "exec httpd", "exit 4; exec httpd");
    w.repo.release("0.3.0+1.2");
    // stop-first: the old task is gone and the new one never starts.
    let r = w.run("paused", "0.3.0+1.2", &[]);
    r.assert_code(1);
    let res = w.results("paused");
    assert_valid(&res);
    assert_eq!(
        statuses(&res),
        ["pass", "fail", "skip", "skip", "skip", "pass"],
        "{res:#}"
    );
    let up = tier(&res, "upgrade")["summary"].as_str().unwrap();
    assert!(up.contains("update paused"), "{up}");
    for t in ["backup", "restore", "custom"] {
        let why = tier(&res, t)["summary"].as_str().unwrap();
        assert!(
            why.contains("the app does not serve after the failed upgrade")
                && why.contains("no task of app is running"),
            "{t}: {why}"
        );
        assert!(!why.contains("neither install nor upgrade"), "{t}: {why}");
    }
    assert!(leftovers("paused").is_empty());

    // start-first: swarm pauses with the old task still serving, so the tiers
    // above test it.
    w.repo
        .edit("compose.yml", "order: stop-first", "order: start-first");
    w.repo
        .edit_config("app.sh", "exit 4; exec httpd", "exec httpd");
    w.repo.release("0.3.1+1.2");
    w.repo
        .edit_config("app.sh", "exec httpd", "exit 4; exec httpd");
    w.repo.release("0.3.2+1.2");
    let r = w.run("paused-serving", "0.3.2+1.2", &[]);
    r.assert_code(1);
    let res = w.results("paused-serving");
    // The restore's own health wait still sees the paused update's task
    // failing, and says so: the app is tested, not declared healthy.
    assert_eq!(
        statuses(&res),
        ["pass", "fail", "pass", "fail", "pass", "pass"],
        "{res:#}"
    );
    let up = tier(&res, "upgrade")["summary"].as_str().unwrap();
    assert!(up.contains("but serves"), "{up}");
    let restore = tier(&res, "restore")["summary"].as_str().unwrap();
    assert!(restore.contains("non-zero exit (4)"), "{restore}");
    assert!(leftovers("paused-serving").is_empty());
}
