//! What real recipes need from a run, on the swarm: settings derived from the
//! run's names, env set only at the upgrade, a secret the recipe cannot have
//! generated, and a hook between creating the app and its one deploy.

mod common;

use ccci_testkit::run;
use common::*;

/// The value the recipe's secret hook gives the `generate=false` secret.
const FROM_HOOK: &str = "from-the-secret-hook";

#[test]
fn derived_settings_a_secret_hook_and_a_pre_deploy_hook_reach_the_app() {
    let w = World::new("run-settings");
    // Two releases whose db password cannot be generated: it comes from the
    // recipe's secret hook, as a PDS rotation key would.
    w.repo.edit(
        ".env.sample",
        "SECRET_DB_PASSWORD_VERSION=v1 # length=32",
        "SECRET_DB_PASSWORD_VERSION=v1 # generate=false",
    );
    w.repo.release("0.3.0+1.1");
    w.repo.write("NOTES.md", "a second release\n");
    w.repo.release("0.4.0+1.1");
    std::fs::write(
        w.recipes.join("demo/recipe.json"),
        r#"{
  "schema": 1,
  "marker_hooks": {"db": "hooks/backup-marker"},
  "env": {"GREETING": "hi from {domain} in {stack}"},
  "upgrade_env": {"GREETING": "upgraded at {domain}"},
  "secret_hook": "hooks/secret"
}"#,
    )
    .unwrap();
    w.add_test(
        "demo/hooks/secret",
        &format!(
            "#!/bin/sh\n[ \"$1\" = db_password ] && [ \"$2\" = v1 ] || exit 1\necho {FROM_HOOK}\n"
        ),
    );
    // The pre-deploy hook runs before anything of the stack exists, and what
    // it writes to the app env is what the one deploy uses.
    w.add_test(
        "demo/hooks/pre-deploy",
        r#"#!/bin/sh
set -eu
if [ -n "$(docker service ls -q --filter "name=${CCCI_STACK}_")" ]; then
    echo "the stack is already deployed" >&2
    exit 1
fi
test -f "$CCCI_RECIPE_DIR/compose.yml"
sed -i 's/^LETS_ENCRYPT_ENV=.*/LETS_ENCRYPT_ENV=set-by-pre-deploy/' "$CCCI_APP_ENV"
echo "pre-deploy: resolver set"
"#,
    );
    // What the app sees after the install, then after the upgrade.
    let greeting = |want: &str| {
        format!(
            "#!/bin/sh\ngot=$($CCCI_EXEC app sh -c 'echo \"$GREETING\"')\nwant=\"{want}\"\n\
             [ \"$got\" = \"$want\" ] || {{ echo \"GREETING is '$got', not '$want'\"; exit 1; }}\n"
        )
    };
    w.add_test(
        "demo/install/greeting",
        &greeting("hi from $CCCI_DOMAIN in $CCCI_STACK"),
    );
    w.add_test(
        "demo/custom/greeting",
        &greeting("upgraded at $CCCI_DOMAIN"),
    );
    w.add_test(
        "demo/custom/secret",
        &format!(
            "#!/bin/sh\ngot=$($CCCI_EXEC db cat /run/secrets/db_password)\n[ \"$got\" = {FROM_HOOK} ] || {{ echo \"db_password is '$got'\"; exit 1; }}\n"
        ),
    );
    // What was deployed carries the hook's edit.
    w.add_test(
        "demo/custom/resolver",
        r#"#!/bin/sh
got=$(docker service inspect "${CCCI_STACK}_app" --format \
    "{{index .Spec.Labels \"traefik.http.routers.${CCCI_STACK}.tls.certresolver\"}}")
[ "$got" = set-by-pre-deploy ] || { echo "resolver is '$got'"; exit 1; }
"#,
    );
    let r = w.run("settings", "0.4.0+1.1", &[]);
    let res = w.results("settings");
    assert_eq!(
        statuses(&res),
        ["pass", "pass", "pass", "pass", "pass", "pass"],
        "{res:#}\n{}",
        r.stderr
    );
    r.assert_code(0);
    let install = tier(&res, "install");
    let ids: Vec<&str> = install["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"demo/install/greeting"), "{ids:?}");
    let custom = tier(&res, "custom");
    assert_eq!(custom["tests"].as_array().unwrap().len(), 4, "{custom:#}");
    // One deploy for the install (and one for the upgrade), and the hook's
    // edit is in it.
    let app: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.run_dir("settings").join("app.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(app["deploys"], 2, "{app}");
    let ledger = std::fs::read_to_string(w.run_dir("settings").join("ledger.jsonl")).unwrap();
    assert!(ledger.contains("\"upgrade-env\""), "{ledger}");
    let hook_log = std::fs::read_to_string(
        w.run_dir("settings")
            .join("logs/install/demo_hooks_pre-deploy.log"),
    )
    .unwrap();
    assert!(hook_log.contains("pre-deploy: resolver set"), "{hook_log}");
}

#[test]
fn a_pre_deploy_hook_that_fails_stops_the_install_before_any_deploy() {
    let w = World::new("run-predeploy-red");
    w.add_test(
        "demo/hooks/pre-deploy",
        "#!/bin/sh\necho 'cannot reach the key server' >&2\nexit 1\n",
    );
    let r = w.run("pre-red", "0.2.0+1.1", &[]);
    r.assert_code(1);
    let res = w.results("pre-red");
    let install = tier(&res, "install");
    assert_eq!(install["status"], "fail", "{res:#}");
    assert_eq!(
        install["summary"],
        "pre-deploy hook demo/hooks/pre-deploy fail: cannot reach the key server",
        "{res:#}"
    );
    let app: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.run_dir("pre-red").join("app.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(app["deploys"], 0, "nothing was deployed: {app}");
}

#[test]
fn an_unknown_placeholder_is_bad_input_before_anything_is_created() {
    let w = World::new("run-placeholder");
    std::fs::write(
        w.recipes.join("demo/recipe.json"),
        r#"{"schema": 1, "env": {"MAIL_FROM": "noreply@{domian}"}}"#,
    )
    .unwrap();
    let repo = w.repo.path.to_string_lossy().into_owned();
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = run(
        &bin(),
        &["--recipe", "demo", "--repo", &repo, "--ref", "0.2.0+1.1"],
        &env,
    );
    r.assert_code(2);
    let line = r.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("env MAIL_FROM: {domian} is not a placeholder"),
        "{line}"
    );
}
