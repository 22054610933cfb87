//! `seed`: prepare the restic repository and put markers into the data
//! (files in volumes, or a recipe's marker hooks), noting live volumes.

use crate::plan::plan_with_images;
use crate::state::{BackupState, Marker, SCHEMA, backup_dir, save_state};
use crate::{RepoArgs, SeedArgs, red_or_err};
use crate::{labels, live, restic};
use anyhow::{Context, Result};
use ccci_core::app::App;
use ccci_core::cli::Ctx;
use ccci_core::rundir::RunDir;
use ccci_core::{exit, ids, log, state, verdict};
use labels::ServicePlan;
use restic::Restic;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `seed` starts a fresh state (new markers, no snapshot) rather than editing one.
pub(crate) fn cmd_seed(ctx: &Ctx, a: &SeedArgs) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, &a.run)?;
    let _lock = run.lock()?;
    match seed(ctx, &run, &a.repo) {
        Ok(markers) => {
            if ctx.json {
                verdict::print(
                    "ok",
                    format!("seeded {} markers", markers.len()),
                    json!({"markers": markers.len()}),
                );
            }
            Ok(exit::OK)
        }
        Err(e) => red_or_err(ctx, e),
    }
}

fn marker_hooks(args: &RepoArgs, plan: &[ServicePlan]) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    // An empty list from the environment (`CCCI_MARKER_HOOKS=""`) is no list:
    // unset and empty mean the same, and so does a stray comma.
    for spec in args.marker_hooks.iter().filter(|s| !s.trim().is_empty()) {
        let (svc, path) = spec
            .split_once('=')
            .ok_or_else(|| exit::usage(format!("--marker-hook {spec:?} is not SERVICE=PATH")))?;
        if !plan.iter().any(|s| s.service == svc) {
            return Err(exit::usage(format!(
                "--marker-hook names service {svc:?}, which the stack does not have"
            )));
        }
        let path = std::fs::canonicalize(path)
            .map_err(|e| exit::usage(format!("marker hook {path}: {e}")))?;
        out.insert(svc.to_string(), path);
    }
    Ok(out)
}

/// Run a recipe marker hook: `HOOK seed|remove|check` with the run's context.
pub(crate) fn run_hook(
    run: &RunDir,
    app: &App,
    hook: &Path,
    action: &str,
    value: &str,
) -> Result<(bool, String)> {
    let out = Command::new(hook)
        .arg(action)
        .env("CCCI_RUN_DIR", &run.path)
        .env("CCCI_STACK", app.stack.as_str())
        .env("CCCI_DOMAIN", app.domain.as_str())
        .env("CCCI_MARKER", value)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| exit::usage(format!("cannot run marker hook {}: {e}", hook.display())))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let text = ccci_core::redact::global().apply(text.trim());
    Ok((out.status.success(), text.replace('\n', " ")))
}

pub(crate) fn seed(ctx: &Ctx, run: &RunDir, args: &RepoArgs) -> Result<Vec<Marker>> {
    ctx.docker.check_swarm_manager()?;
    if !(args.observe.is_finite() && (0.0..=600.0).contains(&args.observe)) {
        return Err(exit::usage(format!(
            "--observe {} must be between 0 and 600 seconds",
            args.observe
        )));
    }
    let (app, plan, images) = plan_with_images(ctx, run)?;
    if !plan.iter().any(|s| s.enabled) {
        return Err(exit::usage(format!(
            "no backup labels: no service of stack {} has backupbot.backup=true",
            app.stack.as_str()
        )));
    }
    let hooks = marker_hooks(args, &plan)?;
    std::fs::create_dir_all(backup_dir(run))?;
    let (repo, password_file) = match &args.repo {
        Some(r) => {
            let pw = args
                .password_file
                .clone()
                .ok_or_else(|| exit::usage("--repo needs --password-file"))?;
            (r.clone(), pw)
        }
        None => {
            let pw = backup_dir(run).join("password");
            if !pw.exists() {
                state::write_atomic(&pw, ids::random_hex(40)?.as_bytes(), 0o600)?;
            }
            (backup_dir(run).join("repo"), pw)
        }
    };
    let restic = Restic {
        repo: repo.clone(),
        password_file: password_file.clone(),
    };
    if args.repo.is_some() {
        restic.check_access()?;
    } else if !restic.exists() {
        restic.init()?;
    }

    let mut mountpoints = BTreeMap::new();
    for v in plan.iter().flat_map(|s| &s.volumes).filter(|v| v.covered) {
        mountpoints.insert(
            v.docker_name.clone(),
            ctx.docker.volume_mountpoint(&v.docker_name)?,
        );
    }

    // Volumes that will hold only file markers are watched while the rest of
    // the seeding goes on; see `live`.
    let observe_start = std::time::Instant::now();
    let watched: Vec<(&ServicePlan, &labels::VolumePlan, Vec<PathBuf>)> = plan
        .iter()
        .filter(|s| s.enabled && !hooks.contains_key(&s.service))
        .flat_map(|s| s.volumes.iter().filter(|v| v.covered).map(move |v| (s, v)))
        .map(|(s, v)| {
            let mp = &mountpoints[&v.docker_name];
            let roots = if v.paths.is_empty() {
                vec![mp.clone()]
            } else {
                v.paths.iter().map(|p| mp.join(p)).collect()
            };
            (s, v, roots)
        })
        .collect();
    let before: Vec<live::Fingerprint> = watched
        .iter()
        .map(|(_, _, roots)| live::fingerprint(roots))
        .collect();

    let value = format!("ccci-marker-{}-{}", run.id, ids::random_hex(8)?);
    let mut markers = vec![];
    for s in plan.iter().filter(|s| s.enabled) {
        if let Some(hook) = hooks.get(&s.service) {
            let (ok, out) = run_hook(run, &app, hook, "seed", &value)?;
            if !ok {
                return Err(exit::no(format!(
                    "service {}: marker hook seed failed: {out}",
                    s.service
                )));
            }
            markers.push(Marker::Hook {
                service: s.service.clone(),
                hook: hook.clone(),
                value: value.clone(),
            });
            continue;
        }
        for v in s.volumes.iter().filter(|v| v.covered) {
            let mp = &mountpoints[&v.docker_name];
            // A generic marker needs a backed-up directory to live in.
            let dir = if v.paths.is_empty() {
                Some(mp.clone())
            } else {
                v.paths.iter().map(|p| mp.join(p)).find(|p| p.is_dir())
            };
            let Some(dir) = dir else { continue };
            let path = dir.join(format!(".ccci-marker-{}", run.id));
            std::fs::write(&path, &value)
                .with_context(|| format!("cannot write marker {}", path.display()))?;
            markers.push(Marker::File {
                service: s.service.clone(),
                volume: v.volume.clone(),
                path,
                value: value.clone(),
            });
        }
    }
    let mut live_volumes = vec![];
    let mut undecided = vec![];
    let stack = app.stack.as_str();
    // One `docker top` per service, however many of its volumes are watched.
    let mut pids: BTreeMap<&str, Option<Vec<u32>>> = BTreeMap::new();
    for (i, (s, v, _)) in watched.iter().enumerate() {
        let image = images.get(&s.service).map(String::as_str).unwrap_or("");
        let why = live::by_role(&s.service, image).or_else(|| {
            pids.entry(s.service.as_str())
                .or_insert_with(|| container_pids(ctx, stack, &s.service))
                .as_deref()
                .and_then(|p| live::by_open_files(p, &v.target))
        });
        match why {
            Some(why) => live_volumes.push(live::Evidence {
                service: s.service.clone(),
                volume: v.volume.clone(),
                why,
            }),
            None => undecided.push(i),
        }
    }
    if !undecided.is_empty() {
        let window = std::time::Duration::from_secs_f64(args.observe);
        live::finish_window(observe_start, window);
        for i in undecided {
            let (s, v, roots) = &watched[i];
            let after = live::fingerprint(roots);
            let root = &mountpoints[&v.docker_name];
            if let Some(what) = live::changed(&before[i], &after, root) {
                live_volumes.push(live::Evidence {
                    service: s.service.clone(),
                    volume: v.volume.clone(),
                    why: format!(
                        "{what} while the service ran ({:.1} s observed)",
                        observe_start.elapsed().as_secs_f64()
                    ),
                });
            }
        }
    }
    for e in &live_volumes {
        log::info(&format!(
            "service {} volume {} is written while it runs: {}",
            e.service, e.volume, e.why
        ));
    }
    let st = BackupState {
        schema: SCHEMA,
        repo,
        password_file,
        plan,
        mountpoints,
        markers: markers.clone(),
        snapshot: None,
        contents: vec![],
        disturbed: false,
        live: live_volumes,
        restored: false,
        hook_output: vec![],
    };
    save_state(run, &st)?;
    run.ledger("backup-seed", json!({"markers": markers.len()}))?;
    if !ctx.json {
        println!("seeded {} markers", markers.len());
    }
    Ok(markers)
}

/// Host pids of the service's running container, when it has one.
fn container_pids(ctx: &Ctx, stack: &str, service: &str) -> Option<Vec<u32>> {
    let c = ctx.docker.running_container(stack, service).ok()?;
    let lines = ctx.docker.lines(&["top", &c, "-eo", "pid"]).ok()?;
    Some(lines.iter().filter_map(|l| l.trim().parse().ok()).collect())
}
