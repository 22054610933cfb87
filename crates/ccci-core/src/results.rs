//! `results.json`: what a run found, its level, and the JUnit view of it.
//!
//! The schema is documented in the README ("results.json") and as JSON Schema in
//! `schemas/results.schema.json`; the runner's tests validate real files
//! against that schema.

use serde::{Deserialize, Serialize};

pub const SCHEMA: u32 = 1;
pub const FILE: &str = "results.json";

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
    pub trigger: String,
    /// `cold` (fresh install) or `quick` (reattached to retained volumes).
    pub mode: String,
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
    /// `green`, `red`, `error` (ccci or the infrastructure failed), `interrupted`.
    pub verdict: String,
    pub warnings: Vec<String>,
    /// Paths relative to the run directory.
    pub plan: String,
    pub junit: String,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestResult {
    pub id: String,
    /// `pass`, `fail`, `skip`, `error` (exit 99 or could not run), `timeout`.
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub duration_s: f64,
    pub log: String,
    /// The last line the test printed, as its one-line reason.
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AppRef {
    pub role: String,
    pub recipe: String,
    pub run_id: String,
    pub domain: String,
    pub stack: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Teardown {
    /// `clean`, `leftovers`, `error`, `not-run`.
    pub status: String,
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
        && teardown.status == "clean"
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
    let failures = all.iter().filter(|t| t.outcome == "fail").count();
    let errors = all
        .iter()
        .filter(|t| t.outcome == "error" || t.outcome == "timeout")
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
            .any(|c| c.outcome != "pass" && c.outcome != "skip");
        if (t.status == Status::Fail && !tests_failed) || t.tests.is_empty() {
            cases.insert(
                0,
                TestResult {
                    id: format!("{}/tier", t.name),
                    outcome: match t.status {
                        Status::Pass => "pass",
                        Status::Fail => "fail",
                        Status::Skip | Status::Na => "skip",
                    }
                    .into(),
                    exit_code: None,
                    duration_s: t.duration_s,
                    log: t.log.clone(),
                    summary: t.summary.clone(),
                },
            );
        }
        let f = cases.iter().filter(|c| c.outcome == "fail").count();
        let e = cases
            .iter()
            .filter(|c| c.outcome == "error" || c.outcome == "timeout")
            .count();
        let s = cases.iter().filter(|c| c.outcome == "skip").count();
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
            match c.outcome.as_str() {
                "fail" => x.push_str(&format!("      <failure message=\"{msg}\"/>\n")),
                "error" | "timeout" => x.push_str(&format!(
                    "      <error type=\"{}\" message=\"{msg}\"/>\n",
                    c.outcome
                )),
                "skip" => x.push_str(&format!("      <skipped message=\"{msg}\"/>\n")),
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

    #[test]
    fn junit_escapes_and_counts() {
        let mut tiers = ladder([Status::Pass; 6]);
        tiers[4].tests.push(TestResult {
            id: "demo/custom/<x>".into(),
            outcome: "fail".into(),
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
            trigger: "manual".into(),
            mode: "cold".into(),
            started: String::new(),
            finished: String::new(),
            duration_s: 1.0,
            overhead_s: 0.1,
            tiers,
            retained_volumes: vec![],
            deploy_count: 1,
            apps: vec![],
            teardown: Teardown {
                status: "clean".into(),
                summary: String::new(),
                log: String::new(),
            },
            level: 3,
            verdict: "red".into(),
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
