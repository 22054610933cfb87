//! `badges/<recipe>.svg`: a shields-style badge of the recipe's latest run,
//! `ccci | L5` on green, `ccci | red L2` coloured by its level, `ccci |
//! running`, or `ccci | none`. A standalone SVG file: its colours are its
//! own, not the stylesheet's.

use super::model::{Run, State};
use ccci_core::results::Verdict;
use maud::html;

#[derive(Debug, PartialEq)]
pub struct Badge {
    pub text: String,
    pub colour: &'static str,
}

const GREEN: &str = "#2e7d32";
const GREY: &str = "#6e7781";
const BLUE: &str = "#0969da";
/// Red runs by level: the lower the level, the redder.
const RED_BY_LEVEL: [&str; 6] = [
    "#c62828", "#c62828", "#d84315", "#d84315", "#a15c00", "#a15c00",
];

/// The badge of a recipe's latest run that has a verdict or is running
/// (`runs` newest first; runs that stopped or cannot be read say nothing).
pub fn of<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Badge {
    let latest = runs
        .into_iter()
        .find(|r| matches!(r.state, State::Finished(_) | State::Running(_)));
    let (text, colour) = match latest.map(|r| &r.state) {
        Some(State::Finished(r)) => match r.verdict {
            Verdict::Green => (format!("L{}", r.level), GREEN),
            Verdict::Red => (
                format!("red L{}", r.level),
                RED_BY_LEVEL[usize::from(r.level.min(5))],
            ),
            other => (format!("{other} L{}", r.level), GREY),
        },
        Some(_) => ("running".to_string(), BLUE),
        None => ("none".to_string(), GREY),
    };
    Badge { text, colour }
}

/// Width of a text in the badge's 11 px sans-serif, from rough glyph widths
/// (as shields does, without shipping a font table).
fn text_width(s: &str) -> usize {
    let w: f64 = s
        .chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ' ' | 'I' | '!' | '|' => 3.6,
            'f' | 't' | 'r' => 4.6,
            'm' | 'w' | 'M' | 'W' => 9.5,
            'A'..='Z' => 7.6,
            _ => 6.8,
        })
        .sum();
    w.ceil() as usize
}

const LABEL: &str = "ccci";

pub fn svg(b: &Badge) -> String {
    let lw = text_width(LABEL) + 12;
    let rw = text_width(&b.text) + 12;
    let total = lw + rw;
    let said = format!("{LABEL}: {}", b.text);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(
        &html! {
            svg xmlns="http://www.w3.org/2000/svg" width=(total) height="20" role="img" aria-label=(said) {
                title { (said) }
                linearGradient id="s" x2="0" y2="100%" {
                    stop offset="0" stop-color="#bbb" stop-opacity=".1" {}
                    stop offset="1" stop-opacity=".1" {}
                }
                clipPath id="r" { rect width=(total) height="20" rx="3" fill="#fff" {} }
                g clip-path="url(#r)" {
                    rect width=(lw) height="20" fill="#555" {}
                    rect x=(lw) width=(rw) height="20" fill=(b.colour) {}
                    rect width=(total) height="20" fill="url(#s)" {}
                }
                g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,Geneva,sans-serif" font-size="11" {
                    text x=(lw / 2) y="15" fill="#010101" fill-opacity=".3" { (LABEL) }
                    text x=(lw / 2) y="14" { (LABEL) }
                    text x=(lw + rw / 2) y="15" fill="#010101" fill-opacity=".3" { (b.text) }
                    text x=(lw + rw / 2) y="14" { (b.text) }
                }
            }
        }
        .into_string(),
    );
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::model::Progress;
    use ccci_core::results::{Mode, Results, Teardown, TeardownStatus, Trigger, Verdict};
    use ccci_core::rundir::Request;

    fn run(state: State) -> Run {
        Run {
            id: "r".into(),
            path: "/nonexistent".into(),
            rerun_of: None,
            request: Request {
                schema: 1,
                run_id: "r".into(),
                recipe: "demo".into(),
                source_repo: "/srv/demo".into(),
                pr: None,
                r#ref: "main".into(),
                head_sha: "a".repeat(40),
                trigger: Trigger::Manual,
                created: "2026-11-22T23:00:00Z".into(),
            },
            state,
        }
    }

    fn finished(level: u8, verdict: Verdict) -> Run {
        run(State::Finished(Box::new(Results {
            schema: 1,
            run_id: "r".into(),
            recipe: "demo".into(),
            source_repo: "/srv/demo".into(),
            pr: None,
            r#ref: "main".into(),
            head_sha: "a".repeat(40),
            tested_tag: None,
            previous: None,
            trigger: Trigger::Manual,
            mode: Mode::Cold,
            started: String::new(),
            finished: String::new(),
            duration_s: 1.0,
            overhead_s: 0.0,
            tiers: vec![],
            retained_volumes: vec![],
            deploy_count: 1,
            apps: vec![],
            teardown: Teardown {
                status: TeardownStatus::Clean,
                summary: String::new(),
                log: String::new(),
            },
            level,
            verdict,
            left_out: vec![],
            overlays: vec![],
            reruns: vec![],
            reproduced_alone: 0,
            rerun_of: None,
            budget: None,
            warnings: vec![],
            plan: String::new(),
            junit: String::new(),
        })))
    }

    #[test]
    fn text_and_colour_follow_the_latest_run() {
        let b = |runs: &[Run]| of(runs);
        assert_eq!(
            b(&[finished(5, Verdict::Green)]),
            Badge {
                text: "L5".into(),
                colour: GREEN
            }
        );
        assert_eq!(
            b(&[finished(2, Verdict::Red), finished(5, Verdict::Green)]),
            Badge {
                text: "red L2".into(),
                colour: "#d84315"
            }
        );
        assert_eq!(b(&[finished(0, Verdict::Red)]).colour, "#c62828");
        assert_eq!(
            b(&[finished(3, Verdict::Interrupted)]).text,
            "interrupted L3"
        );
        let running = run(State::Running(Some(Progress {
            schema: 1,
            tier: "install".into(),
            since: String::new(),
        })));
        assert_eq!(
            b(&[running, finished(5, Verdict::Green)]),
            Badge {
                text: "running".into(),
                colour: BLUE
            }
        );
        // A run that stopped without results says nothing; the one before does.
        assert_eq!(
            b(&[run(State::Stopped), finished(4, Verdict::Red)]).text,
            "red L4"
        );
        assert_eq!(
            b(&[]),
            Badge {
                text: "none".into(),
                colour: GREY
            }
        );
    }

    #[test]
    fn svg_is_a_shields_style_badge() {
        let s = svg(&Badge {
            text: "red L2".into(),
            colour: "#d84315",
        });
        assert!(s.starts_with("<?xml version=\"1.0\""));
        assert!(s.contains(r#"aria-label="ccci: red L2""#), "{s}");
        assert!(s.contains(r##"fill="#d84315""##));
        assert_eq!(s.matches(">red L2</text>").count(), 2);
        assert_eq!(s.matches(">ccci</text>").count(), 2);
        // Every element is closed: the file is XML, not HTML.
        assert_eq!(s.matches("<rect").count(), s.matches("</rect>").count());
        let wide = svg(&Badge {
            text: "interrupted L3".into(),
            colour: GREY,
        });
        let width = |s: &str| -> usize {
            let w = s.split("width=\"").nth(1).unwrap();
            w[..w.find('"').unwrap()].parse().unwrap()
        };
        assert!(
            width(&wide) > width(&s) + 20,
            "{} vs {}",
            width(&wide),
            width(&s)
        );
    }
}
