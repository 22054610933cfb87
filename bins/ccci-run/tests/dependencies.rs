//! Dependency apps deployed with their own settings, torn down after the app,
//! a dependency that fails, and a shared dependency kept between runs.

mod common;

use ccci_testkit::run;
use common::*;

/// Give the dependency recipe `depdemo` (the demo recipe under another name)
/// its own settings: env, a pre-deploy hook and a CI overlay.
fn dependency_recipe(w: &World, pre_deploy: &str) {
    let dir = w.recipes.join("depdemo");
    std::fs::create_dir_all(dir.join("compose")).unwrap();
    std::fs::write(
        dir.join("recipe.json"),
        r#"{"schema": 1, "env": {"GREETING": "dependency at {domain}"}, "timeouts": {"deploy": 120}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("compose/resources.yml"),
        "version: \"3.8\"\nservices:\n  app:\n    deploy:\n      resources:\n        limits:\n          memory: 64M\n",
    )
    .unwrap();
    w.add_test("depdemo/hooks/pre-deploy", pre_deploy);
}

fn settings(w: &World, dependency: &str, env: &str) {
    std::fs::write(
        w.recipes.join("demo/recipe.json"),
        format!(
            r#"{{"schema": 1, "marker_hooks": {{"db": "hooks/backup-marker"}},
               "env": {env},
               "dependencies": [{dependency}]}}"#
        ),
    )
    .unwrap();
}

/// What a run's claim on the host's budget counted, app by app.
fn counted(res: &serde_json::Value) -> Vec<&str> {
    res["budget"]["need"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["what"].as_str().unwrap())
        .collect()
}

fn deploy_cli(w: &World, args: &[&str]) -> ccci_testkit::Run {
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(&bin().parent().unwrap().join("ccci-deploy"), args, &env)
}

const PRE_DEPLOY_OK: &str = "#!/bin/sh\nsed -i 's/^LETS_ENCRYPT_ENV=.*/LETS_ENCRYPT_ENV=dep-pre-deploy/' \"$CCCI_APP_ENV\"\n";

#[test]
fn a_dependency_comes_up_with_its_own_settings_and_goes_after_the_app() {
    let w = World::new("run-dep-own");
    let repo = w.repo.path.to_string_lossy().into_owned();
    dependency_recipe(&w, PRE_DEPLOY_OK);
    settings(
        &w,
        &format!(
            r#"{{"recipe": "depdemo", "repo": "{repo}", "ref": "0.1.0+1.0", "env": {{"TIMEOUT": "130"}}}}"#
        ),
        r#"{"GREETING": "needs {dep.depdemo.domain}"}"#,
    );
    w.add_test(
        "demo/custom/dependency",
        r#"#!/bin/sh
set -u
say() { echo "$*"; exit 1; }
got=$($CCCI_EXEC app sh -c 'echo "$GREETING"')
[ "$got" = "needs $CCCI_DEP_DEPDEMO_DOMAIN" ] || say "app GREETING is '$got'"
got=$(ccci-deploy exec "$CCCI_DEP_DEPDEMO_RUN_DIR" app sh -c 'echo "$GREETING"')
[ "$got" = "dependency at $CCCI_DEP_DEPDEMO_DOMAIN" ] || say "dependency GREETING is '$got'"
s="$CCCI_DEP_DEPDEMO_STACK"
label() { docker service inspect "${s}_app" --format "{{index .Spec.Labels \"$1\"}}"; }
[ "$(label "traefik.http.routers.$s.tls.certresolver")" = dep-pre-deploy ] || say "pre-deploy hook not applied"
[ "$(label "coop-cloud.$s.timeout")" = 130 ] || say "dependency env not applied"
mem=$(docker service inspect "${s}_app" --format '{{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}}')
[ "$mem" = 67108864 ] || say "overlay not applied: memory limit $mem"
"#,
    );
    let r = w.run("own", "0.2.0+1.1", &["--tiers", "install,custom"]);
    let res = w.results("own");
    assert_eq!(res["verdict"], "partial", "{res:#}\n{}", r.stderr);
    r.assert_code(0);
    assert_valid(&res);
    assert_eq!(res["apps"][0]["role"], "app");
    assert_eq!(res["apps"][1]["role"], "dependency");
    assert_eq!(res["apps"][1]["run_id"], "own-dep-depdemo");
    // The dependency counts in what the run claimed of the host's budget,
    // and was measured as an app of its own.
    assert_eq!(counted(&res), ["demo", "depdemo (dependency)"], "{res:#}");
    let took = &res["budget"]["measured"]["own-dep-depdemo"];
    assert!(took["memory_mb"].as_u64().unwrap() > 0, "{res:#}");
    // A partial run's peaks are not what the recipe takes: not learnt.
    assert!(
        !std::path::Path::new(&w.state)
            .join("budget/learned/depdemo.json")
            .exists()
    );
    // The app goes first, then its dependency.
    let log = std::fs::read_to_string(w.run_dir("own").join("logs/teardown.log")).unwrap();
    let app_at = log
        .find("teardown own\n")
        .unwrap_or_else(|| panic!("{log}"));
    let dep_at = log
        .find("teardown own-dep-depdemo")
        .unwrap_or_else(|| panic!("{log}"));
    assert!(app_at < dep_at, "{log}");
    assert_eq!(res["teardown"]["status"], "clean", "{res:#}");
}

#[test]
fn a_dependency_that_fails_makes_the_install_red_before_the_app_exists() {
    let w = World::new("run-dep-red");
    let repo = w.repo.path.to_string_lossy().into_owned();
    dependency_recipe(
        &w,
        "#!/bin/sh\necho 'realm import failed: no such file' >&2\nexit 1\n",
    );
    settings(
        &w,
        &format!(r#"{{"recipe": "depdemo", "repo": "{repo}", "ref": "0.1.0+1.0"}}"#),
        "{}",
    );
    let r = w.run("red", "0.2.0+1.1", &[]);
    r.assert_code(1);
    let res = w.results("red");
    assert_eq!(
        tier(&res, "install")["summary"],
        "dependency depdemo pre-deploy hook depdemo/hooks/pre-deploy fail: realm import failed: no such file",
        "{res:#}"
    );
    // The app was never created; the dependency was, and is gone.
    assert!(!w.run_dir("red").join("app.json").exists());
    assert_eq!(res["teardown"]["status"], "clean", "{res:#}");
    assert!(
        res["teardown"]["summary"]
            .as_str()
            .unwrap()
            .contains("dependency depdemo: "),
        "{res:#}"
    );
}

#[test]
fn a_shared_dependency_is_made_once_and_set_up_per_run() {
    let w = World::new("run-dep-shared");
    let repo = w.repo.path.to_string_lossy().into_owned();
    dependency_recipe(&w, PRE_DEPLOY_OK);
    settings(
        &w,
        &format!(
            r#"{{"recipe": "depdemo", "repo": "{repo}", "ref": "0.1.0+1.0", "shared": true,
                "setup": "hooks/realm-setup", "cleanup": "hooks/realm-cleanup"}}"#
        ),
        "{}",
    );
    // Per run: a realm (a file in the shared app's content volume).
    w.add_test(
        "demo/hooks/realm-setup",
        "#!/bin/sh\nccci-deploy exec \"$CCCI_DEP_DEPDEMO_RUN_DIR\" app touch \"/www/data/realm-$CCCI_RUN_ID\"\n",
    );
    w.add_test(
        "demo/hooks/realm-cleanup",
        "#!/bin/sh\nccci-deploy exec \"$CCCI_DEP_DEPDEMO_RUN_DIR\" app rm \"/www/data/realm-$CCCI_RUN_ID\"\n",
    );
    w.add_test(
        "demo/custom/realm",
        "#!/bin/sh\n[ \"$CCCI_DEP_DEPDEMO_SHARED\" = 1 ] || exit 99\nccci-deploy exec \"$CCCI_DEP_DEPDEMO_RUN_DIR\" app ls \"/www/data/realm-$CCCI_RUN_ID\"\n",
    );
    for id in ["first", "second"] {
        let r = w.run(id, "0.2.0+1.1", &["--tiers", "install,custom"]);
        let res = w.results(id);
        assert_eq!(res["verdict"], "partial", "{id}: {res:#}\n{}", r.stderr);
        assert_eq!(res["apps"][1]["run_id"], "shared-depdemo", "{res:#}");
        // The first run makes the shared app and counts it; once it stands
        // it counts on its own, not in each run that uses it.
        let whats = counted(&res);
        let want: &[&str] = match id {
            "first" => &["demo", "depdemo (shared dependency, made by this run)"],
            _ => &["demo"],
        };
        assert_eq!(whats, want, "{id}: {res:#}");
    }
    // Made once: the second run found it and did not deploy it again.
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(&w.state).join("shared/depdemo.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rec["run_id"], "shared-depdemo");
    let app: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(&w.state).join("runs/shared-depdemo/app.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(app["deploys"], 1, "{app}");
    // Each run cleaned up its realm; the shared app is still up, and the
    // reaper leaves it.
    let ls = deploy_cli(&w, &["exec", "shared-depdemo", "app", "ls", "/www/data"]);
    ls.assert_code(0);
    assert!(!ls.stdout.contains("realm-"), "{}", ls.stdout);
    let reap = deploy_cli(&w, &["--json", "reap", "--grace", "0"]);
    reap.assert_code(0);
    assert!(
        reap.stdout
            .contains("kept: shared dependency app of depdemo"),
        "{}",
        reap.stdout
    );
    deploy_cli(&w, &["teardown", "shared-depdemo"]).assert_code(0);
}
