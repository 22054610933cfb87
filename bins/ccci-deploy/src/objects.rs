//! The Docker objects a run can own, and how to list and inspect them by kind:
//! shared by `ownership` (whose is it?) and `teardown` (remove what is ours).

use anyhow::Result;
use ccci_core::docker::Docker;
use serde::Serialize;
use serde_json::Value;

/// Kinds in removal order: services first (they hold everything else), volumes last.
pub const KINDS: [&str; 6] = [
    "service",
    "container",
    "network",
    "secret",
    "config",
    "volume",
];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Object {
    pub kind: String,
    pub id: String,
    pub name: String,
}

pub(crate) fn list_cmd(kind: &str) -> Vec<&'static str> {
    match kind {
        "container" => vec!["ps", "-a", "-q", "--no-trunc"],
        "service" => vec!["service", "ls", "-q"],
        "network" => vec!["network", "ls", "-q", "--no-trunc"],
        "secret" => vec!["secret", "ls", "-q"],
        "config" => vec!["config", "ls", "-q"],
        "volume" => vec!["volume", "ls", "-q"],
        _ => unreachable!("unknown kind {kind}"),
    }
}

/// Ids of objects of `kind` carrying `label` (`key=value`).
pub fn ids(docker: &Docker, kind: &str, label: &str) -> Result<Vec<String>> {
    list(docker, kind, &[format!("label={label}")])
}

/// Ids (volume names) of objects of `kind` matching every filter.
pub(crate) fn list(docker: &Docker, kind: &str, filters: &[String]) -> Result<Vec<String>> {
    let mut args = list_cmd(kind);
    for f in filters {
        args.push("--filter");
        args.push(f);
    }
    docker.lines(&args)
}

pub(crate) fn name_of(kind: &str, v: &Value) -> String {
    let n = match kind {
        "service" | "secret" | "config" => &v["Spec"]["Name"],
        _ => &v["Name"],
    };
    n.as_str().unwrap_or("").trim_start_matches('/').to_string()
}

pub(crate) fn labels_of<'a>(kind: &str, v: &'a Value) -> &'a Value {
    match kind {
        "service" | "secret" | "config" => &v["Spec"]["Labels"],
        "container" => &v["Config"]["Labels"],
        _ => &v["Labels"],
    }
}

fn inspect_kind(kind: &str) -> &'static str {
    match kind {
        "container" => "container",
        "service" => "service",
        "network" => "network",
        "secret" => "secret",
        "config" => "config",
        _ => "volume",
    }
}

/// Inspect objects; when the batch fails (one vanished meanwhile, which is normal
/// while runs tear down) inspect them one by one, so no object's labels are lost.
pub(crate) fn inspect_all(docker: &Docker, kind: &str, ids: &[String]) -> Vec<Value> {
    match docker.inspect(inspect_kind(kind), ids) {
        Ok(v) => v,
        Err(_) => ids
            .iter()
            .filter_map(|id| {
                docker
                    .inspect(inspect_kind(kind), std::slice::from_ref(id))
                    .ok()
            })
            .flatten()
            .collect(),
    }
}
