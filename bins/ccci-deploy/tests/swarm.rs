//! ccci-deploy against the real swarm of the rig (see scripts/rig.sh).

mod common;

use ccci_testkit::{exec_in, leftovers, run};
use common::{World, bin};
use std::path::Path;
use std::time::{Duration, Instant};

fn http_get(stack: &str, path: &str) -> String {
    exec_in(
        &format!("{stack}_ccci-probe"),
        &[
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://tasks.app:8080{path}"),
        ],
    )
    .unwrap()
}

#[test]
fn demo_deploys_serves_upgrades_and_leaves_nothing() {
    let w = World::new("lifecycle");
    let id = w.new_app("0.1.0+1.0", &[]);
    let rd = w.run_dir(&id);
    // The env file and secrets are private; the request records the head SHA.
    use std::os::unix::fs::PermissionsExt;
    for f in ["app.env", "secrets.json"] {
        let mode = std::fs::metadata(rd.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f} mode");
    }
    let req: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rd.join("request.json")).unwrap()).unwrap();
    assert_eq!(req["schema"], 1);
    assert_eq!(req["head_sha"].as_str().unwrap().len(), 40);

    // The generated secret has the declared length and exists in Docker with our label.
    let secrets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rd.join("secrets.json")).unwrap()).unwrap();
    let (name, value) = secrets["secrets"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let (name, value) = (name.as_str(), value.as_str().unwrap());
    assert!(name.ends_with("_db_password_v1"), "{name}");
    assert_eq!(value.len(), 32);
    let ls = run(
        Path::new("docker"),
        &[
            "secret",
            "ls",
            "--filter",
            &format!("label=ccci.run={id}"),
            "--format",
            "{{.Name}}",
        ],
        &[],
    );
    assert_eq!(ls.stdout.trim(), name);

    let r = w.deploy(&["--json", "deploy", "--wait", &id]);
    r.assert_code(0);
    let v = r.json();
    assert_eq!(v["ok"], true);
    assert!(v["reason"].as_str().unwrap().contains("HTTP 200"), "{v}");

    // Reached over HTTP, and the app reaches its db over the stack network.
    let stack = w.stack(&id);
    assert!(http_get(&stack, "/").contains("Hello from the ccci demo recipe"));
    exec_in(
        &format!("{stack}_db."),
        &[
            "/bin/sh",
            "/srv/db.sh",
            "insert",
            "marker",
            "kept-across-upgrade",
        ],
    )
    .unwrap();
    assert_eq!(
        http_get(&stack, "/cgi-bin/rows").trim(),
        "kept-across-upgrade"
    );

    // The version labels are abra's.
    let labels = run(
        Path::new("docker"),
        &[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.Labels}}",
            &format!("{stack}_app"),
        ],
        &[],
    );
    let labels: serde_json::Value = serde_json::from_str(&labels.stdout).unwrap();
    assert_eq!(labels[format!("coop-cloud.{stack}.version")], "0.1.0+1.0");
    assert_eq!(labels[format!("coop-cloud.{stack}.recipe")], "demo");
    assert_eq!(labels[format!("coop-cloud.{stack}.chaos")], "false");

    // Upgrade to the next release: proven to run it, data kept.
    let r = w.deploy(&["--json", "upgrade", &id, "--ref", "0.2.0+1.1"]);
    r.assert_code(0);
    let v = r.json();
    assert_eq!(v["running_version"], "0.2.0+1.1");
    assert_eq!(
        http_get(&stack, "/cgi-bin/rows").trim(),
        "kept-across-upgrade"
    );

    // Then to an untagged commit on main: chaos-version is the SHA's short
    // form, as abra writes it.
    w.repo.edit_config("app.sh", "<h1>%s</h1>", "<h1>%s!</h1>");
    let sha = w.repo.commit("untagged change");
    let r = w.deploy(&["--json", "upgrade", &id, "--ref", &sha]);
    r.assert_code(0);
    assert_eq!(r.json()["running_chaos_version"], &sha[..8]);

    // The ledger recorded each deploy and the teardown.
    let start = Instant::now();
    w.teardown_clean(&id);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "teardown took {:?}",
        start.elapsed()
    );
    let ledger = std::fs::read_to_string(rd.join("ledger.jsonl")).unwrap();
    assert_eq!(ledger.matches("\"action\":\"deploy\"").count(), 3);
    assert!(ledger.contains("\"action\":\"teardown\""));
    assert!(!ledger.contains(value), "a secret value reached the ledger");

    // Tearing down what is already gone succeeds.
    w.deploy(&["teardown", &id]).assert_code(0);
}

#[test]
fn crash_looping_upgrade_is_red_at_once_and_names_the_rollback() {
    let w = World::new("crashloop");
    // Release 0.3.0: the app exits at start; the recipe rolls back on failure.
    w.repo.edit_config(
        "app.sh",
        "exec httpd",
        "echo 'fatal: cannot open database' >&2; exit 3; exec httpd",
    );
    w.repo.release("0.3.0+1.2");
    let id = w.new_app("0.2.0+1.1", &[]);
    w.deploy(&["deploy", "--wait", &id]).assert_code(0);

    let start = Instant::now();
    let r = w.deploy(&[
        "--json",
        "upgrade",
        &id,
        "--ref",
        "0.3.0+1.2",
        "--timeout",
        "120",
    ]);
    let took = start.elapsed();
    r.assert_code(1);
    let v = r.json();
    let reason = v["reason"].as_str().unwrap();
    assert_eq!(v["service"], "app", "{v}");
    assert!(
        reason.contains("rolling back") || reason.contains("rolled back"),
        "{reason}"
    );
    assert!(reason.contains("non-zero exit (3)"), "{reason}");
    assert!(
        reason.contains("the running spec is not 0.3.0+1.2")
            && reason.contains("runs version 0.2.0+1.1"),
        "the verdict must say the old spec kept running: {reason}"
    );
    assert!(
        v["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("cannot open database")),
        "logs missing the task's output: {v}"
    );
    // Far below the timeout: the failure, not the clock, ended the wait.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    // `status` tells what runs, not what was last asked for.
    let st = w.deploy(&["--json", "status", &id]);
    st.assert_code(0);
    let st = st.json();
    assert_eq!(st["app"]["deployed"]["ref"], "0.3.0+1.2", "{st}");
    assert_eq!(st["running_version"], "0.2.0+1.1", "{st}");
    assert!(
        st["running"]
            .as_str()
            .unwrap()
            .contains("not the ref last deployed"),
        "{st}"
    );
    let text = w.deploy(&["status", &id]);
    assert!(
        text.stdout
            .contains("running  version 0.2.0+1.1, not the ref"),
        "{}",
        text.stdout
    );
    w.teardown_clean(&id);
}

#[test]
fn a_first_deploy_without_ref_deploys_the_install_ref() {
    let w = World::new("installref");
    let id = w.new_app("0.2.0+1.1", &["--install-ref", "0.1.0+1.0"]);
    w.deploy_wait(&id, 0);
    let st = w.deploy(&["--json", "status", &id]);
    st.assert_code(0);
    let st = st.json();
    assert_eq!(st["app"]["deployed"]["ref"], "0.1.0+1.0", "{st}");
    assert_eq!(st["running_version"], "0.1.0+1.0", "{st}");
    assert_eq!(st["running"], "version 0.1.0+1.0", "{st}");
    // The request still names the ref under test, which an upgrade then deploys.
    let req: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.run_dir(&id).join("request.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(req["ref"], "0.2.0+1.1");
    // The upgrade proof by hand: the same rule `upgrade` applies.
    let sha = st["app"]["deployed"]["sha"].as_str().unwrap().to_string();
    let r = w.deploy(&["runs", &id, "--sha", &sha, "--tag", "0.1.0+1.0"]);
    r.assert_code(0);
    assert_eq!(r.stdout.trim(), "ok: app runs version 0.1.0+1.0");
    let r = w.deploy(&["runs", &id, "--sha", &sha, "--tag", "0.2.0+1.1"]);
    r.assert_code(1);
    assert!(r.stdout.contains("not 0.2.0+1.1"), "{}", r.stdout);
    w.deploy(&["runs", &id, "--sha", "xyz"]).assert_code(2);
    w.teardown_clean(&id);
}

#[test]
fn paused_update_is_red_not_a_silent_pass_on_the_old_spec() {
    let w = World::new("paused");
    // The recipe pauses on a failed update (swarm's default failure action); the
    // old task would keep serving and look healthy.
    w.repo.edit(
        "compose.yml",
        "failure_action: rollback",
        "failure_action: pause",
    );
    w.repo.commit("pause on failure");
    w.repo.release("0.2.1+1.1");
    w.repo
        .edit_config("app.sh", "exec httpd", "exit 4; exec httpd");
    w.repo.release("0.3.0+1.2");
    let id = w.new_app("0.2.1+1.1", &[]);
    w.deploy(&["deploy", "--wait", &id]).assert_code(0);
    let r = w.deploy(&[
        "--json",
        "upgrade",
        &id,
        "--ref",
        "0.3.0+1.2",
        "--timeout",
        "120",
    ]);
    r.assert_code(1);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["service"], "app", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.contains("update paused"), "{reason}");
    assert!(reason.contains("non-zero exit (4)"), "{reason}");
    w.teardown_clean(&id);
}

#[test]
fn missing_image_tag_fails_before_anything_is_deployed() {
    let w = World::new("noimage");
    w.repo
        .edit("compose.yml", "busybox:1.1", "busybox:9.9-missing");
    w.repo.release("0.3.0+9.9");
    let id = w.new_app("0.3.0+9.9", &[]);
    let r = w.deploy(&["deploy", "--wait", &id]);
    r.assert_code(1);
    assert!(r.stdout.contains("9.9-missing"), "{}", r.stdout);
    assert!(
        r.stdout.contains("manifest") || r.stdout.contains("not found"),
        "registry's message missing: {}",
        r.stdout
    );
    let stack = w.stack(&id);
    let svcs = run(
        Path::new("docker"),
        &[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.stack.namespace={stack}"),
        ],
        &[],
    );
    assert_eq!(
        svcs.stdout.trim(),
        "",
        "services were deployed despite the missing image"
    );
    w.teardown_clean(&id);
}

#[test]
fn never_healthy_is_red_and_slow_start_is_green() {
    let w = World::new("health");
    // 0.3.0: the healthcheck never passes.
    w.break_healthcheck();
    w.repo.release("0.3.0+1.1");
    let sick = w.new_app("0.3.0+1.1", &["--timeout", "40"]);
    let r = w.deploy(&["--json", "deploy", "--wait", &sick]);
    r.assert_code(1);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert!(v["reason"].as_str().unwrap().contains("app"), "{v}");
    w.teardown_clean(&sick);

    // 0.4.0: starts slowly (8 s) but then is fine.
    w.repo.edit(
        "compose.yml",
        "\"http://127.0.0.1:8080/nope\"",
        "\"http://127.0.0.1:8080/\"",
    );
    w.repo.edit(
        "compose.yml",
        "start_period: 5s\n    deploy:\n      update_config",
        "start_period: 30s\n    deploy:\n      update_config",
    );
    w.repo
        .edit_config("app.sh", "exec httpd", "sleep 8; exec httpd");
    w.repo.release("0.4.0+1.1");
    let slow = w.new_app("0.4.0+1.1", &[]);
    let r = w.deploy(&["--json", "deploy", "--wait", &slow]);
    r.assert_code(0);
    assert!(r.json()["elapsed_ms"].as_u64().unwrap() >= 8000);
    w.teardown_clean(&slow);
}

#[test]
fn a_healthcheck_failing_within_its_start_period_times_out_with_its_output() {
    let w = World::new("hc-start");
    // The healthcheck fails, but inside a start period longer than the timeout
    // swarm never fails the task: only the timeout ends the wait.
    w.break_healthcheck();
    w.repo.edit(
        "compose.yml",
        "start_period: 5s\n    deploy:\n      update_config",
        "start_period: 600s\n    deploy:\n      update_config",
    );
    w.repo.release("0.3.0+1.1");
    let id = w.new_app("0.3.0+1.1", &["--timeout", "12"]);
    let r = w.deploy(&["--json", "deploy", "--wait", &id]);
    r.assert_code(1);
    let v = r.json();
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("timed out after 12 s: app 0/1 (starting)"),
        "{reason}"
    );
    assert!(
        reason.contains("service app: its healthcheck fails (") && reason.contains("404"),
        "the verdict must carry the healthcheck's own output: {reason}"
    );
    assert_eq!(v["service"], "app", "{v}");
    w.teardown_clean(&id);
}

#[test]
fn secrets_marked_generate_false_come_from_the_hook() {
    let w = World::new("secrethook");
    w.repo.edit(
        ".env.sample",
        "SECRET_DB_PASSWORD_VERSION=v1 # length=32",
        "SECRET_DB_PASSWORD_VERSION=v1 # generate=false",
    );
    w.repo.release("0.3.0+1.1");
    let repo = w.repo.path.to_string_lossy().into_owned();
    let r = w.deploy(&[
        "new",
        "--recipe",
        "demo",
        "--repo",
        &repo,
        "--ref",
        "0.3.0+1.1",
    ]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("generate=false") && r.stderr.contains("secret hook"),
        "{}",
        r.stderr
    );
    // The half-made run still tears down clean.
    let failed_id = std::fs::read_dir(w.state.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    w.teardown_clean(&failed_id.to_string_lossy());

    let hook = w.scratch.join("hook.sh");
    std::fs::write(
        &hook,
        "#!/bin/sh\n[ \"$1\" = db_password ] && [ \"$2\" = v1 ] && echo from-the-hook-0123456789\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let id = w.new_app("0.3.0+1.1", &["--secret-hook", &hook.to_string_lossy()]);
    let secrets = std::fs::read_to_string(w.run_dir(&id).join("secrets.json")).unwrap();
    assert!(
        secrets.contains("\": \"from-the-hook-0123456789\""),
        "{secrets}"
    );
    w.deploy(&["deploy", "--wait", &id]).assert_code(0);
    w.teardown_clean(&id);
}

#[test]
fn bad_input_gets_one_line_and_exit_2() {
    let w = World::new("badinput");
    let repo = w.repo.path.to_string_lossy().into_owned();
    let new = |r#ref: &str| w.deploy(&["new", "--recipe", "demo", "--repo", &repo, "--ref", r#ref]);

    // The typed health setting refuses what the type refuses (no quiet HTTP).
    for bad in [
        r#"{"kind": "udp"}"#,
        r#"{"kind": "http", "colour": 1}"#,
        "nope",
    ] {
        let r = w.deploy(&[
            "new",
            "--recipe",
            "demo",
            "--repo",
            &repo,
            "--ref",
            "0.1.0+1.0",
            "--health",
            bad,
        ]);
        r.assert_code(2);
        assert!(
            r.stderr.contains("--health is not a health probe"),
            "{}",
            r.stderr
        );
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    }
    let r = w.deploy(&[
        "new",
        "--recipe",
        "demo",
        "--repo",
        &repo,
        "--ref",
        "0.1.0+1.0",
        "--health",
        "{}",
        "--health-kind",
        "tcp",
    ]);
    r.assert_code(2);

    let r = new("no-such-ref");
    r.assert_code(2);
    assert!(
        r.stderr.contains("unknown ref \"no-such-ref\""),
        "{}",
        r.stderr
    );

    w.repo.remove("compose.yml");
    let no_compose = w.repo.commit("drop compose");
    let r = new(&no_compose);
    r.assert_code(2);
    assert!(r.stderr.contains("no compose.yml"), "{}", r.stderr);

    w.repo.write(
        "compose.yml",
        "version: \"3.8\"\nservices:\n  app:\n    image: x\n    bogus_key: 1\n",
    );
    let rejected = w.repo.commit("compose docker rejects");
    let r = new(&rejected);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("Docker rejects the compose files compose.yml"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("bogus_key"), "{}", r.stderr);

    w.repo
        .write(".env.sample", "DOMAIN=x\nthis line is not an assignment\n");
    let bad_env = w.repo.commit("malformed env");
    let r = new(&bad_env);
    r.assert_code(2);
    assert!(
        r.stderr.contains(".env.sample:2: expected KEY=value"),
        "{}",
        r.stderr
    );

    for r in [
        w.deploy(&[
            "new", "--recipe", "Bad Name", "--repo", &repo, "--ref", "main",
        ]),
        w.deploy(&[
            "new",
            "--recipe",
            "demo",
            "--repo",
            "/nonexistent/repo",
            "--ref",
            "main",
        ]),
        w.deploy(&["deploy", "no-such-run"]),
        w.deploy(&["upgrade", "../escape", "--ref", "main"]),
        w.deploy(&["--state-dir", "relative/dir", "reap"]),
        w.deploy(&["frobnicate"]),
    ] {
        r.assert_code(2);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }

    // Every error above is exactly one line.
    for r in [new("no-such-ref"), new(&bad_env)] {
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    }

    // A state dir that cannot be created (its parent is a file).
    let file = w.scratch.join("a-file");
    std::fs::write(&file, "").unwrap();
    let r = run(
        &bin(),
        &[
            "new",
            "--recipe",
            "demo",
            "--repo",
            &repo,
            "--ref",
            "0.1.0+1.0",
        ],
        &[("CCCI_STATE_DIR", &file.join("state").to_string_lossy())],
    );
    r.assert_code(2);
    assert!(r.stderr.contains("cannot create state dir"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1);

    // A state dir the service user may not write (root-owned, 0755), as the
    // unprivileged user `nobody`.
    let locked = w.scratch.join("locked-state");
    std::fs::create_dir_all(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&w.scratch.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = run(
        Path::new("setpriv"),
        &[
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            &bin().to_string_lossy(),
            "reap",
        ],
        &[("CCCI_STATE_DIR", &locked.to_string_lossy())],
    );
    r.assert_code(2);
    assert!(
        r.stderr.contains("is not writable: Permission denied"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1);

    // A config file that is not valid.
    let cfg = w.scratch.join("config.json");
    std::fs::write(&cfg, "{\"state_dir\": 5}").unwrap();
    let r = run(
        &bin(),
        &["reap"],
        &[("CCCI_CONFIG", &cfg.to_string_lossy())],
    );
    r.assert_code(2);
    assert!(r.stderr.contains("config.json is invalid"), "{}", r.stderr);
}

#[test]
fn docker_unreachable_is_exit_75() {
    let w = World::new("nodocker");
    let repo = w.repo.path.to_string_lossy().into_owned();
    let env = [("DOCKER_HOST", "unix:///nonexistent/docker.sock")];
    for args in [
        vec![
            "new",
            "--recipe",
            "demo",
            "--repo",
            repo.as_str(),
            "--ref",
            "0.1.0+1.0",
        ],
        vec!["reap"],
    ] {
        let r = w.deploy_env(&args, &env);
        r.assert_code(75);
        assert!(r.stderr.contains("Docker is unreachable"), "{}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    }
}

#[test]
fn probes_tcp_on_the_network_and_http_or_tcp_from_the_host() {
    let w = World::new("probes");
    // TCP from the app network, aimed at the db service.
    let id = w.new_app(
        "0.2.0+1.1",
        &[
            "--health-kind",
            "tcp",
            "--health-service",
            "db",
            "--health-port",
            "5432",
        ],
    );
    let reason = w.deploy_wait(&id, 0);
    assert!(
        reason.contains("TCP connect to tasks.") && reason.contains("_db:5432"),
        "{reason}"
    );
    w.teardown_clean(&id);
    // Nothing listens on 5433: never healthy.
    let id = w.new_app(
        "0.2.0+1.1",
        &[
            "--health-kind",
            "tcp",
            "--health-service",
            "db",
            "--health-port",
            "5433",
            "--timeout",
            "8",
        ],
    );
    let reason = w.deploy_wait(&id, 1);
    assert!(
        reason.contains("no TCP connect to tasks.") && reason.contains("_db:5433"),
        "{reason}"
    );
    w.teardown_clean(&id);

    // From the host, as the public route is probed in production: the app
    // publishes a host-mode port here instead of sitting behind Traefik.
    w.repo.edit(
        "compose.yml",
        "    init: true\n    environment:",
        "    init: true\n    ports:\n      - target: 8080\n        published: ${APP_PORT}\n        mode: host\n    environment:",
    );
    w.repo.release("0.3.0+1.1");
    let port = 20000 + (std::process::id() % 10000);
    let (port_env, url) = (
        format!("APP_PORT={port}"),
        format!("http://127.0.0.1:{port}/"),
    );
    let id = w.new_app("0.3.0+1.1", &["--env", &port_env, "--health-url", &url]);
    let reason = w.deploy_wait(&id, 0);
    assert!(reason.contains(&format!("HTTP 200 from {url}")), "{reason}");
    w.teardown_clean(&id);

    // The same route answering a code the recipe does not accept is a timeout.
    let id = w.new_app(
        "0.3.0+1.1",
        &[
            "--env",
            &port_env,
            "--health-url",
            &format!("{url}missing"),
            "--timeout",
            "8",
        ],
    );
    let reason = w.deploy_wait(&id, 1);
    assert!(reason.contains("HTTP 404"), "{reason}");
    w.teardown_clean(&id);

    let tcp = format!("tcp://127.0.0.1:{port}");
    let id = w.new_app("0.3.0+1.1", &["--env", &port_env, "--health-url", &tcp]);
    w.deploy(&["deploy", "--wait", &id]).assert_code(0);
    w.teardown_clean(&id);

    let repo = w.repo.path.to_string_lossy().into_owned();
    let r = w.deploy(&[
        "new",
        "--recipe",
        "demo",
        "--repo",
        &repo,
        "--ref",
        "0.3.0+1.1",
        "--health-url",
        "ftp://x/",
    ]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("must start with http://, https:// or tcp://"),
        "{}",
        r.stderr
    );
}

#[test]
fn deploys_through_a_docker_context() {
    // A named context makes ccci watch through the docker CLI (as for a remote
    // server) instead of the local socket: the same verdicts either way.
    let w = World::new("context");
    let ctx = format!("ccci-test-{}", std::process::id());
    run(
        Path::new("docker"),
        &[
            "context",
            "create",
            &ctx,
            "--docker",
            "host=unix:///var/run/docker.sock",
        ],
        &[],
    )
    .assert_code(0);
    let id = w.new_app("0.1.0+1.0", &[]);
    let r = w.deploy_env(
        &["--json", "deploy", "--wait", &id],
        &[("CCCI_DOCKER_CONTEXT", &ctx)],
    );
    let upgraded = w.deploy_env(
        &["--json", "upgrade", &id, "--ref", "0.2.0+1.1"],
        &[("CCCI_DOCKER_CONTEXT", &ctx)],
    );
    let torn = w.deploy_env(&["teardown", &id], &[("CCCI_DOCKER_CONTEXT", &ctx)]);
    run(Path::new("docker"), &["context", "rm", "-f", &ctx], &[]).assert_code(0);
    r.assert_code(0);
    assert!(r.json()["reason"].as_str().unwrap().contains("HTTP 200"));
    upgraded.assert_code(0);
    assert_eq!(upgraded.json()["running_version"], "0.2.0+1.1");
    torn.assert_code(0);
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

#[test]
fn runs_never_collide_and_help_exits_0() {
    let w = World::new("collide");
    let a = w.new_app("0.1.0+1.0", &["--pr", "7"]);
    let b = w.new_app("0.1.0+1.0", &["--pr", "7"]);
    assert_ne!(w.stack(&a), w.stack(&b));
    for id in [&a, &b] {
        w.teardown_clean(id);
    }
    run(&bin(), &["--help"], &[]).assert_code(0);
    run(&bin(), &["deploy", "--help"], &[]).assert_code(0);
}

#[test]
fn a_ref_that_moved_since_the_plan_is_not_deployed() {
    let w = World::new("moved");
    let planned = ccci_core::git::git(&w.repo.path, &["rev-parse", "HEAD"]).unwrap();
    // main moves on after the run planned it.
    w.repo.write("NOTES", "pushed during the run\n");
    let moved = w.repo.commit("docs: pushed during the run");
    assert_ne!(planned, moved);
    let repo = w.repo.path.to_string_lossy().into_owned();
    let r = w.deploy(&[
        "new",
        "--recipe",
        "demo",
        "--repo",
        &repo,
        "--ref",
        "main",
        "--expect-sha",
        &planned,
        "--run-id",
        "moved-new",
    ]);
    r.assert_code(75);
    assert!(r.stderr.contains("it moved during the run"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        leftovers("moved-new").is_empty(),
        "{:?}",
        leftovers("moved-new")
    );

    // An upgrade to a ref that moved leaves the app on what it ran.
    let id = w.new_app("0.1.0+1.0", &[]);
    w.deploy_wait(&id, 0);
    let r = w.deploy(&["upgrade", &id, "--ref", "main", "--expect-sha", &planned]);
    r.assert_code(75);
    assert!(r.stderr.contains("it moved during the run"), "{}", r.stderr);
    let st = w.deploy(&["--json", "status", &id]).json();
    assert_eq!(st["running_version"], "0.1.0+1.0", "{st}");
    // The planned commit itself is fine.
    w.deploy(&["upgrade", &id, "--ref", "main", "--expect-sha", &moved])
        .assert_code(0);
    w.teardown_clean(&id);
}

#[test]
fn a_url_repository_planned_once_is_not_fetched_again() {
    let w = World::new("clonefrom");
    // What planning leaves in the run dir for a URL: a bare clone.
    let planned = w.scratch.join("source.git");
    let st = std::process::Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&w.repo.path)
        .arg(&planned)
        .status()
        .unwrap();
    assert!(st.success());
    // The URL itself does not answer: only the local clone can serve `new`.
    let url = "http://127.0.0.1:1/demo.git";
    let planned_s = planned.to_string_lossy().into_owned();
    let r = w.deploy(&[
        "new",
        "--recipe",
        "demo",
        "--repo",
        url,
        "--ref",
        "0.1.0+1.0",
        "--clone-from",
        &planned_s,
    ]);
    r.assert_code(0);
    let id = r.stdout.trim().to_string();
    let origin = ccci_core::git::git(
        &w.run_dir(&id).join("recipe"),
        &["remote", "get-url", "origin"],
    )
    .unwrap();
    assert_eq!(origin.trim(), url, "origin points at the real remote");
    let req: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.run_dir(&id).join("request.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(req["source_repo"], url);
    w.teardown_clean(&id);
}
