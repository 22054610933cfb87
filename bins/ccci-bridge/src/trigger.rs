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
    let mut fence: Option<&str> = None;
    for line in body.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let text = line.trim_start_matches(' ');
        if indent <= 3 {
            for marker in ["```", "~~~"] {
                if text.starts_with(marker) {
                    fence = match fence {
                        None => Some(marker),
                        Some(m) if m == marker => None,
                        open => open,
                    };
                }
            }
        }
        if fence.is_some() || indent > 3 || text.starts_with('\t') {
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
