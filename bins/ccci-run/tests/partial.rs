//! Part of a run (`--tiers`) and a red app left up for probing (`--keep-app`).

mod common;

use ccci_testkit::run;
use common::*;
use std::process::Command;

fn deploy(w: &World, args: &[&str]) -> ccci_testkit::Run {
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(&bin().parent().unwrap().join("ccci-deploy"), args, &env)
}

fn services_of(stack: &str) -> usize {
    let out = Command::new("docker")
        .args(["service", "ls", "-q", "--filter", &format!("name={stack}_")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn a_partial_run_runs_what_was_named_and_is_never_green() {
    let w = World::new("run-partial");
    let r = w.run("part", "0.2.0+1.1", &["--tiers", "install"]);
    r.assert_code(0);
    let res = w.results("part");
    assert_valid(&res);
    assert_eq!(res["verdict"], "partial", "{res:#}");
    assert_eq!(
        statuses(&res),
        ["pass", "skip", "skip", "skip", "skip", "skip"],
        "{res:#}"
    );
    assert_eq!(
        res["left_out"],
        serde_json::json!(["upgrade", "backup", "restore", "custom", "lint"])
    );
    assert_eq!(
        tier(&res, "upgrade")["summary"],
        "left out: a partial run of install (--tiers)"
    );
    // No upgrade in the run: the app was the ref under test from the start.
    assert_eq!(res["previous"], serde_json::Value::Null, "{res:#}");
    let install = tier(&res, "install")["summary"].as_str().unwrap();
    assert!(install.starts_with("0.2.0+1.1: "), "{install}");
    assert!(
        r.stdout.contains("partial"),
        "the table says so: {}",
        r.stdout
    );
    // Never promotable.
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let promote = run(
        &bin().parent().unwrap().join("ccci-promote"),
        &["part"],
        &env,
    );
    assert_ne!(promote.code, 0, "{}", promote.stdout);
}

#[test]
fn a_red_run_kept_for_probing_stays_up_until_torn_down() {
    let w = World::new("run-keep");
    w.add_test(
        "demo/custom/always-red",
        "#!/bin/sh\necho 'the login page is blank'\nexit 1\n",
    );
    // Run again alone too, on a host whose budget has room for one demo
    // app only: the kept app stands beside the rerun, which goes all the
    // same (it never waits for an app that only a hand can take down).
    let r = w.run_env(
        "keep",
        "0.2.0+1.1",
        &["--tiers", "custom", "--keep-app", "--rerun-alone", "1"],
        &[("CCCI_BUDGET_MEMORY_MB", "700")],
    );
    r.assert_code(1);
    let rerun_log = std::fs::read_to_string(w.run_dir("keep").join("logs/rerun-1.log")).unwrap();
    assert!(
        rerun_log.contains("it does not fit the host's budget even with no other run going"),
        "{rerun_log}"
    );
    let res = w.results("keep");
    assert_eq!(res["reruns"][0]["verdict"], "red", "{res:#}");
    assert_valid(&res);
    assert_eq!(res["verdict"], "red");
    assert_eq!(
        statuses(&res),
        ["pass", "skip", "skip", "skip", "fail", "skip"],
        "{res:#}"
    );
    assert_eq!(res["teardown"]["status"], "kept", "{res:#}");
    let stack = res["apps"][0]["stack"].as_str().unwrap().to_string();
    assert!(services_of(&stack) > 0, "the app is still up");
    let kept: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.run_dir("keep").join("kept.json")).unwrap(),
    )
    .unwrap();
    assert!(
        kept["reason"]
            .as_str()
            .unwrap()
            .starts_with("custom fail: 1 passed, 1 failed; demo/custom/always-red"),
        "{kept}"
    );
    // Listed, and left alone by the reaper.
    let st = deploy(&w, &["status", "keep"]);
    st.assert_code(0);
    assert!(
        st.stdout.contains("kept     for probing since"),
        "{}",
        st.stdout
    );
    let reap = deploy(&w, &["--json", "reap", "--grace", "0"]);
    reap.assert_code(0);
    assert!(
        reap.stdout.contains("kept: left up for probing"),
        "{}",
        reap.stdout
    );
    assert!(services_of(&stack) > 0, "the reaper left it");
    // Torn down by hand: gone, and no longer kept.
    deploy(&w, &["teardown", "keep"]).assert_code(0);
    assert_eq!(services_of(&stack), 0);
    assert!(!w.run_dir("keep").join("kept.json").exists());
}

#[test]
fn bad_partial_requests_are_refused_before_anything_runs() {
    let w = World::new("run-partial-bad");
    for (args, says) in [
        (
            vec!["--tiers", "custom,instal"],
            "--tiers: \"instal\" is not a tier",
        ),
        (
            vec!["--keep-app", "--trigger", "sweep"],
            "--keep-app is refused for sweep runs",
        ),
    ] {
        let r = w.run("bad", "0.2.0+1.1", &args);
        r.assert_code(2);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
        assert!(!w.run_dir("bad").exists(), "nothing was created");
    }
}
