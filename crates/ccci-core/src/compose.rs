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

/// Variables from `abra.sh` `export X=Y` lines (config versions), which abra merges
/// into the env at deploy time.
pub fn abra_sh_exports(recipe_dir: &Path) -> Result<EnvFile> {
    let p = recipe_dir.join("abra.sh");
    let Ok(text) = std::fs::read_to_string(&p) else {
        return Ok(EnvFile::default());
    };
    let exports: String = text
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("export "))
        .filter(|l| l.contains('='))
        .map(|l| format!("{l}\n"))
        .collect();
    EnvFile::parse(&exports, &p.display().to_string())
}

/// The variables a compose file is interpolated with, as abra merges them: the
/// app env, then `abra.sh` exports the env does not set, then `STACK_NAME`.
/// Lint (with the sample env) and deploy (with the app env) use this one rule.
pub fn interpolation_vars(
    recipe_dir: &Path,
    env: &EnvFile,
    stack: &str,
) -> Result<Vec<(String, String)>> {
    let mut vars: Vec<(String, String)> = env.vars().map(|(k, v)| (k.into(), v.into())).collect();
    for (k, v) in abra_sh_exports(recipe_dir)?.vars() {
        if env.get(k).is_none() {
            vars.push((k.into(), v.into()));
        }
    }
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
