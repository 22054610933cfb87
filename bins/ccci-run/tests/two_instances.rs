//! Two instances of a recipe side by side: a fixed host port is caught, a
//! recipe without one passes.

mod common;

use common::*;

fn two_instances(w: &World) {
    std::fs::write(
        w.recipes.join("demo/recipe.json"),
        r#"{"schema": 1, "marker_hooks": {"db": "hooks/backup-marker"}, "two_instances": true}"#,
    )
    .unwrap();
}

fn second(res: &serde_json::Value) -> &serde_json::Value {
    tier(res, "custom")["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "_generic/custom/second-instance")
        .unwrap_or_else(|| panic!("no second instance check: {res:#}"))
}

#[test]
fn a_fixed_host_port_is_caught_by_a_second_instance() {
    let w = World::new("two-port");
    two_instances(&w);
    w.repo.edit(
        "compose.yml",
        "    networks:\n      - internal\n    healthcheck:\n      test: [\"CMD\", \"wget\"",
        "    ports:\n      - \"18080:8080\"\n    networks:\n      - internal\n    healthcheck:\n      test: [\"CMD\", \"wget\"",
    );
    w.repo.release("0.3.0+1.1");
    let r = w.run("port", "0.3.0+1.1", &["--tiers", "custom"]);
    r.assert_code(1);
    let res = w.results("port");
    let s = second(&res);
    assert_eq!(s["outcome"], "fail", "{s:#}");
    let why = s["summary"].as_str().unwrap();
    assert!(
        why.starts_with("a second instance did not come up beside the first")
            && why.contains("18080"),
        "{why}"
    );
    assert_eq!(tier(&res, "custom")["red"]["class"], "recipe", "{res:#}");
    assert_eq!(res["teardown"]["status"], "clean", "{res:#}");
    assert!(ccci_testkit::leftovers("port-second").is_empty());
}

#[test]
fn a_recipe_without_fixed_names_runs_twice_side_by_side() {
    let w = World::new("two-ok");
    two_instances(&w);
    let r = w.run("twice", "0.2.0+1.1", &["--tiers", "custom"]);
    r.assert_code(0);
    let res = w.results("twice");
    let s = second(&res);
    assert_eq!(s["outcome"], "pass", "{s:#}");
    assert!(
        s["summary"]
            .as_str()
            .unwrap()
            .contains("they share no volume"),
        "{s:#}"
    );
    assert_eq!(res["teardown"]["status"], "clean", "{res:#}");
    assert!(ccci_testkit::leftovers("twice-second").is_empty());
}
