//! Failures seen in production, reproduced on real software: each is a
//! fixture release of one of the recipes modelled on real ones (`demo/pgapp`,
//! `demo/custom-html`), run through `ccci-run` with the recipe's own suite, and
//! the test asserts ccci's exact verdict.

mod common;

use ccci_testkit::{RecipeWorld, leftovers};
use common::{assert_valid, bin, statuses, tier};
use std::time::Instant;

/// Run `r#ref` as run `id`, expecting exit `code`; the results, validated.
fn run(w: &RecipeWorld, id: &str, r#ref: &str, code: i32) -> serde_json::Value {
    let t0 = Instant::now();
    let r = w.run(&bin(), id, r#ref, &[]);
    eprintln!("{id}: ccci-run took {:.1} s", t0.elapsed().as_secs_f64());
    r.assert_code(code);
    let res = w.results(id);
    assert_valid(&res);
    assert_eq!(res["teardown"]["status"], "clean", "{res:#}");
    assert!(leftovers(id).is_empty(), "{:?}", leftovers(id));
    res
}

fn summary<'a>(res: &'a serde_json::Value, name: &str) -> &'a str {
    tier(res, name)["summary"].as_str().unwrap()
}

/// The `wait` entries of the run's ledger: ccci-deploy's verdicts, with the
/// failing task's last log lines.
fn waits(w: &RecipeWorld, id: &str) -> Vec<serde_json::Value> {
    w.read_run_file(id, "ledger.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "wait")
        .map(|e| e["detail"].clone())
        .collect()
}

/// pgapp's backup labels as released: a dump before the backup, loaded after
/// the restore.
const PG_LABELS: &str = r#"        backupbot.backup: "true"
        backupbot.backup.pre-hook: "/pg_backup.sh backup"
        backupbot.backup.post-hook: "rm -f /var/lib/postgresql/data/backup.sql"
        backupbot.backup.volumes.postgres.path: "backup.sql"
        backupbot.restore.post-hook: "/pg_backup.sh restore"
"#;

#[test]
fn live_postgres_data_dir_backed_up_without_a_dump_is_red_naming_db_and_postgres() {
    let w = RecipeWorld::new("fail-live-pgdata", "pgapp");
    // The release backs up the database's live data directory, with no dump
    // and no restore hook: files copied from under a running PostgreSQL and
    // put back under it.
    w.repo.edit(
        "compose.yml",
        PG_LABELS,
        "        backupbot.backup: \"true\"\n",
    );
    w.repo.release("0.3.0+1.0");
    let res = run(&w, "live-pgdata", "0.3.0+1.0", 1);
    assert_eq!(
        statuses(&res),
        ["pass", "pass", "pass", "fail", "pass", "pass"],
        "{res:#}"
    );
    assert_eq!(res["level"], 2);
    let restore = summary(&res, "restore");
    assert!(
        restore.ends_with("red: data lost in service db volume postgres"),
        "{restore}"
    );
    // The whole data directory was backed up and restored; the row is gone
    // all the same, as the app serves it.
    let log = w.read_run_file("live-pgdata", "logs/restore/_generic_restore_roundtrip.log");
    assert!(
        log.contains("db           postgres     whole volume")
            && log.contains("MISSING (recipe hook: app: GET /rows lacks the marker row"),
        "{log}"
    );
}

#[test]
fn restore_hook_whose_pipe_fails_is_red_with_the_hooks_output() {
    let w = RecipeWorld::new("fail-restore-pipe", "pgapp");
    // The release switches the restore to compressed dumps, but the backup
    // still writes a plain one: gunzip fails, psql loads nothing and exits 0,
    // so the hook "succeeds" on a freshly recreated, empty database.
    w.repo
        .edit("pg_backup.sh", "    test -s \"$BACKUP_FILE\"\n", "")
        .edit(
            "pg_backup.sh",
            "    psql_ -d \"$POSTGRES_DB\" -1 -q -f \"$BACKUP_FILE\" >/dev/null\n",
            "    gunzip -c \"$BACKUP_FILE.gz\" | psql_ -d \"$POSTGRES_DB\" -1 -q >/dev/null\n",
        )
        .edit("abra.sh", "PG_BACKUP_VERSION=v1", "PG_BACKUP_VERSION=v2");
    w.repo.release("0.3.0+1.0");
    let res = run(&w, "restore-pipe", "0.3.0+1.0", 1);
    assert_eq!(
        statuses(&res),
        ["pass", "pass", "pass", "fail", "pass", "pass"],
        "{res:#}"
    );
    assert_eq!(res["level"], 2);
    let restore = summary(&res, "restore");
    assert!(
        restore.contains("red: data lost in service db volume postgres"),
        "{restore}"
    );
    let log = w.read_run_file(
        "restore-pipe",
        "logs/restore/_generic_restore_roundtrip.log",
    );
    assert!(
        log.contains("MISSING (recipe hook: app: GET /rows failed"),
        "{log}"
    );
    // What the hook said is why the data is lost; the verdict must carry it.
    assert!(
        log.contains("backup.sql.gz: No such file or directory"),
        "waits for ccci-verify-backup to report a restore hook's output with a red check: \
         the restore post-hook's gunzip error is not in the restore tier's log:\n{log}"
    );
}

#[test]
fn upgrade_to_a_config_nginx_rejects_is_red_rolled_back_naming_the_version_still_running() {
    let w = RecipeWorld::new("fail-upgrade-config", "custom-html");
    // The release turns on a module this nginx does not have: the new task
    // dies at start, and the recipe's update_config says to roll back.
    w.repo
        .edit(
            "nginx.conf",
            "    charset utf-8;\n",
            "    charset utf-8;\n    brotli on;\n",
        )
        .edit(
            "abra.sh",
            "NGINX_DEFAULT_CONF_VERSION=v1",
            "NGINX_DEFAULT_CONF_VERSION=v2",
        );
    w.repo.release("1.2.0+1.22.1");
    let res = run(&w, "upgrade-config", "1.2.0+1.22.1", 1);
    // The rolled-back app is still tested: the later tiers all pass.
    assert_eq!(
        statuses(&res),
        ["pass", "fail", "pass", "pass", "pass", "pass"],
        "{res:#}"
    );
    assert_eq!(res["level"], 1);
    let up = summary(&res, "upgrade");
    for want in [
        "1.1.0+1.22.1 -> 1.2.0+1.22.1: service app: update failed and is rolling back",
        "task error: task: non-zero exit (1)",
        "the app service runs version 1.1.0+1.22.1",
    ] {
        assert!(up.contains(want), "{want:?} not in {up}");
    }
    // The failing task's last log lines are in ccci-deploy's verdict.
    let red = waits(&w, "upgrade-config")
        .into_iter()
        .find(|v| v["ok"] == false)
        .expect("a red wait");
    assert!(
        red["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("unknown directive \"brotli\"")),
        "{red:#}"
    );
}

#[test]
fn app_crashing_until_its_slow_database_is_up_is_not_red() {
    let w = RecipeWorld::new("fair-slow-db", "pgapp");
    // The first start of the database loads its initial data for 20 s,
    // listening on its socket only meanwhile: the app exits at each start
    // until then, and swarm restarts it. The recipe's only release, so the
    // install is this first boot.
    w.repo.untag(&["0.1.0+1.0", "0.2.0+1.0"]);
    w.repo
        .edit(
            "compose.yml",
            "        target: /pg_backup.sh\n        mode: 0555\n",
            "        target: /pg_backup.sh\n        mode: 0555\n      - source: initdb_sh\n        target: /docker-entrypoint-initdb.d/10-initial-data.sh\n        mode: 0555\n",
        )
        .edit(
            "compose.yml",
            "    file: pg_backup.sh\n",
            "    file: pg_backup.sh\n  initdb_sh:\n    name: ${STACK_NAME}_initdb_sh_${INITDB_SH_VERSION}\n    file: initdb.sh\n",
        )
        .edit(
            "abra.sh",
            "export PG_BACKUP_VERSION=v1\n",
            "export PG_BACKUP_VERSION=v1\nexport INITDB_SH_VERSION=v1\n",
        )
        .write(
            "initdb.sh",
            "#!/bin/sh\n# First start only: load the initial data (slow, as a large import is).\nset -eu\n\
             psql -v ON_ERROR_STOP=1 --no-psqlrc -q -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" \\\n    \
             -c \"CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, body text NOT NULL)\" \\\n    \
             -c \"INSERT INTO items (body) VALUES ('initial data')\"\nsleep 20\n",
        );
    w.repo.release("0.3.0+1.0");
    let res = run(&w, "slow-db", "0.3.0+1.0", 0);
    assert_eq!(
        statuses(&res),
        ["pass", "na", "pass", "pass", "pass", "pass"],
        "{res:#}"
    );
    assert_eq!(res["level"], 5);
    let install = summary(&res, "install");
    let failed: u32 = install
        .split("started within the start window: app after ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the install names no restarts it let pass: {install}"));
    assert!(
        (2..=5).contains(&failed),
        "a few failed tasks, within the allowance of 5: {install}"
    );
    assert!(
        install.contains("task failed: task: non-zero exit (1)"),
        "{install}"
    );
}

#[test]
fn app_that_never_reaches_its_database_is_red_with_the_task_error_and_its_logs() {
    let w = RecipeWorld::new("fair-never-up", "pgapp");
    // The release names the database by the wrong host: the app exits at
    // every start, forever. The recipe's only release: this is its install.
    w.repo.untag(&["0.1.0+1.0", "0.2.0+1.0"]);
    w.repo.edit(
        "compose.yml",
        "      - DB_HOST=db\n",
        "      - DB_HOST=postgres\n",
    );
    w.repo.release("0.3.0+1.0");
    let res = run(&w, "never-up", "0.3.0+1.0", 1);
    assert_eq!(
        statuses(&res),
        ["fail", "na", "skip", "skip", "skip", "pass"],
        "{res:#}"
    );
    assert_eq!(res["level"], 0);
    let install = summary(&res, "install");
    assert_eq!(
        install,
        "0.3.0+1.0: service app: task failed: task: non-zero exit (1); \
         6 tasks failed in a row while starting, past the allowance of 5"
    );
    let app_said = "pgapp: database at postgres does not accept connections yet: \
                    could not translate host name \"postgres\" to address";
    let red = waits(&w, "never-up")
        .into_iter()
        .find(|v| v["ok"] == false)
        .expect("a red wait");
    assert!(
        red["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains(app_said)),
        "{red:#}"
    );
    // The operator reads the install's log, not the ledger.
    let log = w.read_run_file("never-up", "logs/install.log");
    assert!(
        log.contains(app_said),
        "waits for ccci-run to put the deploy verdict's last log lines into logs/install.log:\n{log}"
    );
}
