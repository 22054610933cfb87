//! One node holds a run's app: every service is pinned to it, and backups
//! run only where its volumes are (docs/scaling.md).

mod common;

use ccci_testkit::{run, workspace};
use common::World;

fn node_id() -> String {
    let out = std::process::Command::new("docker")
        .args(["info", "--format", "{{.Swarm.NodeID}}"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn every_service_is_pinned_to_the_apps_node_and_backups_run_there() {
    let w = World::new("placement");
    let id = w.new_app("0.1.0+1.0", &[]);
    w.deploy_wait(&id, 0);
    let node = node_id();
    let app: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.run_dir(&id).join("app.json")).unwrap())
            .unwrap();
    assert_eq!(app["node"], node.as_str());
    let stack = w.stack(&id);
    let out = std::process::Command::new("docker")
        .args([
            "service",
            "ls",
            "--filter",
            &format!("label=com.docker.stack.namespace={stack}"),
            "--format",
            "{{.Name}}",
        ])
        .output()
        .unwrap();
    let services: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(services.len() >= 3, "app, db and the probe: {services:?}");
    for s in &services {
        let out = std::process::Command::new("docker")
            .args([
                "service",
                "inspect",
                s,
                "--format",
                "{{json .Spec.TaskTemplate.Placement.Constraints}}",
            ])
            .output()
            .unwrap();
        let c = String::from_utf8(out.stdout).unwrap();
        assert!(
            c.contains(&format!("node.id == {node}")),
            "{s} is not pinned: {c}"
        );
    }
    // A backup asked of another node than the one holding the volumes is
    // refused, in one line.
    let bin = common::bin().parent().unwrap().join("ccci-verify-backup");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        bin.display()
    );
    let state = w.state.to_string_lossy().into_owned();
    let env = [("CCCI_STATE_DIR", state.as_str())];
    let hook = format!(
        "db={}",
        workspace()
            .join("recipes/demo/hooks/backup-marker")
            .display()
    );
    run(&bin, &["seed", &id, "--marker-hook", &hook], &env).assert_code(0);
    let p = w.run_dir(&id).join("app.json");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text.replace(&node, "another-node")).unwrap();
    let r = run(&bin, &["backup", &id], &env);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("its volumes are on swarm node another-node, this engine is node"),
        "{}",
        r.stderr
    );
    std::fs::write(&p, text).unwrap();
    w.teardown_clean(&id);
}
