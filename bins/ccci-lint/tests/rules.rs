//! One failing and one passing fixture per rule, each made from the bundled demo
//! recipe (a real git repository with annotated release tags) by a small edit,
//! and linted by the real binary. A failing fixture must fail exactly the rules
//! it names; a passing fixture must lint clean with the rule checked.
//!
//! Lint renders with Docker's loader, which needs the docker CLI but no daemon.

use ccci_testkit::{RecipeRepo, Run, Scratch};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-lint"))
}

fn lint(args: &[&str]) -> Run {
    let out = Command::new(bin())
        .args(args)
        .env_remove("CCCI_RECIPES_DIR")
        .env_remove("CCCI_RECIPE")
        .stdin(Stdio::null())
        .output()
        .expect("run ccci-lint");
    Run::from(out)
}

/// The demo recipe with its README's metadata block complete: lints clean.
fn demo(s: &Scratch) -> RecipeRepo {
    let repo = RecipeRepo::from_demo(&s.join("recipe"));
    repo.edit(
        "README.md",
        "<!-- endmetadata -->",
        "* **Email**: No\n* **Tests**: No\n* **SSO**: No\n<!-- endmetadata -->",
    );
    repo
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@localhost")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@localhost")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

/// Lint `repo`'s files with `extra` arguments; the JSON verdict.
fn report(repo: &RecipeRepo, extra: &[&str]) -> (Run, Value) {
    let path = repo.path.to_string_lossy().into_owned();
    let mut args = vec![path.as_str(), "--json"];
    args.extend_from_slice(extra);
    let r = lint(&args);
    let v = r.json();
    (r, v)
}

fn status<'a>(v: &'a Value, id: &str) -> &'a str {
    v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no rule {id} in {v}"))["status"]
        .as_str()
        .unwrap()
}

fn failing(v: &Value) -> BTreeSet<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// The fixture fails exactly `ids`, with each rule's level, and exits 1 when
/// one of them is an error (0 otherwise).
fn assert_fails(repo: &RecipeRepo, extra: &[&str], ids: &[&str]) -> Value {
    let (r, v) = report(repo, extra);
    let want: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    assert_eq!(failing(&v), want, "{v:#}");
    let mut error = false;
    for f in v["findings"].as_array().unwrap() {
        let rule = v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == f["id"])
            .unwrap();
        assert_eq!(f["level"], rule["level"], "{f}");
        assert_eq!(f["name"], rule["name"], "{f}");
        assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()));
        error |= f["level"] == "error";
    }
    r.assert_code(if error { 1 } else { 0 });
    assert_eq!(v["outcome"], if error { "red" } else { "ok" });
    v
}

/// The fixture lints clean and `id` was checked.
fn assert_passes(repo: &RecipeRepo, extra: &[&str], id: &str) {
    let (r, v) = report(repo, extra);
    assert!(failing(&v).is_empty(), "{v:#}");
    assert_eq!(status(&v, id), "pass", "{v:#}");
    r.assert_code(0);
    assert_eq!(v["outcome"], "ok");
    assert_eq!(v["summary"], "0 errors, 0 warnings");
}

fn finding<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id} finding in {v:#}"))
}

#[test]
fn demo_lints_clean_from_its_files_and_at_its_release() {
    let s = Scratch::new("lint-demo");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R007");
    repo.commit("metadata");
    let (r, v) = report(&repo, &["--ref", "HEAD", "--tag", "0.2.0+1.1"]);
    r.assert_code(0);
    assert!(failing(&v).is_empty(), "{v:#}");
    let skipped: Vec<&str> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "skip")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["R006", "R013", "C011", "C012"], "{v:#}");
    assert_eq!(v["rules"].as_array().unwrap().len(), 28);
    // The demo as bundled lacks three metadata lines: one warning, exit 0.
    let s2 = Scratch::new("lint-demo-raw");
    let raw = RecipeRepo::from_demo(&s2.join("recipe"));
    let v = assert_fails(&raw, &[], &["R007"]);
    let f = finding(&v, "R007");
    assert_eq!(f["file"], "README.md");
    assert_eq!(f["line"], 9);
    assert!(f["message"].as_str().unwrap().contains("Email and SSO"));
}

#[test]
fn r001_compose_version() {
    let s = Scratch::new("lint-r001");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R001");
    repo.edit("compose.yml", "version: \"3.8\"", "version: \"3.7\"");
    let v = assert_fails(&repo, &[], &["R001"]);
    assert_eq!(finding(&v, "R001")["line"], 2);
    repo.edit("compose.yml", "version: \"3.7\"\n", "");
    assert_fails(&repo, &[], &["R001"]);
}

#[test]
fn r002_healthcheck() {
    let s = Scratch::new("lint-r002");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R002");
    repo.edit(
        "compose.yml",
        "    healthcheck:\n      test: [\"CMD\", \"/bin/sh\", \"/srv/db.sh\", \"ping\"]",
        "    healthcheck:\n      disable: true\n      test: [\"CMD\", \"/bin/sh\", \"/srv/db.sh\", \"ping\"]",
    );
    let v = assert_fails(&repo, &[], &["R002"]);
    assert!(
        finding(&v, "R002")["message"]
            .as_str()
            .unwrap()
            .contains("db disables")
    );
}

#[test]
fn r003_image_tagged() {
    let s = Scratch::new("lint-r003");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R003");
    let text = repo
        .read("compose.yml")
        .replacen("busybox:1.1", "busybox", 1);
    repo.write("compose.yml", &text);
    let v = assert_fails(&repo, &[], &["R003"]);
    let f = finding(&v, "R003");
    assert_eq!(
        (f["file"].as_str(), f["line"].as_u64()),
        (Some("compose.yml"), Some(6))
    );
}

#[test]
fn r004_no_unstable_tag() {
    let s = Scratch::new("lint-r004");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R004");
    let text = repo
        .read("compose.yml")
        .replacen("busybox:1.1", "busybox:latest", 1);
    repo.write("compose.yml", &text);
    // `latest` is no version either: abra reports both.
    assert_fails(&repo, &[], &["R004", "R005"]);
}

#[test]
fn r005_semver_tag() {
    let s = Scratch::new("lint-r005");
    let repo = demo(&s);
    let text = repo
        .read("compose.yml")
        .replacen("busybox:1.1", "busybox:1.1-musl", 1);
    repo.write("compose.yml", &text);
    assert_passes(&repo, &[], "R005");
    repo.edit("compose.yml", "busybox:1.1-musl", "busybox:bookworm");
    assert_fails(&repo, &[], &["R005"]);
}

#[test]
fn r006_and_r013_need_the_network() {
    let s = Scratch::new("lint-r006");
    let repo = demo(&s);
    let (_, v) = report(&repo, &[]);
    assert_eq!(status(&v, "R006"), "skip");
    assert_eq!(status(&v, "R013"), "skip");
}

#[test]
fn r007_readme_metadata() {
    let s = Scratch::new("lint-r007");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R007");
    repo.edit("README.md", "* **Category**: Demo", "* **Category**:");
    let v = assert_fails(&repo, &[], &["R007"]);
    assert!(
        finding(&v, "R007")["message"]
            .as_str()
            .unwrap()
            .contains("Category (empty)")
    );
    repo.edit("README.md", "<!-- metadata -->", "");
    assert_fails(&repo, &[], &["R007"]);
}

#[test]
fn r008_env_sample() {
    let s = Scratch::new("lint-r008");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R008");
    repo.edit(".env.sample", "TIMEOUT=120", "TIMEOUT=120\nnot a line");
    let v = assert_fails(&repo, &[], &["R008", "C003"]);
    assert!(
        finding(&v, "R008")["message"]
            .as_str()
            .unwrap()
            .contains("expected KEY=value")
    );
    repo.remove(".env.sample");
    // Without it nothing declares the secret's version, and there is no DOMAIN.
    let v = assert_fails(&repo, &[], &["R008", "C003"]);
    assert_eq!(status(&v, "R010"), "skip");
}

#[test]
fn r009_app_service() {
    let s = Scratch::new("lint-r009");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R009");
    repo.edit("compose.yml", "\n  app:\n", "\n  web:\n");
    let v = assert_fails(&repo, &[], &["R009"]);
    assert_eq!(status(&v, "R016"), "skip");
}

#[test]
fn r010_traefik_enabled_and_its_skip_condition() {
    let s = Scratch::new("lint-r010");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R010");
    repo.edit("compose.yml", "        - \"traefik.enable=true\"\n", "");
    let v = assert_fails(&repo, &[], &["R010"]);
    assert_eq!(finding(&v, "R010")["level"], "error");
    repo.edit(".env.sample", "DOMAIN=demo.example.com", "");
    let (r, v) = report(&repo, &[]);
    r.assert_code(0);
    assert_eq!(status(&v, "R010"), "skip", "{v:#}");
}

#[test]
fn r011_image_present() {
    let s = Scratch::new("lint-r011");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R011");
    let text = repo.read("compose.yml").replace(
        "  db:\n    image: 127.0.0.1:5000/ccci/busybox:1.1\n",
        "  db:\n",
    );
    repo.write("compose.yml", &text);
    assert_fails(&repo, &[], &["R011"]);
}

#[test]
fn r012_abra_sh_vendors() {
    let s = Scratch::new("lint-r012");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R012");
    // The version moves to the app env: an upgrade keeps the old one.
    repo.edit("abra.sh", "export DB_SH_VERSION=v1\n", "");
    let env = repo.read(".env.sample") + "DB_SH_VERSION=v1\n";
    repo.write(".env.sample", &env);
    let v = assert_fails(&repo, &[], &["R012"]);
    let f = finding(&v, "R012");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("abra.sh does not export"),
        "{f}"
    );
    assert_eq!(
        (f["file"].as_str(), f["line"].as_u64()),
        (Some("compose.yml"), Some(80))
    );
    // A config without a version in its name.
    let s2 = Scratch::new("lint-r012b");
    let repo = demo(&s2);
    repo.edit(
        "compose.yml",
        "${STACK_NAME}_app_sh_${APP_SH_VERSION}",
        "${STACK_NAME}_app_sh",
    );
    let v = assert_fails(&repo, &[], &["R012"]);
    assert!(
        finding(&v, "R012")["message"]
            .as_str()
            .unwrap()
            .contains("no version variable")
    );
    // No abra.sh at all.
    let s3 = Scratch::new("lint-r012c");
    let repo = demo(&s3);
    repo.remove("abra.sh");
    let env = repo.read(".env.sample") + "APP_SH_VERSION=v1\nDB_SH_VERSION=v1\n";
    repo.write(".env.sample", &env);
    let v = assert_fails(&repo, &[], &["R012"]);
    assert!(
        finding(&v, "R012")["message"]
            .as_str()
            .unwrap()
            .contains("abra.sh is missing")
    );
}

#[test]
fn r014_annotated_tags() {
    let s = Scratch::new("lint-r014");
    let repo = demo(&s);
    let sha = repo.commit("metadata");
    let path = repo.path.to_string_lossy().into_owned();
    assert_passes(&repo, &["--ref", &sha], "R014");
    git(&repo.path, &["tag", "0.3.0+1.2"]);
    let v = assert_fails(&repo, &["--ref", &sha], &["R014"]);
    assert!(
        finding(&v, "R014")["message"]
            .as_str()
            .unwrap()
            .contains("0.3.0+1.2")
    );
    // A plain directory has no tags to check.
    std::fs::rename(repo.path.join(".git"), s.join("git")).unwrap();
    let r = lint(&[&path, "--json"]);
    assert_eq!(status(&r.json(), "R014"), "skip");
}

#[test]
fn r015_secret_length() {
    let s = Scratch::new("lint-r015");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R015");
    let rename = |to: &str| {
        for f in ["compose.yml", ".env.sample"] {
            let t = repo
                .read(f)
                .replace("db_password", to)
                .replace("DB_PASSWORD", &to.to_uppercase());
            repo.write(f, &t);
        }
    };
    // 45 + 1 + 15 + 3 = 64: just fits.
    rename("db_password_abc");
    assert_passes(&repo, &[], "R015");
    let s2 = Scratch::new("lint-r015b");
    let repo2 = demo(&s2);
    for f in ["compose.yml", ".env.sample"] {
        let t = repo2
            .read(f)
            .replace("db_password", "db_password_abcd")
            .replace("DB_PASSWORD", "DB_PASSWORD_ABCD");
        repo2.write(f, &t);
    }
    let v = assert_fails(&repo2, &[], &["R015"]);
    assert!(
        finding(&v, "R015")["message"]
            .as_str()
            .unwrap()
            .contains("65 characters")
    );
}

#[test]
fn r016_deploy_labels() {
    let s = Scratch::new("lint-r016");
    let repo = demo(&s);
    assert_passes(&repo, &[], "R016");
    let text = repo.read("compose.yml");
    let start = text
        .find("      labels:\n        - \"traefik.enable=true\"")
        .unwrap();
    let end = text.find("\n\n  db:").unwrap();
    repo.write(
        "compose.yml",
        &format!("{}{}", &text[..start], &text[end + 1..]),
    );
    // Traefik's label went with them.
    assert_fails(&repo, &[], &["R016", "R010"]);
}

#[test]
fn c001_compose_render() {
    let s = Scratch::new("lint-c001");
    let repo = demo(&s);
    assert_passes(&repo, &[], "C001");
    repo.edit(
        ".env.sample",
        "COMPOSE_FILE=\"compose.yml\"",
        "COMPOSE_FILE=\"compose.yml:compose.extra.yml\"",
    );
    let v = assert_fails(&repo, &[], &["C001"]);
    assert!(
        finding(&v, "C001")["message"]
            .as_str()
            .unwrap()
            .contains("compose.extra.yml")
    );
    assert_eq!(status(&v, "R002"), "skip");
    // Docker's own words for a file it rejects.
    repo.edit(".env.sample", ":compose.extra.yml", "");
    repo.edit(
        "compose.yml",
        "    init: true\n",
        "    init: [not, a, bool]\n",
    );
    assert_fails(&repo, &[], &["C001"]);
}

#[test]
fn c002_version_label() {
    let s = Scratch::new("lint-c002");
    let repo = demo(&s);
    assert_passes(&repo, &["--tag", "0.2.0+1.1"], "C002");
    let v = assert_fails(&repo, &["--tag", "0.3.0+1.2"], &["C002"]);
    let f = finding(&v, "C002");
    assert_eq!(f["line"], 37, "{f}");
    let (_, v) = report(&repo, &[]);
    assert_eq!(status(&v, "C002"), "skip");
}

#[test]
fn c003_secrets_declared() {
    let s = Scratch::new("lint-c003");
    let repo = demo(&s);
    assert_passes(&repo, &[], "C003");
    let env = repo.read(".env.sample") + "SECRET_ADMIN_TOKEN_VERSION=v1\n";
    repo.write(".env.sample", &env);
    let v = assert_fails(&repo, &[], &["C003"]);
    let f = finding(&v, "C003");
    assert_eq!(f["file"], ".env.sample");
    assert_eq!(f["line"], 15);
}

#[test]
fn c004_backup_labels() {
    let s = Scratch::new("lint-c004");
    let repo = demo(&s);
    assert_passes(&repo, &[], "C004");
    repo.edit(
        "compose.yml",
        "backupbot.backup.volumes.db.path: \"dump.tar\"",
        "backupbot.backup.volumes.db.path: \"../dump.tar\"",
    );
    let v = assert_fails(&repo, &[], &["C004"]);
    assert_eq!(finding(&v, "C004")["line"], 67);
}

#[test]
fn c005_backup_coverage() {
    let s = Scratch::new("lint-c005");
    let repo = demo(&s);
    assert_passes(&repo, &[], "C005");
    repo.edit("compose.yml", "        - \"backupbot.backup=true\"\n", "");
    repo.edit("compose.yml", "        backupbot.backup: \"true\"\n", "");
    assert_fails(&repo, &[], &["C005"]);
}

#[test]
fn c006_backup_path_unwritten() {
    let s = Scratch::new("lint-c006");
    let repo = demo(&s);
    // The demo's pre-hook runs db.sh (a swarm config), which writes dump.tar.
    assert_passes(&repo, &[], "C006");
    repo.edit(
        "compose.yml",
        "backupbot.backup.volumes.db.path: \"dump.tar\"",
        "backupbot.backup.volumes.db.path: \"dump.sql\"",
    );
    let v = assert_fails(&repo, &[], &["C006"]);
    assert!(
        finding(&v, "C006")["message"]
            .as_str()
            .unwrap()
            .contains("nothing writes")
    );
    // A hook that writes the dump outside the volume.
    let s2 = Scratch::new("lint-c006b");
    let repo = demo(&s2);
    repo.edit(
        "compose.yml",
        "backupbot.backup.pre-hook: \"/bin/sh /srv/db.sh dump\"",
        "backupbot.backup.pre-hook: \"tar -C /run/db/rows -cf /tmp/dump.tar .\"",
    );
    let v = assert_fails(&repo, &[], &["C006"]);
    assert!(
        finding(&v, "C006")["message"]
            .as_str()
            .unwrap()
            .contains("backs up /var/lib/db/dump.tar, but the pre-hook writes /tmp/dump.tar")
    );
    // ... and one that writes it where the label says.
    repo.edit(
        "compose.yml",
        "-cf /tmp/dump.tar",
        "-cf /var/lib/db/dump.tar",
    );
    assert_passes(&repo, &[], "C006");
}

#[test]
fn c007_hook_pipefail() {
    let s = Scratch::new("lint-c007");
    let repo = demo(&s);
    let piped = "backupbot.restore.post-hook: \"sh -c 'cat /var/lib/db/dump.tar | tar -C /run/db/rows -xf -'\"";
    repo.edit(
        "compose.yml",
        "backupbot.restore.post-hook: \"/bin/sh /srv/db.sh load\"",
        piped,
    );
    let v = assert_fails(&repo, &[], &["C007"]);
    assert!(
        finding(&v, "C007")["message"]
            .as_str()
            .unwrap()
            .contains("pipes cat")
    );
    repo.edit("compose.yml", "sh -c 'cat", "sh -o pipefail -c 'cat");
    assert_passes(&repo, &[], "C007");
}

/// db joins the external network `proxy`, and with `both` app joins it too;
/// db's environment reaches app as `host`.
fn on_proxy(repo: &RecipeRepo, both: bool, host: &str) {
    repo.edit(
        "compose.yml",
        "    secrets:\n      - db_password\n",
        &format!(
            "    secrets:\n      - db_password\n    environment:\n      APP_URL: http://{host}:8080/\n"
        ),
    );
    let text = repo.read("compose.yml");
    let nets = "    networks:\n      - internal\n";
    let with_proxy = "    networks:\n      - internal\n      - proxy\n";
    let text = if both {
        text.replace(nets, with_proxy)
    } else {
        let at = text.rfind(nets).unwrap();
        format!("{}{with_proxy}{}", &text[..at], &text[at + nets.len()..])
    };
    repo.write(
        "compose.yml",
        &text.replace(
            "networks:\n  internal:\n",
            "networks:\n  internal:\n  proxy:\n    external: true\n",
        ),
    );
}

#[test]
fn c008_shared_net_collision() {
    let s = Scratch::new("lint-c008");
    let repo = demo(&s);
    on_proxy(&repo, true, "app");
    // db reaches app by `app`; app's script (app.sh) reaches db as `tasks.db`.
    let v = assert_fails(&repo, &[], &["C008"]);
    let files: BTreeSet<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{}", f["file"].as_str().unwrap(), f["line"]))
        .collect();
    assert!(files.contains("app.sh:11"), "{files:?}");
    let s2 = Scratch::new("lint-c008b");
    let repo = demo(&s2);
    on_proxy(&repo, true, "${STACK_NAME}_app");
    repo.edit("app.sh", "tasks.db", "tasks.${STACK_NAME}_db");
    assert_passes(&repo, &[], "C008");
}

#[test]
fn c009_shared_net_bare_name() {
    let s = Scratch::new("lint-c009");
    let repo = demo(&s);
    on_proxy(&repo, false, "app");
    let v = assert_fails(&repo, &[], &["C009"]);
    assert!(
        finding(&v, "C009")["message"]
            .as_str()
            .unwrap()
            .contains("environment APP_URL")
    );
    let s2 = Scratch::new("lint-c009b");
    let repo = demo(&s2);
    on_proxy(&repo, false, "${STACK_NAME}_app");
    assert_passes(&repo, &[], "C009");
}

#[test]
fn c010_start_period() {
    let s = Scratch::new("lint-c010");
    let repo = demo(&s);
    // 5 s + 5 x 2 s = 15 s of grace against a 120 s timeout.
    assert_passes(&repo, &[], "C010");
    repo.edit(".env.sample", "TIMEOUT=120", "TIMEOUT=900");
    let v = assert_fails(&repo, &[], &["C010"]);
    assert_eq!(v["findings"].as_array().unwrap().len(), 2, "app and db");
    repo.edit(".env.sample", "TIMEOUT=900", "TIMEOUT=120");
    // recipe.json's deploy timeout wins over the label.
    let recipes = s.join("recipes");
    std::fs::create_dir_all(recipes.join("demo")).unwrap();
    std::fs::write(
        recipes.join("demo/recipe.json"),
        r#"{"schema": 1, "timeouts": {"deploy": 600}}"#,
    )
    .unwrap();
    let dir = recipes.to_string_lossy().into_owned();
    let v = assert_fails(&repo, &["--recipes-dir", &dir], &["C010"]);
    assert!(
        finding(&v, "C010")["message"]
            .as_str()
            .unwrap()
            .contains("recipe.json")
    );
    repo.edit("compose.yml", "start_period: 5s", "start_period: 1m");
    assert_passes(&repo, &["--recipes-dir", &dir], "C010");
}

#[test]
fn c011_overlay_scope() {
    let s = Scratch::new("lint-c011");
    let repo = demo(&s);
    let ok = s.join("ok.yml");
    std::fs::write(
        &ok,
        "version: \"3.8\"\nservices:\n  app:\n    image: 127.0.0.1:5000/ccci/busybox:1.0\n    healthcheck:\n      start_period: 30s\n    deploy:\n      resources:\n        limits:\n          memory: 64M\n",
    )
    .unwrap();
    let okp = ok.to_string_lossy().into_owned();
    assert_passes(&repo, &["--overlay", &okp], "C011");
    let bad = s.join("bad.yml");
    std::fs::write(
        &bad,
        "services:\n  app:\n    environment:\n      X: \"1\"\n    deploy:\n      replicas: 2\n  extra:\n    image: x:1\nvolumes:\n  more: {}\n",
    )
    .unwrap();
    let badp = bad.to_string_lossy().into_owned();
    let v = assert_fails(&repo, &["--overlay", &okp, "--overlay", &badp], &["C011"]);
    let lines: Vec<(String, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["message"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (want, line) in [
        ("app.environment", 3),
        ("app.deploy.replicas", 6),
        ("service extra", 7),
        ("top-level volumes", 9),
    ] {
        assert!(
            lines.iter().any(|(m, l)| m.contains(want) && *l == line),
            "{want}: {lines:?}"
        );
    }
    // Found without --overlay in the recipe's folder of ccci's recipes tree.
    let compose = s.join("recipes/demo/compose");
    std::fs::create_dir_all(&compose).unwrap();
    std::fs::copy(&bad, compose.join("ci.yml")).unwrap();
    let dir = s.join("recipes").to_string_lossy().into_owned();
    assert_fails(&repo, &["--recipes-dir", &dir], &["C011"]);
    assert_fails(
        &repo,
        &["--recipes-dir", &dir, "--recipe", "demo"],
        &["C011"],
    );
    let (_, v) = report(&repo, &["--recipes-dir", &dir, "--recipe", "other"]);
    assert_eq!(status(&v, "C011"), "skip");
}

/// A date `days` from today, as `date` prints it.
fn date_in(days: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("{days} days"), "+%F"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn known_flaky_tests_are_announced_before_and_after_they_expire() {
    let s = Scratch::new("lint-flaky");
    let repo = demo(&s);
    let dir = s.join("recipes");
    std::fs::create_dir_all(dir.join("demo")).unwrap();
    std::fs::write(
        dir.join("demo/recipe.json"),
        format!(
            r#"{{"schema": 1, "flaky": {{
                "custom/old": {{"reason": "upstream bug 12", "until": "{}"}},
                "custom/soon": {{"reason": "slow login", "until": "{}"}},
                "custom/later": {{"reason": "racy", "until": "{}"}}}}}}"#,
            date_in(-1),
            date_in(5),
            date_in(60)
        ),
    )
    .unwrap();
    let dir = dir.to_string_lossy().into_owned();
    let (r, v) = report(&repo, &["--recipes-dir", &dir, "--recipe", "demo"]);
    r.assert_code(0);
    let said: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "C012")
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said.iter().any(|m| m.contains("custom/old expired on")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|m| m.contains("custom/soon expires on") && m.contains("in 5 days")),
        "{said:?}"
    );
}
