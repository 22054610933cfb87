//! The frame every page shares, and the small pieces pages have in common.
//! Every value goes through maud, which escapes it: no text of a run can
//! become markup.

use maud::{DOCTYPE, Markup, Render, html};

/// Nothing is fetched but the stylesheet and badges beside the pages: no
/// scripts at all, no fonts, nothing from anywhere else. A browser that
/// blocks something says so on its console, which the browser test reads.
const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'";

/// The shared stylesheet, written to `www/style.css`.
pub const STYLE: &str = include_str!("style.css");

pub struct Frame<'a> {
    pub title: &'a str,
    /// From the page to the www root: `""` or `"../../"`.
    pub root: &'a str,
    /// Where the page sits, after the index: text and, for a parent, its link.
    pub trail: Vec<(String, Option<String>)>,
    /// Reload every 10 s, for a run in progress (plain HTML, no script).
    pub refresh: bool,
}

pub fn page(f: &Frame, body: Markup, footer: Option<Markup>) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                @if f.refresh {
                    meta http-equiv="refresh" content="10";
                }
                title { (f.title) " · ccci" }
                link rel="stylesheet" href={ (f.root) "style.css" };
                link rel="icon" href={ (f.root) "favicon.svg" } type="image/svg+xml";
            }
            body {
                header {
                    nav {
                        a href={ (f.root) "index.html" } { "ccci" }
                        @for (text, link) in &f.trail {
                            span.sep { " / " }
                            @match link {
                                Some(l) => a href=(l) { (text) },
                                None => span { (text) },
                            }
                        }
                    }
                }
                main { (body) }
                @if let Some(footer) = footer {
                    footer { (footer) }
                }
            }
        }
    }
    .into_string()
}

/// The page icon: a small green rung, drawn here rather than fetched.
pub const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1a7f37"/><path d="M4 4v8M12 4v8M4 8h8" stroke="#fff" stroke-width="2"/></svg>
"##;

/// A coloured word: a verdict, a status, an outcome.
pub fn chip(class: &str, text: impl Render) -> Markup {
    html! { span class={ "chip " (class) } { (text) } }
}

/// `2026-11-22T23:00:05Z` as `2026-11-22 23:00:05 UTC`; anything else as it is.
pub fn when(ts: &str) -> String {
    match ts.strip_suffix('Z').and_then(|t| t.split_once('T')) {
        Some((date, time)) => format!("{date} {time} UTC"),
        None => ts.to_string(),
    }
}

/// Seconds as a person reads them: `0.4 s`, `42 s`, `3 min 05 s`, `1 h 02 min`.
pub fn secs(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "?".into();
    }
    if s < 10.0 {
        return format!("{s:.1} s");
    }
    let n = s.round() as u64;
    match n {
        0..120 => format!("{n} s"),
        120..7200 => format!("{} min {:02} s", n / 60, n % 60),
        _ => format!("{} h {:02} min", n / 3600, n % 3600 / 60),
    }
}

/// The first 10 hex digits of a commit, enough to find it.
pub fn short_sha(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

/// A relative path as a link: every byte but unreserved ones and `/`
/// percent-encoded, so a log named `a b#1.log` still links to itself.
pub fn href(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_escapes_and_fetches_nothing_foreign() {
        let f = Frame {
            title: "<script>alert(1)</script>",
            root: "../../",
            trail: vec![("a&b\"".into(), Some("x.html".into()))],
            refresh: true,
        };
        let p = page(&f, html! { p { "<b>x</b>" } }, None);
        assert!(!p.contains("<script>") && !p.contains("<b>"), "{p}");
        assert!(p.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{p}");
        assert!(p.contains("a&amp;b&quot;"), "{p}");
        assert!(p.contains(r#"<meta http-equiv="refresh" content="10">"#));
        assert!(p.contains(r#"href="../../style.css""#));
        assert!(!p.contains("http://") && !p.contains("https://"), "{p}");
        let still = page(
            &Frame {
                refresh: false,
                ..f
            },
            html! {},
            None,
        );
        assert!(!still.contains("refresh"));
    }

    #[test]
    fn words_for_times_and_paths() {
        assert_eq!(when("2026-11-22T23:00:05Z"), "2026-11-22 23:00:05 UTC");
        assert_eq!(when("soon"), "soon");
        assert_eq!(secs(0.42), "0.4 s");
        assert_eq!(secs(42.4), "42 s");
        assert_eq!(secs(185.0), "3 min 05 s");
        assert_eq!(secs(7320.0), "2 h 02 min");
        assert_eq!(short_sha("0123456789abcdef"), "0123456789");
        assert_eq!(
            href("logs/custom/a b#1.log.txt"),
            "logs/custom/a%20b%231.log.txt"
        );
    }
}
