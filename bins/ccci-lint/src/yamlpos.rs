//! Line numbers for findings. The YAML parser gives values without positions,
//! so this indexes a compose file's text by indentation: each line gets the key
//! path it sits under (`services` / `app` / `deploy` / `labels`). It understands
//! block-style YAML as recipes write it (maps, `- ` lists, `|`/`>` scalars);
//! on anything else a lookup simply finds nothing and the finding has no line.

#[derive(Debug, Default)]
pub struct Index {
    /// (1-based line, key path, the line's text)
    lines: Vec<(usize, Vec<String>, String)>,
}

/// `key:` at the start of `content` (plain or quoted), followed by a space or
/// the end of the line; returns the key and the rest after the colon.
fn key_of(content: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q @ ('"' | '\'')) = content.chars().next() {
        let end = content[1..].find(q)? + 1;
        let rest = content[end + 1..].strip_prefix(':')?;
        (content[1..end].to_string(), rest)
    } else {
        let i = content.find(':')?;
        let key = &content[..i];
        if key.is_empty() || key.contains(' ') || key.starts_with(['[', '{', '#', '-']) {
            return None;
        }
        (key.to_string(), &content[i + 1..])
    };
    if rest.is_empty() || rest.starts_with([' ', '\t']) {
        Some((key, rest))
    } else {
        None
    }
}

fn is_block_scalar(rest: &str) -> bool {
    let v = rest.split(" #").next().unwrap_or("").trim();
    v.starts_with('|') || v.starts_with('>')
}

impl Index {
    pub fn new(text: &str) -> Index {
        let mut out = vec![];
        let mut stack: Vec<(usize, String)> = vec![];
        // Inside a block scalar: lines indented deeper than this are its text.
        let mut scalar: Option<usize> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let content = raw.trim_start();
            let indent = raw.len() - content.len();
            if let Some(at) = scalar {
                if content.is_empty() || indent > at {
                    out.push((
                        line,
                        stack.iter().map(|s| s.1.clone()).collect(),
                        raw.into(),
                    ));
                    continue;
                }
                scalar = None;
            }
            if content.is_empty() || content.starts_with('#') || content == "---" {
                continue;
            }
            let (indent, content, item) = match content.strip_prefix("- ") {
                Some(rest) => (indent + 2, rest.trim_start(), true),
                None if content == "-" => (indent + 2, "", true),
                None => (indent, content, false),
            };
            match key_of(content) {
                Some((key, rest)) => {
                    while stack.last().is_some_and(|(i, _)| *i >= indent) {
                        stack.pop();
                    }
                    stack.push((indent, key));
                    if is_block_scalar(rest) {
                        scalar = Some(indent);
                    }
                }
                None => {
                    // A list item (or continuation) belongs to the key above it,
                    // even at the same indentation (`labels:\n- a=b`).
                    let depth = if item { indent - 2 } else { indent };
                    while stack.last().is_some_and(|(i, _)| *i > depth) {
                        stack.pop();
                    }
                }
            }
            out.push((
                line,
                stack.iter().map(|s| s.1.clone()).collect(),
                raw.into(),
            ));
        }
        Index { lines: out }
    }

    /// The line of the key at `path` (`["services", "app", "image"]`).
    pub fn key(&self, path: &[&str]) -> Option<usize> {
        self.lines
            .iter()
            .find(|(_, p, _)| p.len() == path.len() && p.iter().zip(path).all(|(a, b)| a == b))
            .map(|(n, _, _)| *n)
    }

    /// The first line at or under `path` whose text contains `needle`.
    pub fn within(&self, path: &[&str], needle: &str) -> Option<usize> {
        self.lines
            .iter()
            .find(|(_, p, t)| {
                p.len() >= path.len()
                    && p.iter().zip(path).all(|(a, b)| a == b)
                    && t.contains(needle)
            })
            .map(|(n, _, _)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"---
version: "3.8"

services:
  app:
    image: nginx:1.22
    command: |
      services:
        not: a key
    deploy:
      labels:
        - "traefik.enable=true"
        - "backupbot.backup=true"
  db:
    image: postgres:15
    deploy:
      labels:
      - a=b
      resources: {}
    "healthcheck":
      test: ["CMD", "true"]
configs:
  app_sh:
    name: x
"#;

    #[test]
    fn finds_keys_and_lines_under_them() {
        let ix = Index::new(TEXT);
        assert_eq!(ix.key(&["version"]), Some(2));
        assert_eq!(ix.key(&["services", "app", "image"]), Some(6));
        assert_eq!(ix.key(&["services", "db", "image"]), Some(15));
        assert_eq!(ix.key(&["services", "not"]), None);
        assert_eq!(
            ix.within(&["services", "app", "deploy", "labels"], "backupbot.backup"),
            Some(13)
        );
        assert_eq!(
            ix.within(&["services", "db", "deploy", "labels"], "a=b"),
            Some(18)
        );
        assert_eq!(ix.key(&["services", "db", "deploy", "resources"]), Some(19));
        assert_eq!(ix.key(&["services", "db", "healthcheck"]), Some(20));
        assert_eq!(ix.key(&["configs", "app_sh", "name"]), Some(24));
        assert_eq!(ix.within(&["services", "app"], "not: a key"), Some(9));
    }
}
