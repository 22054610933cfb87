//! App env files as abra reads them. abra reads an app's env (and `.env.sample`)
//! with the godotenv parser, so ccci follows godotenv's rules, quirks included,
//! rather than a shell's (docs/abra-parity.md lists each rule):
//!
//! - `KEY=value`, `KEY: value` and `export KEY=value`; blank lines and `#` lines;
//! - unquoted values end at the line's end, less a trailing ` # comment`;
//! - `'single'` quotes keep their text as it is;
//! - `"double"` quotes may span lines and take `\n`, `\r`, `\"` and `\\`;
//! - unquoted and double-quoted values resolve `$KEY` and `${KEY}` to the value
//!   an earlier line of the same file gave KEY (nothing from the host's env).
//!
//! On top of godotenv, abra reads modifiers from a line's trailing comment
//! (`SECRET_X_VERSION=v1 # length=32`). Each entry keeps its value as written
//! too, so a file written back reads the same, and a reference such as
//! `${DOMAIN}` resolves in the env it ends up in (the app's), not in the sample
//! it was copied from.

use crate::exit;
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// The value as abra sees it: quotes removed, escapes and references resolved.
    pub value: String,
    /// `k=v` tokens of the trailing comment, e.g. `length` → `32`.
    pub modifiers: BTreeMap<String, String>,
    source: Source,
    /// The trailing comment after its `#`, as written.
    comment: Option<String>,
}

/// Where an entry's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// Read from a file: the value's text as written there, quotes included.
    Text(String),
    /// Set by ccci (`set`): taken literally, never resolved.
    Literal,
}

/// The statements of an env file in order. A key may occur more than once; the
/// last occurrence is its value, as in godotenv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    pub entries: Vec<Entry>,
}

/// Why a statement could not be read, and where it starts (a byte offset).
struct Bad {
    at: usize,
    why: &'static str,
}

/// godotenv's `isSpace`: blanks that are not line breaks.
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

fn skip_blanks(text: &str, at: usize) -> usize {
    at + text[at..].len() - text[at..].trim_start_matches(is_blank).len()
}

/// Where the next statement starts, past blank lines and `#` comment lines.
fn statement_start(text: &str, mut at: usize) -> Option<usize> {
    loop {
        let rest = &text[at..];
        let skipped = rest.len() - rest.trim_start().len();
        at += skipped;
        if at == text.len() {
            return None;
        }
        if !text[at..].starts_with('#') {
            return Some(at);
        }
        at += text[at..].find('\n')?;
    }
}

/// The key of the statement at `at` and where its value starts. godotenv ends a
/// key at `=` or `:` and allows letters, digits, `_`, `.` and blanks in it;
/// ccci takes ASCII letters and digits only (a name no shell or compose file
/// could use otherwise).
fn read_key(text: &str, at: usize) -> Result<(String, usize), Bad> {
    let mut start = at;
    if let Some(rest) = text[at..].strip_prefix("export")
        && rest.starts_with(is_blank)
    {
        start = skip_blanks(text, at + "export".len());
    }
    for (i, c) in text[start..].char_indices() {
        match c {
            '=' | ':' => {
                let key = text[start..start + i].trim_end();
                if key.is_empty() {
                    return Err(Bad {
                        at,
                        why: "no variable name before `=`",
                    });
                }
                return Ok((key.to_string(), skip_blanks(text, start + i + 1)));
            }
            '\n' => break,
            c if is_blank(c) || c == '_' || c == '.' || c.is_ascii_alphanumeric() => {}
            _ => {
                return Err(Bad {
                    at,
                    why: "invalid variable name",
                });
            }
        }
    }
    Err(Bad {
        at,
        why: "expected KEY=value",
    })
}

/// The value's text as written, starting at `at`, and where the statement goes
/// on: after the closing quote, or at the end of the line.
fn value_extent(text: &str, at: usize) -> Result<(&str, usize), Bad> {
    let rest = &text[at..];
    let bytes = rest.as_bytes();
    match bytes.first() {
        Some(&q @ (b'"' | b'\'')) => {
            // godotenv: the first quote not right after a backslash closes.
            let end = (1..bytes.len())
                .find(|&i| bytes[i] == q && bytes[i - 1] != b'\\')
                .ok_or(Bad {
                    at,
                    why: "unterminated quote",
                })?;
            Ok((&rest[..=end], at + end + 1))
        }
        _ => {
            let eol = rest.find(['\n', '\r']).unwrap_or(rest.len());
            let line = &rest[..eol];
            Ok((&line[..comment_start(line).unwrap_or(line.len())], at + eol))
        }
    }
}

/// Where an unquoted value's comment starts: godotenv (v1.5) takes the last `#`
/// that follows a blank.
fn comment_start(line: &str) -> Option<usize> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    (1..chars.len())
        .rev()
        .find(|&k| chars[k].1 == '#' && is_blank(chars[k - 1].1))
        .map(|k| chars[k].0)
}

/// The trailing comment of the line a quoted value ended on, if any.
fn comment_after(text: &str, at: usize) -> Option<String> {
    let rest = &text[skip_blanks(text, at)..];
    let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    line.strip_prefix('#').map(str::to_string)
}

/// The value abra sees for `source` (as written), given the values so far.
fn resolve(source: &str, vars: &HashMap<String, String>) -> String {
    match source.as_bytes().first() {
        Some(b'\'') => trim_quotes(source, '\'').to_string(),
        Some(b'"') => expand(&unescape(&escapes(trim_quotes(source, '"'))), vars),
        _ => expand(source.trim_matches(is_blank), vars),
    }
}

/// godotenv strips every quote character from both ends of the text up to the
/// closing quote, so `"a\""` reads as `a\` and not `a"`.
fn trim_quotes(source: &str, q: char) -> &str {
    source[..source.len() - 1].trim_matches(q)
}

/// godotenv's first pass over a double-quoted value: `\n` and `\r` become line
/// breaks; every other backslash pair is kept for the second pass.
fn escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match (c, it.peek().copied()) {
            ('\\', Some(n)) if n != '\n' => {
                it.next();
                match n {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    _ => out.extend([c, n]),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The second pass: a backslash before anything but `$` is dropped (`\"` is `"`,
/// `\\` is `\`); `\$` is left for [`expand`], which keeps the `$` literal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match (c, it.peek().copied()) {
            ('\\', Some(n)) if n != '$' => {
                it.next();
                out.push(n);
            }
            _ => out.push(c),
        }
    }
    out
}

/// godotenv's references: `$`, then an optional `(` and `{`, a name of capital
/// letters, digits and `_`, and an optional `}`. A name becomes its value so far
/// (empty if unset); `\$...` stays literal without its backslash; a `$` with no
/// such name stays as it is (so `$(cmd)` and `${lower}` are kept).
fn expand(s: &str, vars: &HashMap<String, String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let escaped = b[i] == b'\\' && b.get(i + 1) == Some(&b'$');
        if b[i] != b'$' && !escaped {
            i += 1;
            continue;
        }
        let dollar = if escaped { i + 1 } else { i };
        let (name, end) = reference(s, dollar);
        out.push_str(&s[copied..i]);
        if escaped {
            out.push_str(&s[dollar..end]);
        } else if name.is_empty() {
            out.push_str(&s[i..end]);
        } else {
            out.push_str(vars.get(name).map(String::as_str).unwrap_or(""));
        }
        i = end;
        copied = end;
    }
    out.push_str(&s[copied..]);
    out
}

/// The name of the reference whose `$` is at `dollar`, and where it ends.
fn reference(s: &str, dollar: usize) -> (&str, usize) {
    let b = s.as_bytes();
    let mut j = dollar + 1;
    for open in [b'(', b'{'] {
        if b.get(j) == Some(&open) {
            j += 1;
        }
    }
    let start = j;
    while b
        .get(j)
        .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
    {
        j += 1;
    }
    let name = &s[start..j];
    if b.get(j) == Some(&b'}') {
        j += 1;
    }
    (name, j)
}

fn parse_modifiers(comment: &str) -> BTreeMap<String, String> {
    comment
        .split_whitespace()
        .filter_map(|t| t.split_once('='))
        .filter(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        })
        .map(|(k, v)| (k.to_string(), v.trim_end_matches(',').to_string()))
        .collect()
}

/// Write `v` so that godotenv reads exactly `v` back, without resolving
/// anything in it. `comment` is what will follow it on the line.
fn quote_literal(v: &str, comment: Option<&str>) -> String {
    // godotenv ends an unquoted value at the line's last ` #`, so the comment
    // after it must have none of its own.
    let comment_safe = comment.is_none_or(|c| comment_start(c).is_none());
    let plain = |c: char| !c.is_whitespace() && !matches!(c, '\'' | '"' | '#' | '$' | '\\');
    if !v.is_empty() && v.chars().all(plain) && comment_safe {
        return v.to_string();
    }
    if !v.contains('\'') && !v.ends_with('\\') {
        return format!("'{v}'");
    }
    if !v.ends_with(['"', '\\']) {
        let mut out = String::from("\"");
        for c in v.chars() {
            match c {
                '\\' | '"' | '$' => out.extend(['\\', c]),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    // Contains `'` and ends with `"` or `\`: no godotenv quoting can hold
    // that, but an unquoted value can when it is one line without a comment.
    let unquoted = !v.contains(['\n', '\r'])
        && !v.starts_with(is_blank)
        && !v.ends_with(is_blank)
        && comment_start(v).is_none()
        && comment_safe;
    if unquoted {
        v.replace('$', "\\$")
    } else {
        format!("'{v}'")
    }
}

fn line_of(text: &str, at: usize) -> (usize, &str) {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    (text[..at].matches('\n').count() + 1, &text[start..end])
}

impl EnvFile {
    /// Parse text; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<EnvFile> {
        let text = text.replace("\r\n", "\n");
        Self::statements(&text).map_err(|b| {
            let (n, line) = line_of(&text, b.at);
            exit::usage(format!("{origin}:{n}: {}: {line:?}", b.why))
        })
    }

    fn statements(text: &str) -> Result<EnvFile, Bad> {
        let mut env = EnvFile::default();
        let mut vars = HashMap::new();
        let mut at = 0;
        while let Some(start) = statement_start(text, at) {
            let (key, value_at) = read_key(text, start)?;
            let (source, next) = value_extent(text, value_at)?;
            let comment = if source.starts_with(['"', '\'']) {
                comment_after(text, next)
            } else {
                // An unquoted value runs to the line's end, which is `next`.
                let line = &text[value_at..next];
                comment_start(line).map(|i| line[i + 1..].to_string())
            };
            let value = resolve(source, &vars);
            vars.insert(key.clone(), value.clone());
            env.entries.push(Entry {
                key,
                value,
                modifiers: comment.as_deref().map(parse_modifiers).unwrap_or_default(),
                source: Source::Text(source.trim_matches(is_blank).to_string()),
                comment,
            });
            at = next;
        }
        Ok(env)
    }

    pub fn read(path: &Path) -> Result<EnvFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| exit::usage(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// The entry that gives `key` its value: its last occurrence.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// Set a value, taken literally, keeping the entry's place and modifiers if
    /// it exists. Later values that refer to it follow.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().rev().find(|e| e.key == key) {
            Some(e) => {
                e.value = value.to_string();
                e.source = Source::Literal;
            }
            None => self.entries.push(Entry {
                key: key.to_string(),
                value: value.to_string(),
                modifiers: BTreeMap::new(),
                source: Source::Literal,
                comment: None,
            }),
        }
        self.resolve_all();
    }

    /// Add entries of `other` whose keys we lack (an upgrade's new settings),
    /// as written there: their references resolve against this env.
    pub fn add_missing(&mut self, other: &EnvFile) -> Vec<String> {
        let mut added = vec![];
        for (k, _) in other.vars() {
            if self.get(k).is_none()
                && let Some(e) = other.entry(k)
            {
                self.entries.push(e.clone());
                added.push(k.to_string());
            }
        }
        self.resolve_all();
        added
    }

    /// Recompute every value read from a file, in order, as godotenv would.
    fn resolve_all(&mut self) {
        let mut vars = HashMap::new();
        for e in &mut self.entries {
            if let Source::Text(s) = &e.source {
                e.value = resolve(s, &vars);
            }
            vars.insert(e.key.clone(), e.value.clone());
        }
    }

    /// Render back to text that [`EnvFile::parse`] reads to the same values:
    /// values as they were written, values set by ccci quoted to stay literal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let v = match &e.source {
                Source::Text(s) => s.clone(),
                Source::Literal => quote_literal(&e.value, e.comment.as_deref()),
            };
            out.push_str(&format!("{}={v}", e.key));
            if let Some(c) = &e.comment {
                out.push_str(&format!(" #{c}"));
            }
            out.push('\n');
        }
        out
    }

    /// Every key once, with its value (its last occurrence's).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, e)| !self.entries[i + 1..].iter().any(|l| l.key == e.key))
            .map(|(_, e)| (e.key.as_str(), e.value.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
TYPE=demo
DOMAIN=demo.example.com
## Domain aliases
#EXTRA_DOMAINS=', `www.demo.example.com`'
LETS_ENCRYPT_ENV=production
COMPOSE_FILE="compose.yml:compose.db.yml"
GREETING='hello # not a comment'
SMTP_FROM=noreply@${DOMAIN}
SECRET_DB_PASSWORD_VERSION=v1 # length=32 charset=default,special
SECRET_PLC_KEY_VERSION=v1 # generate=false
EMPTY=
"#;

    fn one(text: &str) -> String {
        let env = EnvFile::parse(text, "x").unwrap_or_else(|e| panic!("{text:?}: {e:#}"));
        env.entries.last().expect("an entry").value.clone()
    }

    #[test]
    fn parses_values_quotes_and_modifiers() {
        let env = EnvFile::parse(SAMPLE, ".env.sample").unwrap();
        assert_eq!(env.get("COMPOSE_FILE"), Some("compose.yml:compose.db.yml"));
        assert_eq!(env.get("GREETING"), Some("hello # not a comment"));
        assert_eq!(env.get("SMTP_FROM"), Some("noreply@demo.example.com"));
        assert_eq!(env.get("EXTRA_DOMAINS"), None);
        assert_eq!(env.get("EMPTY"), Some(""));
        let s = env.entry("SECRET_DB_PASSWORD_VERSION").unwrap();
        assert_eq!(s.value, "v1");
        assert_eq!(s.modifiers["length"], "32");
        assert_eq!(s.modifiers["charset"], "default,special");
        assert_eq!(
            env.entry("SECRET_PLC_KEY_VERSION").unwrap().modifiers["generate"],
            "false"
        );
    }

    /// The cases godotenv's own tests pin down, each with the value it reads.
    #[test]
    fn reads_values_as_godotenv_does() {
        for (text, want) in [
            ("FOO=bar", "bar"),
            ("FOO =bar", "bar"),
            ("FOO= bar", "bar"),
            ("FOO=bar ", "bar"),
            ("\tFOO=bar", "bar"),
            (r#"FOO="bar""#, "bar"),
            ("FOO='bar'", "bar"),
            (r#"FOO="escaped\"bar""#, "escaped\"bar"),
            (r#"FOO="'d'""#, "'d'"),
            ("OPTION_A: 1", "1"),
            ("OPTION_A: Foo=bar", "Foo=bar"),
            ("OPTION_A=1:B", "1:B"),
            ("export OPTION_A=2", "2"),
            ("export\tOPTION_A=2", "2"),
            (r"export OPTION_B='\n'", r"\n"),
            (r#"FOO="bar\nbaz""#, "bar\nbaz"),
            ("FOO=foobar=", "foobar="),
            ("KEY=value value", "value value"),
            ("FOO=bar # this is foo", "bar"),
            ("FOO=bar#baz", "bar#baz"),
            (r#"FOO="bar#baz" # comment"#, "bar#baz"),
            ("FOO='bar#baz' # comment", "bar#baz"),
            // v1.5 cuts an unquoted value at the line's last ` #`.
            ("FOO=a # b # c", "a # b"),
            // A comment right after `=` is the value: no blank precedes its `#`.
            ("FOO= # note", "# note"),
            (r#"FOO="bar\n\ b\az""#, "bar\n baz"),
            (r#"FOO="bar\\\n\ b\az""#, "bar\\\n baz"),
            (r#"FOO="bar\\r\ b\az""#, "bar\\r baz"),
            (r#"FOO="say \"hi\"""#, "say \"hi\\"),
            ("FOO=\"two\nlines\"", "two\nlines"),
            ("FOO='two\nlines'", "two\nlines"),
            ("1FOO=digits first", "digits first"),
            ("FOO.BAR=dotted", "dotted"),
            ("FOO=bar\r\n", "bar"),
        ] {
            assert_eq!(one(text), want, "{text:?}");
        }
    }

    #[test]
    fn resolves_earlier_keys_except_in_single_quotes() {
        let base = "DOMAIN=app.example\n";
        for (line, want) in [
            ("V=noreply@${DOMAIN}", "noreply@app.example"),
            ("V=noreply@$DOMAIN", "noreply@app.example"),
            ("V=\"at ${DOMAIN}\"", "at app.example"),
            ("V='at ${DOMAIN}'", "at ${DOMAIN}"),
            (r"V=\${DOMAIN}", "${DOMAIN}"),
            (r#"V="\$DOMAIN""#, "$DOMAIN"),
            ("V=${UNSET}x", "x"),
            ("V=${domain}", "${domain}"),
            ("V=$(cat /run/secrets/x)", "$(cat /run/secrets/x)"),
            ("V=${DOMAIN:-other}", "app.example:-other}"),
            ("V=$", "$"),
            ("V=${LATER}\nLATER=1", ""),
        ] {
            let env = EnvFile::parse(&format!("{base}{line}"), "x").unwrap();
            assert_eq!(env.get("V"), Some(want), "{line:?}");
        }
        // Only the file itself counts, never the host's environment.
        assert_eq!(one("V=$PATH"), "");
    }

    #[test]
    fn a_repeated_key_has_its_last_value_and_references_see_the_value_so_far() {
        let env = EnvFile::parse("A=1\nB=$A\nA=2\n", "x").unwrap();
        assert_eq!(env.get("A"), Some("2"));
        assert_eq!(env.get("B"), Some("1"));
        let vars: Vec<_> = env.vars().collect();
        assert_eq!(vars, [("B", "1"), ("A", "2")]);
        let again = EnvFile::parse(&env.render(), "y").unwrap();
        assert_eq!(env, again);
    }

    #[test]
    fn text_after_a_closing_quote_is_the_next_statement() {
        let env = EnvFile::parse("A=\"1\" B=2\n", "x").unwrap();
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("B"), Some("2"));
    }

    #[test]
    fn render_round_trips() {
        let env = EnvFile::parse(SAMPLE, "x").unwrap();
        let again = EnvFile::parse(&env.render(), "y").unwrap();
        assert_eq!(env, again);
    }

    #[test]
    fn set_values_stay_literal_and_references_follow_them() {
        let mut env = EnvFile::parse(SAMPLE, "x").unwrap();
        env.set("DOMAIN", "app-1.ci.example");
        assert_eq!(env.get("SMTP_FROM"), Some("noreply@app-1.ci.example"));
        let again = EnvFile::parse(&env.render(), "y").unwrap();
        assert_eq!(again.get("SMTP_FROM"), Some("noreply@app-1.ci.example"));
        assert_eq!(again.get("DOMAIN"), Some("app-1.ci.example"));
        assert_eq!(
            again.entry("SECRET_DB_PASSWORD_VERSION").unwrap().modifiers["length"],
            "32"
        );
        for v in [
            "",
            "plain",
            "two words",
            "it's",
            "say \"hi\"",
            "ends\"",
            "$HOME and ${DOMAIN}",
            r"\$X",
            r"back\slash",
            "ends\\",
            "x\ny",
            "it's \"quoted\"",
            "it's\\",
            "#x",
            " lead",
            "a # b",
        ] {
            let mut env = EnvFile::parse("DOMAIN=d\nK=old # length=8\n", "x").unwrap();
            env.set("K", v);
            let text = env.render();
            let again = EnvFile::parse(&text, "y").unwrap();
            assert_eq!(again.get("K"), Some(v), "{text:?}");
            assert_eq!(again.entry("K").unwrap().modifiers["length"], "8");
        }
    }

    #[test]
    fn added_settings_resolve_in_the_env_they_join() {
        let mut app = EnvFile::parse("DOMAIN=app.example\n", "app").unwrap();
        let sample = EnvFile::parse(SAMPLE, "sample").unwrap();
        let added = app.add_missing(&sample);
        assert!(added.contains(&"SMTP_FROM".to_string()));
        assert!(!added.contains(&"DOMAIN".to_string()));
        assert_eq!(app.get("SMTP_FROM"), Some("noreply@app.example"));
    }

    #[test]
    fn malformed_statements_name_file_and_real_line() {
        for (text, why) in [
            ("OK=1\nnot a line\n", "x:2: expected KEY=value"),
            ("BAD-KEY=2", "x:1: invalid variable name"),
            ("=2", "x:1: no variable name before `=`"),
            ("A=\"open", "x:1: unterminated quote"),
            ("A=\"two\nlines\"\n\nB='open\n", "x:4: unterminated quote"),
            ("A=\"two\nlines\"\nC", "x:3: expected KEY=value"),
        ] {
            let e = EnvFile::parse(text, "x").unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE);
            assert!(format!("{e:#}").starts_with(why), "{e:#}");
        }
    }
}
