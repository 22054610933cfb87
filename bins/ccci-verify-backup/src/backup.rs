//! `backup`: the backup-bot pre-hooks, the restic snapshot of the covered
//! paths, the post-hooks, and a check of what the snapshot holds.

use crate::stack_of;
use crate::state::{BackupState, restic_of};
use crate::{labels, restic};
use anyhow::{Context, Result};
use ccci_core::cli::Ctx;
use ccci_core::exit;
use ccci_core::rundir::RunDir;
use labels::ServicePlan;
use restic::Summary;
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;

pub(crate) fn backup(ctx: &Ctx, run: &RunDir, st: &mut BackupState) -> Result<()> {
    crate::on_app_node(ctx, run)?;
    let stack = stack_of(run)?;
    // Post-hooks undo what pre-hooks did (dumps, maintenance mode): they run for
    // every service whose pre-hook ran, whatever happens in between.
    let mut hooked: Vec<&ServicePlan> = vec![];
    let snapshot = (|| -> Result<(Summary, Vec<PathBuf>)> {
        for s in st.plan.iter().filter(|s| s.enabled) {
            hooked.push(s);
            if let Some(h) = &s.pre_hook {
                exec_hook(ctx, &stack, &s.service, "backup pre-hook", h)?;
            }
        }
        snapshot_paths(st, run)
    })();
    let mut post_error = None;
    for s in hooked {
        if let Some(h) = &s.post_hook
            && let Err(e) = exec_hook(ctx, &stack, &s.service, "backup post-hook", h)
        {
            post_error.get_or_insert(e);
        }
    }
    let (summary, paths) = snapshot?;
    if let Some(e) = post_error {
        return Err(e);
    }
    // The artifact exists and holds every covered path (a volume missing from the
    // snapshot restores nothing, silently).
    let listed = restic_of(st).ls(&summary.snapshot_id)?;
    for p in &paths {
        let p = p.display().to_string();
        if !listed.iter().any(|l| l == &p) {
            return Err(exit::no(format!(
                "snapshot {} lacks {p}",
                summary.snapshot_id
            )));
        }
    }
    st.contents = paths.iter().map(|p| p.display().to_string()).collect();
    st.restored = false;
    run.ledger(
        "backup",
        json!({"summary": summary, "contents": st.contents}),
    )?;
    if !ctx.json {
        println!(
            "snapshot {}: {} files, {} bytes ({} added) in {:.2} s",
            summary.snapshot_id, summary.files, summary.bytes, summary.added_bytes, summary.seconds
        );
    }
    st.snapshot = Some(summary);
    Ok(())
}

/// Run a backup-bot hook inside the service's container, as backup-bot does.
/// Returns what it printed (stdout then stderr), redacted.
pub(crate) fn exec_hook(
    ctx: &Ctx,
    stack: &str,
    service: &str,
    what: &str,
    hook: &str,
) -> Result<String> {
    let c = ctx.docker.running_container(stack, service).map_err(|e| {
        if exit::code_of(&e) == exit::NO {
            exit::no(format!(
                "service {service} has no running container to run its {what} in"
            ))
        } else {
            e
        }
    })?;
    let out = ctx
        .docker
        .command()
        .args(["exec", &c, "/bin/sh", "-c", hook])
        .stdin(Stdio::null())
        .output()
        .context("cannot run docker exec")?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        // Only Docker's own words: a hook's output may well say "connection refused".
        if ccci_core::docker::engine_unreachable(&text) {
            return Err(exit::tempfail(format!(
                "Docker is unreachable: {}",
                text.trim()
            )));
        }
        return Err(exit::no(format!(
            "service {service}: {what} `{hook}` failed ({}): {}",
            out.status,
            ccci_core::redact::global()
                .apply(text.trim())
                .replace('\n', " ")
        )));
    }
    Ok(ccci_core::redact::global().apply(text.trim()))
}

/// Collect the covered host paths (each must exist after the pre-hooks) and
/// snapshot them.
fn snapshot_paths(st: &BackupState, run: &RunDir) -> Result<(Summary, Vec<PathBuf>)> {
    let mut paths = vec![];
    for s in st.plan.iter().filter(|s| s.enabled) {
        for v in s.volumes.iter().filter(|v| v.covered) {
            let mp = st.mountpoints.get(&v.docker_name).ok_or_else(|| {
                exit::usage(format!(
                    "backup state has no mountpoint for volume {}; run seed again",
                    v.docker_name
                ))
            })?;
            let rels: Vec<&str> = if v.paths.is_empty() {
                vec![""]
            } else {
                v.paths.iter().map(String::as_str).collect()
            };
            for rel in rels {
                let p = restic::host_path(mp, rel);
                if !p.exists() {
                    return Err(exit::no(format!(
                        "service {} volume {}: backup path {rel} does not exist after the pre-hook",
                        s.service, v.volume
                    )));
                }
                paths.push(p);
            }
        }
    }
    let summary = restic_of(st).backup(&paths, &format!("ccci-run={}", run.id))?;
    Ok((summary, paths))
}
