//! `index.html`: what runs now and what waits, every recipe with its last
//! level, and what could not be read.

use super::Canon;
use super::layout::{self, Frame, chip, when};
use super::model::{Run, Runs, State};
use super::out::{self, Www};
use anyhow::Result;
use ccci_core::ids;
use ccci_core::queue::{Entry, QueueState};
use maud::{Markup, html};
use std::collections::BTreeMap;

/// Finished queue entries shown, newest first.
const RECENT: usize = 10;

pub struct Inputs<'a> {
    pub runs: &'a Runs,
    /// Every recipe with its canonical record.
    pub recipes: &'a BTreeMap<String, Canon>,
    pub queue: &'a Result<Vec<Entry>, String>,
    pub problems: &'a [String],
}

pub fn write(www: &mut Www, inputs: &Inputs) -> Result<()> {
    // A page is linked once it exists (with --run, only some are written).
    let link = |rel: &str| www.exists(rel).then(|| rel.to_string());
    let html = render(inputs, &link);
    www.write("index.html", html.as_bytes())
}

/// `link` gives a www-relative path back when that file exists.
pub fn render(i: &Inputs, link: &dyn Fn(&str) -> Option<String>) -> String {
    let frame = Frame {
        title: "runs",
        root: "",
        trail: vec![],
        refresh: false,
    };
    let body = html! {
        h1 { "ccci" }
        (now(i, link))
        h2 { "Recipes" }
        @if i.recipes.is_empty() {
            p.muted { "No runs yet." }
        } @else {
            div.scroll {
                table {
                    thead { tr {
                        th { "Recipe" } th { "Last result" } th.wide { "When" } th { "Canonical" }
                    } }
                    tbody {
                        @for (recipe, canon) in i.recipes {
                            (recipe_row(recipe, canon, i.runs, link))
                        }
                    }
                }
            }
        }
        @if !i.problems.is_empty() {
            h2 { "Could not be read" }
            @for p in i.problems { p.note { (p) } }
        }
    };
    let footer = html! { "Written " (when(&ids::now_rfc3339())) "." };
    layout::page(&frame, body, Some(footer))
}

fn recipe_row(
    recipe: &str,
    canon: &Canon,
    runs: &Runs,
    link: &dyn Fn(&str) -> Option<String>,
) -> Markup {
    let running = runs
        .of_recipe(recipe)
        .any(|r| matches!(r.state, State::Running(_)));
    // The last verdict; else what became of the newest run that has none.
    let last = runs
        .of_recipe(recipe)
        .find(|r| r.results().is_some())
        .or_else(|| {
            runs.of_recipe(recipe)
                .find(|r| !matches!(r.state, State::Running(_)))
        });
    html! {
        tr {
            td {
                @match link(&out::recipe_page(recipe)) {
                    Some(h) => a href=(h) { (recipe) },
                    None => (recipe),
                }
                @if let Some(b) = link(&out::badge(recipe)) {
                    " " img.badge src=(b) alt={ "badge of " (recipe) };
                }
            }
            td {
                @match last {
                    Some(r) => (run_link(r, link, chip(r.class(), r.label()))),
                    None => span.muted { "none yet" },
                }
                @if running { " " (chip("running", "running")) }
            }
            td.wide { @if let Some(res) = last.and_then(Run::results) { (when(&res.finished)) } }
            td {
                @match canon {
                    Ok(Some(c)) => code { (c.version.to_string()) },
                    Ok(None) => span.muted { "none" },
                    Err(_) => (chip("unreadable", "unreadable")),
                }
            }
        }
    }
}

fn run_link(r: &Run, link: &dyn Fn(&str) -> Option<String>, inner: Markup) -> Markup {
    html! {
        @match link(&out::run_page(&r.id)) {
            Some(h) => a href=(h) { (inner) },
            None => (inner),
        }
    }
}

/// The queue: running entries and runs started by hand, then the waiting
/// ones in order, then the latest finished.
fn now(i: &Inputs, link: &dyn Fn(&str) -> Option<String>) -> Markup {
    let entries: &[Entry] = i.queue.as_deref().unwrap_or_default();
    let of = |s: QueueState| entries.iter().filter(move |e| e.state == s);
    let by_hand: Vec<&Run> = i
        .runs
        .runs
        .iter()
        .filter(|r| matches!(r.state, State::Running(_)))
        .filter(|r| !entries.iter().any(|e| e.run_id == r.id))
        .collect();
    let mut finished: Vec<&Entry> = of(QueueState::Finished).collect();
    finished.sort_by(|a, b| b.finished_at.cmp(&a.finished_at));
    html! {
        h2 { "Running" }
        @if let Err(why) = i.queue {
            p.note { "The queue could not be read: " (why) }
        }
        @if of(QueueState::Started).next().is_none() && by_hand.is_empty() {
            p.muted { "Nothing runs." }
        } @else {
            ul.plain {
                @for e in of(QueueState::Started) {
                    li { (entry(e, i.runs, link)) span.muted { " since " (when(e.started_at.as_deref().unwrap_or(&e.queued_at))) } }
                }
                @for r in &by_hand {
                    li {
                        (run_link(r, link, html! { (r.request.recipe) " " code { (r.id) } }))
                        " " (chip("running", "running"))
                        span.muted { " " (r.request.trigger) " · " (when(&r.request.created)) }
                    }
                }
            }
        }
        h2 { "Waiting" }
        @if of(QueueState::Queued).next().is_none() {
            p.muted { "Nothing waits." }
        } @else {
            ol {
                @for e in of(QueueState::Queued) {
                    li { (entry(e, i.runs, link)) span.muted { " queued " (when(&e.queued_at)) } }
                }
            }
        }
        @if !finished.is_empty() {
            details {
                summary { "Recently finished (" (finished.len().min(RECENT)) ")" }
                ul.plain {
                    @for e in finished.iter().take(RECENT) {
                        li {
                            (entry(e, i.runs, link))
                            span.muted { " exit " (e.exit_code.map_or("?".to_string(), |c| c.to_string()))
                                " · " (when(e.finished_at.as_deref().unwrap_or(""))) }
                        }
                    }
                }
            }
        }
    }
}

/// One queue entry: recipe, pull request, commit, and its run's standing
/// when its run is known.
fn entry(e: &Entry, runs: &Runs, link: &dyn Fn(&str) -> Option<String>) -> Markup {
    let run = runs.get(&e.run_id);
    let what = html! {
        (e.recipe)
        @if let Some(pr) = e.pr { " #" (pr) }
        " " code { (layout::short_sha(&e.head_sha)) }
    };
    html! {
        (match run {
            Some(r) => run_link(r, link, what),
            None => what,
        })
        @if let Some(r) = run { " " (chip(r.class(), r.label())) }
        span.muted { " " (e.trigger) @if let Some(a) = &e.author { " by " (a) } }
        " "
    }
}
