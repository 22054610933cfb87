//! `results.json`: what a run found, its level, and the JUnit view of it.
//!
//! The schema is documented in the README ("results.json") and as JSON Schema in
//! `schemas/results.schema.json`; the runner's tests validate real files
//! against that schema.

use serde::{Deserialize, Serialize};

pub const SCHEMA: u32 = 1;
pub const FILE: &str = "results.json";

/// A closed set of words in results.json: serde's name for each variant,
/// `as_str` and `Display` give the same word, and `ALL` lists them (the schema
/// test checks `schemas/results.schema.json` lists exactly these).
macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $word)] $var),+
        }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $word),+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

word_enum! {
    /// What started a run.
    #[derive(clap::ValueEnum)]
    Trigger { Manual = "manual", Testme = "testme", Sweep = "sweep" }
}

word_enum! {
    /// `cold`: a fresh install; `quick`: a warm start from the canonical app's data.
    Mode { Cold = "cold", Quick = "quick" }
}

word_enum! {
    /// The run's verdict.
    Verdict {
        Green = "green",
        Red = "red",
        /// ccci or the infrastructure failed.
        Error = "error",
        Interrupted = "interrupted",
        /// A run of some tiers only (`ccci-run --tiers`) whose tiers passed:
        /// never green, never promoted.
        Partial = "partial",
    }
}

word_enum! {
    /// One test's or hook's outcome.
    Outcome {
        Pass = "pass",
        Fail = "fail",
        Skip = "skip",
        /// Exit 99, an unknown exit code, or it could not run.
        Error = "error",
        Timeout = "timeout",
        Interrupted = "interrupted",
    }
}

word_enum! {
    /// What teardown found when it was done.
    TeardownStatus {
        Clean = "clean",
        Leftovers = "leftovers",
        Error = "error",
        NotRun = "not-run",
        /// A red run left up for probing by hand (`ccci-run --keep-app`).
        Kept = "kept",
    }
}

word_enum! {
    /// An app's part in the run.
    Role { App = "app", Dependency = "dependency" }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Ran, but every test skipped (exit 77) or the tier could not run.
    Skip,
    /// Does not apply (no previous release to upgrade from; no tests).
    Na,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Na => "na",
        }
    }
    /// A rung is climbed when it passed or does not apply.
    pub fn climbed(self) -> bool {
        matches!(self, Status::Pass | Status::Na)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Results {
    pub schema: u32,
    pub run_id: String,
    pub recipe: String,
    pub source_repo: String,
    pub pr: Option<u64>,
    #[serde(rename = "ref")]
    pub r#ref: String,
    pub head_sha: String,
    pub tested_tag: Option<String>,
    pub previous: Option<String>,
    pub trigger: Trigger,
    pub mode: Mode,
    pub started: String,
    pub finished: String,
    pub duration_s: f64,
    /// The runner's own time: the run's wall time minus the time spent in the
    /// tools that drive Docker, in hooks and in tests.
    pub overhead_s: f64,
    /// Always all six tiers, in ladder order.
    pub tiers: Vec<Tier>,
    /// Volumes kept after teardown for a promotion (`--keep-volumes`, green runs).
    pub retained_volumes: Vec<String>,
    /// Apps created: one for the recipe plus one per dependency.
    pub deploy_count: u32,
    pub apps: Vec<AppRef>,
    pub teardown: Teardown,
    pub level: u8,
    pub verdict: Verdict,
    /// The tiers a partial run (`--tiers`) left out; empty for a whole run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    /// CI compose overlays the run layered over the recipe's own files: the
    /// recipe was tested as adjusted by these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlays: Vec<OverlayUse>,
    /// Runs of the same ref made alone to tell a flake from a defect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reruns: Vec<Rerun>,
    /// How many reruns alone failed with the same signatures: what makes a
    /// red a known red for the sweep.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reproduced_alone: u8,
    /// This run is a rerun alone of that run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<String>,
    /// The run's share of the host's budget: what it was counted at, how
    /// long it waited, what its apps took (docs/budget.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetUse>,
    pub warnings: Vec<String>,
    /// Paths relative to the run directory.
    pub plan: String,
    pub junit: String,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// A run's share of the host's budget.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BudgetUse {
    /// What the run was counted at before it started, app by app.
    pub need: Vec<crate::budget::Part>,
    /// Seconds it waited for the budget.
    pub waited_s: f64,
    /// Each app's peak, by its run id (`<run>`, `<run>-second`,
    /// `<run>-dep-<recipe>`); empty when the engine is not local.
    pub measured: std::collections::BTreeMap<String, crate::budget::Figures>,
}

/// A run made again alone (holding every run slot of the host).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rerun {
    pub run_id: String,
    pub verdict: Verdict,
    pub level: u8,
}

/// A CI overlay a run used, and for which deploys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OverlayUse {
    pub file: String,
    pub phase: crate::overlay::Phase,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tier {
    pub name: String,
    pub status: Status,
    pub summary: String,
    pub duration_s: f64,
    /// The tier's own log (deploy output, hooks), relative to the run dir.
    pub log: String,
    pub tests: Vec<TestResult>,
    /// Why the tier is red: class, evidence and signature (red tiers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub red: Option<crate::classify::Red>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestResult {
    pub id: String,
    pub outcome: Outcome,
    pub exit_code: Option<i32>,
    pub duration_s: f64,
    pub log: String,
    /// The last line the test printed, as its one-line reason.
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AppRef {
    pub role: Role,
    pub recipe: String,
    pub run_id: String,
    pub domain: String,
    pub stack: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Teardown {
    pub status: TeardownStatus,
    pub summary: String,
    pub log: String,
}

/// The level: how many rungs of install → upgrade → backup+restore → custom →
/// lint were climbed before the first one that was not (a `na` rung counts as
/// climbed; `skip` and `fail` stop the climb).
pub fn level(tiers: &[Tier]) -> u8 {
    let st = |n: &str| {
        tiers
            .iter()
            .find(|t| t.name == n)
            .map(|t| t.status)
            .unwrap_or(Status::Skip)
    };
    let rungs = [
        st("install").climbed(),
        st("upgrade").climbed(),
        st("backup").climbed() && st("restore").climbed(),
        st("custom").climbed(),
        st("lint").climbed(),
    ];
    rungs.iter().take_while(|c| **c).count() as u8
}

/// Green: every tier passed or does not apply, and teardown left nothing.
pub fn green(tiers: &[Tier], teardown: &Teardown) -> bool {
    tiers.len() == crate::plan::TIERS.len()
        && tiers.iter().all(|t| t.status.climbed())
        && teardown.status == TeardownStatus::Clean
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters, even escaped.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one testsuite per tier, one testcase per test. A tier that failed
/// without any test failing (a deploy that did not converge, a hook) gets a
/// testcase of its own so CI front ends show the failure.
pub fn junit(r: &Results) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let all: Vec<&TestResult> = r.tiers.iter().flat_map(|t| &t.tests).collect();
    let failures = all.iter().filter(|t| t.outcome == Outcome::Fail).count();
    let errors = all
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Error | Outcome::Timeout))
        .count();
    x.push_str(&format!(
        "<testsuites name=\"ccci {} {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">\n",
        xml_escape(&r.recipe),
        xml_escape(&r.r#ref),
        all.len(),
        r.duration_s
    ));
    for t in &r.tiers {
        let mut cases: Vec<TestResult> = t.tests.clone();
        let tests_failed = t
            .tests
            .iter()
            .any(|c| !matches!(c.outcome, Outcome::Pass | Outcome::Skip));
        if (t.status == Status::Fail && !tests_failed) || t.tests.is_empty() {
            cases.insert(
                0,
                TestResult {
                    id: format!("{}/tier", t.name),
                    outcome: match t.status {
                        Status::Pass => Outcome::Pass,
                        Status::Fail => Outcome::Fail,
                        Status::Skip | Status::Na => Outcome::Skip,
                    },
                    exit_code: None,
                    duration_s: t.duration_s,
                    log: t.log.clone(),
                    summary: t.summary.clone(),
                },
            );
        }
        let f = cases.iter().filter(|c| c.outcome == Outcome::Fail).count();
        let e = cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Error | Outcome::Timeout))
            .count();
        let s = cases.iter().filter(|c| c.outcome == Outcome::Skip).count();
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\" skipped=\"{s}\" time=\"{:.3}\">\n",
            xml_escape(&t.name),
            cases.len(),
            t.duration_s
        ));
        for c in &cases {
            x.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">\n",
                xml_escape(&format!("{}.{}", r.recipe, t.name)),
                xml_escape(&c.id),
                c.duration_s
            ));
            let msg = xml_escape(&c.summary);
            match c.outcome {
                Outcome::Fail => x.push_str(&format!("      <failure message=\"{msg}\"/>\n")),
                Outcome::Error | Outcome::Timeout => x.push_str(&format!(
                    "      <error type=\"{}\" message=\"{msg}\"/>\n",
                    c.outcome
                )),
                Outcome::Skip => x.push_str(&format!("      <skipped message=\"{msg}\"/>\n")),
                _ => {}
            }
            x.push_str(&format!(
                "      <system-out>log: {}</system-out>\n",
                xml_escape(&c.log)
            ));
            x.push_str("    </testcase>\n");
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(name: &str, status: Status) -> Tier {
        Tier {
            name: name.into(),
            status,
            summary: String::new(),
            duration_s: 0.0,
            log: String::new(),
            tests: vec![],
            red: None,
        }
    }

    fn ladder(st: [Status; 6]) -> Vec<Tier> {
        crate::plan::TIERS
            .iter()
            .zip(st)
            .map(|(n, s)| tier(n, s))
            .collect()
    }

    #[test]
    fn level_is_the_first_failed_rung() {
        use Status::*;
        assert_eq!(level(&ladder([Pass; 6])), 5);
        assert_eq!(level(&ladder([Pass, Fail, Pass, Pass, Pass, Pass])), 1);
        assert_eq!(level(&ladder([Pass, Pass, Pass, Fail, Pass, Pass])), 2);
        assert_eq!(level(&ladder([Pass, Pass, Fail, Pass, Pass, Pass])), 2);
        assert_eq!(level(&ladder([Pass, Pass, Pass, Pass, Fail, Pass])), 3);
        assert_eq!(level(&ladder([Pass, Pass, Pass, Pass, Pass, Fail])), 4);
        assert_eq!(level(&ladder([Fail, Pass, Pass, Pass, Pass, Pass])), 0);
        // na counts as climbed; skip does not.
        assert_eq!(level(&ladder([Pass, Na, Pass, Pass, Na, Pass])), 5);
        assert_eq!(level(&ladder([Pass, Pass, Pass, Pass, Skip, Pass])), 3);
        // A missing tier is never a silent pass.
        let mut t = ladder([Pass; 6]);
        t.remove(1);
        assert_eq!(level(&t), 1);
    }

    /// The closed sets of the types and of `schemas/results.schema.json` are the
    /// same sets: a variant added on one side only fails here.
    #[test]
    fn the_schema_lists_exactly_the_types_words() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schemas/results.schema.json"
        );
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let words = |ptr: &str| -> Vec<String> {
            let mut v: Vec<String> = schema
                .pointer(ptr)
                .unwrap_or_else(|| panic!("schema has no {ptr}"))
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap().to_string())
                .collect();
            v.sort();
            v
        };
        fn sorted<T: Copy>(all: &[T], f: fn(T) -> &'static str) -> Vec<String> {
            let mut v: Vec<String> = all.iter().map(|x| f(*x).to_string()).collect();
            v.sort();
            v
        }
        assert_eq!(
            words("/properties/trigger/enum"),
            sorted(Trigger::ALL, Trigger::as_str)
        );
        assert_eq!(
            words("/properties/mode/enum"),
            sorted(Mode::ALL, Mode::as_str)
        );
        assert_eq!(
            words("/properties/verdict/enum"),
            sorted(Verdict::ALL, Verdict::as_str)
        );
        assert_eq!(
            words("/$defs/test/properties/outcome/enum"),
            sorted(Outcome::ALL, Outcome::as_str)
        );
        assert_eq!(
            words("/$defs/teardown/properties/status/enum"),
            sorted(TeardownStatus::ALL, TeardownStatus::as_str)
        );
        assert_eq!(
            words("/$defs/app/properties/role/enum"),
            sorted(Role::ALL, Role::as_str)
        );
        assert_eq!(
            words("/$defs/red/properties/class/enum"),
            sorted(crate::classify::Class::ALL, crate::classify::Class::as_str)
        );
        assert_eq!(
            words("/properties/reruns/items/properties/verdict/enum"),
            sorted(Verdict::ALL, Verdict::as_str)
        );
        assert_eq!(
            words("/$defs/status/enum"),
            sorted(
                &[Status::Pass, Status::Fail, Status::Skip, Status::Na],
                Status::as_str
            )
        );
        let mut tiers: Vec<String> = crate::plan::TIERS.iter().map(|t| t.to_string()).collect();
        tiers.sort();
        assert_eq!(words("/$defs/tier/properties/name/enum"), tiers);
        // And serde writes the same words.
        for o in Outcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert_eq!(
            serde_json::to_value(TeardownStatus::NotRun).unwrap(),
            "not-run"
        );
    }

    #[test]
    fn junit_escapes_and_counts() {
        let mut tiers = ladder([Status::Pass; 6]);
        tiers[4].tests.push(TestResult {
            id: "demo/custom/<x>".into(),
            outcome: Outcome::Fail,
            exit_code: Some(1),
            duration_s: 0.5,
            log: "logs/custom/x.log".into(),
            summary: "expected \"a\" & got b\u{1}".into(),
        });
        let r = Results {
            schema: SCHEMA,
            run_id: "r".into(),
            recipe: "demo".into(),
            source_repo: "/x".into(),
            pr: None,
            r#ref: "main".into(),
            head_sha: "0".repeat(40),
            tested_tag: None,
            previous: None,
            trigger: Trigger::Manual,
            mode: Mode::Cold,
            started: String::new(),
            finished: String::new(),
            duration_s: 1.0,
            overhead_s: 0.1,
            tiers,
            retained_volumes: vec![],
            deploy_count: 1,
            apps: vec![],
            teardown: Teardown {
                status: TeardownStatus::Clean,
                summary: String::new(),
                log: String::new(),
            },
            level: 3,
            verdict: Verdict::Red,
            left_out: vec![],
            overlays: vec![],
            reruns: vec![],
            reproduced_alone: 0,
            rerun_of: None,
            budget: None,
            warnings: vec![],
            plan: "plan.json".into(),
            junit: "junit.xml".into(),
        };
        let x = junit(&r);
        assert!(x.contains("name=\"demo/custom/&lt;x&gt;\""));
        assert!(x.contains("<failure message=\"expected &quot;a&quot; &amp; got b?\"/>"));
        assert!(x.contains("tests=\"1\" failures=\"1\""));
        // Tiers without tests still appear as one case each.
        assert_eq!(x.matches("<testsuite ").count(), 6);
    }
}
