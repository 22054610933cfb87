//! The trigger grammar: which comment bodies ask for a run (docs/bridge.md,
//! "Trigger grammar").
//!
//! A line triggers when, after at most three spaces of indentation (more is a
//! Markdown code block), it starts with `!testme` in any letter case, followed
//! by the end of the line or white space. The words after it choose the run:
//! `quick` asks for a warm run; any other word is ignored (and reported), so a
//! typo never silently starts nothing. Quoted lines (`> !testme`, a reply),
//! lines in fenced code blocks and the word inside a sentence do not trigger.
//! The first triggering line decides.

/// What a triggering comment asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// `!testme quick`: start warm from the canonical app's data.
    pub quick: bool,
    /// Words after `!testme` that mean nothing to ccci.
    pub ignored: Vec<String>,
}

pub const WORD: &str = "!testme";

/// Does `body` ask for a run, and how?
pub fn parse(body: &str) -> Option<Ask> {
    // The open code fence (its character and length) or HTML comment: what
    // Markdown shows as code, or not at all, never triggers.
    let mut fence: Option<(char, usize)> = None;
    let mut comment = false;
    for line in body.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let text = line.trim_start_matches(' ');
        if comment {
            comment = !line.contains("-->");
            continue;
        }
        if let Some((c, n)) = fence {
            let run = text.chars().take_while(|x| *x == c).count();
            if indent <= 3 && run >= n && text[run * c.len_utf8()..].trim().is_empty() {
                fence = None;
            }
            continue;
        }
        if indent > 3 || text.starts_with('\t') {
            continue;
        }
        if let Some(f) = opening_fence(text) {
            fence = Some(f);
            continue;
        }
        if let Some(rest) = text.strip_prefix("<!--") {
            comment = !rest.contains("-->");
            continue;
        }
        let Some(head) = text.get(..WORD.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(WORD) {
            continue;
        }
        let rest = &text[WORD.len()..];
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            continue;
        }
        let mut ask = Ask {
            quick: false,
            ignored: vec![],
        };
        for w in rest.split_whitespace() {
            if w.eq_ignore_ascii_case("quick") {
                ask.quick = true;
            } else {
                ask.ignored.push(w.to_string());
            }
        }
        return Some(ask);
    }
    None
}

/// A line opening a fenced code block (CommonMark): three or more backticks
/// or tildes; a backtick fence's info string holds no backtick.
fn opening_fence(text: &str) -> Option<(char, usize)> {
    let c = text.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = text.chars().take_while(|x| *x == c).count();
    let info = &text[n..];
    (n >= 3 && !(c == '`' && info.contains('`'))).then_some((c, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yes(b: &str) -> Ask {
        parse(b).unwrap_or_else(|| panic!("{b:?} should trigger"))
    }

    #[test]
    fn triggers() {
        assert!(!yes("!testme").quick);
        assert!(!yes("!testme\n").quick);
        assert!(!yes("!TestMe").quick);
        assert!(yes("!testme quick").quick);
        assert!(yes("!testme   QUICK please").quick);
        assert_eq!(yes("!testme please").ignored, ["please"]);
        assert!(!yes("Thanks!\n\n!testme").quick);
        assert!(!yes("   !testme").quick);
        assert!(!yes("!testme\r\n").quick);
        assert!(!yes("!testme\tquick").ignored.iter().any(|w| w == "quick"));
    }

    #[test]
    fn does_not_trigger() {
        for b in [
            "",
            "> !testme",
            ">!testme",
            "> > !testme",
            "please !testme",
            "`!testme`",
            "!testmeplease",
            "!testme-quick",
            "    !testme",
            "\t!testme",
            "```\n!testme\n```",
            "~~~sh\n!testme\n~~~",
            "- !testme",
            "testme",
            "!test me",
        ] {
            assert_eq!(parse(b), None, "{b:?} must not trigger");
        }
    }

    #[test]
    fn fences_and_comments_follow_markdown() {
        // A longer fence is closed only by one at least as long.
        assert_eq!(parse("````\n```\n!testme\n````"), None);
        // A line with an info string does not close a fence.
        assert_eq!(parse("```\n```sh\n!testme\n```"), None);
        // Hidden in an HTML comment.
        assert_eq!(parse("<!--\n!testme\n-->"), None);
        assert!(parse("<!-- note -->\n!testme").is_some());
        assert!(parse("<!--\nhidden\n-->\n!testme").is_some());
        // Backticks inline are no fence.
        assert!(parse("``` inline ` tick\n!testme").is_some());
    }

    #[test]
    fn after_a_closed_fence_triggers_again() {
        assert!(parse("```\ncode\n```\n!testme").is_some());
        // An unclosed fence runs to the end of the comment, as in Markdown.
        assert!(parse("```\n!testme").is_none());
    }

    #[test]
    fn first_triggering_line_decides() {
        assert!(!yes("!testme\n!testme quick").quick);
    }

    #[test]
    fn non_ascii_does_not_panic() {
        assert_eq!(parse("ü!testme"), None);
        assert_eq!(parse("!testmé"), None);
        assert_eq!(parse("!tes"), None);
    }
}
