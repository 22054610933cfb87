//! ccci touches only what it created: a stack namespace that already holds
//! objects of another owner (a hand-made stack, another ccci instance) makes
//! `deploy` refuse, and teardown and the reaper leave those objects alone and say
//! so. Against the real swarm of the rig (see scripts/rig.sh).

mod common;

use ccci_testkit::{Run, leftovers, run};
use common::{World, bin};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn docker(args: &[&str]) -> Run {
    run(Path::new("docker"), args, &[])
}

/// A run id no other test (or concurrent test binary) on this swarm uses.
fn unique_id(name: &str) -> String {
    format!("own-{name}-{}", std::process::id())
}

/// Undoes what a test made, also when an assertion fails halfway (Drop runs
/// while unwinding): the run's own teardown first, then the foreign objects the
/// test made by hand, which ccci must not remove itself.
struct Cleanup {
    /// (state dir, run id) to tear down with ccci.
    runs: Vec<(PathBuf, String)>,
    stacks: Vec<String>,
    volumes: Vec<String>,
    secrets: Vec<String>,
    configs: Vec<String>,
    networks: Vec<String>,
}

impl Cleanup {
    fn new() -> Cleanup {
        Cleanup {
            runs: vec![],
            stacks: vec![],
            volumes: vec![],
            secrets: vec![],
            configs: vec![],
            networks: vec![],
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (state, id) in &self.runs {
            let state = state.to_string_lossy().into_owned();
            let _ = run(
                &bin(),
                &["teardown", id],
                &[("CCCI_STATE_DIR", state.as_str())],
            );
        }
        for s in &self.stacks {
            let _ = docker(&["stack", "rm", s]);
        }
        // A stack's volumes stay in use until its containers are gone.
        let deadline = Instant::now() + Duration::from_secs(60);
        for s in &self.stacks {
            let f = format!("label=com.docker.stack.namespace={s}");
            while Instant::now() < deadline
                && !docker(&["ps", "-aq", "--filter", &f])
                    .stdout
                    .trim()
                    .is_empty()
            {
                std::thread::sleep(Duration::from_millis(250));
            }
            // Networks go asynchronously after the containers.
            while Instant::now() < deadline
                && !docker(&["network", "ls", "-q", "--filter", &f])
                    .stdout
                    .trim()
                    .is_empty()
            {
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        for v in &self.volumes {
            while Instant::now() < deadline && docker(&["volume", "rm", "-f", v]).code != 0 {
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        for s in &self.secrets {
            let _ = docker(&["secret", "rm", s]);
        }
        for c in &self.configs {
            let _ = docker(&["config", "rm", c]);
        }
        for n in &self.networks {
            let _ = docker(&["network", "rm", n]);
        }
    }
}

fn exists(kind: &str, name: &str) -> bool {
    docker(&[kind, "inspect", name]).code == 0
}

/// Wait until `check` holds, or panic naming `what`.
fn wait_for(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

const FOREIGN_STACK: &str = r#"version: "3.8"
services:
  app:
    image: 127.0.0.1:5000/ccci/busybox:1.0
    command: ["sleep", "2147483647"]
    init: true
    volumes:
      - content:/data
volumes:
  content:
"#;

#[test]
fn a_foreign_stack_under_the_runs_name_is_refused_and_left_alone() {
    let w = World::new("own-stack");
    let id = unique_id("stack");
    let mut cleanup = Cleanup::new();
    cleanup.runs.push((w.state.clone(), id.clone()));
    w.new_app_in(&w.state, &id);
    let stack = w.stack_in(&w.state, &id);
    let service = format!("{stack}_app");
    let volume = format!("{stack}_content");
    cleanup.stacks.push(stack.clone());
    cleanup.volumes.push(volume.clone());

    // Someone else's stack with the run's name, with the names the demo uses.
    let compose = w.scratch.join("foreign.yml");
    std::fs::write(&compose, FOREIGN_STACK).unwrap();
    docker(&["stack", "deploy", "-c", &compose.to_string_lossy(), &stack]).assert_code(0);
    // Its volume exists once its task runs.
    wait_for("the foreign volume", || exists("volume", &volume));
    let spec = || {
        docker(&[
            "service",
            "inspect",
            "--format",
            "{{.Version.Index}} {{json .Spec}}",
            &service,
        ])
        .assert_code(0)
        .stdout
        .clone()
    };
    let before = spec();

    // deploy refuses with one line naming the foreign objects and their owners.
    let r = w.deploy(&["deploy", "--wait", &id]);
    r.assert_code(1);
    let out = r.stdout.trim();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains(&format!(
            "stack {stack} already holds objects ccci did not create for this run"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("service {service} (no ccci labels)")),
        "{out}"
    );
    assert!(out.contains("refusing to touch them"), "{out}");
    // Nothing of the foreign service changed: no new spec version, no labels.
    assert_eq!(spec(), before, "the foreign service was modified");
    assert!(!before.contains("ccci.run"), "{before}");

    // teardown removes ccci's own objects, leaves the foreign ones and says so.
    let secrets: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.state.join("runs").join(&id).join("secrets.json")).unwrap(),
    )
    .unwrap();
    let own_secrets: Vec<String> = secrets["secrets"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(!own_secrets.is_empty());
    for s in &own_secrets {
        assert!(
            exists("secret", s),
            "ccci's secret {s} missing before teardown"
        );
    }
    let r = w.deploy(&["teardown", &id]);
    r.assert_code(0);
    assert!(r.stdout.starts_with("clean: "), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!(
            "left: service {service}: not this run's (no ccci labels)"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("left: volume {volume}: not this run's")),
        "{}",
        r.stdout
    );
    for s in &own_secrets {
        assert!(!exists("secret", s), "ccci's secret {s} survived teardown");
    }
    assert_eq!(leftovers(&id), Vec::<String>::new());
    assert!(
        exists("service", &service),
        "the foreign service was removed"
    );
    assert!(exists("volume", &volume), "the foreign volume was removed");
    assert_eq!(spec(), before, "the foreign service was modified");

    // The JSON report lists what was left.
    let r = w.deploy(&["--json", "teardown", &id]);
    r.assert_code(0);
    let v = r.json();
    let foreign = v["foreign"].as_array().unwrap();
    assert!(
        foreign
            .iter()
            .any(|o| o["kind"] == "service" && o["name"] == service.as_str()),
        "{v}"
    );
    drop(cleanup);
    assert!(!exists("service", &service));
    assert!(!exists("volume", &volume));
}

#[test]
fn a_foreign_secret_under_the_stacks_prefix_is_refused_and_left_alone() {
    let w = World::new("own-secret");
    let id = unique_id("secret");
    let mut cleanup = Cleanup::new();
    cleanup.runs.push((w.state.clone(), id.clone()));
    w.new_app_in(&w.state, &id);
    let stack = w.stack_in(&w.state, &id);
    // abra's secret naming, without any label: only the name says whose it is.
    let secret = format!("{stack}_extra_v1");
    cleanup.secrets.push(secret.clone());
    let out = std::process::Command::new("docker")
        .args(["secret", "create", &secret, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"not ccci's")?;
            c.wait()
        })
        .unwrap();
    assert!(out.success());

    let r = w.deploy(&["deploy", "--wait", &id]);
    r.assert_code(1);
    let out = r.stdout.trim();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains(&format!("secret {secret} (no ccci labels)")),
        "{out}"
    );
    // Refused before `docker stack deploy`: no service of the run exists.
    assert!(
        docker(&[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.stack.namespace={stack}"),
        ])
        .stdout
        .trim()
        .is_empty()
    );

    let r = w.deploy(&["teardown", &id]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(&format!(
            "left: secret {secret}: not this run's (no ccci labels)"
        )),
        "{}",
        r.stdout
    );
    assert!(exists("secret", &secret), "the foreign secret was removed");
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

#[test]
fn two_instances_with_the_same_run_id_get_different_stacks() {
    let w = World::new("own-instances");
    let id = unique_id("twin");
    let (a, b) = (w.with_state("state-a"), w.with_state("state-b"));
    let mut cleanup = Cleanup::new();
    cleanup.runs.push((a.clone(), id.clone()));
    cleanup.runs.push((b.clone(), id.clone()));
    w.new_app_in(&a, &id);
    w.new_app_in(&b, &id);
    let (sa, sb) = (w.stack_in(&a, &id), w.stack_in(&b, &id));
    assert_ne!(sa, sb, "two instances share the stack name");

    // Tearing down one instance's run leaves the other's secret in place.
    let secret_b = format!("{sb}_db_password_v1");
    assert!(exists("secret", &secret_b));
    w.deploy_in(&a, &["teardown", &id]).assert_code(0);
    assert!(
        exists("secret", &secret_b),
        "instance a's teardown removed instance b's secret"
    );
    assert!(!exists("secret", &format!("{sa}_db_password_v1")));
    drop(cleanup);
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

#[test]
fn the_reaper_leaves_foreign_objects_in_a_dead_runs_namespace() {
    let w = World::new("own-reap");
    let id = unique_id("reap");
    let mut cleanup = Cleanup::new();
    cleanup.runs.push((w.state.clone(), id.clone()));
    w.new_app_in(&w.state, &id);
    let stack = w.stack_in(&w.state, &id);
    // In the stack's namespace by label only: the name says nothing.
    let volume = format!("ccci-test-foreign-{}", std::process::id());
    cleanup.volumes.push(volume.clone());
    docker(&[
        "volume",
        "create",
        "--label",
        &format!("com.docker.stack.namespace={stack}"),
        "--label",
        "ccci.run=someone-else",
        &volume,
    ])
    .assert_code(0);
    assert!(!leftovers(&id).is_empty(), "the run made nothing to reap");

    let r = w.deploy(&["--json", "reap", "--grace", "0"]);
    r.assert_code(0);
    let v = r.json();
    let mine = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == id.as_str())
        .unwrap_or_else(|| panic!("run {id} not reaped: {v}"))
        .clone();
    let verdict = mine["verdict"].as_str().unwrap();
    assert!(verdict.starts_with("reaped: "), "{v}");
    assert!(
        verdict.contains(&format!(
            "left volume {volume}: not this run's (ccci.run=someone-else, ccci.instance=none)"
        )),
        "{v}"
    );
    assert!(
        exists("volume", &volume),
        "the reaper removed a foreign volume"
    );
    assert_eq!(leftovers(&id), Vec::<String>::new());
}

#[test]
fn new_refuses_before_creating_anything_in_a_foreign_namespace() {
    let w = World::new("own-new");
    let id = unique_id("new");
    let mut cleanup = Cleanup::new();
    cleanup.runs.push((w.state.clone(), id.clone()));
    // The same instance, run id, recipe and ref always give the same stack: learn
    // it from a first `new`, then forget that run entirely.
    w.new_app_in(&w.state, &id);
    let stack = w.stack_in(&w.state, &id);
    w.deploy(&["teardown", &id]).assert_code(0);
    std::fs::remove_dir_all(w.state.join("runs").join(&id)).unwrap();
    assert_eq!(leftovers(&id), Vec::<String>::new());

    // A network someone else made in that namespace, by label only.
    let network = format!("ccci-test-foreign-net-{}", std::process::id());
    cleanup.networks.push(network.clone());
    docker(&[
        "network",
        "create",
        "--driver",
        "overlay",
        "--label",
        &format!("com.docker.stack.namespace={stack}"),
        "--label",
        &format!("ccci.run={id}"),
        "--label",
        "ccci.instance=another-host",
        &network,
    ])
    .assert_code(0);

    let r = w.new_in(&w.state, &id);
    r.assert_code(1);
    let err = r.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "stack {stack} already holds objects ccci did not create for this run: \
             network {network} (ccci.run={id}, ccci.instance=another-host); refusing to touch them"
        )),
        "{err}"
    );
    // Nothing was created: the run's secret does not exist.
    assert!(!exists("secret", &format!("{stack}_db_password_v1")));
    assert_eq!(
        leftovers(&id).len(),
        1,
        "only the foreign network carries the run id"
    );
    // The refused run can be torn down; the network is not its to remove.
    let r = w.deploy(&["teardown", &id]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(&format!(
            "left: network {network}: not this run's (ccci.run={id}, ccci.instance=another-host)"
        )),
        "{}",
        r.stdout
    );
    assert!(exists("network", &network));
}

#[test]
fn upgrade_refuses_when_a_foreign_object_appears_and_the_app_keeps_running() {
    let w = World::new("own-upgrade");
    let id = unique_id("upgrade");
    let mut cleanup = Cleanup::new();
    cleanup.runs.push((w.state.clone(), id.clone()));
    w.new_app_in(&w.state, &id);
    let stack = w.stack_in(&w.state, &id);
    w.deploy(&["deploy", "--wait", &id]).assert_code(0);

    // Someone adds a config under the stack's name while the app runs.
    let config = format!("{stack}_extra_v1");
    cleanup.configs.push(config.clone());
    let content = w.scratch.join("extra.conf");
    std::fs::write(&content, "not ccci's\n").unwrap();
    let st = std::process::Command::new("docker")
        .args(["config", "create", &config, &content.to_string_lossy()])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());

    let r = w.deploy(&["upgrade", &id, "--ref", "0.2.0+1.1"]);
    r.assert_code(1);
    let out = r.stdout.trim();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("red: "), "{out}");
    assert!(
        out.contains(&format!("config {config} (no ccci labels)")),
        "{out}"
    );
    // Not deployed: the app still runs the release it had.
    let version = docker(&[
        "service",
        "inspect",
        "--format",
        &format!("{{{{index .Spec.Labels \"coop-cloud.{stack}.version\"}}}}"),
        &format!("{stack}_app"),
    ]);
    assert_eq!(version.stdout.trim(), "0.1.0+1.0");

    let r = w.deploy(&["teardown", &id]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(&format!(
            "left: config {config}: not this run's (no ccci labels)"
        )),
        "{}",
        r.stdout
    );
    assert!(exists("config", &config));
    assert_eq!(leftovers(&id), Vec::<String>::new());
}
