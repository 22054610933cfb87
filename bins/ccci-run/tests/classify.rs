//! Why is it red? Each class of failure on a fixture made for it, with its
//! evidence and signature, and a rerun alone that tells a flake from a defect.

mod common;

use common::*;
use std::io::{Read, Write};

fn red<'a>(res: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let t = tier(res, name);
    assert!(!t["red"].is_null(), "tier {name} has no red: {res:#}");
    &t["red"]
}

fn evidence(red: &serde_json::Value) -> String {
    red["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn a_false_assertion_on_a_healthy_app_is_test_and_reproduces_alone() {
    let w = World::new("cls-test");
    w.add_test(
        "demo/custom/wrong",
        "#!/bin/sh\necho \"expected 3 rows at https://$CCCI_DOMAIN/, got 2\"\nexit 1\n",
    );
    let r = w.run(
        "wrong",
        "0.2.0+1.1",
        &["--tiers", "custom", "--rerun-alone", "1"],
    );
    r.assert_code(1);
    let res = w.results("wrong");
    assert_valid(&res);
    let red = red(&res, "custom");
    assert_eq!(red["class"], "test", "{red:#}");
    let e = evidence(red);
    assert!(e.contains("the app converged and is healthy"), "{e}");
    assert!(
        e.contains("only the recipe's own tests failed: demo/custom/wrong"),
        "{e}"
    );
    // The signature holds no run-specific words.
    let sig = &red["signature"];
    assert_eq!(sig["step"], "custom/wrong");
    assert_eq!(sig["error"], "expected 3 rows at https://<domain>/, got 2");
    // Run again alone: the same signature, so the class stands.
    assert_eq!(res["reruns"][0]["run_id"], "wrong-alone-1", "{res:#}");
    assert_eq!(res["reruns"][0]["verdict"], "red");
    assert!(e.contains("reproduced alone 1/1"), "{e}");
    let again = w.results("wrong-alone-1");
    assert_eq!(
        tier(&again, "custom")["red"]["signature"]["id"],
        sig["id"],
        "the same failure, the same id"
    );
    assert!(r.stdout.contains("test (signature "), "{}", r.stdout);
}

#[test]
fn a_failure_that_passes_alone_is_a_flake_with_both_runs_named() {
    let w = World::new("cls-flake");
    // Red on its first attempt only, as a test that fails under load would.
    let seen = w.scratch.join("seen-once");
    w.add_test(
        "demo/custom/under-load",
        &format!(
            "#!/bin/sh\nif [ -e {0} ]; then exit 0; fi\ntouch {0}\necho 'timed out waiting for the page'\nexit 1\n",
            seen.display()
        ),
    );
    // As a `ccci-run@` unit of a pull request's run would have it: the
    // rerun must not inherit the request.
    let r = w.run_env(
        "flaky",
        "0.2.0+1.1",
        &["--tiers", "custom", "--rerun-alone", "2"],
        &[("CCCI_RUN_PR", "7")],
    );
    // Still red: a flake is reported, never turned green.
    r.assert_code(1);
    let res = w.results("flaky");
    assert_eq!(res["verdict"], "red");
    let red = red(&res, "custom");
    assert_eq!(red["class"], "flake", "{red:#}");
    assert!(
        evidence(red).contains("red in run flaky, partial alone in run flaky-alone-1"),
        "{}",
        evidence(red)
    );
    // Green alone once is enough: no second rerun.
    assert_eq!(res["reruns"].as_array().unwrap().len(), 1, "{res:#}");
    let again = w.results("flaky-alone-1");
    assert_eq!(again["pr"], serde_json::Value::Null, "{again:#}");
    assert_eq!(again["rerun_of"], "flaky");
    assert_eq!(res["pr"], 7);
}

#[test]
fn a_crash_looping_release_is_recipe_with_the_service_in_its_signature() {
    let w = World::new("cls-recipe");
    w.repo.edit_config(
        "app.sh",
        "#!/bin/sh\n",
        "#!/bin/sh\necho 'config rejected' >&2\nexit 3\n",
    );
    w.repo.release("0.3.0+1.1");
    std::fs::write(
        w.recipes.join("demo/recipe.json"),
        r#"{"schema": 1, "health": {"kind": "http", "service": "app", "path": "/", "codes": [200], "max_restarts": 0}}"#,
    )
    .unwrap();
    let r = w.run("crash", "0.3.0+1.1", &["--tiers", "install"]);
    r.assert_code(1);
    let res = w.results("crash");
    let red = red(&res, "install");
    assert_eq!(red["class"], "recipe", "{red:#}");
    assert_eq!(red["signature"]["step"], "deploy");
    assert_eq!(red["signature"]["service"], "app", "{red:#}");
    assert!(
        evidence(red).contains("the recipe's deploy failed"),
        "{red:#}"
    );
}

#[test]
fn a_ccci_tool_that_breaks_is_harness() {
    let w = World::new("cls-harness");
    // A restic that says nothing about the backup it was asked for: the
    // backup tool cannot go on and breaks (exit 70), and the generic test
    // that called it says so.
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v restic"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let shims = w.scratch.join("shims");
    std::fs::create_dir_all(&shims).unwrap();
    let shim = shims.join("restic");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" backup \"*) exit 0 ;; esac\nexec {} \"$@\"\n",
            real.trim()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", shims.display(), std::env::var("PATH").unwrap());
    let r = w.run_env(
        "harness",
        "0.2.0+1.1",
        &["--tiers", "backup", "--rerun-alone", "1"],
        &[("PATH", path.as_str())],
    );
    r.assert_code(1);
    let res = w.results("harness");
    let red = red(&res, "backup");
    assert_eq!(red["class"], "harness", "{red:#}");
    assert!(
        evidence(red).contains("answered outside the contract (exit 70)"),
        "{}",
        evidence(red)
    );
    // ccci's own failure is not the recipe's: nothing to rerun alone.
    assert!(res.get("reruns").is_none(), "{res:#}");
}

/// A registry that answers every request with 503.
fn unavailable_registry() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    port
}

#[test]
fn a_registry_that_answers_503_is_infrastructure_and_not_run_again() {
    let w = World::new("cls-infra");
    let port = unavailable_registry();
    w.repo.edit(
        "compose.yml",
        "image: 127.0.0.1:5000/ccci/busybox:1.1\n    command: [\"/bin/sh\", \"/srv/app.sh\"]",
        &format!(
            "image: 127.0.0.1:{port}/ccci/busybox:1.1\n    command: [\"/bin/sh\", \"/srv/app.sh\"]"
        ),
    );
    w.repo.release("0.3.0+1.1");
    let r = w.run_env(
        "infra",
        "0.3.0+1.1",
        &["--tiers", "install", "--rerun-alone", "1"],
        &[("CCCI_PULL_BACKOFF_MS", "50")],
    );
    r.assert_code(75);
    let res = w.results("infra");
    assert_eq!(res["verdict"], "error");
    let red = red(&res, "install");
    assert_eq!(red["class"], "infrastructure", "{red:#}");
    assert!(evidence(red).contains("503"), "{}", evidence(red));
    // The host's trouble is not the recipe's: nothing to rerun alone.
    assert!(res.get("reruns").is_none(), "{res:#}");
}

#[test]
fn a_known_flaky_entry_excuses_only_the_recipes_own_tests() {
    let w = World::new("cls-flaky-entry");
    let until = String::from_utf8(
        std::process::Command::new("date")
            .args(["-u", "-d", "30 days", "+%F"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(
        w.recipes.join("demo/recipe.json"),
        format!(
            r#"{{"schema": 1, "flaky": {{"custom/slow-login": {{"reason": "upstream race", "until": "{}"}},
                                       "custom/data-check": {{"reason": "trying my luck", "until": "{}"}}}}}}"#,
            until.trim(),
            until.trim()
        ),
    )
    .unwrap();
    // The recipe's own flaky test: reported, not counted.
    w.add_test(
        "demo/custom/slow-login",
        "#!/bin/sh\necho 'login took 31 s'\nexit 1\n",
    );
    let r = w.run("excused", "0.2.0+1.1", &["--tiers", "custom"]);
    r.assert_code(0);
    let res = w.results("excused");
    let custom = tier(&res, "custom");
    assert_eq!(custom["status"], "pass", "{custom:#}");
    assert!(
        custom["summary"]
            .as_str()
            .unwrap()
            .contains("known flaky, not counted until"),
        "{custom:#}"
    );
    // ccci's own test of that name is never excused.
    w.add_test(
        "_generic/custom/data-check",
        "#!/bin/sh\necho 'restored data lost'\nexit 1\n",
    );
    let r = w.run("not-excused", "0.2.0+1.1", &["--tiers", "custom"]);
    r.assert_code(1);
    let res = w.results("not-excused");
    assert_eq!(tier(&res, "custom")["status"], "fail", "{res:#}");
    assert_eq!(red(&res, "custom")["class"], "recipe");
}
