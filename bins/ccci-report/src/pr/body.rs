//! What a pull request is told: the comment (Markdown) and the commit status,
//! at the start of a run and at its end. Everything taken from a run (test
//! summaries, log lines) has passed through the run's masker before it gets
//! here, and is escaped for Markdown here.

use crate::pr::target::Target;
use ccci_core::queue::Entry;
use ccci_core::results::{Outcome, Results, Status, Verdict};

/// The one status context ccci sets (docs/report.md).
pub const CONTEXT: &str = "ccci/lifecycle";
/// Gitea keeps any length, but its UI shows the description inline, and
/// GitHub-style mirrors cut at 140.
pub const DESCRIPTION_MAX: usize = 140;
/// Lines of a failing test's log shown in the comment.
pub const TAIL_LINES: usize = 25;

/// The hidden first line that marks a comment as this run's, so a comment
/// created by a delivery that crashed before recording it is found again.
pub fn marker(run_id: &str) -> String {
    format!("<!-- ccci:run={run_id} -->")
}

/// A commit status: state and description.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusLine {
    pub state: &'static str,
    pub description: String,
}

fn link(url: Option<&str>) -> String {
    match url {
        Some(u) => format!("[the run's page]({u})"),
        None => "the run's page (no public_url is configured on the CI host)".into(),
    }
}

pub fn start(run_id: &str, t: &Target, url: Option<&str>) -> (String, StatusLine) {
    let body = format!(
        "{}\n**ccci** is testing recipe {} at `{}` (run `{run_id}`): {}.\n\n\
         This comment is edited with the verdict when the run ends.\n",
        marker(run_id),
        code(&t.recipe),
        short(&t.sha),
        link(url)
    );
    (
        body,
        StatusLine {
            state: "pending",
            description: format!("run {run_id} is running"),
        },
    )
}

/// The verdict of a finished run. `tails` are the masked last lines of each
/// failing test: (tier, test id, text).
pub fn finish(
    r: &Results,
    t: &Target,
    url: Option<&str>,
    tails: &[(String, String, String)],
) -> (String, StatusLine) {
    let word = match r.verdict {
        Verdict::Green => "green",
        Verdict::Red => "red",
        Verdict::Error => "error (ccci or the CI host failed, not the recipe)",
        Verdict::Interrupted => "interrupted",
        Verdict::Partial => "partial (some tiers only; never green)",
    };
    let mut s = format!(
        "{}\n**ccci**: recipe {} at `{}` is **{word}**, level **L{}** (run `{}`, {}).\n\n",
        marker(&r.run_id),
        code(&t.recipe),
        short(&r.head_sha),
        r.level,
        r.run_id,
        secs(r.duration_s)
    );
    match &r.previous {
        Some(p) => s.push_str(&format!("Upgraded from {}.\n\n", code(p))),
        None => s.push_str("No previous release to upgrade from.\n\n"),
    }
    if !r.overlays.is_empty() {
        let used: Vec<String> = r
            .overlays
            .iter()
            .map(|o| format!("{} ({})", code(&o.file), o.phase))
            .collect();
        s.push_str(&format!(
            "Tested with CI compose overlays: {}.\n\n",
            used.join(", ")
        ));
    }
    if !r.left_out.is_empty() {
        s.push_str(&format!(
            "A partial run: it left out {}.\n\n",
            r.left_out.join(", ")
        ));
    }
    s.push_str("| tier | status | time | summary |\n|---|---|---|---|\n");
    for tier in &r.tiers {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            tier.name,
            status_word(tier.status),
            secs(tier.duration_s),
            cell(&tier.summary)
        ));
    }
    let reds: Vec<&ccci_core::results::Tier> = r.tiers.iter().filter(|t| t.red.is_some()).collect();
    if !reds.is_empty() {
        s.push_str("\n| red tier | class | evidence | signature |\n|---|---|---|---|\n");
        for t in reds {
            let red = t.red.as_ref().expect("filtered");
            s.push_str(&format!(
                "| {} | **{}** | {} | `{}` {} |\n",
                t.name,
                red.class,
                cell(&red.evidence.join("; ")),
                red.signature.id,
                cell(&format!("{}: {}", red.signature.step, red.signature.error))
            ));
        }
    }
    if !r.reruns.is_empty() {
        let runs: Vec<String> = r
            .reruns
            .iter()
            .map(|x| format!("`{}` {} L{}", x.run_id, x.verdict, x.level))
            .collect();
        s.push_str(&format!("\nRun again alone: {}.\n", runs.join(", ")));
    }
    s.push_str(&format!(
        "\nTeardown: {} ({}).\n",
        r.teardown.status,
        cell(&r.teardown.summary)
    ));
    for (tier, test, text) in tails {
        let fence = fence_for(text);
        s.push_str(&format!(
            "\n<details><summary>{} · {}: last lines</summary>\n\n{fence}text\n{}\n{fence}\n\n</details>\n",
            html(tier),
            html(test),
            text.trim_end()
        ));
    }
    s.push_str(&format!("\nDetails, logs and junit.xml: {}.\n", link(url)));
    let state = match r.verdict {
        Verdict::Green => "success",
        Verdict::Red => "failure",
        Verdict::Error | Verdict::Interrupted => "error",
        // Gitea's own word for "neither success nor failure".
        Verdict::Partial => "warning",
    };
    let first_red = r
        .tiers
        .iter()
        // The first failed tier, else the first skipped one that the run
        // did not leave out on purpose (--tiers).
        .find(|t| t.status == Status::Fail)
        .or_else(|| {
            r.tiers
                .iter()
                .find(|t| t.status == Status::Skip && !r.left_out.contains(&t.name))
        })
        .map(|t| format!(", {} {}", t.name, status_word(t.status)))
        .unwrap_or_default();
    let description = match r.verdict {
        Verdict::Green => format!("L{} green in {}", r.level, secs(r.duration_s)),
        Verdict::Red => format!("L{} red{first_red}", r.level),
        Verdict::Error => format!("L{} error: the CI host or ccci failed{first_red}", r.level),
        Verdict::Interrupted => format!("L{} interrupted", r.level),
        Verdict::Partial => format!("partial: left out {}", r.left_out.join(", ")),
    };
    (
        s,
        StatusLine {
            state,
            description: clip(&description),
        },
    )
}

/// A run that ended without results (killed, lost at start): the queue's
/// exit code is all there is.
pub fn lost(e: &Entry, url: Option<&str>) -> (String, StatusLine) {
    let exit_code = e
        .exit_code
        .map(|c| c.to_string())
        .unwrap_or_else(|| "unknown".into());
    let body = format!(
        "{}\n**ccci**: the run `{}` of recipe {} at `{}` ended without a verdict (exit {exit_code}): \
         the CI host or ccci failed, not the recipe. Comment `!testme` again to retry. {}.\n",
        marker(&e.run_id),
        e.run_id,
        code(&e.recipe),
        short(&e.head_sha),
        link(url)
    );
    (
        body,
        StatusLine {
            state: "error",
            description: clip(&format!("no verdict: the run ended with exit {exit_code}")),
        },
    )
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "**fail**",
        Status::Skip => "skip",
        Status::Na => "n/a",
    }
}

/// A failing test: one whose outcome is not a pass or a skip.
pub fn failed(o: Outcome) -> bool {
    matches!(o, Outcome::Fail | Outcome::Error | Outcome::Timeout)
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

fn secs(s: f64) -> String {
    if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1}s")
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() <= DESCRIPTION_MAX {
        return s.to_string();
    }
    let mut out: String = s.chars().take(DESCRIPTION_MAX - 1).collect();
    out.push('…');
    out
}

/// Text in Markdown prose: no HTML, no emphasis, no links of its own.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\~"),
            // A word joiner after `@`: a test that prints `@alice` must not
            // notify alice.
            '@' => out.push_str("@\u{2060}"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text inside HTML (the `<summary>` of a collapsed block), where Markdown
/// escapes are not read.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('@', "@\u{2060}")
}

/// An inline code span that holds `s` whatever backticks it has.
fn code(s: &str) -> String {
    let one = s.replace(['\n', '\r'], " ");
    let fence = "`".repeat(longest_backtick_run(&one) + 1);
    let pad = if one.starts_with('`') || one.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{one}{pad}{fence}")
}

fn longest_backtick_run(text: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// Text in a table cell: one line, escaped.
fn cell(s: &str) -> String {
    let one = md(s);
    let one = one.trim();
    if one.is_empty() {
        "-".into()
    } else {
        one.to_string()
    }
}

/// A code fence longer than any run of backticks in `text`, so a log cannot
/// close the block early and inject Markdown.
fn fence_for(text: &str) -> String {
    "`".repeat((longest_backtick_run(text) + 1).max(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_fences() {
        assert_eq!(md("<b>x</b>"), "&lt;b&gt;x&lt;/b&gt;");
        assert_eq!(md("a|b\nc"), "a\\|b c");
        assert_eq!(md("!testme"), "\\!testme");
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
        assert_eq!(code("1.0`x"), "``1.0`x``");
        assert_eq!(code("`a"), "`` `a ``");
        assert!(md("ping @alice").contains("@\u{2060}alice"));
        assert_eq!(html("<b>@x"), "&lt;b&gt;@\u{2060}x");
    }

    #[test]
    fn descriptions_are_clipped() {
        let long = "x".repeat(500);
        assert_eq!(clip(&long).chars().count(), DESCRIPTION_MAX);
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn no_line_of_a_comment_can_trigger_a_run() {
        // The bridge ignores the bot's own comments, but a comment must not
        // even look like a trigger to a person reading it.
        let (b, _) = start(
            "r1",
            &Target {
                repo: "o/r".parse().unwrap(),
                pr: Some(1),
                sha: "a".repeat(40),
                recipe: "!testme".into(),
            },
            None,
        );
        assert!(
            !b.lines()
                .any(|l| l.trim_start().to_ascii_lowercase().starts_with("!testme"))
        );
    }
}
