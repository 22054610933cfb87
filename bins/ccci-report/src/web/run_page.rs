//! `runs/<id>/index.html`: one run as the operator needs it at 3 a.m.: what
//! was asked, where it stands (or which tier it is in), every tier and test
//! with its outcome, time, last line and log, the level and why, teardown,
//! the apps, warnings, the plan, and every log.

use super::layout::{self, Frame, chip, secs, when};
use super::logs::{self, Logs};
use super::mask::{Masker, without_credentials};
use super::model::{Progress, Run, Runs, State};
use super::out::{self, Www};
use anyhow::Result;
use ccci_core::plan::{Plan, TIERS};
use ccci_core::results::{Results, Role};
use ccci_core::{exit, ids, state};
use maud::{Markup, html};
use std::path::Path;

/// From a run's page to the www root.
const ROOT: &str = "../../";

/// The rungs of the ladder, as the level counts them.
const RUNGS: [&str; 5] = ["install", "upgrade", "backup + restore", "custom", "lint"];

/// Publish run `run`: its masked logs, then its page. Problems with the plan
/// are said on the page and returned.
pub fn write(www: &mut Www, state_dir: &Path, run: &Run, runs: &Runs) -> Result<Vec<String>> {
    let masker = Masker::for_run(state_dir, &run.id, &runs.dependency_dirs(run))?;
    let logs = logs::publish(www, &run.path, &run.id, &masker)?;
    let mut problems = vec![];
    let plan = state::read_json::<Plan>(&run.path.join("plan.json"))
        .and_then(|p| masker.value(&p))
        .map_err(|e| {
            let why = masker.text(&exit::one_line(&e));
            problems.push(format!("run {}: {why}", run.id));
            why
        });
    let shown = Run {
        request: masker.value(&run.request)?,
        state: match &run.state {
            State::Finished(r) => State::Finished(Box::new(masker.value(r.as_ref())?)),
            State::Unreadable(why) => State::Unreadable(masker.text(why)),
            other => other.clone(),
        },
        ..run.clone()
    };
    let html = render(&shown, plan.as_ref().map_err(String::as_str), &logs);
    // The model was masked field by field; this catches what a page adds.
    www.write(&out::run_page(&run.id), masker.text(&html).as_bytes())?;
    Ok(problems)
}

pub fn render(run: &Run, plan: Result<&Plan, &str>, logs: &Logs) -> String {
    let req = &run.request;
    let recipe_href = format!("{ROOT}{}", out::recipe_page(&req.recipe));
    let frame = Frame {
        title: &format!("{} run {}", req.recipe, run.id),
        root: ROOT,
        trail: vec![
            (req.recipe.clone(), Some(recipe_href.clone())),
            (run.id.clone(), None),
        ],
        refresh: matches!(run.state, State::Running(_)),
    };
    let body = html! {
        h1 { (req.recipe) " " span.muted { "run " (run.id) } }
        p.status { (status(run)) }
        h2 { "Request" }
        dl {
            dt { "Recipe" } dd { a href=(recipe_href) { (req.recipe) } }
            dt { "Ref" } dd {
                code { (req.r#ref) }
                @if let Some(tag) = run.results().and_then(|r| r.tested_tag.as_ref()) {
                    @if *tag != req.r#ref { " (release " code { (tag) } ")" }
                }
            }
            dt { "Commit" } dd { code { (req.head_sha) } }
            dt { "Pull request" } dd {
                @match req.pr { Some(n) => { "#" (n) }, None => "none" }
            }
            dt { "Trigger" } dd { (req.trigger) }
            @if let Some(r) = run.results() {
                dt { "Mode" } dd { (r.mode) }
            }
            dt { "Upgraded from" } dd { (previous(run, plan.ok())) }
            dt { "Repository" } dd { code { (without_credentials(&req.source_repo)) } }
            dt { "Requested" } dd { (when(&req.created)) }
            @if let Some(r) = run.results() {
                dt { "Ran" } dd {
                    (when(&r.started)) " to " (when(&r.finished))
                    " (" (secs(r.duration_s)) ", ccci's own " (secs(r.overhead_s)) ")"
                }
            }
        }
        @match &run.state {
            State::Finished(r) => (finished(r, logs)),
            State::Running(p) => (running(p.as_ref(), plan.ok())),
            _ => {}
        }
        (plan_section(plan))
        h2 { "Logs" }
        @if logs.files.is_empty() && !logs.junit {
            p.muted { "No logs yet." }
        } @else {
            ul.plain {
                @for f in &logs.files {
                    li { a href=(layout::href(&format!("{f}.txt"))) { (f) } }
                }
                @if logs.junit {
                    li { a href=(logs::JUNIT) { (logs::JUNIT) } " " span.muted { "(JUnit XML)" } }
                }
            }
        }
    };
    let footer = matches!(run.state, State::Running(_)).then(|| {
        html! { "This page reloads every 10 s; written " (when(&ids::now_rfc3339())) "." }
    });
    layout::page(&frame, body, footer)
}

fn status(run: &Run) -> Markup {
    html! {
        @match &run.state {
            State::Finished(r) => {
                (chip(run.class(), run.label())) " in " (secs(r.duration_s))
                span.muted { " · finished " (when(&r.finished)) }
            }
            State::Running(Some(p)) => {
                (chip("running", "running")) " tier " strong { (p.tier) }
                span.muted { " since " (when(&p.since)) }
            }
            State::Running(None) => {
                (chip("running", "running")) " starting"
            }
            State::Stopped => {
                (chip("stopped", "stopped"))
                " without results: the runner was killed or its machine went down"
            }
            State::Unreadable(why) => {
                (chip("unreadable", "unreadable")) " " (why)
            }
        }
    }
}

/// The release the app was installed at before the upgrade.
fn previous(run: &Run, plan: Option<&Plan>) -> Markup {
    let prev = match run.results() {
        Some(r) => r.previous.as_ref(),
        None => plan.and_then(|p| p.previous.as_ref()),
    };
    html! {
        @match prev {
            Some(v) => code { (v) },
            None => span.muted { "nothing older released: upgrade does not apply" },
        }
    }
}

/// Why the level is what it is: the rungs climbed and where the climb stopped.
fn level_reason(level: u8) -> String {
    let n = usize::from(level).min(RUNGS.len());
    match n {
        0 => format!("L0: the climb stopped at {}.", RUNGS[0]),
        5 => format!("L5: climbed {}.", RUNGS.join(", ")),
        _ => format!(
            "L{n}: climbed {}; the climb stopped at {}.",
            RUNGS[..n].join(", "),
            RUNGS[n]
        ),
    }
}

fn log_link(logs: &Logs, rel: &str, text: &str) -> Markup {
    html! {
        @if let Some(h) = logs.href(rel) { a href=(layout::href(&h)) { (text) } }
    }
}

fn finished(r: &Results, logs: &Logs) -> Markup {
    html! {
        h2 { "Tiers" }
        p { (level_reason(r.level)) }
        div.scroll {
            table.tiers {
                thead { tr { th { "Tier / test" } th { "Result" } th.num { "Time" } th { "Log" } } }
                tbody {
                    @for t in &r.tiers {
                        tr.tier {
                            td { (t.name) @if !t.summary.is_empty() { span.why { (t.summary) } } }
                            td { (chip(t.status.as_str(), t.status.as_str())) }
                            td.num { (secs(t.duration_s)) }
                            td { (log_link(logs, &t.log, "log")) }
                        }
                        @for test in &t.tests {
                            tr.test {
                                td {
                                    code { (test.id) }
                                    @if !test.summary.is_empty() { span.why { (test.summary) } }
                                }
                                td {
                                    (chip(test.outcome.as_str(), test.outcome.as_str()))
                                    @if let Some(c) = test.exit_code {
                                        @if c != 0 { " " span.muted.small { "exit " (c) } }
                                    }
                                }
                                td.num { (secs(test.duration_s)) }
                                td { (log_link(logs, &test.log, "log")) }
                            }
                        }
                    }
                }
            }
        }
        @if r.tiers.iter().any(|t| t.red.is_some()) {
            h2 { "Why it is red" }
            @for t in &r.tiers {
                @if let Some(red) = &t.red {
                    h3 { (t.name) ": " (red.class.as_str()) }
                    ul {
                        @for e in &red.evidence { li { (e) } }
                    }
                    p.muted.small {
                        "Signature " code { (red.signature.id) } ": "
                        code { (red.signature.step) } " · " (red.signature.error)
                    }
                }
            }
        }
        @if !r.reruns.is_empty() {
            h2 { "Run again alone" }
            ul {
                @for x in &r.reruns {
                    li { code { (x.run_id) } " " (x.verdict.as_str()) " L" (x.level) }
                }
            }
        }
        h2 { "Teardown" }
        p {
            (chip(r.teardown.status.as_str(), r.teardown.status.as_str())) " " (r.teardown.summary) " "
            (log_link(logs, &r.teardown.log, "log"))
        }
        @if !r.retained_volumes.is_empty() {
            p { "Volumes kept: " @for (i, v) in r.retained_volumes.iter().enumerate() {
                @if i > 0 { ", " } code { (v) }
            } }
        }
        @if !r.apps.is_empty() {
            h2 { "Apps" }
            div.scroll {
                table {
                    thead { tr { th { "Role" } th { "Recipe" } th { "Run" } th.wide { "Domain" } } }
                    tbody {
                        @for a in &r.apps {
                            tr {
                                td { (a.role) }
                                td { (a.recipe) }
                                td { code { (a.run_id) } }
                                td.wide { code { (a.domain) } }
                            }
                        }
                    }
                }
            }
            @if r.apps.iter().any(|a| a.role == Role::Dependency) {
                p.muted.small { "A dependency app's deploy output is in this run's install logs." }
            }
        }
        @if let Some(b) = &r.budget {
            (budget(b))
        }
        @if !r.left_out.is_empty() {
            p.note { "A partial run (--tiers): it left out " (r.left_out.join(", ")) ". It is never green." }
        }
        @if !r.overlays.is_empty() {
            h2 { "CI overlays" }
            p.muted.small { "Compose files of ccci's recipes tree layered over the recipe's own: the recipe was tested as adjusted by these." }
            ul {
                @for o in &r.overlays { li { code { (o.file) } " (" (o.phase.as_str()) ")" } }
            }
        }
        @if !r.warnings.is_empty() {
            h2 { "Warnings" }
            @for w in &r.warnings { p.note { (w) } }
        }
    }
}

/// The run's share of the host's budget (docs/budget.md): what it was
/// counted at, how long it waited, what its apps took.
fn budget(b: &ccci_core::results::BudgetUse) -> Markup {
    html! {
        h2 { "Host budget" }
        @if b.waited_s >= 1.0 {
            p.note { "Waited " (secs(b.waited_s)) " for the host's budget before it started." }
        }
        div.scroll {
            table {
                thead { tr { th { "Counted at" } th.num { "Memory MiB" } th { "from" } th.num { "Disk MiB" } th { "from" } } }
                tbody {
                    @for part in &b.need {
                        tr {
                            td { (part.what) }
                            td.num { (part.memory_mb) } td { (part.memory_from) }
                            td.num { (part.disk_mb) } td { (part.disk_from) }
                        }
                    }
                }
            }
        }
        @if !b.measured.is_empty() {
            p.muted.small { "Measured peaks: "
                @for (i, (app, f)) in b.measured.iter().enumerate() {
                    @if i > 0 { "; " }
                    code { (app) } " " (f.memory_mb) " MiB memory, " (f.disk_mb) " MiB disk"
                }
            }
        }
    }
}

/// The plan's tiers with the one in progress: earlier ones are done (tiers
/// run in ladder order), later ones wait.
fn running(p: Option<&Progress>, plan: Option<&Plan>) -> Markup {
    let names: Vec<&str> = match plan {
        Some(plan) => plan.tiers.iter().map(|t| t.name.as_str()).collect(),
        None => TIERS.to_vec(),
    };
    let current = match p {
        None => None,
        Some(p) if p.tier == "teardown" => Some(names.len()),
        Some(p) => names.iter().position(|n| *n == p.tier),
    };
    html! {
        h2 { "Tiers" }
        div.scroll {
            table.tiers {
                thead { tr { th { "Tier" } th { "State" } th { "Planned" } } }
                tbody {
                    @for (i, name) in names.iter().enumerate() {
                        @let word = match current {
                            Some(c) if i < c => "done",
                            Some(c) if i == c => "running",
                            _ => "waiting",
                        };
                        tr.tier {
                            td { (name) }
                            td { (chip(word, word)) }
                            td.muted {
                                @if let Some(t) = plan.and_then(|p| p.tier(name)) {
                                    (t.tests.len()) @if t.tests.len() == 1 { " test" } @else { " tests" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn plan_section(plan: Result<&Plan, &str>) -> Markup {
    html! {
        h2 { "Plan" }
        @match plan {
            Err(why) => p.note { "The plan could not be read: " (why) },
            Ok(plan) => {
                @for w in &plan.warnings { p.note { (w) } }
                details {
                    summary {
                        (plan.tiers.iter().map(|t| t.tests.len()).sum::<usize>()) " tests and "
                        (plan.tiers.iter().map(|t| t.hooks.len()).sum::<usize>()) " hooks in "
                        (plan.tiers.len()) " tiers"
                        @if plan.approved { " (the recipe may run its pull requests' tests)" }
                    }
                    div.scroll {
                        table {
                            thead { tr { th { "Tier" } th { "Step" } th { "Source" } th.num { "Timeout" } } }
                            tbody {
                                @for t in &plan.tiers {
                                    @for s in t.hooks.iter().chain(&t.tests) {
                                        tr {
                                            td { (t.name) }
                                            td { code { (s.id) } }
                                            td { (s.source) }
                                            td.num { (secs(s.timeout_s as f64)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccci_core::results::{
        self, Mode, Outcome, Status, Teardown, TeardownStatus, TestResult, Tier, Trigger, Verdict,
    };
    use ccci_core::rundir::Request;

    const EVIL: &str = "<script>alert(1)</script>";

    fn run(state: State) -> Run {
        Run {
            id: "r1".into(),
            path: "/nonexistent".into(),
            rerun_of: None,
            request: Request {
                schema: 1,
                run_id: "r1".into(),
                recipe: EVIL.into(),
                source_repo: "https://bot:t0ken@git.example.org/demo.git".into(),
                pr: Some(7),
                r#ref: "<b>branch</b>".into(),
                head_sha: "a".repeat(40),
                trigger: Trigger::Testme,
                created: "2026-11-22T23:00:00Z".into(),
            },
            state,
        }
    }

    fn results() -> Results {
        let tiers: Vec<Tier> = TIERS
            .iter()
            .map(|n| Tier {
                name: n.to_string(),
                status: Status::Pass,
                summary: String::new(),
                duration_s: 1.0,
                log: format!("logs/{n}.log"),
                tests: vec![],
                red: None,
            })
            .collect();
        let mut r = Results {
            schema: results::SCHEMA,
            run_id: "r1".into(),
            recipe: EVIL.into(),
            source_repo: "/srv/demo".into(),
            pr: Some(7),
            r#ref: "<b>branch</b>".into(),
            head_sha: "a".repeat(40),
            tested_tag: None,
            previous: Some("0.1.0+1.0".into()),
            trigger: Trigger::Testme,
            mode: Mode::Cold,
            started: "2026-11-22T23:00:01Z".into(),
            finished: "2026-11-22T23:00:31Z".into(),
            duration_s: 30.0,
            overhead_s: 0.03,
            tiers,
            retained_volumes: vec![],
            deploy_count: 1,
            apps: vec![],
            teardown: Teardown {
                status: TeardownStatus::Clean,
                summary: "removed 4 objects".into(),
                log: "logs/teardown.log".into(),
            },
            level: 0,
            verdict: Verdict::Red,
            left_out: vec![],
            overlays: vec![],
            reruns: vec![],
            reproduced_alone: 0,
            rerun_of: None,
            budget: None,
            warnings: vec![format!("warning {EVIL}")],
            plan: "plan.json".into(),
            junit: "junit.xml".into(),
        };
        r.tiers[4].status = Status::Fail;
        r.tiers[4].tests.push(TestResult {
            id: format!("demo/custom/{EVIL}"),
            outcome: Outcome::Fail,
            exit_code: Some(1),
            duration_s: 0.5,
            log: "logs/custom/x.log".into(),
            summary: "expected <tr> & got \"</table>\"".into(),
        });
        r.level = results::level(&r.tiers);
        r
    }

    #[test]
    fn text_from_a_run_is_shown_as_text() {
        let logs = Logs {
            files: ["logs/custom/x.log".to_string()].into(),
            junit: true,
        };
        let p = render(&run(State::Finished(Box::new(results()))), Err(EVIL), &logs);
        assert!(!p.contains("<script") && !p.contains("<b>"), "{p}");
        assert!(!p.contains("</table>\""), "{p}");
        assert!(p.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(p.contains("demo/custom/&lt;script&gt;"));
        assert!(p.contains("expected &lt;tr&gt; &amp; got &quot;&lt;/table&gt;&quot;"));
        assert!(p.contains("https://…@git.example.org/demo.git") && !p.contains("t0ken"));
        // Links stay inside www: the recipe's page and the published logs only.
        assert!(p.contains(r#"href="logs/custom/x.log.txt""#));
        assert!(
            !p.contains(r#"href="logs/install.log.txt""#),
            "not published"
        );
        assert!(p.contains(
            "L3: climbed install, upgrade, backup + restore; the climb stopped at custom."
        ));
        assert!(!p.contains("refresh"));
        assert!(!p.contains("Host budget"), "no budget, no section");
    }

    #[test]
    fn the_budget_says_what_the_run_was_counted_at_and_how_long_it_waited() {
        use ccci_core::budget::{Figures, Part, Source};
        let mut r = results();
        r.budget = Some(ccci_core::results::BudgetUse {
            need: vec![Part {
                what: format!("{EVIL} (dependency)"),
                recipe: "db".into(),
                role: ccci_core::budget::Role::Dependency,
                memory_mb: 600,
                memory_from: Source::Declared,
                disk_mb: 20,
                disk_from: Source::Learnt,
            }],
            waited_s: 75.0,
            measured: [(
                "r1".to_string(),
                Figures {
                    memory_mb: 41,
                    disk_mb: 3,
                },
            )]
            .into(),
        });
        let p = render(
            &run(State::Finished(Box::new(r))),
            Err("no plan"),
            &Logs::default(),
        );
        assert!(p.contains("Waited 75 s for the host's budget"), "{p}");
        assert!(
            p.contains("&lt;script&gt;alert(1)&lt;/script&gt; (dependency)"),
            "{p}"
        );
        assert!(
            p.contains("<td class=\"num\">600</td><td>declared</td>"),
            "{p}"
        );
        assert!(
            p.contains("<code>r1</code> 41 MiB memory, 3 MiB disk"),
            "{p}"
        );
    }

    #[test]
    fn a_run_in_progress_names_its_tier_and_reloads() {
        let p = render(
            &run(State::Running(Some(Progress {
                schema: 1,
                tier: "backup".into(),
                since: "2026-11-22T23:01:00Z".into(),
            }))),
            Err("no plan"),
            &Logs::default(),
        );
        assert!(p.contains(r#"<meta http-equiv="refresh" content="10">"#));
        assert!(p.contains("tier <strong>backup</strong>"), "{p}");
        assert!(
            p.contains("<td>upgrade</td><td><span class=\"chip done\">done</span>"),
            "{p}"
        );
        assert!(p.contains("<td>backup</td><td><span class=\"chip running\">running</span>"));
        assert!(p.contains("<td>lint</td><td><span class=\"chip waiting\">waiting</span>"));
        assert!(p.contains("No logs yet."));
    }
}
