//! A warm start: a new app on a copy of the canonical app's data.
//!
//! A quick run must not touch the canonical data itself (it tests code nobody
//! has promoted), so its app gets copies: the canonical app's env, its secret
//! values under the new stack's names, and each retained volume copied into a
//! volume of the new stack, all under the canonical lock so an advance cannot
//! change the data mid-copy.

use crate::app::{App, LABEL_NAMESPACE};
use anyhow::{Context, Result};
use ccci_core::docker::Docker;
use ccci_core::envfile::EnvFile;
use ccci_core::rundir::RunDir;
use ccci_core::{canonical, exit};
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// What the canonical app's data was made with.
pub struct Source {
    pub canonical: canonical::Canonical,
    pub env: EnvFile,
    run: RunDir,
    stack: String,
}

/// The canonical app of `recipe`, ready to copy from.
pub fn source(state_dir: &Path, recipe: &str) -> Result<Source> {
    let c = canonical::read(state_dir, recipe)?.ok_or_else(|| {
        exit::usage(format!(
            "recipe {recipe} has no canonical release to start warm from; run it cold"
        ))
    })?;
    let run = RunDir::open(state_dir, c.app_run())?;
    let app = App::load(&run)?;
    let env = EnvFile::read(&run.env_path())?;
    Ok(Source {
        canonical: c,
        env,
        run,
        stack: app.stack,
    })
}

/// Copy the canonical secrets and volumes to the new app (before its first
/// deploy). Returns the new volume names.
pub fn copy(
    docker: &Docker,
    state_dir: &Path,
    src: &Source,
    app: &App,
    run: &RunDir,
) -> Result<Vec<String>> {
    let _guard = canonical::lock(state_dir, &src.canonical.recipe)?;
    let rename = |name: &str| -> Option<String> {
        name.strip_prefix(&format!("{}_", src.stack))
            .map(|rest| format!("{}_{rest}", app.stack))
    };
    // The same secret values under the new stack's names: the data was made
    // with them (a database password baked into its files).
    let mut store = run.secrets()?;
    for (name, value) in src.run.secrets()? {
        if let Some(new) = rename(&name) {
            store.insert(new, value);
        }
    }
    run.save_secrets(&store)?;
    let mut created = vec![];
    for vol in &src.canonical.retained_volumes {
        let Some(new) = rename(vol) else {
            return Err(exit::usage(format!(
                "retained volume {vol} is not of the canonical stack {}",
                src.stack
            )));
        };
        let mut args: Vec<String> = vec!["volume".into(), "create".into()];
        for (k, v) in app
            .labels()
            .into_iter()
            .chain([(LABEL_NAMESPACE.to_string(), app.stack.clone())])
        {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.push(new.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker.run(&args)?;
        created.push(new.clone());
        let (from, to) = (
            docker.volume_mountpoint(vol)?,
            docker.volume_mountpoint(&new)?,
        );
        // Ownership, modes and times as the app left them.
        let out = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", from.display()))
            .arg(&to)
            .output()
            .context("cannot run cp")?;
        if !out.status.success() {
            return Err(exit::tempfail(format!(
                "cannot copy volume {vol} to {new}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        run.ledger("volume-copy", json!({"from": vol, "to": new}))?;
    }
    Ok(created)
}
