//! Teardown and the reaper. Everything ccci creates carries `ccci.run=<run-id>`
//! and `ccci.instance=<instance>`; teardown removes exactly those objects, then
//! asks Docker again: anything of ours still there is a leftover and a failure,
//! never ignored. Objects in the run's stack namespace without both labels are
//! someone else's (see `ownership`): never removed, reported as left.

use crate::app::{LABEL_INSTANCE, LABEL_RUN};
use crate::objects::{KINDS, Object, ids, inspect_all, labels_of};
use crate::ownership::{self, ForeignObject};
use anyhow::Result;
use ccci_core::docker::Docker;
use serde::Serialize;
use std::time::{Duration, Instant};

/// A run's objects: ours (labelled with the run and the instance, in its stack
/// namespace or not), and the foreign ones found in its namespace, which are
/// only ever reported. (A canonical app is a run like any other: its retained
/// volumes and secrets are kept by `keep`, and the reaper skips it whole.)
pub fn objects(
    docker: &Docker,
    run_id: &str,
    instance: &str,
    stack: Option<&str>,
) -> Result<(Vec<Object>, Vec<ForeignObject>)> {
    let mut ours = vec![];
    let mut foreign = vec![];
    for kind in KINDS {
        for f in ownership::scan(docker, kind, stack, Some((run_id, instance)))? {
            if f.is_ours(run_id, instance) {
                ours.push(Object {
                    kind: f.kind,
                    id: f.id,
                    name: f.name,
                });
            } else {
                foreign.push(f.foreign());
            }
        }
    }
    Ok((ours, foreign))
}

fn remove(docker: &Docker, kind: &str, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let mut args: Vec<&str> = match kind {
        "container" => vec!["rm", "-f", "-v"],
        "service" => vec!["service", "rm"],
        "network" => vec!["network", "rm"],
        "secret" => vec!["secret", "rm"],
        "config" => vec!["config", "rm"],
        _ => vec!["volume", "rm", "-f"],
    };
    args.extend(ids.iter().map(String::as_str));
    // Partial failures (already gone, still in use) are retried by the caller and
    // judged by the final verification, not here.
    let _ = docker.run(&args);
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub removed: usize,
    pub leftovers: Vec<Object>,
    /// Objects deliberately kept (retained volumes and secrets).
    pub kept: Vec<Object>,
    /// Objects in the run's stack namespace that are not this run's: left alone.
    pub foreign: Vec<ForeignObject>,
    pub elapsed_ms: u128,
}

/// What a retained run keeps: its data and the secrets that data was made with.
pub const RETAINED_KINDS: [&str; 2] = ["volume", "secret"];

/// Remove everything of a run except objects of the `keep` kinds, and verify.
/// Retries for up to `patience` while docker finishes stopping containers that
/// hold networks and volumes.
pub fn teardown(
    docker: &Docker,
    run_id: &str,
    instance: &str,
    stack: Option<&str>,
    patience: Duration,
    keep: &[&str],
) -> Result<Report> {
    let start = Instant::now();
    let split = |all: Vec<Object>| -> (Vec<Object>, Vec<Object>) {
        all.into_iter()
            .partition(|o| !keep.contains(&o.kind.as_str()))
    };
    let (initial, _) = split(objects(docker, run_id, instance, stack)?.0);
    let removed = initial.len();
    let mut current = initial;
    let mut kept;
    let mut foreign;
    loop {
        for kind in KINDS.iter().filter(|k| !keep.contains(k)) {
            let kind = *kind;
            let ids: Vec<String> = current
                .iter()
                .filter(|o| o.kind == kind)
                .map(|o| o.id.clone())
                .collect();
            // Containers of a removed service are killed rather than given their
            // stop grace period: nothing of a torn-down run is worth waiting for.
            remove(docker, kind, &ids);
            if kind == "service" && !ids.is_empty() {
                let c = objects_of(docker, "container", run_id, instance)?;
                remove(docker, "container", &c);
            }
        }
        let (ours, f) = objects(docker, run_id, instance, stack)?;
        (current, kept) = split(ours);
        foreign = f;
        if current.is_empty() || start.elapsed() >= patience {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(Report {
        removed,
        leftovers: current,
        kept,
        foreign,
        elapsed_ms: start.elapsed().as_millis(),
    })
}

/// Ids of objects of `kind` labelled with both the run and the instance.
fn objects_of(docker: &Docker, kind: &str, run_id: &str, instance: &str) -> Result<Vec<String>> {
    Ok(
        ownership::scan(docker, kind, None, Some((run_id, instance)))?
            .into_iter()
            .map(|f| f.id)
            .collect(),
    )
}

/// Run ids found on docker objects of this ccci instance.
pub fn runs_on_engine(
    docker: &Docker,
    instance: &str,
) -> Result<std::collections::BTreeSet<String>> {
    let mut runs = std::collections::BTreeSet::new();
    for kind in KINDS {
        let ids_ = ids(docker, kind, &format!("{LABEL_INSTANCE}={instance}"))?;
        for v in inspect_all(docker, kind, &ids_) {
            if let Some(run) = labels_of(kind, &v)[LABEL_RUN].as_str() {
                runs.insert(run.to_string());
            }
        }
    }
    Ok(runs)
}
