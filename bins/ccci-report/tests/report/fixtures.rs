//! Run directories as `ccci-run` leaves them, built from ccci-core's own
//! types (`Request`, `Plan`, `Results`, `results::junit`, `RunDir`), so a
//! field the runner writes is a field these runs have. The results follow the
//! shapes of the runner's real runs (`bins/ccci-run/tests/levels.rs`): the
//! generic tests per tier, their log paths, the teardown log, and they
//! validate against `schemas/results.schema.json`.
//!
//! Shared by the tests and by `examples/fake_history.rs`, the benchmark's
//! generator.

use ccci_core::plan::{self, Plan, Step, TierPlan};
use ccci_core::results::{
    self, AppRef, Mode, Outcome, Results, Role, Status, Teardown, TeardownStatus, TestResult, Tier,
    Trigger, Verdict,
};
use ccci_core::rundir::{Request, RunDir};
use ccci_core::{ids, settings, state};
use std::collections::BTreeMap;
use std::path::Path;

/// The tests a demo run has, per tier (as in the runner's L5 test).
const TESTS: [(&str, &[&str]); 6] = [
    ("install", &["_generic/install/http-serves"]),
    (
        "upgrade",
        &["_generic/upgrade/marker-kept", "_generic/upgrade/runs-ref"],
    ),
    ("backup", &["_generic/backup/artifact"]),
    ("restore", &["_generic/restore/roundtrip"]),
    ("custom", &["demo/custom/rows-over-http"]),
    ("lint", &["_generic/lint/ccci-lint"]),
];

/// A run id the way the runner makes them: its UTC start, then 6 hex digits.
pub fn run_id(started: u64, n: u32) -> String {
    format!("{}-{:06x}", ids::utc_compact(started), n)
}

/// The runner's log path of a step: `logs/<tier>/<id with / → _>.log`.
pub fn log_rel(tier: &str, id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("logs/{tier}/{safe}.log")
}

/// A green L5 run of `recipe` that started at `started` (unix seconds) and
/// took `duration_s`.
pub fn green(id: &str, recipe: &str, started: u64, duration_s: f64) -> Results {
    let per_tier = duration_s / 7.0;
    let tiers = TESTS
        .iter()
        .map(|(tier, tests)| Tier {
            name: tier.to_string(),
            status: Status::Pass,
            summary: format!("{} tests passed", tests.len()),
            duration_s: per_tier,
            log: format!("logs/{tier}.log"),
            tests: tests
                .iter()
                .map(|t| TestResult {
                    id: t.to_string(),
                    outcome: Outcome::Pass,
                    exit_code: Some(0),
                    duration_s: per_tier / 2.0,
                    log: log_rel(tier, t),
                    summary: "ok".into(),
                })
                .collect(),
            red: None,
        })
        .collect();
    Results {
        schema: results::SCHEMA,
        run_id: id.into(),
        recipe: recipe.into(),
        source_repo: format!("https://git.coopcloud.tech/coop-cloud/{recipe}.git"),
        pr: None,
        r#ref: "0.2.0+1.1".into(),
        head_sha: format!(
            "{:016x}{:016x}{:08x}",
            ids::fnv1a(&[id]),
            ids::fnv1a(&[id, "2"]),
            ids::fnv1a(&[id, "3"]) as u32
        ),
        tested_tag: Some("0.2.0+1.1".into()),
        previous: Some("0.1.0+1.0".into()),
        trigger: Trigger::Sweep,
        mode: Mode::Cold,
        started: ids::utc_rfc3339(started),
        finished: ids::utc_rfc3339(started + duration_s as u64),
        duration_s,
        overhead_s: 0.031,
        tiers,
        retained_volumes: vec![],
        deploy_count: 1,
        apps: vec![AppRef {
            role: Role::App,
            recipe: recipe.into(),
            run_id: id.into(),
            domain: format!("{recipe}-{}.ci.localhost", &id[id.len() - 6..]),
            stack: format!("ccci-{recipe}-{}", &id[id.len() - 6..]),
        }],
        teardown: Teardown {
            status: TeardownStatus::Clean,
            summary: "removed 1 stack, 2 volumes, 1 secret; nothing left".into(),
            log: "logs/teardown.log".into(),
        },
        level: 5,
        verdict: Verdict::Green,
        left_out: vec![],
        overlays: vec![],
        reruns: vec![],
        reproduced_alone: 0,
        rerun_of: None,
        budget: None,
        warnings: vec![],
        plan: "plan.json".into(),
        junit: "junit.xml".into(),
    }
}

/// Level and verdict as the runner decides them from the tiers.
fn settle(r: &mut Results) {
    r.level = results::level(&r.tiers);
    r.verdict = if results::green(&r.tiers, &r.teardown) {
        Verdict::Green
    } else {
        Verdict::Red
    };
}

fn tier<'a>(r: &'a mut Results, name: &str) -> &'a mut Tier {
    r.tiers.iter_mut().find(|t| t.name == name).expect("tier")
}

/// The upgrade's first test fails with `summary` as its last line: L1, red.
pub fn red_at_upgrade(r: &mut Results, summary: &str) {
    let up = tier(r, "upgrade");
    up.status = Status::Fail;
    let t = &mut up.tests[0];
    t.outcome = Outcome::Fail;
    t.exit_code = Some(1);
    t.summary = summary.into();
    up.summary = format!("test {} {}: {summary}", t.id, t.outcome);
    settle(r);
}

/// Stopped by a signal while `at` ran: that tier and the ones after it did
/// not run, and the runner says why in a warning.
pub fn interrupted_at(r: &mut Results, at: &str) {
    let from = plan::TIERS.iter().position(|t| *t == at).expect("tier");
    for t in &mut r.tiers[from..] {
        t.status = Status::Skip;
        t.summary = "not run: interrupted".into();
        for test in &mut t.tests {
            test.outcome = Outcome::Interrupted;
            test.exit_code = None;
            test.summary = "interrupted".into();
        }
    }
    settle(r);
    r.verdict = Verdict::Interrupted;
    r.warnings
        .push("interrupted by SIGTERM: the app was torn down".into());
}

/// The run also deployed `dep` as a dependency app, a run of its own.
pub fn with_dependency(r: &mut Results, dep: &str) -> String {
    let dep_id = format!("{}-dep-{dep}", r.run_id);
    r.apps.push(AppRef {
        role: Role::Dependency,
        recipe: dep.into(),
        run_id: dep_id.clone(),
        domain: format!("{dep}-{}.ci.localhost", &r.run_id[r.run_id.len() - 6..]),
        stack: format!("ccci-{dep}-{}", &r.run_id[r.run_id.len() - 6..]),
    });
    r.deploy_count = 2;
    dep_id
}

fn request(r: &Results) -> Request {
    Request {
        schema: ccci_core::rundir::SCHEMA,
        run_id: r.run_id.clone(),
        recipe: r.recipe.clone(),
        source_repo: r.source_repo.clone(),
        pr: r.pr,
        r#ref: r.r#ref.clone(),
        head_sha: r.head_sha.clone(),
        trigger: r.trigger,
        created: r.started.clone(),
    }
}

/// The plan `ccci-discover` would have made for these tiers.
fn plan_of(r: &Results) -> Plan {
    Plan {
        schema: plan::SCHEMA,
        recipe: r.recipe.clone(),
        source_repo: r.source_repo.clone(),
        r#ref: r.r#ref.clone(),
        head_sha: r.head_sha.clone(),
        tested_tag: r.tested_tag.clone(),
        previous: r.previous.clone(),
        approved: false,
        settings: settings::Settings::unlisted(),
        pre_deploy: vec![],
        overlays: vec![],
        tiers: r
            .tiers
            .iter()
            .map(|t| TierPlan {
                name: t.name.clone(),
                hooks: vec![],
                tests: t
                    .tests
                    .iter()
                    .map(|s| Step {
                        id: s.id.clone(),
                        path: format!("/usr/share/ccci/recipes/{}", s.id).into(),
                        source: if s.id.starts_with("_generic/") {
                            "generic"
                        } else {
                            "custom"
                        }
                        .into(),
                        timeout_s: 300,
                    })
                    .collect(),
            })
            .collect(),
        warnings: vec![],
    }
}

/// Some lines of deploy or test output, about `lines` of them.
fn output(what: &str, lines: usize) -> String {
    (0..lines)
        .map(|i| format!("{what}: step {i}: service converged, 1/1 tasks running\n"))
        .collect()
}

/// Write a finished run: plan.json, request.json, results.json, junit.xml,
/// secrets.json and a log for every path the results name. `log` may add
/// text to a log (by its run-dir-relative path).
pub fn write_finished(
    state_dir: &Path,
    r: &Results,
    secrets: &[(&str, &str)],
    log: impl Fn(&str) -> String,
) -> RunDir {
    let run = RunDir::create(state_dir, &r.run_id).expect("run dir");
    state::write_json(&run.file("plan.json"), &plan_of(r)).unwrap();
    state::write_json(&run.request_path(), &request(r)).unwrap();
    let secrets: BTreeMap<String, String> = secrets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    run.save_secrets(&secrets).unwrap();
    let mut logs = vec![r.teardown.log.clone(), "logs/plan.log".into()];
    for t in &r.tiers {
        logs.push(t.log.clone());
        logs.extend(t.tests.iter().map(|x| x.log.clone()));
    }
    for dep in r.apps.iter().filter(|a| a.role == Role::Dependency) {
        logs.push(format!("logs/install/dep-{}.log", dep.recipe));
    }
    for rel in logs {
        let p = run.file(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, output(&rel, 20) + &log(&rel)).unwrap();
    }
    std::fs::write(run.file("junit.xml"), results::junit(r)).unwrap();
    state::write_json(&run.file(results::FILE), r).unwrap();
    run
}

/// The run dir of a dependency app, as `ccci-deploy new` leaves it: a
/// request and its generated secrets, no plan.
pub fn write_dependency(state_dir: &Path, dep_id: &str, recipe: &str, secret: &str) -> RunDir {
    let run = RunDir::create(state_dir, dep_id).unwrap();
    let mut q = request(&green(dep_id, recipe, 0, 1.0));
    q.created = ids::now_rfc3339();
    state::write_json(&run.request_path(), &q).unwrap();
    run.save_secrets(&[("admin_password".to_string(), secret.to_string())].into())
        .unwrap();
    run
}

/// A run the runner drives now: the plan, the request, its install log, and
/// `progress.json` once a tier started. The run's lock is held for as long
/// as the returned lock lives, as the runner holds it.
pub fn write_running(
    state_dir: &Path,
    id: &str,
    recipe: &str,
    started: u64,
    tier: Option<&str>,
) -> (RunDir, state::Lock) {
    let r = green(id, recipe, started, 0.0);
    let run = RunDir::create(state_dir, id).unwrap();
    let lock = run.lock().unwrap().expect("nobody holds it for us");
    state::write_json(&run.file("plan.json"), &plan_of(&r)).unwrap();
    state::write_json(&run.request_path(), &request(&r)).unwrap();
    std::fs::write(run.file("logs/install.log"), output("install", 5)).unwrap();
    if let Some(t) = tier {
        state::write_json(
            &run.file(ccci_core::rundir::PROGRESS),
            &serde_json::json!({"schema": 1, "tier": t, "since": ids::utc_rfc3339(started + 40)}),
        )
        .unwrap();
    }
    (run, lock)
}
