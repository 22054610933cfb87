//! Compose files: merged and interpolated by Docker's own loader
//! (`docker stack config`, the same code path as `docker stack deploy` and abra),
//! then read as data so ccci can see services, secrets, volumes and labels.
//!
//! YAML is read with `serde_norway`, the maintained fork of serde_yaml (which is
//! archived); a YAML parser is not something to write by hand.

use crate::docker::Docker;
use crate::envfile::EnvFile;
use crate::exit;
use anyhow::{Context, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The compose files an app deploys, from `COMPOSE_FILE` (colon-separated).
pub fn files(recipe_dir: &Path, env: &EnvFile) -> Result<Vec<PathBuf>> {
    let list = env.get("COMPOSE_FILE").unwrap_or("compose.yml");
    let mut out = vec![];
    for name in list.split(':').map(str::trim).filter(|s| !s.is_empty()) {
        let p = recipe_dir.join(name);
        if !p.is_file() {
            return Err(exit::usage(format!(
                "compose file {name} (from COMPOSE_FILE) does not exist in {}",
                recipe_dir.display()
            )));
        }
        out.push(p);
    }
    if out.is_empty() {
        return Err(exit::usage("COMPOSE_FILE names no compose file"));
    }
    Ok(out)
}

/// Variables from `abra.sh` as abra reads them (config versions), which abra
/// merges into the env at deploy time. abra reads no shell: it takes lines that
/// start with `export NAME=` followed by a letter, digit or `_`, and the rest of
/// the line is the value. ccci reads the same lines, and only at the file's top
/// level: a line inside a function body or a heredoc is the shell's business
/// (`export PGPASSWORD=$(cat ...)` in a `backup()` hook), never a variable.
pub fn abra_sh_exports(recipe_dir: &Path) -> Result<EnvFile> {
    let p = recipe_dir.join("abra.sh");
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(EnvFile::default()),
        Err(e) => return Err(exit::usage(format!("cannot read {}: {e}", p.display()))),
    };
    // A stray Latin-1 byte in a comment is no reason to refuse the file.
    let text = String::from_utf8_lossy(&bytes);
    abra_sh_vars(&text, &p.display().to_string())
}

/// The exports of abra.sh `text`; `origin` names the file in messages.
fn abra_sh_vars(text: &str, origin: &str) -> Result<EnvFile> {
    let mut env = EnvFile::default();
    let mut shell = ShellScan::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !shell.next_line_is_top_level(line) {
            continue;
        }
        let Some((name, value)) = abra_sh_export(line) else {
            continue;
        };
        let at = format!("{origin}:{}", n + 1);
        let Some(value) = value else {
            crate::log::warn(&format!(
                "{at}: abra does not read `export {name}=` unless its value starts with a letter, digit or _; ccci does not either"
            ));
            continue;
        };
        if value.contains('=') {
            return Err(exit::usage(format!(
                "{at}: abra cannot read this export (more than one `=`): {line:?}"
            )));
        }
        if value.contains(char::is_whitespace) {
            return Err(exit::usage(format!(
                "{at}: abra takes all of {value:?} as the value of {name}, spaces and comment included, which no config name can hold; put only the value on the line"
            )));
        }
        env.set(name, value);
    }
    Ok(env)
}

/// `export NAME=VALUE` at the start of a line, as abra matches it
/// (`^export\s+\w+=\w`). `Some((name, None))` is an export abra skips because
/// its value does not start with a word character (`"v1"`, `$(...)`, nothing).
fn abra_sh_export(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix("export")?;
    let rest = rest
        .strip_prefix([' ', '\t'])?
        .trim_start_matches([' ', '\t']);
    let (name, value) = rest.split_once('=')?;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if name.is_empty() || !name.chars().all(word) {
        return None;
    }
    Some((name, value.starts_with(word).then_some(value)))
}

/// Just enough of a shell's view of abra.sh to tell the top level from function
/// bodies (`name() {`, `function name {`, `{ ...; }` groups) and heredocs:
/// quotes, comments, `${...}` and heredoc delimiters are followed so a brace
/// inside them does not count. A `}` with nothing open is ignored.
#[derive(Default)]
struct ShellScan {
    depth: u32,
    /// Open `${` expansions, whose `}` closes no group.
    params: u32,
    quote: Option<char>,
    /// Delimiters of heredocs opened on the current line, then being read.
    heredocs: std::collections::VecDeque<(String, bool)>,
    in_heredoc: Option<(String, bool)>,
}

impl ShellScan {
    /// Whether `line` starts at the top level, then follow it.
    fn next_line_is_top_level(&mut self, line: &str) -> bool {
        if let Some((delim, tabs)) = &self.in_heredoc {
            let end = if *tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if end == delim {
                self.in_heredoc = self.heredocs.pop_front();
            }
            return false;
        }
        let top = self.depth == 0 && self.quote.is_none() && self.params == 0;
        self.follow(line);
        if self.in_heredoc.is_none() {
            self.in_heredoc = self.heredocs.pop_front();
        }
        top
    }

    fn follow(&mut self, line: &str) {
        let chars: Vec<char> = line.chars().collect();
        // The last non-blank character before each position, found in one pass.
        let mut last = None;
        let prevs: Vec<Option<char>> = chars
            .iter()
            .map(|&c| {
                let p = last;
                if !c.is_whitespace() {
                    last = Some(c);
                }
                p
            })
            .collect();
        let function_line = line.trim_start().starts_with("function ");
        // `((...))` is arithmetic, where `<<` shifts.
        let mut arith = 0u32;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if let Some(q) = self.quote {
                match c {
                    '\\' if q == '"' => i += 1,
                    c if c == q => self.quote = None,
                    _ => {}
                }
                i += 1;
                continue;
            }
            let prev = prevs[i];
            let word_start =
                i == 0 || chars[i - 1].is_whitespace() || ";&|()".contains(chars[i - 1]);
            let word_end = next.is_none_or(|n| n.is_whitespace() || ";&|)".contains(n));
            match c {
                '\\' => i += 1,
                '\'' | '"' => self.quote = Some(c),
                '#' if word_start => return,
                '$' if next == Some('{') => {
                    self.params += 1;
                    i += 1;
                }
                '}' if self.params > 0 => self.params -= 1,
                '{' if word_start
                    && word_end
                    && (function_line || prev.is_none_or(|p| ")&|;{".contains(p))) =>
                {
                    self.depth += 1
                }
                '}' if word_start && word_end && prev.is_none_or(|p| "&;{".contains(p)) => {
                    self.depth = self.depth.saturating_sub(1)
                }
                '(' if next == Some('(') => {
                    arith += 1;
                    i += 1;
                }
                ')' if next == Some(')') && arith > 0 => {
                    arith -= 1;
                    i += 1;
                }
                // `<<<` is a here-string, no heredoc.
                '<' if next == Some('<') && chars.get(i + 2) == Some(&'<') => i += 2,
                '<' if next == Some('<') && arith == 0 => {
                    i = self.heredoc(&chars, i + 2);
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// Note the heredoc whose `<<` ends before `at`; returns where its word ends.
    fn heredoc(&mut self, chars: &[char], mut at: usize) -> usize {
        let tabs = chars.get(at) == Some(&'-');
        if tabs {
            at += 1;
        }
        while chars.get(at).is_some_and(|c| *c == ' ' || *c == '\t') {
            at += 1;
        }
        let mut word = String::new();
        while let Some(&c) = chars.get(at) {
            if c.is_whitespace() || ";&|<>()".contains(c) {
                break;
            }
            if !matches!(c, '\'' | '"' | '\\') {
                word.push(c);
            }
            at += 1;
        }
        if !word.is_empty() {
            self.heredocs.push_back((word, tabs));
        }
        at
    }
}

/// The variables a compose file is interpolated with, as abra merges them: the
/// app env, then the `abra.sh` exports, which win over the env on a conflict
/// (abra's deploy sets each of them into the app env), then `STACK_NAME`.
/// Lint (with the sample env) and deploy (with the app env) use this one rule.
pub fn interpolation_vars(
    recipe_dir: &Path,
    env: &EnvFile,
    stack: &str,
) -> Result<Vec<(String, String)>> {
    let exports = abra_sh_exports(recipe_dir)?;
    let mut vars: Vec<(String, String)> = env
        .vars()
        .filter(|(k, _)| exports.get(k).is_none())
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    vars.extend(exports.vars().map(|(k, v)| (k.into(), v.into())));
    vars.push(("STACK_NAME".into(), stack.into()));
    Ok(vars)
}

/// Merge and interpolate `files` with exactly the variables in `vars` (the host's
/// environment must not leak into an app's config).
pub fn render(
    docker: &Docker,
    recipe_dir: &Path,
    files: &[PathBuf],
    vars: &[(String, String)],
) -> Result<Value> {
    let mut cmd = docker.command();
    cmd.current_dir(recipe_dir).env_clear();
    for keep in [
        "PATH",
        "HOME",
        "DOCKER_HOST",
        "DOCKER_CONFIG",
        "DOCKER_CERT_PATH",
        "DOCKER_TLS_VERIFY",
    ] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd.envs(vars.iter().map(|(k, v)| (k, v)));
    cmd.args(["stack", "config"]);
    for f in files {
        cmd.arg("-c").arg(f);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .context("cannot run docker stack config")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("unknown shorthand flag: 'c'") || stderr.contains("unknown command") {
            return Err(exit::usage(
                "this docker CLI has no `docker stack config` (Docker 23 or newer is needed)",
            ));
        }
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        return Err(exit::usage(format!(
            "Docker rejects the compose files {}: {}",
            names.join(", "),
            stderr.trim().replace('\n', " ")
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_norway::from_str::<Value>(&text).context("docker stack config printed invalid YAML")
}

/// Write a rendered config so `docker stack deploy -c` reads it back unchanged:
/// `$` is escaped because the loader interpolates again.
pub fn write_rendered(config: &Value, path: &Path) -> Result<()> {
    let escaped = escape_dollars(config);
    let yaml = serde_norway::to_string(&escaped).context("cannot serialise compose config")?;
    crate::state::write_atomic(path, yaml.as_bytes(), 0o600)
}

fn escape_dollars(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Array(a) => Value::Array(a.iter().map(escape_dollars).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), escape_dollars(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Typed views into a rendered config.
pub fn section<'a>(config: &'a Value, name: &str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    config
        .get(name)
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.iter())
}

pub fn is_external(def: &Value) -> bool {
    def.get("external")
        .is_some_and(|e| e.as_bool() == Some(true) || e.is_object())
}

/// Get (creating) an object-valued key.
pub fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let m = v.as_object_mut().expect("object");
    let e = m
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !e.is_object() {
        *e = Value::Object(Map::new());
    }
    e.as_object_mut().expect("object")
}

/// Labels in compose may be a map or a `k=v` list; normalise to a map.
pub fn labels_mut(holder: &mut Value) -> &mut Map<String, Value> {
    if let Some(Value::Array(list)) = holder.get("labels") {
        let map: Map<String, Value> = list
            .iter()
            .filter_map(Value::as_str)
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
                None => (kv.to_string(), Value::String(String::new())),
            })
            .collect();
        holder
            .as_object_mut()
            .expect("object")
            .insert("labels".into(), Value::Object(map));
    }
    obj_mut(holder, "labels")
}

/// A service's deploy labels as strings.
pub fn deploy_labels(service: &Value) -> Map<String, Value> {
    let labels = service.get("deploy").and_then(|d| d.get("labels"));
    match labels {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABRA_SH: &str = r#"#!/usr/bin/env bash
# Versions of the swarm configs; bump one whenever its file changes.
export APP_SH_VERSION=v2
export DB_SH_VERSION=v1

export ENTRYPOINT_VERSION=v3

backup() {
  export PGPASSWORD="$(cat /run/secrets/db_password)"
  pg_dump -U app > /backup/dump.sql
}

function restore {
export RESTORED_AT=now
  if [ -f /x ]; then { echo "}"; }; fi
}

notes() {
  cat <<-EOF
	export INSIDE_HEREDOC=v9
	EOF
  echo "${HOME}/{a,b}" '}' # }
}
export AFTER_FUNCTIONS_VERSION=v1
  export INDENTED_VERSION=v1
export QUOTED_VERSION="v1"
"#;

    fn exports(text: &str) -> Result<Vec<(String, String)>> {
        let env = abra_sh_vars(text, "abra.sh")?;
        Ok(env.vars().map(|(k, v)| (k.into(), v.into())).collect())
    }

    #[test]
    fn abra_sh_gives_top_level_exports_only() {
        let got = exports(ABRA_SH).unwrap();
        let want = [
            ("APP_SH_VERSION", "v2"),
            ("DB_SH_VERSION", "v1"),
            ("ENTRYPOINT_VERSION", "v3"),
            ("AFTER_FUNCTIONS_VERSION", "v1"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn abra_sh_shapes_abra_skips_are_skipped() {
        for text in [
            "export PGPASSWORD=$(cat /run/secrets/db_password)\n",
            "export FOO=\"quoted\"\n",
            "export FOO=\n",
            "export -f backup\n",
            "export FOO\n",
            "exported=1\n",
            "  export X_VERSION=v1\n",
            "x() { export X_VERSION=v1; }\n",
            "echo $((1<<2))\n",
            "echo $((x << y))\n",
            "read -r a <<< \"$b\"\n",
            "cat <<<EOF\n",
        ] {
            assert_eq!(exports(text).unwrap(), vec![], "{text:?}");
        }
        // A shift or a here-string is no heredoc: what follows is still read.
        for first in ["echo $((x << y))", "read -r a <<< EOF"] {
            let got = exports(&format!("{first}\nexport A_VERSION=v1\n")).unwrap();
            assert_eq!(
                got,
                vec![("A_VERSION".to_string(), "v1".to_string())],
                "{first}"
            );
        }
    }

    #[test]
    fn abra_sh_errors_name_the_real_line() {
        for (text, want) in [
            (
                "# one\nf() {\n  export X=\"a\" b\n}\nexport A=b=c\n",
                "abra.sh:5: abra cannot read this export",
            ),
            (
                "\n\nexport A_VERSION=v1 # bumped\n",
                "abra.sh:3: abra takes all of \"v1 # bumped\" as the value of A_VERSION",
            ),
        ] {
            let e = exports(text).unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE);
            assert!(format!("{e:#}").starts_with(want), "{e:#}");
        }
    }

    #[test]
    fn abra_sh_wins_over_the_env() {
        let dir = std::env::temp_dir().join(format!("ccci-abra-sh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("abra.sh"), "export APP_SH_VERSION=v2\n").unwrap();
        let env = EnvFile::parse("APP_SH_VERSION=v1\nDOMAIN=d.example\n", "x").unwrap();
        let vars = interpolation_vars(&dir, &env, "d_example").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let get = |k: &str| {
            let v: Vec<&str> = vars
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .collect();
            v
        };
        assert_eq!(get("APP_SH_VERSION"), ["v2"]);
        assert_eq!(get("DOMAIN"), ["d.example"]);
        assert_eq!(get("STACK_NAME"), ["d_example"]);
    }

    #[test]
    fn escapes_only_strings() {
        let v = serde_json::json!({"a": "x$y", "b": [1, "$$"], "c": {"d": true}});
        assert_eq!(
            escape_dollars(&v),
            serde_json::json!({"a": "x$$y", "b": [1, "$$$$"], "c": {"d": true}})
        );
    }

    #[test]
    fn labels_list_becomes_map() {
        let mut s = serde_json::json!({"labels": ["a=1", "b"]});
        let m = labels_mut(&mut s);
        m.insert("c".into(), "3".into());
        assert_eq!(
            s,
            serde_json::json!({"labels": {"a": "1", "b": "", "c": "3"}})
        );
    }
}
