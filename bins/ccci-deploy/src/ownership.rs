//! Whose is a docker object? ccci may create, rewrite or remove only what it made
//! for this run: an object carrying both `ccci.run=<run>` and
//! `ccci.instance=<instance>`. Anything else found in a stack's namespace (a
//! stack someone deployed by hand under the same name, a secret abra made, a
//! second ccci host's run) belongs to someone else: a deploy refuses to go near
//! it and a teardown leaves it, saying so.
//!
//! A stack's namespace is wider than docker's label: `docker stack deploy` labels
//! what it creates with `com.docker.stack.namespace`, but abra creates the
//! stack's secrets (`<stack>_<name>_<version>`) without it, so a name starting
//! with `<stack>_` counts too.

use crate::app::{App, LABEL_INSTANCE, LABEL_NAMESPACE, LABEL_RUN};
use crate::objects::{inspect_all, labels_of, list, name_of};
use anyhow::Result;
use ccci_core::docker::Docker;
use ccci_core::exit;
use serde::Serialize;
use serde_json::Value;

/// One docker object with the labels that say whose it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub kind: String,
    pub id: String,
    pub name: String,
    /// Its `ccci.run` label.
    pub run: Option<String>,
    /// Its `ccci.instance` label.
    pub instance: Option<String>,
}

impl Found {
    /// Made by ccci for this run on this instance: the run id alone is not
    /// enough, two ccci hosts sharing a swarm can use the same one.
    pub fn is_ours(&self, run_id: &str, instance: &str) -> bool {
        self.run.as_deref() == Some(run_id) && self.instance.as_deref() == Some(instance)
    }

    /// Who the labels say it belongs to, for a human.
    pub fn owner(&self) -> String {
        match (&self.run, &self.instance) {
            (None, None) => "no ccci labels".into(),
            (r, i) => format!(
                "{LABEL_RUN}={}, {LABEL_INSTANCE}={}",
                r.as_deref().unwrap_or("none"),
                i.as_deref().unwrap_or("none")
            ),
        }
    }

    /// An object as `docker inspect` or the Engine API describe it.
    fn of(kind: &str, v: &Value) -> Found {
        let labels = labels_of(kind, v);
        Found {
            kind: kind.into(),
            name: name_of(kind, v),
            id: v["ID"]
                .as_str()
                .or(v["Id"].as_str())
                .or(v["Name"].as_str())
                .unwrap_or_default()
                .to_string(),
            run: label(labels, LABEL_RUN),
            instance: label(labels, LABEL_INSTANCE),
        }
    }

    /// In the stack's namespace: docker's label says so, or a `<stack>_` name.
    fn in_stack(&self, kind: &str, v: &Value, stack: &str) -> bool {
        label(labels_of(kind, v), LABEL_NAMESPACE).as_deref() == Some(stack)
            || self.name.starts_with(&format!("{stack}_"))
    }

    pub fn foreign(&self) -> ForeignObject {
        ForeignObject {
            kind: self.kind.clone(),
            name: self.name.clone(),
            id: self.id.clone(),
            owner: self.owner(),
        }
    }
}

/// An object ccci found where it looked (a run's stack namespace) but did not
/// create for the run, and so leaves alone.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ForeignObject {
    pub kind: String,
    pub name: String,
    pub id: String,
    /// `ccci.run=…, ccci.instance=…` (`none` for a missing one), or `no ccci labels`.
    pub owner: String,
}

fn label(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

/// Objects of `kind`: those labelled with `ours` (run id and instance, wherever
/// they are) and, with a stack, every object in its namespace (by label or by a
/// `<stack>_` name), whoever made it.
///
/// Containers are only ever found by `ours`: a container in the namespace is a
/// task of one of the stack's services, removed with its service, and a foreign
/// service is reported itself.
pub fn scan(
    docker: &Docker,
    kind: &str,
    stack: Option<&str>,
    ours: Option<(&str, &str)>,
) -> Result<Vec<Found>> {
    let mut ids: Vec<String> = vec![];
    let mut add = |found: Vec<String>| {
        for id in found {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    };
    if let Some((run_id, instance)) = ours {
        // Docker ANDs label filters: both labels, so another host's run with the
        // same id is not even looked at.
        add(list(
            docker,
            kind,
            &[
                format!("label={LABEL_RUN}={run_id}"),
                format!("label={LABEL_INSTANCE}={instance}"),
            ],
        )?);
    }
    let stack = stack.filter(|_| kind != "container");
    if let Some(stack) = stack {
        add(list(
            docker,
            kind,
            &[format!("label={LABEL_NAMESPACE}={stack}")],
        )?);
        // `name=` matches a prefix or any part of the name depending on the kind;
        // the exact rule (starts with `<stack>_`) is applied below.
        add(list(docker, kind, &[format!("name={stack}_")])?);
    }
    let mut out = vec![];
    // An object that vanished between listing and inspecting is gone: nothing
    // to remove, nothing to report.
    for v in inspect_all(docker, kind, &ids) {
        let f = Found::of(kind, &v);
        let mine = ours.is_some_and(|(r, i)| f.is_ours(r, i));
        if mine || stack.is_some_and(|s| f.in_stack(kind, &v, s)) {
            out.push(f);
        }
    }
    Ok(out)
}

/// Kinds a stack namespace can hold besides the containers of its services.
pub const NAMESPACE_KINDS: [&str; 5] = ["service", "network", "secret", "config", "volume"];

/// Objects in the app's stack namespace that ccci did not create for this run.
pub fn foreign_in_stack(docker: &Docker, app: &App) -> Result<Vec<Found>> {
    if let Some(api) = docker.api() {
        return foreign_via_api(&api, app);
    }
    let mut out = vec![];
    for kind in NAMESPACE_KINDS {
        out.extend(
            scan(docker, kind, Some(&app.stack), None)?
                .into_iter()
                .filter(|f| !f.is_ours(&app.run_id, &app.instance)),
        );
    }
    Ok(out)
}

/// The same question through the Engine API on the local socket: five list
/// requests that carry every label, instead of fifteen `docker` processes. It is
/// asked before every deploy, where its time counts against the deploy.
fn foreign_via_api(api: &ccci_core::docker_api::Api, app: &App) -> Result<Vec<Found>> {
    let mut out = vec![];
    for kind in NAMESPACE_KINDS {
        let list = match kind {
            "volume" => api.get("/volumes")?["Volumes"].clone(),
            _ => api.get(&format!("/{kind}s"))?,
        };
        for v in list.as_array().into_iter().flatten() {
            let f = Found::of(kind, v);
            if f.in_stack(kind, v, &app.stack) && !f.is_ours(&app.run_id, &app.instance) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// How many foreign objects the refusal names before it summarises the rest:
/// it must stay one readable line even over a large foreign stack.
const NAMED: usize = 8;

/// The one line refusing to deploy over `foreign`.
pub fn refusal(stack: &str, foreign: &[Found]) -> String {
    let mut named: Vec<String> = foreign
        .iter()
        .take(NAMED)
        .map(|f| format!("{} {} ({})", f.kind, f.name, f.owner()))
        .collect();
    if foreign.len() > NAMED {
        named.push(format!("and {} more", foreign.len() - NAMED));
    }
    format!(
        "stack {stack} already holds objects ccci did not create for this run: {}; refusing to touch them",
        named.join(", ")
    )
}

/// Refuse (exit 1) when the app's stack namespace holds anything that is not
/// this run's: `docker stack deploy` would silently adopt it (rewrite a service
/// of the same name with our labels, mount a volume of the same name with
/// someone else's data), and everything adopted would later be torn down as ours.
pub fn refuse_foreign(docker: &Docker, app: &App) -> Result<()> {
    let foreign = foreign_in_stack(docker, app)?;
    if foreign.is_empty() {
        return Ok(());
    }
    Err(exit::no(refusal(&app.stack, &foreign)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(kind: &str, name: &str, run: Option<&str>, instance: Option<&str>) -> Found {
        Found {
            kind: kind.into(),
            id: format!("id-{name}"),
            name: name.into(),
            run: run.map(String::from),
            instance: instance.map(String::from),
        }
    }

    #[test]
    fn ours_needs_both_the_run_and_the_instance() {
        assert!(found("volume", "v", Some("r1"), Some("i1")).is_ours("r1", "i1"));
        assert!(!found("volume", "v", Some("r1"), Some("i2")).is_ours("r1", "i1"));
        assert!(!found("volume", "v", Some("r2"), Some("i1")).is_ours("r1", "i1"));
        assert!(!found("volume", "v", Some("r1"), None).is_ours("r1", "i1"));
        assert!(!found("volume", "v", None, None).is_ours("r1", "i1"));
    }

    #[test]
    fn refusal_is_one_line_naming_objects_and_owners() {
        let f = [
            found("service", "s_app", Some("other"), None),
            found("volume", "s_data", None, None),
        ];
        assert_eq!(
            refusal("s", &f),
            "stack s already holds objects ccci did not create for this run: \
             service s_app (ccci.run=other, ccci.instance=none), volume s_data (no ccci labels); \
             refusing to touch them"
        );
        let many: Vec<Found> = (0..12)
            .map(|i| found("secret", &format!("s_{i}"), None, None))
            .collect();
        let line = refusal("s", &many);
        assert!(!line.contains('\n'));
        assert!(
            line.contains("secret s_7 (no ccci labels), and 4 more;"),
            "{line}"
        );
    }
}
