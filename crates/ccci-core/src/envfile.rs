//! App env files in abra's dotenv dialect: `KEY=value` lines, optional quotes, `#`
//! comments, and per-line modifiers in a trailing comment (`SECRET_X_VERSION=v1 #
//! length=32`). Order is kept so written files read like the recipe's sample.

use crate::exit;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// `k=v` tokens of the trailing comment, e.g. `length` → `32`.
    pub modifiers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    pub entries: Vec<Entry>,
}

fn valid_key(k: &str) -> bool {
    let mut b = k.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn parse_modifiers(comment: &str) -> BTreeMap<String, String> {
    comment
        .split_whitespace()
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_end_matches(',').to_string()))
        .collect()
}

impl EnvFile {
    /// Parse text; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<EnvFile> {
        let mut entries: Vec<Entry> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let bad = |why: &str| exit::usage(format!("{origin}:{}: {why}: {raw:?}", n + 1));
            let Some((key, rest)) = line.split_once('=') else {
                return Err(bad("expected KEY=value"));
            };
            let key = key.trim();
            if !valid_key(key) {
                return Err(bad("invalid variable name"));
            }
            let rest = rest.trim_start();
            let (value, comment) = if let Some(q @ ('"' | '\'')) = rest.chars().next() {
                let body = &rest[1..];
                let Some(end) = body.find(q) else {
                    return Err(bad("unterminated quote"));
                };
                let after = body[end + 1..].trim();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(bad("text after closing quote"));
                }
                (
                    body[..end].to_string(),
                    after.trim_start_matches('#').to_string(),
                )
            } else {
                match rest.find(" #").or_else(|| rest.find("\t#")) {
                    Some(i) => (rest[..i].trim().to_string(), rest[i + 2..].to_string()),
                    None if rest.starts_with('#') => (String::new(), rest[1..].to_string()),
                    None => (rest.trim().to_string(), String::new()),
                }
            };
            let entry = Entry {
                key: key.to_string(),
                value,
                modifiers: parse_modifiers(&comment),
            };
            match entries.iter_mut().find(|e| e.key == entry.key) {
                Some(e) => *e = entry,
                None => entries.push(entry),
            }
        }
        Ok(EnvFile { entries })
    }

    pub fn read(path: &Path) -> Result<EnvFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| exit::usage(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Set a value, keeping the entry's place and modifiers if it exists.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(e) => e.value = value.to_string(),
            None => self.entries.push(Entry {
                key: key.to_string(),
                value: value.to_string(),
                modifiers: BTreeMap::new(),
            }),
        }
    }

    /// Add entries of `other` whose keys we lack (an upgrade's new settings).
    pub fn add_missing(&mut self, other: &EnvFile) -> Vec<String> {
        let mut added = vec![];
        for e in &other.entries {
            if self.get(&e.key).is_none() {
                self.entries.push(e.clone());
                added.push(e.key.clone());
            }
        }
        added
    }

    /// Render back to text that [`EnvFile::parse`] reads identically.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let needs_quotes = e.value.is_empty()
                || e.value
                    .contains(|c: char| c.is_whitespace() || c == '#' || c == '\'');
            let v = if e.value.contains('"') {
                format!("'{}'", e.value)
            } else if needs_quotes {
                format!("\"{}\"", e.value)
            } else {
                e.value.clone()
            };
            out.push_str(&format!("{}={}", e.key, v));
            if !e.modifiers.is_empty() {
                let m: Vec<String> = e
                    .modifiers
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                out.push_str(&format!(" # {}", m.join(" ")));
            }
            out.push('\n');
        }
        out
    }

    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
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
SECRET_DB_PASSWORD_VERSION=v1 # length=32 charset=default,special
SECRET_PLC_KEY_VERSION=v1 # generate=false
EMPTY=
"#;

    #[test]
    fn parses_values_quotes_and_modifiers() {
        let env = EnvFile::parse(SAMPLE, ".env.sample").unwrap();
        assert_eq!(env.get("COMPOSE_FILE"), Some("compose.yml:compose.db.yml"));
        assert_eq!(env.get("GREETING"), Some("hello # not a comment"));
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

    #[test]
    fn render_round_trips() {
        let env = EnvFile::parse(SAMPLE, "x").unwrap();
        let again = EnvFile::parse(&env.render(), "y").unwrap();
        assert_eq!(env, again);
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        for (text, why) in [
            ("OK=1\nnot a line\n", "x:2: expected KEY=value"),
            ("1BAD=2", "x:1: invalid variable name"),
            ("A=\"open", "x:1: unterminated quote"),
        ] {
            let e = EnvFile::parse(text, "x").unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE);
            assert!(format!("{e:#}").starts_with(why), "{e:#}");
        }
    }
}
