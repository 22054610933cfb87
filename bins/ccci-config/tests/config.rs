//! `ccci-config check` and `show` on real files, `preflight` on the rig.

use ccci_testkit::{Scratch, assert_one_line_error, run};
use std::path::PathBuf;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-config"))
}

#[test]
fn check_accepts_a_full_config_and_names_what_is_wrong() {
    let s = Scratch::new("config-check");
    let good = s.join("good.json");
    std::fs::write(
        &good,
        r#"{"state_dir": "/var/lib/ccci", "base_domain": "ci.example.org",
            "probe_image": "registry.example.org/ccci/busybox:1.36", "max_parallel_runs": 2,
            "recipes_dir": "/usr/share/ccci/recipes", "gitea_url": "https://git.example.org/",
            "public_url": "https://ci.example.org/", "docker_context": "",
            "bridge": {"repos": ["coop-cloud/custom-html"], "orgs": ["coop-cloud"],
                       "allow": ["alice"], "poll_interval_s": 60, "listen": "127.0.0.1:8090",
                       "webhook_secret_file": "webhook-secret", "launcher": "systemd"}}"#,
    )
    .unwrap();
    let r = run(&bin(), &["check", good.to_str().unwrap()], &[]);
    r.assert_code(0);
    for (body, key) in [
        (r#"{"max_parallel_run": 2}"#, "max_parallel_run"),
        (r#"{"state_dir": "var/lib/ccci"}"#, "state_dir"),
        (r#"{"base_domain": "not a domain"}"#, "base_domain"),
        (r#"{"probe_image": ""}"#, "probe_image"),
        (r#"{"recipes_dir": "recipes"}"#, "recipes_dir"),
        (r#"{"gitea_url": "git.example.org"}"#, "gitea_url"),
        (r#"{"bridge": {"repos": ["nope"]}}"#, "bridge.repos"),
        (r#"{"bridge": {"listen": "8080"}}"#, "bridge.listen"),
        (r#"{"bridge": {"launcher": "cron"}}"#, "cron"),
        (r#"{"bridge": {"poll_interval": 5}}"#, "poll_interval"),
        (r#"{"max_parallel_runs": "two"}"#, "max_parallel_runs"),
        (r#"{"budget_memory_mb": 6442450944}"#, "budget_memory_mb"),
        (r#"{"budget_disk_mb": -1}"#, "budget_disk_mb"),
    ] {
        let p = s.join("bad.json");
        std::fs::write(&p, body).unwrap();
        let r = run(&bin(), &["check", p.to_str().unwrap()], &[]);
        r.assert_code(2);
        assert_one_line_error(&r, "ccci-config");
        assert!(r.stderr.contains(key), "{body}: {}", r.stderr);
    }
    let r = run(&bin(), &["check", "/nonexistent/config.json"], &[]);
    r.assert_code(2);
    assert_one_line_error(&r, "ccci-config");
}

#[test]
fn show_prints_the_config_in_effect_with_the_environment_on_top() {
    let s = Scratch::new("config-show");
    let p = s.join("c.json");
    std::fs::write(&p, r#"{"base_domain": "ci.example.org"}"#).unwrap();
    let r = run(
        &bin(),
        &["show", "--json"],
        &[
            ("CCCI_CONFIG", p.to_str().unwrap()),
            ("CCCI_MAX_PARALLEL_RUNS", "3"),
        ],
    );
    r.assert_code(0);
    let v = r.json();
    assert_eq!(v["base_domain"], "ci.example.org");
    assert_eq!(v["max_parallel_runs"], 3);
    assert_eq!(v["bridge"]["launcher"], "direct");
}

#[test]
fn preflight_passes_on_the_rig_and_names_a_missing_probe_image() {
    ccci_testkit::require_rig();
    let s = Scratch::new("config-preflight");
    let sd = s.join("state");
    let r = run(
        &bin(),
        &["preflight"],
        &[("CCCI_STATE_DIR", sd.to_str().unwrap())],
    );
    r.assert_code(0);
    assert!(r.stdout.contains("swarm manager"), "{}", r.stdout);
    let r = run(
        &bin(),
        &["preflight"],
        &[
            ("CCCI_STATE_DIR", sd.to_str().unwrap()),
            ("CCCI_PROBE_IMAGE", "127.0.0.1:5000/ccci/not-here:0"),
        ],
    );
    r.assert_code(2);
    assert_one_line_error(&r, "ccci-config");
    assert!(
        r.stderr
            .contains("docker pull 127.0.0.1:5000/ccci/not-here:0"),
        "{}",
        r.stderr
    );
}

#[test]
fn budget_says_what_the_host_gives_and_what_holds_it() {
    ccci_testkit::require_rig();
    let s = Scratch::new("config-budget");
    let state = s.join("state");
    // A shared dependency app stands; a red run was kept up for probing.
    std::fs::create_dir_all(state.join("shared")).unwrap();
    std::fs::write(
        state.join("shared/sso.json"),
        r#"{"schema": 1, "recipe": "sso", "run_id": "shared-sso", "repo": "/r/sso",
            "ref": "1.0", "domain": "sso.ci.localhost", "stack": "sso_ci_localhost",
            "since": "2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    std::fs::create_dir_all(state.join("budget/claims")).unwrap();
    std::fs::write(
        state.join("budget/claims/r7.json"),
        r#"{"schema": 1, "run_id": "r7", "recipe": "web", "since": "2026-01-01T00:00:00Z",
            "kept": true, "need": {"parts": [{"what": "web", "recipe": "web", "memory_mb": 300,
            "memory_from": "declared", "disk_mb": 40, "disk_from": "learnt", "role": "app"}]}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(state.join("runs/r7")).unwrap();
    std::fs::write(state.join("runs/r7/kept.json"), "{}").unwrap();
    let sd = state.to_string_lossy().into_owned();
    let env = [
        ("CCCI_STATE_DIR", sd.as_str()),
        ("CCCI_BUDGET_MEMORY_MB", "4096"),
        ("CCCI_BUDGET_DISK_MB", "10000"),
    ];
    let r = run(&bin(), &["budget", "--json"], &env);
    r.assert_code(0);
    let v = r.json();
    assert_eq!(v["memory_mb"], 4096, "{v:#}");
    assert!(
        v["summary"].as_str().unwrap().starts_with(
            "memory: 812 of 4096 MiB held (budget_memory_mb); disk: 1064 of 10000 MiB held"
        ),
        "{v:#}"
    );
    let whats: Vec<&str> = v["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        whats,
        [
            "run r7 (web), kept up for probing until `ccci-deploy teardown r7`",
            "shared dependency app sso"
        ]
    );
    // Torn down, the kept run holds nothing any more.
    std::fs::remove_file(state.join("runs/r7/kept.json")).unwrap();
    let r = run(&bin(), &["budget"], &env);
    r.assert_code(0);
    assert!(
        r.stdout.starts_with("memory: 512 of 4096 MiB held"),
        "{}",
        r.stdout
    );
    // An operator's look changes nothing: the next run's look tidies it.
    assert!(state.join("budget/claims/r7.json").exists());
}
