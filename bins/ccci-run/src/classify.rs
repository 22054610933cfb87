//! Why each red tier is red (docs/classification.md): a class, the evidence
//! that led to it, and a signature of the failure.
//!
//! - the host failed (the run stopped with exit-75 trouble) → `infrastructure`;
//! - a ccci tool broke (exit 70), or a generic test answered outside the
//!   contract (an error, not a fail) → `harness`;
//! - only the recipe's own tests or hooks fail while the tier's generic tests
//!   pass on an app that converged → `test`;
//! - the deploy, convergence, health, upgrade, backup, restore or lint of the
//!   recipe fails → `recipe`;
//! - `flake` is only ever given by a rerun alone (`rerun`).

use crate::runner::{Abort, Runner};
use ccci_core::classify::{Class, Red, Signature};
use ccci_core::plan::Step;
use ccci_core::results::{Outcome, Status, TestResult, Tier};

/// Tests and hooks that ship with ccci.
fn generic(id: &str) -> bool {
    id.starts_with("_generic/")
}

fn failed(t: &TestResult) -> bool {
    !matches!(t.outcome, Outcome::Pass | Outcome::Skip)
}

impl Runner {
    /// Give every red tier of the run its class, evidence and signature.
    pub(crate) fn classify(&mut self) {
        // An interrupted run says nothing about the recipe.
        if matches!(self.abort, Some(Abort::Interrupted)) {
            return;
        }
        let names = self.names();
        let names: Vec<(&str, &str)> = names
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let abort = self.abort.clone();
        let mut abort_placed = false;
        for t in &mut self.tiers {
            t.red = match t.status {
                Status::Fail => Some(of_failure(t, &names)),
                // The tier a run stopped in is the first one it did not run.
                Status::Skip if !abort_placed && t.summary.starts_with("not run: ") => match &abort
                {
                    Some(Abort::Trouble(why)) => {
                        abort_placed = true;
                        Some(red(
                            Class::Infrastructure,
                            vec![format!("the host failed (exit 75): {why}")],
                            Signature::new(&t.name, "run", why, &names),
                        ))
                    }
                    Some(Abort::Bug(why)) => {
                        abort_placed = true;
                        Some(red(
                            Class::Harness,
                            vec![format!("a ccci tool broke (exit 70): {why}")],
                            Signature::new(&t.name, "run", why, &names),
                        ))
                    }
                    _ => None,
                },
                _ => None,
            };
        }
    }

    /// This run's own words, taken out of signatures.
    fn names(&self) -> Vec<(String, String)> {
        let mut out = vec![];
        // A rerun alone speaks of itself as the run it re-tests, so both
        // name a failure alike whatever the length of the first run's id.
        if let Some(parent) = &self.request.rerun_of {
            out.push((self.run.id.clone(), parent.clone()));
        }
        out.push((self.run.id.clone(), "<run>".into()));
        for a in &self.apps {
            out.push((a.domain.clone(), "<domain>".into()));
            out.push((a.stack.clone(), "<stack>".into()));
            out.push((a.run_id.clone(), "<run>".into()));
        }
        out
    }
}

fn red(class: Class, evidence: Vec<String>, signature: Signature) -> Red {
    Red {
        class,
        evidence,
        signature,
    }
}

/// A `fail` tier: from what failed in it.
fn of_failure(t: &Tier, names: &[(&str, &str)]) -> Red {
    let sig = |step: &str, error: &str| Signature::new(&t.name, step, error, names);
    // A hook: `hook <id> <outcome>: <why>` (or `pre-deploy hook ...`).
    let hook = t
        .summary
        .strip_prefix("pre-deploy hook ")
        .or_else(|| t.summary.strip_prefix("hook "));
    if let Some(rest) = hook {
        let (head, why) = rest.split_once(": ").unwrap_or((rest, ""));
        let (id, outcome) = head.rsplit_once(' ').unwrap_or((head, ""));
        let (class, because) = if !generic(id) {
            (
                Class::Test,
                format!("the recipe's own hook {id} did not pass"),
            )
        } else if matches!(outcome, "error") {
            (
                Class::Harness,
                format!("ccci's hook {id} answered outside the contract ({outcome})"),
            )
        } else {
            (
                Class::Recipe,
                format!("ccci's hook {id} failed on this recipe ({outcome})"),
            )
        };
        return red(class, vec![because], sig(id, why));
    }
    if let Some(rest) = t.summary.strip_prefix("dependency ") {
        let (class, because) = if rest.contains("unverified") || rest.contains("setup hook") {
            (
                Class::Test,
                "the recipe's tests or setup for its dependency did not pass".to_string(),
            )
        } else {
            (
                Class::Recipe,
                "a dependency app the recipe needs did not come up".to_string(),
            )
        };
        return red(
            class,
            vec![because, t.summary.clone()],
            sig("dependency", rest),
        );
    }
    let failing: Vec<&TestResult> = t.tests.iter().filter(|x| failed(x)).collect();
    if let Some(first) = failing.first() {
        let step = Step::tier_name(&first.id);
        let error = if first.summary.is_empty() {
            first.outcome.to_string()
        } else {
            first.summary.clone()
        };
        if let Some(g) = failing.iter().find(|x| generic(&x.id)) {
            let (class, because) = if g.outcome == Outcome::Error && g.exit_code == Some(75) {
                (
                    Class::Infrastructure,
                    format!(
                        "ccci's test {} met the host's trouble (its tool exited 75)",
                        g.id
                    ),
                )
            } else if g.outcome == Outcome::Error {
                (
                    Class::Harness,
                    format!(
                        "ccci's test {} answered outside the contract (exit {})",
                        g.id,
                        g.exit_code
                            .map(|c| c.to_string())
                            .unwrap_or("by a signal".into())
                    ),
                )
            } else {
                (
                    Class::Recipe,
                    format!("ccci's test {} {} on this recipe", g.id, g.outcome),
                )
            };
            return red(
                class,
                vec![because],
                sig(Step::tier_name(&g.id), &g.summary),
            );
        }
        let passed_generic: Vec<&str> = t
            .tests
            .iter()
            .filter(|x| generic(&x.id) && x.outcome == Outcome::Pass)
            .map(|x| x.id.as_str())
            .collect();
        let mut evidence = vec![format!(
            "the app converged and is healthy: the {} tier reached its tests",
            t.name
        )];
        evidence.push(if passed_generic.is_empty() {
            format!("the {} tier has no generic test that ran", t.name)
        } else {
            format!("ccci's tests passed: {}", passed_generic.join(", "))
        });
        evidence.push(format!(
            "only the recipe's own tests failed: {}",
            failing
                .iter()
                .map(|x| x.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return red(Class::Test, evidence, sig(step, &error));
    }
    // No test failed: the tier's own work (a deploy, an upgrade) did.
    let step = match t.name.as_str() {
        "install" => "deploy",
        "upgrade" => "upgrade",
        other => other,
    };
    // `<ref>: <verdict>` or `<from> -> <to>: <verdict>`: the verdict is the error.
    let error = t
        .summary
        .split_once(": ")
        .map(|(_, e)| e)
        .unwrap_or(&t.summary);
    red(
        Class::Recipe,
        vec![format!("the recipe's {step} failed: {error}")],
        sig(step, error),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(name: &str, summary: &str, tests: Vec<(&str, Outcome, Option<i32>)>) -> Tier {
        Tier {
            name: name.into(),
            status: Status::Fail,
            summary: summary.into(),
            duration_s: 0.0,
            log: String::new(),
            tests: tests
                .into_iter()
                .map(|(id, outcome, exit_code)| TestResult {
                    id: id.into(),
                    outcome,
                    exit_code,
                    duration_s: 0.0,
                    log: String::new(),
                    summary: format!("{id} said why"),
                })
                .collect(),
            red: None,
        }
    }

    #[test]
    fn each_failure_gets_its_class() {
        let c = |t: Tier| of_failure(&t, &[]).class;
        assert_eq!(
            c(tier(
                "install",
                "0.2.0+1.1: service app: 6 tasks failed in a row",
                vec![]
            )),
            Class::Recipe
        );
        assert_eq!(
            c(tier(
                "custom",
                "1 passed, 1 failed",
                vec![
                    ("_generic/custom/x", Outcome::Pass, Some(0)),
                    ("demo/custom/login", Outcome::Fail, Some(1))
                ]
            )),
            Class::Test
        );
        assert_eq!(
            c(tier(
                "restore",
                "1 failed",
                vec![("_generic/restore/roundtrip", Outcome::Fail, Some(1))]
            )),
            Class::Recipe
        );
        assert_eq!(
            c(tier(
                "backup",
                "1 errored",
                vec![("_generic/backup/artifact", Outcome::Error, Some(70))]
            )),
            Class::Harness
        );
        assert_eq!(
            c(tier(
                "install",
                "pre-deploy hook demo/hooks/pre-deploy fail: no key",
                vec![]
            )),
            Class::Test
        );
        assert_eq!(
            c(tier(
                "backup",
                "hook _generic/hooks/pre-backup error: exit 99",
                vec![]
            )),
            Class::Harness
        );
        let r = of_failure(
            &tier(
                "custom",
                "1 failed",
                vec![("demo/custom/login", Outcome::Fail, Some(1))],
            ),
            &[],
        );
        assert_eq!(r.signature.step, "custom/login");
        assert!(
            r.evidence[1].contains("no generic test"),
            "{:?}",
            r.evidence
        );
    }
}
