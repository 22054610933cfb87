//! A recipe's history as one inline SVG: a bar per run, oldest left, its
//! height the level and its colour the verdict (green, or the level's colour
//! when red; grey when the run has no verdict of the recipe's own), with the
//! runs' durations drawn over them as a line. Each bar links to its run's
//! page and names it on hover. A thousand runs stay a few hundred kilobytes.

use super::layout::{secs, when};
use super::model::Run;
use maud::{Markup, html};

/// Width of one run's slot, and of its bar, in picture units.
const SLOT: usize = 10;
const BAR: usize = 8;
/// Height of the picture: a stub of 10 for L0, 10 more per level.
const HEIGHT: f64 = 64.0;
/// Fewer runs than this still leave the picture this many slots wide, newest
/// at the right, so three runs look like three runs and not three walls.
const MIN_SLOTS: usize = 40;

fn bar_height(run: &Run) -> f64 {
    match run.results() {
        Some(r) => 10.0 + 10.0 * f64::from(r.level.min(5)),
        None => 10.0,
    }
}

/// `runs` oldest first; `link` gives a run's page, when it has one.
pub fn picture(runs: &[&Run], link: impl Fn(&str) -> Option<String>) -> Markup {
    let n = runs.len();
    let width = SLOT * n.max(MIN_SLOTS);
    let left = width - SLOT * n;
    let longest = runs
        .iter()
        .filter_map(|r| r.results().map(|r| r.duration_s))
        .fold(0.0_f64, f64::max);
    let duration_line: Vec<String> = if longest > 0.0 {
        runs.iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let d = r.results()?.duration_s;
                let x = left + SLOT * i + SLOT / 2;
                let y = HEIGHT - 2.0 - d / longest * (HEIGHT - 4.0);
                Some(format!("{x},{y:.1}"))
            })
            .collect()
    } else {
        vec![]
    };
    html! {
        svg.history xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (HEIGHT) }
            preserveAspectRatio="none" role="img"
            aria-label={ "History of " (n) " runs: level and duration, oldest left" } {
            @for level in 1..=5 {
                @let y = HEIGHT - 10.0 - 10.0 * f64::from(level) + 0.5;
                line.rung x1="0" x2=(width) y1=(y) y2=(y) vector-effect="non-scaling-stroke" {}
            }
            @for (i, run) in runs.iter().enumerate() {
                @let h = bar_height(run);
                @let mark = html! {
                    rect class=(run.mark_class()) x=(left + SLOT * i + (SLOT - BAR) / 2)
                        y=(HEIGHT - h) width=(BAR) height=(h) {
                        title { (tooltip(run)) }
                    }
                };
                @match link(&run.id) {
                    Some(href) => a href=(href) { (mark) },
                    None => (mark),
                }
            }
            @if duration_line.len() > 1 {
                polyline.duration points=(duration_line.join(" ")) vector-effect="non-scaling-stroke" {}
            }
        }
    }
}

fn tooltip(run: &Run) -> String {
    match run.results() {
        Some(r) => format!(
            "{} · {} · {} · {}",
            run.id,
            run.label(),
            when(&r.started),
            secs(r.duration_s)
        ),
        None => format!(
            "{} · {} · {}",
            run.id,
            run.label(),
            when(&run.request.created)
        ),
    }
}

/// What the picture's colours and line mean.
pub fn legend() -> Markup {
    html! {
        div.legend {
            span { span.key.m-green {} "green" }
            span { span.key.m-l0 {} span.key.m-l3 {} span.key.m-l5 {} "red, by level (L0 to L5)" }
            span { span.key.m-grey {} "error, interrupted or no result" }
            span { span.key.m-running {} "running" }
            span { span.key.line {} "duration" }
        }
    }
}
