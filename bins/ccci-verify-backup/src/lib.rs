//! `ccci-verify-backup`: back an app up the way backup-bot-two does (its
//! `backupbot.*` labels, restic), disturb its data, restore, and prove the data
//! came back, per service and per volume.
//!
//! Each step is a subcommand for an operator to run by hand; `roundtrip` runs them
//! all and, when it fails after disturbing the data, puts the markers back.

pub mod labels;
pub mod live;
pub mod restic;

use anyhow::{Context, Result};
use ccci_core::app::App;
use ccci_core::cli::Ctx;
use ccci_core::rundir::RunDir;
use ccci_core::tool::{self, Answer};
use ccci_core::{exit, ids, log, state, verdict};
use clap::{Args, Parser, Subcommand};
use labels::ServicePlan;
use restic::{Restic, Summary};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SCHEMA: u32 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-verify-backup",
    version,
    about = "Back up a recipe app, disturb its data, restore, and prove the data came back",
    long_about = "Back up a recipe app the way backup-bot-two does (its backupbot.* labels, restic), \
disturb its data, restore, and prove the data came back, per service and per volume.\n\n\
Steps: plan, seed, backup, disturb, restore, check; `roundtrip` runs them all. State lives in \
<run>/backup/. Exit codes: 0 every marker came back, 1 red (marker missing, hook failed), \
2 bad input (no backup labels, unreadable repository, wrong password), 75 temporary trouble."
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show what would be backed up: services, volumes, paths, hooks
    Plan(Target),
    /// Exit 0 when some service has backupbot.backup=true, 1 when none does
    Labelled(Target),
    /// Prepare the repository and seed markers
    Seed(SeedArgs),
    /// Run pre-hooks, take the restic snapshot, run post-hooks, check its contents
    Backup(Target),
    /// Remove the markers (the data loss a restore must undo)
    Disturb(Target),
    /// Restore the snapshot in place, run restore hooks, wait until healthy
    Restore(RestoreArgs),
    /// Check every marker is back and report per service and volume
    Check(Target),
    /// All of the above in order
    Roundtrip(RoundtripArgs),
}

#[derive(Args, Debug)]
struct Target {
    /// Run id or run directory
    run: String,
}

#[derive(Args, Debug, Clone, Default)]
struct RepoArgs {
    /// Use this restic repository instead of a fresh one in the run directory
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// Password file of --repo
    #[arg(long, value_name = "FILE", requires = "repo")]
    password_file: Option<PathBuf>,
    /// A recipe's marker hook for one service, SERVICE=PATH (repeatable, or
    /// comma-separated in $CCCI_MARKER_HOOKS); called with `seed`, `remove` or `check`
    #[arg(
        long = "marker-hook",
        value_name = "SERVICE=PATH",
        env = "CCCI_MARKER_HOOKS",
        value_delimiter = ','
    )]
    marker_hooks: Vec<String>,
    /// How long to watch volumes that hold only file markers for writes by
    /// their service (a live volume needs dump and restore hooks or a marker
    /// hook before its round trip can prove anything)
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 2.0,
        env = "CCCI_OBSERVE_SECS"
    )]
    observe: f64,
}

#[derive(Args, Debug)]
struct SeedArgs {
    run: String,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Args, Debug)]
struct RestoreArgs {
    run: String,
    /// Health timeout after the restore, seconds
    #[arg(long)]
    timeout: Option<u64>,
}

#[derive(Args, Debug)]
struct RoundtripArgs {
    run: String,
    #[command(flatten)]
    repo: RepoArgs,
    /// Start from the snapshot an earlier `backup` took (disturb, restore,
    /// check), instead of seeding and backing up first
    #[arg(long, conflicts_with_all = ["repo", "password_file"])]
    existing: bool,
    /// Health timeout after the restore, seconds
    #[arg(long)]
    timeout: Option<u64>,
}

/// One marker: a file in a volume, or a recipe hook's data in a service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Marker {
    File {
        service: String,
        volume: String,
        path: PathBuf,
        value: String,
    },
    Hook {
        service: String,
        hook: PathBuf,
        value: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BackupState {
    schema: u32,
    repo: PathBuf,
    password_file: PathBuf,
    plan: Vec<ServicePlan>,
    /// Docker volume name → host mountpoint.
    mountpoints: BTreeMap<String, PathBuf>,
    markers: Vec<Marker>,
    snapshot: Option<Summary>,
    /// The covered host paths, each confirmed present in the snapshot.
    #[serde(default)]
    contents: Vec<String>,
    disturbed: bool,
    /// Volumes their service writes while running (see `live`), with why.
    #[serde(default)]
    live: Vec<live::Evidence>,
    /// The snapshot has been restored since the last backup: only then can a
    /// check speak for the restore.
    #[serde(default)]
    restored: bool,
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    match cli.cmd {
        Cmd::Plan(t) => cmd_plan(&ctx, &t.run),
        Cmd::Labelled(t) => cmd_labelled(&ctx, &t.run),
        Cmd::Seed(a) => cmd_seed(&ctx, &a),
        Cmd::Backup(t) => step(&ctx, "backup", &t.run, backup),
        Cmd::Disturb(t) => step(&ctx, "disturb", &t.run, |_, run, st| disturb(run, st)),
        Cmd::Restore(a) => step(&ctx, "restore", &a.run, |ctx, run, st| {
            restore(ctx, run, st, a.timeout)
        }),
        Cmd::Check(t) => cmd_check(&ctx, &t.run),
        Cmd::Roundtrip(a) => roundtrip(&ctx, &a),
    }
}

fn app_json(run: &RunDir) -> Result<App> {
    App::load(run)
}

fn backup_dir(run: &RunDir) -> PathBuf {
    run.file("backup")
}

fn state_path(run: &RunDir) -> PathBuf {
    backup_dir(run).join("state.json")
}

fn load_state(run: &RunDir) -> Result<BackupState> {
    state::read_json_opt(&state_path(run))?.ok_or_else(|| {
        exit::usage(format!(
            "run {} has no backup state; run `ccci-verify-backup seed` first",
            run.id
        ))
    })
}

fn save_state(run: &RunDir, st: &BackupState) -> Result<()> {
    state::write_json(&state_path(run), st)
}

/// The stack's services as docker reports them.
fn services(ctx: &Ctx, stack: &str) -> Result<Vec<Value>> {
    let ids = ctx.docker.lines(&[
        "service",
        "ls",
        "-q",
        "--filter",
        &format!("label={}={stack}", ccci_core::labels::NAMESPACE),
    ])?;
    if ids.is_empty() {
        return Err(exit::usage(format!("stack {stack} is not deployed")));
    }
    ctx.docker.inspect("service", &ids)
}

fn plan_for(ctx: &Ctx, run: &RunDir) -> Result<(App, Vec<ServicePlan>)> {
    let (app, plan, _) = plan_with_images(ctx, run)?;
    Ok((app, plan))
}

/// The plan, and each service's image (the role of a service is read from it).
fn plan_with_images(
    ctx: &Ctx,
    run: &RunDir,
) -> Result<(App, Vec<ServicePlan>, BTreeMap<String, String>)> {
    let app = app_json(run)?;
    let stack = app.stack.clone();
    let svcs = services(ctx, &stack)?;
    let images = svcs
        .iter()
        .map(|s| {
            let name = s["Spec"]["Name"].as_str().unwrap_or("");
            (
                name.strip_prefix(&format!("{stack}_"))
                    .unwrap_or(name)
                    .to_string(),
                s["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    let plan = labels::plan(&svcs, &stack);
    Ok((app, plan, images))
}

fn cmd_plan(ctx: &Ctx, run_arg: &str) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, run_arg)?;
    let (_, plan) = plan_for(ctx, &run)?;
    if ctx.json {
        let backed = plan.iter().filter(|s| s.enabled).count();
        verdict::print(
            "ok",
            format!("{backed} of {} services backed up", plan.len()),
            json!({"services": plan}),
        );
        return Ok(exit::OK);
    }
    for s in &plan {
        println!(
            "service {}{}",
            s.service,
            if s.enabled { "" } else { " (not backed up)" }
        );
        for (what, h) in [
            ("pre-hook", &s.pre_hook),
            ("post-hook", &s.post_hook),
            ("restore pre-hook", &s.restore_pre_hook),
            ("restore post-hook", &s.restore_post_hook),
        ] {
            if let Some(h) = h {
                println!("  {what}: {h}");
            }
        }
        for v in &s.volumes {
            println!(
                "  volume {} at {}: {}",
                v.volume,
                v.target,
                coverage_text(v)
            );
        }
    }
    Ok(exit::OK)
}

/// The question the generic hooks and tests ask before anything else, answered
/// by exit code so no caller reads this tool's words.
fn cmd_labelled(ctx: &Ctx, run_arg: &str) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, run_arg)?;
    let (app, plan) = plan_for(ctx, &run)?;
    let labelled = plan.iter().any(|s| s.enabled);
    if ctx.json {
        verdict::print(
            if labelled { "labelled" } else { "unlabelled" },
            if labelled {
                "backup labels: yes".to_string()
            } else {
                format!(
                    "no backup labels: no service of stack {} has backupbot.backup=true",
                    app.stack
                )
            },
            json!({"labelled": labelled}),
        );
    } else if labelled {
        println!("backup labels: yes");
    } else {
        println!(
            "no backup labels: no service of stack {} has backupbot.backup=true",
            app.stack.as_str()
        );
    }
    Ok(if labelled { exit::OK } else { exit::NO })
}

fn coverage_text(v: &labels::VolumePlan) -> String {
    if !v.covered {
        format!("not covered ({})", v.why)
    } else if v.paths.is_empty() {
        "whole volume".into()
    } else {
        v.paths.join(", ")
    }
}

/// `seed` starts a fresh state (new markers, no snapshot) rather than editing one.
fn cmd_seed(ctx: &Ctx, a: &SeedArgs) -> Result<i32> {
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

/// Run one step on the saved state, under the run lock; the state is saved
/// whatever the outcome, so a later step or an operator sees what happened.
fn step(
    ctx: &Ctx,
    what: &str,
    run_arg: &str,
    f: impl FnOnce(&Ctx, &RunDir, &mut BackupState) -> Result<()>,
) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, run_arg)?;
    let _lock = run.lock()?;
    let mut st = load_state(&run)?;
    let result = f(ctx, &run, &mut st);
    save_state(&run, &st)?;
    match result {
        Ok(()) => {
            if ctx.json {
                verdict::print(
                    "ok",
                    format!("{what} done"),
                    json!({"snapshot": st.snapshot}),
                );
            }
            Ok(exit::OK)
        }
        Err(e) => red_or_err(ctx, e),
    }
}

/// A red verdict prints and exits 1; other errors keep their codes.
fn red_or_err(ctx: &Ctx, e: anyhow::Error) -> Result<i32> {
    if exit::code_of(&e) != exit::NO {
        return Err(e);
    }
    let reason = ccci_core::cli::one_line(&e);
    if ctx.json {
        verdict::print("red", &reason, json!({"ok": false, "reason": reason}));
    } else {
        println!("red: {reason}");
    }
    Ok(exit::NO)
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
fn run_hook(
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

fn seed(ctx: &Ctx, run: &RunDir, args: &RepoArgs) -> Result<Vec<Marker>> {
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
        let out = ctx.docker.run(&[
            "volume",
            "inspect",
            "--format",
            "{{.Mountpoint}}",
            &v.docker_name,
        ])?;
        mountpoints.insert(v.docker_name.clone(), PathBuf::from(out.trim()));
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
    for (i, (s, v, _)) in watched.iter().enumerate() {
        let image = images.get(&s.service).map(String::as_str).unwrap_or("");
        let why = live::by_role(&s.service, image).or_else(|| {
            container_pids(ctx, stack, &s.service)
                .and_then(|pids| live::by_open_files(&pids, &v.target))
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

/// Run a backup-bot hook inside the service's container, as backup-bot does.
fn exec_hook(ctx: &Ctx, stack: &str, service: &str, what: &str, hook: &str) -> Result<()> {
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
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        // Only Docker's own words: a hook's output may well say "connection refused".
        if text.contains("Cannot connect to the Docker daemon")
            || text.contains("error during connect")
        {
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
    Ok(())
}

fn stack_of(run: &RunDir) -> Result<String> {
    Ok(app_json(run)?.stack)
}

fn restic_of(st: &BackupState) -> Restic {
    Restic {
        repo: st.repo.clone(),
        password_file: st.password_file.clone(),
    }
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

fn backup(ctx: &Ctx, run: &RunDir, st: &mut BackupState) -> Result<()> {
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

fn disturb(run: &RunDir, st: &mut BackupState) -> Result<()> {
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
fn undisturb(run: &RunDir, st: &mut BackupState) -> Result<()> {
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

fn restore(ctx: &Ctx, run: &RunDir, st: &mut BackupState, timeout: Option<u64>) -> Result<()> {
    let Some(snap) = st.snapshot.clone() else {
        return Err(exit::usage(
            "no snapshot yet; run `ccci-verify-backup backup` first",
        ));
    };
    let stack = stack_of(run)?;
    for s in st.plan.iter().filter(|s| s.enabled) {
        if let Some(h) = &s.restore_pre_hook {
            exec_hook(ctx, &stack, &s.service, "restore pre-hook", h)?;
        }
    }
    restic_of(st).restore(&snap.snapshot_id)?;
    st.restored = true;
    for s in st.plan.iter().filter(|s| s.enabled) {
        if let Some(h) = &s.restore_post_hook {
            exec_hook(ctx, &stack, &s.service, "restore post-hook", h)?;
        }
    }
    run.ledger("backup-restore", json!({"snapshot": snap.snapshot_id}))?;
    // Healthy again? Asked of the deploy tool, which owns convergence and health.
    let run_path = run.path.display().to_string();
    // What failed before the restore (a rolled-back upgrade) is not its doing.
    let mut args = vec!["wait", "--since-now", run_path.as_str()];
    let t = timeout.map(|t| t.to_string());
    if let Some(t) = &t {
        args.extend(["--timeout", t]);
    }
    let never = std::sync::atomic::AtomicBool::new(false);
    let mut call = tool::Call::new("ccci-deploy", &args, None, &never);
    call.state_dir = Some(&ctx.cfg.state_dir);
    call.env = vec![(ccci_core::rundir::LOCK_HELD_ENV.into(), run.id.clone())];
    match tool::call(call)?.answer {
        Answer::Yes(_) => Ok(()),
        Answer::No(v) => Err(exit::no(format!(
            "the app is not healthy after the restore: {}",
            v.summary
        ))),
        Answer::Input(v) => Err(exit::usage(format!("ccci-deploy wait: {}", v.summary))),
        Answer::Trouble(why) => Err(exit::tempfail(format!("ccci-deploy wait: {why}"))),
        Answer::Bug(why) => Err(exit::coded(exit::BUG, format!("ccci-deploy wait: {why}"))),
        Answer::Interrupted => Err(exit::tempfail("ccci-deploy wait was interrupted")),
    }
}

#[derive(Debug, Serialize)]
struct Row {
    service: String,
    volume: String,
    coverage: String,
    marker: String,
}

const NOT_PROVABLE: &str = "NOT PROVABLE";

/// Why a restore of this volume cannot be proven by a file marker, if it
/// cannot: nothing holds a marker, or the service writes the volume while it
/// runs and has no dump-and-restore hook pair that would replay the data (the
/// marker would come back while the data the service holds does not).
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
    let hook_pair = s.pre_hook.is_some() && s.restore_post_hook.is_some();
    let live = st
        .live
        .iter()
        .find(|e| e.service == s.service && e.volume == v.volume)?;
    if hook_pair {
        return None;
    }
    Some(format!(
        "service {} writes volume {} while it runs ({}), so a marker file says nothing about its data; \
add a backupbot.backup.pre-hook that dumps it and a backupbot.restore.post-hook that loads the dump, \
or a marker hook (recipe.json marker_hooks)",
        s.service, v.volume, live.why
    ))
}

/// Check markers and build the per-service, per-volume report.
fn check(run: &RunDir, st: &BackupState) -> Result<(bool, Vec<Row>)> {
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

fn report(ctx: &Ctx, ok: bool, rows: &[Row], st: &BackupState, extra: Option<&str>) -> Result<i32> {
    let named = |prefix: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.marker.starts_with(prefix))
            .map(|r| format!("service {} volume {}", r.service, r.volume))
            .collect()
    };
    let lost = named("MISSING");
    let unprovable = named(NOT_PROVABLE);
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

fn cmd_check(ctx: &Ctx, run_arg: &str) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, run_arg)?;
    let _lock = run.lock()?;
    let st = load_state(&run)?;
    let (ok, rows) = check(&run, &st)?;
    run.ledger("backup-check", json!({"ok": ok}))?;
    report(ctx, ok, &rows, &st, None)
}

fn roundtrip(ctx: &Ctx, a: &RoundtripArgs) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, &a.run)?;
    let _lock = run.lock()?;
    if !a.existing {
        seed(ctx, &run, &a.repo)?;
    }
    let mut st = load_state(&run)?;
    if a.existing && st.snapshot.is_none() {
        return Err(exit::usage(format!(
            "run {}: no snapshot to restore from; run `ccci-verify-backup backup` first",
            run.id
        )));
    }
    let existing = a.existing;
    let result = (|| -> Result<()> {
        if !existing {
            backup(ctx, &run, &mut st)?;
        }
        disturb(&run, &mut st)?;
        restore(ctx, &run, &mut st, a.timeout)
    })();
    if let Err(e) = result {
        save_state(&run, &st)?;
        // The table shows the data as the failure left it; then nothing is left
        // disturbed: what was removed is put back before reporting.
        let mut rows = check(&run, &st).map(|(_, rows)| rows).unwrap_or_default();
        if !st.restored {
            // Markers still in place prove nothing when nothing was restored.
            for r in rows.iter_mut().filter(|r| r.marker != "-") {
                r.marker = "not checked: the round trip stopped before the restore".into();
            }
        }
        if st.disturbed {
            let put_back = undisturb(&run, &mut st);
            save_state(&run, &st)?;
            put_back?;
        }
        if exit::code_of(&e) != exit::NO {
            return Err(e);
        }
        return report(ctx, false, &rows, &st, Some(&ccci_core::cli::one_line(&e)));
    }
    let (ok, rows) = check(&run, &st)?;
    if !ok {
        // The restore lost data; put the markers back so the app is as it was.
        save_state(&run, &st)?;
        undisturb(&run, &mut st)?;
    }
    save_state(&run, &st)?;
    run.ledger("backup-roundtrip", json!({"ok": ok}))?;
    report(ctx, ok, &rows, &st, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
