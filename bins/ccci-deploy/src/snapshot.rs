//! One look at a stack's swarm state: its services and all their tasks. Read by
//! the convergence watch (`converge`) and by the health probe (`health`), which
//! finds the container to probe in it.

use anyhow::Result;
use ccci_core::docker::Docker;
use serde_json::Value;

pub struct Snapshot {
    pub services: Vec<Value>,
    pub tasks: Vec<Value>,
}

pub fn snapshot(docker: &Docker, stack: &str) -> Result<Snapshot> {
    snapshot_of(docker, &docker.stack_service_ids(stack)?)
}

/// Services and all their tasks (three docker calls).
pub fn snapshot_of(docker: &Docker, ids: &[String]) -> Result<Snapshot> {
    // A service removed meanwhile fails the batch; report it as gone.
    let services = docker.inspect("service", ids).unwrap_or_default();
    let mut tasks = vec![];
    if !ids.is_empty() {
        let mut args = vec!["service", "ps", "-q", "--no-trunc"];
        args.extend(ids.iter().map(String::as_str));
        // A service removed between the two calls makes `service ps` fail; the next
        // tick sees the truth.
        if let Ok(tids) = docker.lines(&args) {
            let mut targs: Vec<&str> = vec!["inspect", "--type", "task"];
            targs.extend(tids.iter().map(String::as_str));
            if !tids.is_empty()
                && let Ok(Value::Array(t)) = docker.json(&targs)
            {
                tasks = t;
            }
        }
    }
    Ok(Snapshot { services, tasks })
}
