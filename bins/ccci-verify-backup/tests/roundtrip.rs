//! ccci-verify-backup against the real swarm and real restic.

use ccci_testkit::{RecipeRepo, Run, Scratch, exec_in, require_rig, run, workspace};
use std::path::PathBuf;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-verify-backup"))
}

/// ccci-deploy is a sibling binary; the workspace build puts it next to ours.
fn deploy_bin() -> PathBuf {
    let p = bin().parent().unwrap().join("ccci-deploy");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

const DB_LABELS: &str = r#"        backupbot.backup.pre-hook: "/bin/sh /srv/db.sh dump"
        backupbot.backup.post-hook: "rm -f /var/lib/db/dump.tar"
        backupbot.backup.volumes.db.path: "dump.tar"
        backupbot.restore.post-hook: "/bin/sh /srv/db.sh load"
"#;

struct World {
    _scratch: Scratch,
    state: String,
    repo: RecipeRepo,
    hook: String,
}

impl World {
    fn new(name: &str) -> World {
        require_rig();
        let scratch = Scratch::new(name);
        let state = scratch.join("state").to_string_lossy().into_owned();
        let repo = RecipeRepo::from_demo(&scratch.join("recipe"));
        let hook = format!(
            "db={}",
            workspace()
                .join("recipes/demo/hooks/backup-marker")
                .display()
        );
        World {
            _scratch: scratch,
            state,
            repo,
            hook,
        }
    }

    fn env(&self) -> [(&str, &str); 1] {
        [("CCCI_STATE_DIR", self.state.as_str())]
    }

    /// Deploy `ref` and return the run id.
    fn deployed(&self, r#ref: &str) -> String {
        let repo = self.repo.path.to_string_lossy().into_owned();
        let r = run(
            &deploy_bin(),
            &["new", "--recipe", "demo", "--repo", &repo, "--ref", r#ref],
            &self.env(),
        );
        r.assert_code(0);
        let id = r.stdout.trim().to_string();
        run(&deploy_bin(), &["deploy", "--wait", &id], &self.env()).assert_code(0);
        id
    }

    fn verify(&self, args: &[&str]) -> Run {
        run(&bin(), args, &self.env())
    }

    fn stack(&self, id: &str) -> String {
        let p = PathBuf::from(&self.state)
            .join("runs")
            .join(id)
            .join("app.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["stack"].as_str().unwrap().to_string()
    }

    fn db_row(&self, id: &str, row: &str) -> String {
        exec_in(
            &format!("{}_db.", self.stack(id)),
            &["/bin/sh", "/srv/db.sh", "select", row],
        )
        .unwrap_or_default()
    }

    /// Release the demo with one compose edit, deploy it, and run the round trip,
    /// which must be red; returns the run id and the report.
    fn red_roundtrip(&self, from: &str, to: &str) -> (String, serde_json::Value) {
        self.repo.edit("compose.yml", from, to);
        self.repo.release("0.3.0+1.1");
        let id = self.deployed("0.3.0+1.1");
        let r = self.verify(&["--json", "roundtrip", &id, "--marker-hook", &self.hook]);
        r.assert_code(1);
        (id, r.json())
    }

    fn teardown(&self, id: &str) {
        run(&deploy_bin(), &["teardown", id], &self.env()).assert_code(0);
    }
}

fn row<'a>(v: &'a serde_json::Value, service: &str, volume: &str) -> &'a serde_json::Value {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == service && r["volume"] == volume)
        .unwrap_or_else(|| panic!("no row for {service}/{volume}: {v}"))
}

#[test]
fn demo_round_trips_through_dump_and_restore_hooks() {
    let w = World::new("bk-demo");
    let id = w.deployed("0.2.0+1.1");
    let r = w.verify(&["--json", "roundtrip", &id, "--marker-hook", &w.hook]);
    r.assert_code(0);
    let v = r.json();
    assert_eq!(v["ok"], true);
    assert_eq!(row(&v, "db", "db")["marker"], "restored (recipe hook)");
    assert_eq!(row(&v, "db", "db")["coverage"], "dump.tar");
    assert_eq!(row(&v, "app", "content")["marker"], "restored");
    assert!(v["snapshot"]["bytes"].as_u64().unwrap() > 0, "{v}");
    let contents: Vec<&str> = v["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(contents.len(), 2, "{v}");
    assert!(
        contents.iter().any(|c| c.ends_with("_db/_data/dump.tar")),
        "{v}"
    );
    assert!(
        contents.iter().any(|c| c.ends_with("_content/_data")),
        "{v}"
    );
    assert!(
        v["snapshot"]["snapshot_id"].as_str().unwrap().len() >= 8,
        "{v}"
    );
    // The marker row is really in the live db, and the dump was cleaned up.
    assert!(w.db_row(&id, "ccci-marker").starts_with("ccci-marker-"));

    // Each step also runs by hand.
    let hook = w.hook.clone();
    for step in [
        vec!["seed", &id, "--marker-hook", &hook],
        vec!["backup", &id],
        vec!["disturb", &id],
    ] {
        w.verify(&step).assert_code(0);
    }
    assert_eq!(w.db_row(&id, "ccci-marker"), "", "disturb removed the row");
    let r = w.verify(&["check", &id]);
    r.assert_code(1);
    assert!(
        r.stdout
            .contains("red: data lost in service app volume content, service db volume db"),
        "{}",
        r.stdout
    );
    w.verify(&["restore", &id]).assert_code(0);
    w.verify(&["check", &id]).assert_code(0);
    w.teardown(&id);
}

#[test]
fn hot_data_directory_without_dump_or_restore_hook_is_red_naming_the_service() {
    let w = World::new("bk-hot");
    // The mattermost/immich defect: the live data dir is backed up as files, and
    // nothing replays it into the running database.
    let (id, v) = w.red_roundtrip(DB_LABELS, "");
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["lost"],
        serde_json::json!(["service db volume db"]),
        "{v}"
    );
    assert!(
        row(&v, "db", "db")["marker"]
            .as_str()
            .unwrap()
            .contains("row ccci-marker is missing"),
        "{v}"
    );
    assert_eq!(row(&v, "db", "db")["coverage"], "whole volume");
    // Nothing is left disturbed: the marker row was put back.
    assert!(w.db_row(&id, "ccci-marker").starts_with("ccci-marker-"));
    w.teardown(&id);
}

#[test]
fn failing_pre_hook_is_red_with_its_output_and_disturbs_nothing() {
    let w = World::new("bk-prehook");
    let (id, v) = w.red_roundtrip(
        r#"backupbot.backup.pre-hook: "/bin/sh /srv/db.sh dump""#,
        r#"backupbot.backup.pre-hook: "echo pg_dump exploded >&2; exit 5""#,
    );
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.contains("service db: backup pre-hook"), "{reason}");
    assert!(
        reason.contains("pg_dump exploded") && reason.contains("exit status: 5"),
        "{reason}"
    );
    // Nothing was restored, so no marker may read as restored.
    for r in v["rows"].as_array().unwrap() {
        let m = r["marker"].as_str().unwrap();
        assert!(
            m == "-" || m == "not checked: the round trip stopped before the restore",
            "{v}"
        );
    }
    assert!(w.db_row(&id, "ccci-marker").starts_with("ccci-marker-"));
    w.teardown(&id);
}

#[test]
fn volume_no_label_covers_is_reported() {
    let w = World::new("bk-uncovered");
    w.repo
        .edit("compose.yml", "        - \"backupbot.backup=true\"\n", "");
    w.repo.release("0.3.0+1.1");
    let id = w.deployed("0.3.0+1.1");
    let r = w.verify(&["--json", "roundtrip", &id, "--marker-hook", &w.hook]);
    r.assert_code(0);
    let v = r.json();
    let app = row(&v, "app", "content");
    assert!(
        app["coverage"]
            .as_str()
            .unwrap()
            .starts_with("not covered (service app has no backupbot.backup=true label)"),
        "{v}"
    );
    assert_eq!(app["marker"], "-");
    let plan = w.verify(&["plan", &id]);
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("service app (not backed up)"),
        "{}",
        plan.stdout
    );
    w.teardown(&id);
}

#[test]
fn bad_input_gets_one_line_and_exit_2() {
    let w = World::new("bk-bad");
    // No backup labels at all.
    w.repo.edit(
        "compose.yml",
        &format!("      labels:\n        backupbot.backup: \"true\"\n{DB_LABELS}"),
        "",
    );
    w.repo
        .edit("compose.yml", "        - \"backupbot.backup=true\"\n", "");
    assert!(!w.repo.read("compose.yml").contains("backupbot"));
    w.repo.release("0.3.0+1.1");
    let id = w.deployed("0.3.0+1.1");
    let r = w.verify(&["roundtrip", &id]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("no backup labels: no service of stack"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    w.teardown(&id);

    let id = w.deployed("0.2.0+1.1");
    let dir = PathBuf::from(&w.state).join("extra");
    std::fs::create_dir_all(&dir).unwrap();
    let (repo, pw, wrong) = (dir.join("repo"), dir.join("pw"), dir.join("wrong"));
    std::fs::write(&pw, "right-password").unwrap();
    std::fs::write(&wrong, "wrong-password").unwrap();
    let st = std::process::Command::new("restic")
        .args([
            "init",
            "--repo",
            &repo.to_string_lossy(),
            "--password-file",
            &pw.to_string_lossy(),
        ])
        .output()
        .unwrap();
    assert!(st.status.success());
    let (repo_s, wrong_s) = (
        repo.to_string_lossy().into_owned(),
        wrong.to_string_lossy().into_owned(),
    );
    let r = w.verify(&[
        "roundtrip",
        &id,
        "--repo",
        &repo_s,
        "--password-file",
        &wrong_s,
    ]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("wrong password for the restic repository"),
        "{}",
        r.stderr
    );
    let r = w.verify(&[
        "roundtrip",
        &id,
        "--repo",
        "/nonexistent/repo",
        "--password-file",
        &wrong_s,
    ]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("no readable restic repository at /nonexistent/repo"),
        "{}",
        r.stderr
    );
    // The existing repository with the right password works.
    let pw_s = pw.to_string_lossy().into_owned();
    w.verify(&[
        "roundtrip",
        &id,
        "--repo",
        &repo_s,
        "--password-file",
        &pw_s,
        "--marker-hook",
        &w.hook,
    ])
    .assert_code(0);
    for args in [
        vec!["check", "no-such-run"],
        vec!["backup", "../escape"],
        vec!["roundtrip", &id, "--marker-hook", "nosuchservice=/bin/true"],
    ] {
        let r = w.verify(&args);
        r.assert_code(2);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    }
    w.teardown(&id);
}

#[test]
fn failure_during_restore_puts_the_removed_data_back() {
    let w = World::new("bk-restorefail");
    let (id, v) = w.red_roundtrip(
        r#"backupbot.restore.post-hook: "/bin/sh /srv/db.sh load""#,
        r#"backupbot.restore.post-hook: "echo replay refused >&2; exit 7""#,
    );
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("service db: restore post-hook") && reason.contains("replay refused"),
        "{reason}"
    );
    // The row the disturb step deleted is back, and so is the app's marker file.
    assert!(w.db_row(&id, "ccci-marker").starts_with("ccci-marker-"));
    assert_eq!(row(&v, "app", "content")["marker"], "restored", "{v}");
    w.teardown(&id);
}

/// A "database" that keeps its state in memory and rewrites its data file every
/// 0.3 s from it: files restored under it are overwritten at once. `dump` writes
/// what it holds; a `reload` request makes it load the dump back.
const STORE_SH: &str = r#"#!/bin/sh
D=/var/lib/store
case "$1" in
serve)
    mkdir -p "$D"
    state=$(cat "$D/data" 2>/dev/null | head -n 1)
    [ -n "$state" ] || state="rows: initial"
    while :; do
        if [ -f "$D/reload" ]; then
            state=$(head -n 1 "$D/dump")
            rm -f "$D/reload"
        fi
        printf '%s\n%s\n' "$state" "$(date +%s)-$$-$RANDOM" > "$D/data.tmp"
        mv "$D/data.tmp" "$D/data"
        sleep 0.3
    done
    ;;
dump) head -n 1 "$D/data" > "$D/dump" ;;
load) touch "$D/reload" ;;
esac
"#;

/// Add the `store` service (labelled for backup with `labels`) to the demo.
fn with_store(w: &World, labels: &str) {
    w.repo.write("store.sh", STORE_SH);
    w.repo.edit(
        "compose.yml",
        "\nsecrets:\n",
        &format!(
            r#"
  store:
    image: 127.0.0.1:5000/ccci/busybox:1.1
    command: ["/bin/sh", "/srv/store.sh", "serve"]
    init: true
    configs:
      - source: store_sh
        target: /srv/store.sh
        mode: 0555
    volumes:
      - store:/var/lib/store
    networks:
      - internal
    deploy:
      labels:
        backupbot.backup: "true"
{labels}
secrets:
"#
        ),
    );
    w.repo.edit(
        "compose.yml",
        "\nvolumes:\n",
        "  store_sh:\n    name: ${STACK_NAME}_store_sh_${STORE_SH_VERSION}\n    file: store.sh\n\nvolumes:\n  store:\n",
    );
    w.repo.edit(
        "abra.sh",
        "export DB_SH_VERSION",
        "export STORE_SH_VERSION=v1\nexport DB_SH_VERSION",
    );
    w.repo.release("0.3.0+1.1");
}

#[test]
fn a_live_volume_with_only_a_file_marker_is_not_provable() {
    let w = World::new("bk-live");
    with_store(&w, "");
    let id = w.deployed("0.3.0+1.1");
    let r = w.verify(&["--json", "roundtrip", &id, "--marker-hook", &w.hook]);
    r.assert_code(1);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["not_provable"],
        serde_json::json!(["service store volume store"]),
        "{v}"
    );
    assert_eq!(v["lost"], serde_json::json!([]), "{v}");
    let marker = row(&v, "store", "store")["marker"].as_str().unwrap();
    assert!(
        marker.starts_with("NOT PROVABLE: service store writes volume store while it runs (data"),
        "{marker}"
    );
    assert!(
        marker.contains("backupbot.backup.pre-hook")
            && marker.contains("backupbot.restore.post-hook"),
        "the verdict must say what the recipe must add: {marker}"
    );
    // The other volumes are proven as before.
    assert_eq!(row(&v, "app", "content")["marker"], "restored", "{v}");
    assert_eq!(
        row(&v, "db", "db")["marker"],
        "restored (recipe hook)",
        "{v}"
    );
    let text = w.verify(&["check", &id]);
    text.assert_code(1);
    assert!(
        text.stdout
            .contains("red: not provable that the data came back in service store volume store"),
        "{}",
        text.stdout
    );
    w.teardown(&id);
}

/// A marker hook for the `store` service: the marker is its state, written
/// and read through the running service as a database's row would be.
const STORE_MARKER: &str = r#"#!/bin/sh
set -eu
c=$(docker ps -q --filter "label=com.docker.swarm.service.name=${CCCI_STACK}_store" | head -n 1)
[ -n "$c" ] || { echo "store: no running container" >&2; exit 1; }
set_state() {
    docker exec "$c" /bin/sh -c "echo 'rows: $1' > /var/lib/store/dump && touch /var/lib/store/reload"
    for _ in $(seq 50); do
        [ "$(docker exec "$c" head -n 1 /var/lib/store/data)" = "rows: $1" ] && return 0
        sleep 0.1
    done
    echo "store: state did not become $1" >&2; exit 1
}
case "$1" in
seed) set_state "$CCCI_MARKER" ;;
remove) set_state removed ;;
check)
    got=$(docker exec "$c" head -n 1 /var/lib/store/data)
    [ "$got" = "rows: $CCCI_MARKER" ] || { echo "store: state is '$got'" >&2; exit 1; }
    ;;
esac
"#;

const STORE_HOOKS: &str = "        backupbot.backup.pre-hook: \"/bin/sh /srv/store.sh dump\"\n        backupbot.restore.post-hook: \"/bin/sh /srv/store.sh load\"\n";

impl World {
    /// `--marker-hook` for the db and for the store (its hook written here).
    fn store_hooks(&self) -> Vec<String> {
        let path = self.repo.path.parent().unwrap().join("store-marker");
        std::fs::write(&path, STORE_MARKER).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        vec![
            "--marker-hook".into(),
            self.hook.clone(),
            "--marker-hook".into(),
            format!("store={}", path.display()),
        ]
    }
}

#[test]
fn a_live_volume_with_a_dump_and_restore_hook_pair_needs_a_marker_hook() {
    let w = World::new("bk-livehooks");
    with_store(&w, STORE_HOOKS);
    let id = w.deployed("0.3.0+1.1");
    // The hook pair alone: the marker file beside the live data comes back
    // whether or not the restore hook loaded anything, so it proves nothing.
    let r = w.verify(&["--json", "roundtrip", &id, "--marker-hook", &w.hook]);
    r.assert_code(1);
    let v = r.json();
    assert_eq!(
        v["not_provable"],
        serde_json::json!(["service store volume store"]),
        "{v}"
    );
    let marker = row(&v, "store", "store")["marker"].as_str().unwrap();
    assert!(
        marker.contains("only a marker hook that writes and reads through the service"),
        "{marker}"
    );
    // With a marker hook that reads the service's own state, the same
    // recipe is proven.
    let mut args = vec!["--json".to_string(), "roundtrip".into(), id.clone()];
    args.extend(w.store_hooks());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = w.verify(&args);
    r.assert_code(0);
    let v = r.json();
    assert_eq!(
        row(&v, "store", "store")["marker"],
        "restored (recipe hook)",
        "{v}"
    );
    w.teardown(&id);
}

#[test]
fn a_restore_hook_that_loads_nothing_is_data_lost_not_green() {
    // The restore post-hook exits 0 and loads nothing (as `gunzip | psql` does
    // when the dump is not where it looks): the files all came back, the
    // service's data did not.
    let w = World::new("bk-loadsnothing");
    with_store(
        &w,
        &STORE_HOOKS.replace(
            "/bin/sh /srv/store.sh load",
            "gunzip -c /var/lib/store/dump.gz | cat >/dev/null",
        ),
    );
    let id = w.deployed("0.3.0+1.1");
    let mut args = vec!["--json".to_string(), "roundtrip".into(), id.clone()];
    args.extend(w.store_hooks());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = w.verify(&args);
    r.assert_code(1);
    let v = r.json();
    assert_eq!(
        v["lost"],
        serde_json::json!(["service store volume store"]),
        "{v}"
    );
    assert!(
        row(&v, "store", "store")["marker"]
            .as_str()
            .unwrap()
            .starts_with("MISSING (recipe hook: store: state is 'rows: removed'"),
        "{v}"
    );
    // What the restore hook said is carried with the red verdict.
    assert_eq!(
        v["logs"],
        serde_json::json!([
            "service store restore post-hook: gunzip: /var/lib/store/dump.gz: No such file or directory"
        ]),
        "{v}"
    );
    w.teardown(&id);
}

#[test]
fn a_database_restored_as_files_with_file_markers_only_is_not_provable() {
    // The false green: with no marker hook, the marker was a file beside the
    // database's files and always came back, while the data did not.
    let w = World::new("bk-hotfile");
    let (id, v) = {
        w.repo.edit("compose.yml", DB_LABELS, "");
        w.repo.release("0.3.0+1.1");
        let id = w.deployed("0.3.0+1.1");
        let r = w.verify(&["--json", "roundtrip", &id]);
        r.assert_code(1);
        (id, r.json())
    };
    assert_eq!(
        v["not_provable"],
        serde_json::json!(["service db volume db"]),
        "{v}"
    );
    let marker = row(&v, "db", "db")["marker"].as_str().unwrap();
    assert!(
        marker.contains("service db is a database by its name"),
        "{marker}"
    );
    w.teardown(&id);
}

#[test]
fn an_empty_marker_hook_list_means_none() {
    let w = World::new("bk-emptyhooks");
    // Only the app's content volume is backed up: file markers prove it.
    w.repo.edit(
        "compose.yml",
        &format!("      labels:\n        backupbot.backup: \"true\"\n{DB_LABELS}"),
        "",
    );
    w.repo.release("0.3.0+1.1");
    let id = w.deployed("0.3.0+1.1");
    for hooks in ["", ",", " "] {
        let r = run(
            &bin(),
            &["--json", "roundtrip", &id],
            &[
                ("CCCI_STATE_DIR", w.state.as_str()),
                ("CCCI_MARKER_HOOKS", hooks),
            ],
        );
        r.assert_code(0);
        assert_eq!(row(&r.json(), "app", "content")["marker"], "restored");
    }
    let r = w.verify(&["labelled", &id]);
    r.assert_code(0);
    w.teardown(&id);
}

#[test]
fn the_restore_waits_for_readiness_and_is_red_when_it_never_comes() {
    let w = World::new("bk-ready");
    let id = w.deployed("0.2.0+1.1");
    let dir = w.repo.path.parent().unwrap().to_path_buf();
    // Ready two seconds after it is first asked, as a server refusing writes
    // while it replays its data would be.
    let slow = dir.join("ready-slow");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\nf={}/asked\n[ -f \"$f\" ] || date +%s > \"$f\"\n\
             [ $(( $(date +%s) - $(cat \"$f\") )) -ge 2 ] || {{ echo 'read-only: recovering'; exit 1; }}\n",
            dir.display()
        ),
    )
    .unwrap();
    let never = dir.join("ready-never");
    std::fs::write(
        &never,
        "#!/bin/sh\necho 'ERROR: cannot execute INSERT in a read-only transaction'\nexit 1\n",
    )
    .unwrap();
    for p in [&slow, &never] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let slow_arg = slow.display().to_string();
    let r = w.verify(&[
        "--json",
        "roundtrip",
        &id,
        "--marker-hook",
        &w.hook,
        "--ready-hook",
        &slow_arg,
    ]);
    r.assert_code(0);
    let ledger = std::fs::read_to_string(
        PathBuf::from(&w.state)
            .join("runs")
            .join(&id)
            .join("ledger.jsonl"),
    )
    .unwrap();
    let ready = ledger
        .lines()
        .find(|l| l.contains("\"ready\""))
        .unwrap_or_else(|| panic!("no ready event: {ledger}"));
    assert!(
        !ready.contains("\"attempts\":1,"),
        "it had to wait: {ready}"
    );
    let never_arg = never.display().to_string();
    let r = w.verify(&[
        "--json",
        "roundtrip",
        &id,
        "--marker-hook",
        &w.hook,
        "--ready-hook",
        &never_arg,
        "--ready-timeout",
        "3",
    ]);
    r.assert_code(1);
    let v = r.json();
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("the app is healthy but not ready after the restore")
            && reason.contains("cannot execute INSERT in a read-only transaction"),
        "{reason}"
    );
    w.teardown(&id);
}
