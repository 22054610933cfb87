//! `disturb` and `restore`: remove the markers (the data loss a restore must
//! undo), put them back by hand after a failed round trip, and restore the
//! snapshot in place with the restore hooks.

use crate::backup::exec_hook;
use crate::seed::run_hook;
use crate::state::{BackupState, HookOutput, Marker, restic_of};
use crate::{app_json, stack_of};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::exit;
use ccci_core::rundir::RunDir;
use ccci_core::tool;
use serde_json::json;

pub(crate) fn disturb(run: &RunDir, st: &mut BackupState) -> Result<()> {
    if st.snapshot.is_none() {
        return Err(exit::usage(
            "no snapshot yet; run `ccci-verify-backup backup` first",
        ));
    }
    let app = app_json(run)?;
    st.disturbed = true;
    for m in &st.markers {
        match m {
            Marker::File { path, .. } => {
                let _ = std::fs::remove_file(path);
            }
            Marker::Hook {
                service,
                hook,
                value,
            } => {
                let (ok, out) = run_hook(run, &app, hook, "remove", value)?;
                if !ok {
                    return Err(exit::no(format!(
                        "service {service}: marker hook remove failed: {out}"
                    )));
                }
            }
        }
    }
    run.ledger("backup-disturb", json!({"markers": st.markers.len()}))?;
    Ok(())
}

/// Put removed markers back (when a round trip fails after disturbing).
pub(crate) fn undisturb(run: &RunDir, st: &mut BackupState) -> Result<()> {
    let app = app_json(run)?;
    for m in &st.markers {
        match m {
            Marker::File { path, value, .. } => std::fs::write(path, value)?,
            Marker::Hook {
                service,
                hook,
                value,
            } => {
                let (ok, out) = run_hook(run, &app, hook, "seed", value)?;
                if !ok {
                    return Err(exit::no(format!(
                        "service {service}: could not put the marker back (the data stays disturbed): {out}"
                    )));
                }
            }
        }
    }
    st.disturbed = false;
    run.ledger("backup-undisturb", json!({}))?;
    Ok(())
}

pub(crate) fn restore(
    ctx: &Ctx,
    run: &RunDir,
    st: &mut BackupState,
    after: &crate::ready::AfterRestore,
) -> Result<()> {
    let Some(snap) = st.snapshot.clone() else {
        return Err(exit::usage(
            "no snapshot yet; run `ccci-verify-backup backup` first",
        ));
    };
    crate::on_app_node(ctx, run)?;
    let stack = stack_of(run)?;
    st.hook_output.clear();
    let plan = st.plan.clone();
    for s in plan.iter().filter(|s| s.enabled) {
        if let Some(h) = &s.restore_pre_hook {
            let said = exec_hook(ctx, &stack, &s.service, "restore pre-hook", h)?;
            st.hook_output
                .extend(HookOutput::new(&s.service, "restore pre-hook", &said));
        }
    }
    restic_of(st).restore(&snap.snapshot_id)?;
    st.restored = true;
    for s in plan.iter().filter(|s| s.enabled) {
        if let Some(h) = &s.restore_post_hook {
            let said = exec_hook(ctx, &stack, &s.service, "restore post-hook", h)?;
            st.hook_output
                .extend(HookOutput::new(&s.service, "restore post-hook", &said));
        }
    }
    run.ledger("backup-restore", json!({"snapshot": snap.snapshot_id}))?;
    // Healthy again? Asked of the deploy tool, which owns convergence and health.
    let run_path = run.path.display().to_string();
    // What failed before the restore (a rolled-back upgrade) is not its doing.
    let mut args = vec!["wait", "--since-now", run_path.as_str()];
    let t = after.timeout.map(|t| t.to_string());
    if let Some(t) = &t {
        args.extend(["--timeout", t]);
    }
    let (healthy, v) = tool::call_for_run("ccci-deploy", &args, &ctx.cfg.state_dir, &run.id)?
        .yes_or_no("ccci-deploy wait")?;
    if healthy {
        crate::ready::wait_ready(run, after)
    } else {
        Err(exit::no(format!(
            "the app is not healthy after the restore: {}",
            v.summary
        )))
    }
}
