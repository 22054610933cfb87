//! One tier: its hooks, then its tests, each an executable with the run's
//! context in its environment, folded into a tier status.

use crate::child;
use anyhow::Result;
use ccci_core::plan::{Step, TierPlan};
use ccci_core::results::{Outcome, Status, TestResult};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The exit codes tests and hooks answer with (the automake convention;
/// docs/contracts.md, tests and hooks). 99 and any other code are an error.
pub const PASS: i32 = 0;
pub const FAIL: i32 = 1;
pub const SKIP: i32 = 77;
pub const HARD_ERROR: i32 = 99;

/// What a tier's steps need from the run.
pub struct Env<'a> {
    pub run_dir: &'a Path,
    pub vars: &'a BTreeMap<String, String>,
    pub stop: &'a AtomicBool,
}

/// Log file of a step, relative to the run dir: `logs/<tier>/<id with / → __>.log`.
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

fn outcome_of(o: &child::Outcome) -> Outcome {
    if o.timed_out {
        Outcome::Timeout
    } else if o.interrupted {
        Outcome::Interrupted
    } else {
        match o.code {
            Some(PASS) => Outcome::Pass,
            Some(FAIL) => Outcome::Fail,
            Some(SKIP) => Outcome::Skip,
            _ => Outcome::Error,
        }
    }
}

/// Run one executable as a step of `tier`.
pub fn step(env: &Env, tier: &str, s: &Step) -> Result<TestResult> {
    let rel = log_rel(tier, &s.id);
    let artifacts = env.run_dir.join("artifacts").join(tier).join(
        Path::new(&rel)
            .file_stem()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    std::fs::create_dir_all(&artifacts)?;
    let mut cmd = Command::new(&s.path);
    cmd.envs(env.vars)
        .env("CCCI_TIER", tier)
        .env("CCCI_TEST_ID", &s.id)
        .env("CCCI_ARTIFACTS", &artifacts)
        .current_dir(s.path.parent().unwrap_or(env.run_dir));
    let o = child::run(
        cmd,
        &env.run_dir.join(&rel),
        Some(Duration::from_secs(s.timeout_s)),
        env.stop,
    )?;
    let outcome = outcome_of(&o);
    let summary = match outcome {
        Outcome::Timeout => format!("timed out after {} s", s.timeout_s),
        Outcome::Interrupted => "interrupted".into(),
        Outcome::Error if o.code.is_some_and(|c| c != HARD_ERROR) => format!(
            "exit {} (tests answer 0, 1, 77 or 99): {}",
            o.code.unwrap_or(-1),
            o.last_line
        ),
        Outcome::Error if o.code.is_none() => format!("killed by a signal: {}", o.last_line),
        _ => o.last_line.clone(),
    };
    ccci_core::log::info(&format!(
        "{tier}: {} {outcome} ({:.1} s){}",
        s.id,
        o.duration.as_secs_f64(),
        if summary.is_empty() {
            String::new()
        } else {
            format!(": {summary}")
        }
    ));
    Ok(TestResult {
        id: s.id.clone(),
        outcome,
        exit_code: o.code,
        duration_s: o.duration.as_secs_f64(),
        log: rel,
        summary,
    })
}

/// A tier's hooks then tests. Returns the hook results (a failed hook stops
/// the tier's tests) and the test results.
pub fn run(env: &Env, tier: &TierPlan) -> Result<(Vec<TestResult>, Vec<TestResult>)> {
    let mut hooks = vec![];
    for h in &tier.hooks {
        let r = step(env, &tier.name, h)?;
        let failed = r.outcome != Outcome::Pass;
        hooks.push(r);
        if failed {
            return Ok((hooks, vec![]));
        }
    }
    let mut tests = vec![];
    for t in &tier.tests {
        tests.push(step(env, &tier.name, t)?);
    }
    Ok((hooks, tests))
}

/// The status the tests give a tier: any failure fails it; else a pass passes
/// it; only skips make it `skip`; no tests at all is `na`.
pub fn status_of(tests: &[TestResult]) -> Status {
    if tests.is_empty() {
        Status::Na
    } else if tests
        .iter()
        .any(|t| !matches!(t.outcome, Outcome::Pass | Outcome::Skip))
    {
        Status::Fail
    } else if tests.iter().any(|t| t.outcome == Outcome::Pass) {
        Status::Pass
    } else {
        Status::Skip
    }
}

/// "2 passed, 1 skipped; first failure: <id>: <why>".
pub fn summarize(tests: &[TestResult]) -> String {
    let count = |o: Outcome| tests.iter().filter(|t| t.outcome == o).count();
    let mut parts = vec![];
    for (o, word) in [
        (Outcome::Pass, "passed"),
        (Outcome::Fail, "failed"),
        (Outcome::Error, "errored"),
        (Outcome::Timeout, "timed out"),
        (Outcome::Skip, "skipped"),
        (Outcome::Interrupted, "interrupted"),
    ] {
        let n = count(o);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let mut s = if tests.is_empty() {
        "no tests".to_string()
    } else {
        parts.join(", ")
    };
    if let Some(bad) = tests
        .iter()
        .find(|t| !matches!(t.outcome, Outcome::Pass | Outcome::Skip))
    {
        s.push_str(&format!("; {}: {}", bad.id, bad.summary));
    } else if let Some(sk) = tests.iter().find(|t| t.outcome == Outcome::Skip) {
        s.push_str(&format!("; {} skipped: {}", sk.id, sk.summary));
    } else if let [only] = tests
        && !only.summary.is_empty()
    {
        // One test: its own line says more than "1 passed".
        s.push_str(&format!(": {}", only.summary));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(word: &str) -> TestResult {
        let outcome = *Outcome::ALL.iter().find(|o| o.as_str() == word).unwrap();
        TestResult {
            id: format!("x/{word}"),
            outcome,
            exit_code: None,
            duration_s: 0.0,
            log: String::new(),
            summary: "why".into(),
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(status_of(&[]), Status::Na);
        assert_eq!(status_of(&[t("pass"), t("skip")]), Status::Pass);
        assert_eq!(status_of(&[t("skip"), t("skip")]), Status::Skip);
        assert_eq!(status_of(&[t("pass"), t("timeout")]), Status::Fail);
        assert_eq!(status_of(&[t("pass"), t("error")]), Status::Fail);
        assert_eq!(
            summarize(&[t("pass"), t("fail")]),
            "1 passed, 1 failed; x/fail: why"
        );
    }

    #[test]
    fn log_names_are_one_path_component() {
        assert_eq!(
            log_rel("custom", "demo/custom/a b/c"),
            "logs/custom/demo_custom_a_b_c.log"
        );
    }
}
