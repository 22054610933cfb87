//! `check`: is every marker back? The per-service, per-volume report, and why
//! a volume's restore cannot be proven when it cannot.

use crate::app_json;
use crate::labels;
use crate::plan::coverage_text;
use crate::seed::run_hook;
use crate::state::{BackupState, Marker, load_state};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::rundir::RunDir;
use ccci_core::{exit, verdict};
use labels::ServicePlan;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

pub(crate) fn cmd_check(ctx: &Ctx, run_arg: &str) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, run_arg)?;
    let _lock = run.lock()?;
    let st = load_state(&run)?;
    let (ok, rows) = check(&run, &st)?;
    run.ledger("backup-check", json!({"ok": ok}))?;
    report(ctx, ok, &rows, &st, None)
}

#[derive(Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) service: String,
    pub(crate) volume: String,
    pub(crate) coverage: String,
    pub(crate) marker: String,
}

const NOT_PROVABLE: &str = "NOT PROVABLE";

/// Why a restore of this volume cannot be proven by a file marker, if it
/// cannot: nothing holds a marker, or the service writes the volume while it
/// runs. Then a marker file beside its data comes back whatever becomes of the
/// data, even with a dump-and-restore hook pair: a restore hook that loads
/// nothing and exits 0 leaves an empty database and a marker that "came back".
/// Only a marker hook, which writes and reads through the service, can tell.
fn unprovable(st: &BackupState, s: &ServicePlan, v: &labels::VolumePlan) -> Option<String> {
    let has_file_marker = st.markers.iter().any(
        |m| matches!(m, Marker::File { service, volume, .. } if *service == s.service && *volume == v.volume),
    );
    if !has_file_marker {
        return Some(format!(
            "no directory of the backed-up paths can hold a marker and service {} has no marker hook; add one (recipe.json marker_hooks)",
            s.service
        ));
    }
    let live = st
        .live
        .iter()
        .find(|e| e.service == s.service && e.volume == v.volume)?;
    let hooks = if s.pre_hook.is_some() && s.restore_post_hook.is_some() {
        "its dump and restore hooks may bring the data back, but only a marker hook that writes and reads \
through the service can show it (recipe.json marker_hooks)"
    } else {
        "add a backupbot.backup.pre-hook that dumps it and a backupbot.restore.post-hook that loads the dump, \
and a marker hook that writes and reads through the service (recipe.json marker_hooks)"
    };
    Some(format!(
        "service {} writes volume {} while it runs ({}), so a marker file says nothing about its data; {hooks}",
        s.service, v.volume, live.why
    ))
}

/// Check markers and build the per-service, per-volume report.
pub(crate) fn check(run: &RunDir, st: &BackupState) -> Result<(bool, Vec<Row>)> {
    let app = app_json(run)?;
    let mut rows = vec![];
    let mut ok = true;
    let mut hook_result: BTreeMap<String, String> = BTreeMap::new();
    for m in &st.markers {
        if let Marker::Hook {
            service,
            hook,
            value,
        } = m
        {
            let (good, out) = run_hook(run, &app, hook, "check", value)?;
            ok &= good;
            hook_result.insert(
                service.clone(),
                if good {
                    "restored (recipe hook)".into()
                } else {
                    format!("MISSING (recipe hook: {out})")
                },
            );
        }
    }
    for s in &st.plan {
        for v in &s.volumes {
            let marker = if !v.covered {
                "-".to_string()
            } else if let Some(h) = hook_result.get(&s.service) {
                h.clone()
            } else if let Some(why) = st.restored.then(|| unprovable(st, s, v)).flatten() {
                ok = false;
                format!("{NOT_PROVABLE}: {why}")
            } else {
                let files: Vec<&Marker> = st
                    .markers
                    .iter()
                    .filter(|m| matches!(m, Marker::File { service, volume, .. } if *service == s.service && *volume == v.volume))
                    .collect();
                if files.is_empty() {
                    "unverified: no directory to hold a marker; give a --marker-hook".to_string()
                } else {
                    let all = files.iter().all(|m| match m {
                        Marker::File { path, value, .. } => {
                            std::fs::read_to_string(path).is_ok_and(|c| &c == value)
                        }
                        Marker::Hook { .. } => true,
                    });
                    ok &= all;
                    if all {
                        "restored".into()
                    } else {
                        "MISSING".into()
                    }
                }
            };
            rows.push(Row {
                service: s.service.clone(),
                volume: v.volume.clone(),
                coverage: coverage_text(v),
                marker,
            });
        }
    }
    for m in &st.markers {
        if let Marker::Hook { service, .. } = m
            && !st
                .plan
                .iter()
                .any(|s| &s.service == service && !s.volumes.is_empty())
        {
            rows.push(Row {
                service: service.clone(),
                volume: "-".into(),
                coverage: "-".into(),
                marker: hook_result[service].clone(),
            });
        }
    }
    Ok((ok, rows))
}

pub(crate) fn report(
    ctx: &Ctx,
    ok: bool,
    rows: &[Row],
    st: &BackupState,
    extra: Option<&str>,
) -> Result<i32> {
    let named = |prefix: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.marker.starts_with(prefix))
            .map(|r| format!("service {} volume {}", r.service, r.volume))
            .collect()
    };
    let lost = named("MISSING");
    let unprovable = named(NOT_PROVABLE);
    let red = !ok || extra.is_some();
    // On a red check, what the restore hooks said is the likeliest why: a hook
    // that exits 0 may have loaded nothing (a pipe whose first command failed).
    let hook_lines: Vec<String> = if red {
        st.hook_output.iter().flat_map(|h| h.log_lines()).collect()
    } else {
        vec![]
    };
    if ctx.json {
        let summary = if let Some(e) = extra {
            e.to_string()
        } else if ok {
            "every marker came back".to_string()
        } else if !lost.is_empty() {
            format!("data lost in {}", lost.join(", "))
        } else {
            format!(
                "not provable that the data came back in {}",
                unprovable.join(", ")
            )
        };
        verdict::print(
            verdict::ok_or_red(ok && extra.is_none()),
            summary,
            json!({
                "ok": ok, "rows": rows, "snapshot": st.snapshot, "contents": st.contents, "lost": lost,
                "not_provable": unprovable, "live": st.live, "reason": extra,
                "hook_output": st.hook_output, "logs": hook_lines,
            }),
        );
    } else {
        println!(
            "{:<12} {:<12} {:<40} MARKER",
            "SERVICE", "VOLUME", "COVERAGE"
        );
        for r in rows {
            println!(
                "{:<12} {:<12} {:<40} {}",
                r.service, r.volume, r.coverage, r.marker
            );
        }
        if let Some(s) = &st.snapshot {
            println!(
                "snapshot {}: {} files, {} bytes, {:.2} s",
                s.snapshot_id, s.files, s.bytes, s.seconds
            );
        }
        for l in &hook_lines {
            println!("  | {l}");
        }
        if let Some(e) = extra {
            println!("red: {e}");
        } else if ok {
            println!("ok: every marker came back");
        } else if !lost.is_empty() {
            println!("red: data lost in {}", lost.join(", "));
        } else {
            println!(
                "red: not provable that the data came back in {}",
                unprovable.join(", ")
            );
        }
    }
    Ok(if ok && extra.is_none() {
        exit::OK
    } else {
        exit::NO
    })
}
