//! `recipes/<recipe>/index.html`: a recipe's canonical release, its whole
//! history as a picture, and a table of its newest runs.

use super::Canon;
use super::history;
use super::layout::{self, Frame, chip, secs, short_sha, when};
use super::model::{Run, Runs};
use super::out::{self, Www};
use anyhow::Result;
use maud::{Markup, html};

/// From a recipe's page to the www root.
const ROOT: &str = "../../";

/// The table shows this many runs, newest first; the picture shows all.
pub const TABLE_ROWS: usize = 100;

pub fn write(www: &mut Www, recipe: &str, runs: &Runs, canon: &Canon) -> Result<()> {
    let newest_first: Vec<&Run> = runs.of_recipe(recipe).collect();
    // A run is linked when its page exists: this regeneration's or an earlier one's.
    let link = |id: &str| {
        www.exists(&out::run_page(id))
            .then(|| format!("{ROOT}{}", out::run_page(id)))
    };
    let html = render(recipe, &newest_first, canon, &link);
    www.write(&out::recipe_page(recipe), html.as_bytes())
}

pub fn render(
    recipe: &str,
    newest_first: &[&Run],
    canon: &Canon,
    link: &dyn Fn(&str) -> Option<String>,
) -> String {
    let frame = Frame {
        title: recipe,
        root: ROOT,
        trail: vec![(recipe.to_string(), None)],
        refresh: false,
    };
    let oldest_first: Vec<&Run> = newest_first.iter().rev().copied().collect();
    let n = newest_first.len();
    let badge = format!("{ROOT}{}", out::badge(recipe));
    let body = html! {
        h1 { (recipe) " " img.badge src=(badge) alt="ccci badge"; }
        h2 { "Canonical release" }
        (canonical(canon, link))
        h2 { "History" }
        @if n == 0 {
            p.muted { "No runs." }
        } @else {
            (history::picture(&oldest_first, link))
            (history::legend())
            p.muted.small {
                "All " (n) " runs, oldest (" (when(&oldest_first[0].request.created))
                ") left, newest (" (when(&newest_first[0].request.created)) ") right. "
                "A bar's height is the run's level; the line is its duration."
            }
            h2 { "Runs" }
            @if n > TABLE_ROWS {
                p.muted { "The newest " (TABLE_ROWS) " of " (n) " runs; the picture above shows all of them." }
            }
            div.scroll {
                table {
                    thead { tr {
                        th { "Requested" } th { "Ref" } th.wide { "Trigger" }
                        th { "Result" } th.num { "Time" }
                    } }
                    tbody {
                        @for r in newest_first.iter().take(TABLE_ROWS) {
                            (row(r, link))
                        }
                    }
                }
            }
        }
        p.muted.small {
            "Badge for a README: " code { (out::badge(recipe)) } " under this site."
        }
    };
    layout::page(&frame, body, None)
}

fn row(r: &Run, link: &dyn Fn(&str) -> Option<String>) -> Markup {
    html! {
        tr {
            // The time names a run for people; the id is in its title.
            td { @match link(&r.id) {
                Some(h) => a href=(h) title=(r.id) { (when(&r.request.created)) },
                None => span title=(r.id) { (when(&r.request.created)) },
            } }
            td.ref {
                code { (r.request.r#ref) }
                @if let Some(pr) = r.request.pr { " " span.muted { "#" (pr) } }
            }
            td.wide { (r.request.trigger) }
            td { (chip(r.class(), r.label())) }
            td.num { @if let Some(res) = r.results() { (secs(res.duration_s)) } }
        }
    }
}

fn canonical(canon: &Canon, link: &dyn Fn(&str) -> Option<String>) -> Markup {
    html! {
        @match canon {
            Err(why) => p.note { "The canonical record could not be read: " (why) },
            Ok(None) => p.muted { "None yet: no green release was promoted." },
            Ok(Some(c)) => {
                dl {
                    dt { "Release" } dd { code { (c.version.to_string()) } }
                    dt { "Commit" } dd { code { (short_sha(&c.commit)) } }
                    dt { "Promoted" } dd { (when(&c.promoted_at)) }
                    dt { "From run" } dd {
                        @match link(&c.run_id) {
                            Some(h) => a href=(h) { code { (c.run_id) } },
                            None => code { (c.run_id) },
                        }
                    }
                    dt { "Status" } dd { (c.status) }
                }
            }
        }
    }
}
