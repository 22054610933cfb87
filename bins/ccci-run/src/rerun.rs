//! Run it again, alone: a red run whose red tiers are the recipe's or its
//! tests' (not the host's, not ccci's) is run again cold, holding every run
//! slot of the host (`--alone`), up to N times. Green alone makes those tiers
//! `flake`, with both runs named; the same signature again keeps the class and
//! says "reproduced alone k/N"; a different signature is said, not guessed at.
//! The verdict of the first run stays what it was: nothing turns a red green.

use crate::Cli;
use anyhow::Result;
use ccci_core::classify::Class;
use ccci_core::results::{self, Rerun, Results, Verdict};
use ccci_core::rundir::RunDir;
use ccci_core::tool;
use ccci_core::{log, state};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// No rerun starts once this much time went to reruns of one run: bounded in
/// time as in count.
const BUDGET: Duration = Duration::from_secs(3 * 3600);

/// Should this result be run again alone?
fn worth_it(r: &Results) -> bool {
    r.verdict == Verdict::Red
        && r.tiers.iter().any(|t| t.red.is_some())
        && r.tiers
            .iter()
            .filter_map(|t| t.red.as_ref())
            .all(|red| red.class.rerunnable())
}

/// Rerun `run_id` alone up to `times` times and write what that showed into
/// its results.json. Best effort: a rerun that cannot run is said, and the
/// first run's result stands.
pub(crate) fn alone(
    cli: &Cli,
    recipes: &Path,
    state_dir: &Path,
    run_id: &str,
    times: u8,
    stop: &AtomicBool,
) {
    if let Err(e) = try_alone(cli, recipes, state_dir, run_id, times, stop) {
        log::warn(&format!(
            "run {run_id}: could not run it again alone: {}",
            ccci_core::cli::one_line(&e)
        ));
    }
}

/// The request variables a unit's run has in its environment: a rerun must
/// not inherit them (they would make it a pull request's run, or warm).
const REQUEST_VARS: &[&str] = &[
    "CCCI_RUN_RECIPE",
    "CCCI_RUN_REPO",
    "CCCI_RUN_REF",
    "CCCI_RUN_PR",
    "CCCI_RUN_TRIGGER",
    "CCCI_RUN_QUICK",
    "CCCI_RUN_TIERS",
    "CCCI_RUN_RERUN_ALONE",
];

fn try_alone(
    cli: &Cli,
    recipes: &Path,
    state_dir: &Path,
    run_id: &str,
    times: u8,
    stop: &AtomicBool,
) -> Result<()> {
    let run = RunDir::open(state_dir, run_id)?;
    let path = run.file(results::FILE);
    let mut first: Results = state::read_json(&path)?;
    if times == 0 || !worth_it(&first) {
        return Ok(());
    }
    let started = Instant::now();
    let mut reproduced: u8 = 0;
    let mut tried: u8 = 0;
    for k in 1..=times {
        if started.elapsed() > BUDGET {
            log::warn(&format!(
                "run {run_id}: no more reruns alone: {} s spent",
                started.elapsed().as_secs()
            ));
            break;
        }
        let id = format!("{run_id}-alone-{k}");
        log::info(&format!(
            "run {run_id}: red; running it again alone as {id}"
        ));
        let mut args: Vec<String> = [
            "--recipe",
            cli.recipe.as_str(),
            "--repo",
            cli.repo.as_str(),
            "--ref",
            cli.r#ref.as_str(),
            "--run-id",
            id.as_str(),
            "--trigger",
            cli.trigger.as_str(),
            "--alone",
            "--rerun-of",
            run_id,
            "--rerun-alone",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !cli.tiers.is_empty() {
            args.extend(["--tiers".into(), cli.tiers.join(",")]);
        }
        let log_path = run.file(&format!("logs/rerun-{k}.log"));
        let mut call = tool::Call::new(
            "ccci-run",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            Some(&log_path),
            stop,
        );
        call.state_dir = Some(state_dir);
        call.env_remove = REQUEST_VARS.iter().map(|v| v.to_string()).collect();
        // The same suite as the first run, whatever the host's default is.
        call.env = vec![("CCCI_RECIPES_DIR".into(), recipes.display().to_string())];
        let _ = tool::call(call)?;
        let again_path = RunDir::runs_root(state_dir).join(&id).join(results::FILE);
        let again = state::read_json_opt::<Results>(&again_path)?;
        let interrupted = stop.load(std::sync::atomic::Ordering::SeqCst);
        if again.is_none() || interrupted {
            // Stopped or killed before its own teardown: nothing it made stays.
            tear_down(state_dir, &id, &log_path);
        }
        let Some(again) = again else {
            log::warn(&format!(
                "run {id} wrote no results: see {}",
                log_path.display()
            ));
            break;
        };
        tried += 1;
        first.reruns.push(Rerun {
            run_id: id.clone(),
            verdict: again.verdict,
            level: again.level,
        });
        let verdict = compare(&mut first, &again, &id, k);
        run.ledger(
            "rerun",
            json!({"run_id": id, "verdict": again.verdict, "says": verdict}),
        )?;
        match verdict {
            Alone::Green => break,
            Alone::Same => reproduced += 1,
            Alone::Other => {}
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
    }
    first.reproduced_alone = reproduced;
    if reproduced > 0 {
        for red in first.tiers.iter_mut().filter_map(|t| t.red.as_mut()) {
            if red.class != Class::Flake {
                red.evidence
                    .push(format!("reproduced alone {reproduced}/{tried}"));
            }
        }
    }
    state::write_json(&path, &first)?;
    Ok(())
}

/// Tear a rerun down whatever happens to us meanwhile (a second signal must
/// not leave its stack behind).
fn tear_down(state_dir: &Path, id: &str, log: &Path) {
    let never = AtomicBool::new(false);
    let mut call = tool::Call::new("ccci-deploy", &["teardown", id], Some(log), &never);
    call.state_dir = Some(state_dir);
    if let Err(e) = tool::call(call) {
        log::warn(&format!(
            "run {id}: teardown failed: {}; `ccci-deploy teardown {id}` or the reaper removes it",
            ccci_core::cli::one_line(&e)
        ));
    }
}

/// What a rerun alone showed.
#[derive(Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Alone {
    Green,
    Same,
    Other,
}

/// Fold rerun `k`'s result into the first run's red tiers.
fn compare(first: &mut Results, again: &Results, id: &str, k: u8) -> Alone {
    let first_id = first.run_id.clone();
    if again.head_sha != first.head_sha {
        for red in first.tiers.iter_mut().filter_map(|t| t.red.as_mut()) {
            red.evidence.push(format!(
                "rerun {k} ({id}) tested {} where this run tested {}: not comparable",
                &again.head_sha[..12.min(again.head_sha.len())],
                &first.head_sha[..12.min(first.head_sha.len())]
            ));
        }
        return Alone::Other;
    }
    if again.verdict == Verdict::Green || again.verdict == Verdict::Partial {
        for red in first.tiers.iter_mut().filter_map(|t| t.red.as_mut()) {
            red.class = Class::Flake;
            red.evidence.push(format!(
                "red in run {first_id}, {} alone in run {id}",
                again.verdict
            ));
        }
        return Alone::Green;
    }
    let mut all_same = true;
    for t in first.tiers.iter_mut() {
        let Some(red) = t.red.as_mut() else { continue };
        let same = again
            .tiers
            .iter()
            .find(|a| a.name == t.name)
            .and_then(|a| a.red.as_ref())
            .filter(|a| a.signature.id == red.signature.id);
        if same.is_none() {
            all_same = false;
            let other = again
                .tiers
                .iter()
                .filter_map(|a| {
                    a.red
                        .as_ref()
                        .map(|r| format!("{} {} ({})", a.name, r.signature.id, r.class))
                })
                .collect::<Vec<_>>()
                .join(", ");
            red.evidence.push(format!(
                "alone in run {id}: a different result ({}); the class stands unconfirmed",
                if other.is_empty() {
                    format!("verdict {}", again.verdict)
                } else {
                    other
                }
            ));
        }
    }
    if all_same { Alone::Same } else { Alone::Other }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccci_core::classify::{Red, Signature};
    use ccci_core::results::{Status, Tier};

    fn results(id: &str, verdict: Verdict, sig: Option<&str>) -> Results {
        let mut r: Results = serde_json::from_value(json!({
            "schema": 1, "run_id": id, "recipe": "demo", "source_repo": "r", "pr": null,
            "ref": "0.2.0+1.1", "head_sha": "0123456789abcdef0123456789abcdef01234567",
            "tested_tag": null, "previous": null, "trigger": "sweep", "mode": "cold",
            "started": "2026-11-30T00:00:00Z", "finished": "2026-11-30T00:00:00Z",
            "duration_s": 1.0, "overhead_s": 0.0, "tiers": [], "retained_volumes": [],
            "deploy_count": 1, "apps": [],
            "teardown": {"status": "clean", "summary": "", "log": ""},
            "level": 3, "verdict": verdict, "warnings": [], "plan": "p", "junit": "j"
        }))
        .unwrap();
        r.tiers.push(Tier {
            name: "custom".into(),
            status: if sig.is_some() {
                Status::Fail
            } else {
                Status::Pass
            },
            summary: String::new(),
            duration_s: 0.0,
            log: String::new(),
            tests: vec![],
            red: sig.map(|e| Red {
                class: Class::Test,
                evidence: vec![],
                signature: Signature::new("custom", "custom/login", e, &[]),
            }),
        });
        r
    }

    #[test]
    fn green_alone_is_a_flake_and_the_same_failure_reproduces() {
        let mut first = results("a", Verdict::Red, Some("login page blank"));
        assert!(worth_it(&first));
        let green = results("a-alone-1", Verdict::Green, None);
        assert_eq!(compare(&mut first, &green, "a-alone-1", 1), Alone::Green);
        let red = first.tiers[0].red.as_ref().unwrap();
        assert_eq!(red.class, Class::Flake);
        assert_eq!(red.evidence, ["red in run a, green alone in run a-alone-1"]);

        let mut first = results("b", Verdict::Red, Some("login page blank"));
        let same = results("b-alone-1", Verdict::Red, Some("login page blank"));
        assert_eq!(compare(&mut first, &same, "b-alone-1", 1), Alone::Same);
        assert_eq!(first.tiers[0].red.as_ref().unwrap().class, Class::Test);
        let other = results("b-alone-2", Verdict::Red, Some("timeout"));
        assert_eq!(compare(&mut first, &other, "b-alone-2", 2), Alone::Other);
        assert!(
            first.tiers[0].red.as_ref().unwrap().evidence[0].contains("a different result"),
            "{:?}",
            first.tiers[0].red
        );
    }

    #[test]
    fn the_hosts_and_ccci_s_failures_are_not_run_again() {
        let mut r = results("c", Verdict::Red, Some("x"));
        r.tiers[0].red.as_mut().unwrap().class = Class::Infrastructure;
        assert!(!worth_it(&r));
        let r = results("d", Verdict::Error, Some("x"));
        assert!(!worth_it(&r));
    }
}
