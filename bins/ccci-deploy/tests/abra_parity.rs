//! ccci reads a recipe the way abra does (docs/abra-parity.md), end to end on the
//! rig's swarm: abra.sh's function bodies are shell, the env file is godotenv's
//! dialect, and secret modifiers are taken as abra takes them.

mod common;

use ccci_testkit::{assert_one_line_error, exec_in};
use common::World;

/// Hooks as recipes write them for `abra app cmd`: their exports are shell,
/// quoted as shells quote, and must never become settings.
const HOOKS: &str = r#"
backup() {
  export PGPASSWORD="$(cat "/run/secrets/db_password")"
  export LEAKED_VERSION=v9
  echo "$PGPASSWORD" > /dev/null
}

function restore {
export FUNCTION_ONLY=leaked
  cat <<EOF
export IN_HEREDOC=leaked
EOF
}
"#;

/// Settings in the godotenv dialect abra reads: a reference to an earlier key,
/// and a double-quoted value with escaped quotes.
const SETTINGS: &str = r#"
SMTP_FROM=noreply@${DOMAIN}
QUOTED="say \"hi\" to ${DOMAIN}"
"#;

/// A variable of the running app container's environment (busybox has `env`,
/// not `printenv`).
fn app_env(stack: &str, var: &str) -> String {
    let env = exec_in(&format!("{stack}_app."), &["env"]).unwrap();
    let prefix = format!("{var}=");
    env.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{var} is not set in the app container:\n{env}"))
        .to_string()
}

fn run_domain(w: &World, id: &str) -> String {
    let app: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.run_dir(id).join("app.json")).unwrap())
            .unwrap();
    app["domain"].as_str().unwrap().to_string()
}

#[test]
fn hooks_in_abra_sh_stay_shell_and_env_references_resolve_in_the_app_env() {
    let w = World::new("abra-parity");
    let abra_sh = w.repo.read("abra.sh");
    w.repo.write("abra.sh", &format!("{abra_sh}{HOOKS}"));
    let sample = w.repo.read(".env.sample");
    w.repo.write(".env.sample", &format!("{sample}{SETTINGS}"));
    // A charset ccci does not know is a warning, never a stop.
    w.repo.edit(
        ".env.sample",
        "SECRET_DB_PASSWORD_VERSION=v1 # length=32",
        "SECRET_DB_PASSWORD_VERSION=v1 # length=32 charset=safespecial",
    );
    w.repo.edit(
        "compose.yml",
        "      - DOMAIN\n",
        "      - DOMAIN\n      - SMTP_FROM\n      - QUOTED\n      - FROM_HOOKS=${PGPASSWORD:-unset}/${LEAKED_VERSION:-unset}/${FUNCTION_ONLY:-unset}/${IN_HEREDOC:-unset}\n",
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
    r.assert_code(0);
    assert!(
        r.stderr.contains("secret charset \"safespecial\""),
        "{}",
        r.stderr
    );
    let id = r.stdout.trim().to_string();
    // The app env keeps the reference as written; it resolves when read.
    let env = std::fs::read_to_string(w.run_dir(&id).join("app.env")).unwrap();
    assert!(env.contains("SMTP_FROM=noreply@${DOMAIN}\n"), "{env}");

    w.deploy(&["deploy", "--wait", &id]).assert_code(0);
    let stack = w.stack(&id);
    let domain = run_domain(&w, &id);
    assert_eq!(app_env(&stack, "SMTP_FROM"), format!("noreply@{domain}"));
    assert_eq!(app_env(&stack, "QUOTED"), format!("say \"hi\" to {domain}"));
    assert_eq!(app_env(&stack, "FROM_HOOKS"), "unset/unset/unset/unset");
    w.teardown_clean(&id);
}

#[test]
fn a_secret_name_over_dockers_limit_is_red_in_one_line() {
    let w = World::new("abra-parity-r015");
    let key = "db_password_for_the_main_database_of_this_application_server";
    w.repo.edit("compose.yml", "db_password", key);
    w.repo.edit(
        ".env.sample",
        "SECRET_DB_PASSWORD_VERSION",
        &format!("SECRET_{}_VERSION", key.to_ascii_uppercase()),
    );
    let sha = w.repo.commit("a secret key too long for Docker");

    let repo = w.repo.path.to_string_lossy().into_owned();
    let r = w.deploy(&["new", "--recipe", "demo", "--repo", &repo, "--ref", &sha]);
    r.assert_code(1);
    assert_one_line_error(&r, "ccci-deploy");
    assert!(r.stderr.contains(&format!("secret {key}:")), "{}", r.stderr);
    assert!(
        r.stderr.contains("characters, over Docker's limit of 64"),
        "{}",
        r.stderr
    );

    // The refused run still tears down clean.
    let failed = std::fs::read_dir(w.state.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    w.teardown_clean(&failed.to_string_lossy());
}

fn app_label(stack: &str, label: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "service",
            "inspect",
            &format!("{stack}_app"),
            "--format",
            &format!("{{{{index .Spec.Labels \"coop-cloud.{stack}.{label}\"}}}}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_app_gets_all_of_its_env_the_domain_everywhere_and_abras_labels() {
    let w = World::new("abra-parity-app");
    // Settings the compose file does not list: abra still hands them to the
    // app container. And the sample's `<recipe>.example.com` elsewhere than
    // in DOMAIN, which `abra app new` replaces too.
    let sample = w.repo.read(".env.sample");
    w.repo.write(
        ".env.sample",
        &format!(
            "{sample}\nTEMPLATE_ONLY=read-by-the-entrypoint\nMAIL_DOMAIN=mail.demo.example.com\nENABLE_AUTO_UPDATE=true\nTIMEOUT=soon\n"
        ),
    );
    w.repo.edit("compose.yml", "${TIMEOUT:-120}", "${TIMEOUT}");
    // Not a release: a chaos deploy of a commit.
    let sha = w.repo.commit("settings the compose file does not list");
    let id = w.new_app(&sha, &[]);
    let r = w.deploy(&["deploy", "--wait", &id]);
    r.assert_code(0);
    // A timeout label that is not a number is said, not swallowed.
    assert!(
        r.stderr
            .contains(".timeout is \"soon\", not a number of seconds"),
        "{}",
        r.stderr
    );
    let stack = w.stack(&id);
    let domain = run_domain(&w, &id);
    assert_eq!(app_env(&stack, "TEMPLATE_ONLY"), "read-by-the-entrypoint");
    assert_eq!(app_env(&stack, "MAIL_DOMAIN"), format!("mail.{domain}"));
    // What the compose file sets itself is what the app gets.
    assert_eq!(
        app_env(&stack, "GREETING"),
        "Hello from the ccci demo recipe"
    );
    assert_eq!(app_label(&stack, "autoupdate"), "true");
    assert_eq!(app_label(&stack, "chaos"), "true");
    assert_eq!(app_label(&stack, "chaos-version"), &sha[..8]);
    w.teardown_clean(&id);
}

#[test]
fn an_upgrade_says_what_the_release_asks_of_operators() {
    let w = World::new("abra-parity-asks");
    let id = w.new_app("0.1.0+1.0", &[]);
    w.deploy_wait(&id, 0);
    // The next release adds a setting and a secret, which an operator
    // upgrading with abra must add by hand.
    let sample = w.repo.read(".env.sample");
    w.repo.write(
        ".env.sample",
        &format!("{sample}\nSMTP_HOST=mail.example.org\nSECRET_SMTP_PASSWORD_VERSION=v1\n"),
    );
    w.repo.edit(
        "compose.yml",
        "    secrets:\n      - db_password\n",
        "    secrets:\n      - db_password\n      - smtp_password\n",
    );
    w.repo.edit(
        "compose.yml",
        "\nconfigs:\n",
        "  smtp_password:\n    external: true\n    name: ${STACK_NAME}_smtp_password_${SECRET_SMTP_PASSWORD_VERSION}\n\nconfigs:\n",
    );
    w.repo.release("0.3.0+1.1");
    let r = w.deploy(&["--json", "upgrade", &id, "--ref", "0.3.0+1.1"]);
    r.assert_code(0);
    let v = r.json();
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .ends_with("; operators must add env SMTP_HOST, SECRET_SMTP_PASSWORD_VERSION and secret smtp_password (v1)"),
        "{v}"
    );
    assert_eq!(
        v["operator_actions"]["env"],
        serde_json::json!(["SMTP_HOST", "SECRET_SMTP_PASSWORD_VERSION"])
    );
    assert_eq!(
        app_label(&w.stack(&id), "autoupdate"),
        "false",
        "no ENABLE_AUTO_UPDATE: false, as abra sets it"
    );
    w.teardown_clean(&id);
}
