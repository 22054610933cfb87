//! `ccci-deploy`: create, deploy, upgrade, health-check and tear down one recipe app
//! on Docker Swarm the way abra does, watching convergence itself.

pub mod app;
pub mod converge;
pub mod health;
pub mod ownership;
pub mod recipe;
pub mod secrets;
pub mod teardown;
pub mod warm;

use anyhow::Result;
use app::{App, Health, HealthKind};
use ccci_core::cli::Ctx;
use ccci_core::docker::Docker;
use ccci_core::envfile::EnvFile;
use ccci_core::rundir::{Request, RunDir};
use ccci_core::{exit, git, ids, log, state};
use clap::{Args, Parser, Subcommand};
use converge::Verdict;
use serde_json::json;
use std::time::Duration;

/// Default convergence timeout when neither the run nor the recipe gives one.
const DEFAULT_TIMEOUT: u64 = 300;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-deploy",
    version,
    about = "Create, deploy, upgrade, health-check and tear down one recipe app on Docker Swarm",
    long_about = "Create, deploy, upgrade, health-check and tear down one recipe app on Docker Swarm.\n\n\
Each subcommand works on one run directory (<state>/runs/<run-id>) and records what it did in its \
ledger. Exit codes: 0 success/converged, 1 red verdict (did not converge, leftovers), 2 bad input, \
75 temporary trouble (Docker unreachable, run busy)."
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
    /// Create a run's app: clone the recipe at a ref, write the app env, generate secrets
    New(Box<NewArgs>),
    /// Pull images and deploy the app (at its ref, or --ref); --wait also waits
    Deploy(DeployArgs),
    /// Wait until the last deploy converged and is healthy, or failed
    Wait(WaitArgs),
    /// Redeploy another ref over the same app and volumes and prove it runs
    Upgrade(UpgradeArgs),
    /// Remove everything the run created and verify nothing is left (a run
    /// that retains its data keeps its volumes and secrets unless --release)
    Teardown(TeardownArgs),
    /// Tear down the leftovers of runs that are no longer alive
    Reap(ReapArgs),
    /// Show the app and the state of its services
    Status(RunArg),
    /// Run a command in the running container of one of the app's services
    /// (exits with the command's status)
    Exec(ExecArgs),
    /// Probe the app once, as the health check does (the health settings, with
    /// flags on top): 0 answered as expected, 1 not
    Probe(ProbeArgs),
}

#[derive(Args, Debug)]
struct ProbeArgs {
    /// Run id or run directory
    run: String,
    #[command(flatten)]
    health: HealthArgs,
}

#[derive(Args, Debug)]
struct ExecArgs {
    /// Run id or run directory
    run: String,
    /// Service name within the stack (`app`, `db`, `ccci-probe`, ...)
    service: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
struct NewArgs {
    /// Recipe name (e.g. `demo`)
    #[arg(long)]
    recipe: String,
    /// Recipe repository: a path or a git URL
    #[arg(long)]
    repo: String,
    /// Git ref under test (tag, branch or SHA); the app is created at it unless
    /// --install-ref says otherwise
    #[arg(long = "ref")]
    r#ref: String,
    /// Refuse (exit 75) unless --ref names this commit (the one the run planned)
    #[arg(long, value_name = "SHA")]
    expect_sha: Option<String>,
    /// Create the app at this ref instead (the previous release a run installs
    /// before upgrading to --ref)
    #[arg(long, value_name = "REF")]
    install_ref: Option<String>,
    /// Start warm: the app gets copies of the recipe's canonical app's env,
    /// secrets and volumes (the canonical itself is never touched)
    #[arg(long)]
    from_canonical: bool,
    /// Pull request number, if the run tests one
    #[arg(long)]
    pr: Option<u64>,
    /// Run id (default: a new unique id)
    #[arg(long)]
    run_id: Option<String>,
    /// What started the run
    #[arg(long, value_enum, default_value_t = ccci_core::results::Trigger::Manual)]
    trigger: ccci_core::results::Trigger,
    /// Extra app env settings, KEY=VALUE (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Executable printing secrets marked generate=false (args: NAME VERSION)
    #[arg(long, value_name = "PATH")]
    secret_hook: Option<String>,
    #[command(flatten)]
    health: HealthArgs,
    /// Convergence timeout in seconds (default: the recipe's timeout label, else 300)
    #[arg(long)]
    timeout: Option<u64>,
}

#[derive(Args, Debug, Default)]
struct HealthArgs {
    /// Health probe kind
    #[arg(long, value_enum)]
    health_kind: Option<HealthKind>,
    /// Service the probe targets
    #[arg(long)]
    health_service: Option<String>,
    /// Port to probe (default: the service's traefik port label)
    #[arg(long)]
    health_port: Option<u16>,
    /// HTTP path to probe
    #[arg(long)]
    health_path: Option<String>,
    /// Accepted HTTP codes, comma-separated
    #[arg(long, value_delimiter = ',')]
    health_codes: Option<Vec<u16>>,
    /// Probe this URL from the host instead of the app network:
    /// `https://{domain}/` for the public route, or `tcp://HOST:PORT`
    #[arg(long, value_name = "URL")]
    health_url: Option<String>,
}

#[derive(Args, Debug)]
struct RunArg {
    /// Run id or run directory
    run: String,
}

#[derive(Args, Debug)]
struct DeployArgs {
    /// Run id or run directory
    run: String,
    /// Deploy this ref instead of the run's current one
    #[arg(long = "ref")]
    r#ref: Option<String>,
    /// Refuse (exit 75) unless the ref names this commit (the one the run planned)
    #[arg(long, value_name = "SHA")]
    expect_sha: Option<String>,
    /// Wait for convergence and health after deploying
    #[arg(long)]
    wait: bool,
    /// Convergence timeout in seconds
    #[arg(long)]
    timeout: Option<u64>,
}

#[derive(Args, Debug)]
struct WaitArgs {
    /// Run id or run directory
    run: String,
    /// Judge the app as it is from now on: what failed before (an update that
    /// was rolled back) is history; wait for it to settle and be healthy
    #[arg(long)]
    since_now: bool,
    /// Convergence timeout in seconds
    #[arg(long)]
    timeout: Option<u64>,
}

#[derive(Args, Debug)]
struct UpgradeArgs {
    /// Run id or run directory
    run: String,
    /// The ref to upgrade to
    #[arg(long = "ref")]
    r#ref: String,
    /// Refuse (exit 75) unless the ref still names this commit (the one the
    /// run planned; a branch pushed meanwhile is not what is under test)
    #[arg(long, value_name = "SHA")]
    expect_sha: Option<String>,
    /// Convergence timeout in seconds
    #[arg(long)]
    timeout: Option<u64>,
}

#[derive(Args, Debug)]
struct TeardownArgs {
    /// Run id or run directory
    run: String,
    /// Keep the app's volumes and secrets (its data) and mark the run as
    /// retaining them: a green run waiting for promotion, a canonical app
    #[arg(long, conflicts_with = "release")]
    keep_volumes: bool,
    /// Remove retained volumes and secrets too, and end the retention
    #[arg(long)]
    release: bool,
}

#[derive(Args, Debug)]
struct ReapArgs {
    /// Leave runs whose last ledger event is younger than this many seconds
    /// (a run driven by hand between two commands holds no lock)
    #[arg(long, default_value_t = 900)]
    grace: u64,
    /// Only say what would be removed
    #[arg(long)]
    dry_run: bool,
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    match cli.cmd {
        Cmd::New(a) => cmd_new(&ctx, *a),
        Cmd::Deploy(a) => cmd_deploy(&ctx, a),
        Cmd::Wait(a) => cmd_wait(&ctx, a),
        Cmd::Upgrade(a) => cmd_upgrade(&ctx, a),
        Cmd::Teardown(a) => cmd_teardown(&ctx, a),
        Cmd::Reap(a) => cmd_reap(&ctx, a),
        Cmd::Status(a) => cmd_status(&ctx, a),
        Cmd::Exec(a) => cmd_exec(&ctx, a),
        Cmd::Probe(a) => cmd_probe(&ctx, a),
    }
}

/// The `--json` answer of a command, in the shape every tool shares.
fn print_json(outcome: &str, summary: &str, detail: serde_json::Value) {
    ccci_core::verdict::print(outcome, summary, detail);
}

fn open_run(ctx: &Ctx, run: &str) -> Result<RunDir> {
    RunDir::open(&ctx.cfg.state_dir, run)
}

fn apply_health(h: &mut Health, a: &HealthArgs) {
    if let Some(k) = a.health_kind {
        h.kind = k;
    }
    if let Some(s) = &a.health_service {
        h.service = s.clone();
    }
    if a.health_port.is_some() {
        h.port = a.health_port;
    }
    if let Some(p) = &a.health_path {
        h.path = p.clone();
    }
    if let Some(c) = &a.health_codes {
        h.codes = c.clone();
    }
    if let Some(u) = &a.health_url {
        h.url = Some(u.clone());
    }
}

fn cmd_new(ctx: &Ctx, a: NewArgs) -> Result<i32> {
    ccci_core::recipe_name::RecipeName::parse(&a.recipe)?;
    let mut overrides = vec![];
    for kv in &a.env {
        let parsed = EnvFile::parse(kv, "--env")?;
        if parsed.entries.len() != 1 {
            return Err(exit::usage(format!("--env {kv:?} is not KEY=VALUE")));
        }
        overrides.push(parsed.entries[0].clone());
    }
    if let Some(h) = &a.secret_hook
        && !std::path::Path::new(h).is_file()
    {
        return Err(exit::usage(format!("secret hook {h} does not exist")));
    }
    if let Some(u) = &a.health.health_url
        && !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("tcp://"))
    {
        return Err(exit::usage(format!(
            "--health-url {u:?} must start with http://, https:// or tcp://"
        )));
    }
    let state_dir = ctx.cfg.ensure_state_dir()?.to_path_buf();
    ctx.docker.check_swarm_manager()?;
    let instance = ctx.cfg.instance_id()?;
    let run_id = match a.run_id {
        Some(id) => id,
        None => ids::new_run_id()?,
    };
    let run = RunDir::create(&state_dir, &run_id)?;
    let _lock = run.lock()?;
    run.ledger(
        "new-start",
        json!({"recipe": a.recipe, "repo": a.repo, "ref": a.r#ref}),
    )?;

    git::clone(&a.repo, &run.recipe_dir())?;
    let resolved = recipe::resolve(&run, &a.r#ref)?;
    expect_commit(&resolved, a.expect_sha.as_deref())?;
    let install = match &a.install_ref {
        Some(r) => recipe::resolve(&run, r)?,
        None => resolved.clone(),
    };
    let sample = recipe::checkout(&run, &install)?;

    let domain = app::domain_for(
        &a.recipe,
        a.pr,
        &a.r#ref,
        &run_id,
        &instance,
        &ctx.cfg.base_domain,
    );
    let stack = app::stack_for(&domain);
    let mut health = Health::default();
    apply_health(&mut health, &a.health);
    let app = App {
        schema: app::SCHEMA,
        run_id: run_id.clone(),
        recipe: a.recipe.clone(),
        domain: domain.clone(),
        stack: stack.clone(),
        instance,
        health,
        timeout_secs: a.timeout,
        secret_hook: a.secret_hook.map(|h| {
            std::fs::canonicalize(&h)
                .map(|p| p.display().to_string())
                .unwrap_or(h)
        }),
        deploys: 0,
        install_ref: Some(install.r#ref.clone()),
        deployed: None,
        deploy_started_ms: 0,
    };
    state::write_json(
        &run.request_path(),
        &Request {
            schema: ccci_core::rundir::SCHEMA,
            run_id: run_id.clone(),
            recipe: a.recipe.clone(),
            source_repo: a.repo.clone(),
            pr: a.pr,
            r#ref: a.r#ref.clone(),
            head_sha: resolved.sha.clone(),
            trigger: a.trigger,
            created: ids::now_rfc3339(),
        },
    )?;
    app.save(&run)?;
    // Before anything is created on docker: secrets and warm volumes made under
    // a name someone else's stack already uses would be mixed into that stack,
    // and ours would later be torn down along with theirs. (app.json is kept, so
    // the refused run can still be inspected and torn down.)
    if let Err(e) = ownership::refuse_foreign(&ctx.docker, &app) {
        if exit::code_of(&e) == exit::NO {
            run.ledger(
                "new-refused",
                json!({"reason": ccci_core::cli::one_line(&e)}),
            )?;
        }
        return Err(e);
    }

    let warm = if a.from_canonical {
        Some(warm::source(&state_dir, &a.recipe)?)
    } else {
        None
    };
    // A warm app keeps the env its data was made with, plus what the ref adds.
    let mut env = match &warm {
        Some(w) => {
            let mut e = w.env.clone();
            e.add_missing(&sample);
            e
        }
        None => sample,
    };
    env.set("TYPE", &a.recipe);
    env.set("DOMAIN", &domain);
    for o in overrides {
        env.set(&o.key, &o.value);
    }
    run.write_private("app.env", env.render().as_bytes())?;

    if let Some(w) = &warm {
        let volumes = warm::copy(&ctx.docker, &state_dir, w, &app, &run)?;
        log::info(&format!(
            "warm start from the canonical {} {}: {} volumes copied",
            a.recipe,
            w.canonical.version,
            volumes.len()
        ));
    }
    let config = recipe::render(&ctx.docker, &run, &app, &env)?;
    let created = secrets::ensure(&ctx.docker, &app, &run, &config, &env)?;
    run.ledger(
        "new",
        json!({"domain": domain, "stack": stack, "sha": resolved.sha, "install_ref": install.r#ref, "secrets": created}),
    )?;
    if ctx.json {
        print_json(
            "ok",
            &format!(
                "app {domain} (stack {stack}) at {} {}",
                a.r#ref,
                &resolved.sha[..12]
            ),
            json!({"run_id": run_id, "run_dir": run.path, "domain": domain, "stack": stack, "head_sha": resolved.sha, "secrets": created}),
        );
    } else {
        println!("{run_id}");
        log::info(&format!(
            "app {domain} (stack {stack}) at {} {}",
            a.r#ref,
            &resolved.sha[..12]
        ));
    }
    Ok(exit::OK)
}

/// Pull every image before deploying, so a missing tag fails fast with the
/// registry's own words and nothing half-deployed is left.
fn pull_images(docker: &Docker, images: &[String]) -> Result<()> {
    for image in images {
        if let Err(e) = docker.run(&["pull", "--quiet", image]) {
            if exit::code_of(&e) == exit::TEMPFAIL {
                return Err(e.context(format!("cannot pull {image}")));
            }
            return Err(exit::no(format!(
                "cannot pull image {image}: {}",
                ccci_core::cli::one_line(&e)
            )));
        }
    }
    Ok(())
}

/// Check out `ref`, refresh the env with settings the ref adds, create missing
/// secrets, pull and deploy. Returns the resolved ref.
fn deploy_ref(
    ctx: &Ctx,
    run: &RunDir,
    app: &mut App,
    r#ref: &str,
    expect_sha: Option<&str>,
) -> Result<recipe::Resolved> {
    // No separate reachability check: the first docker call below maps an
    // unreachable engine to exit 75 itself, and `new` checked for a swarm manager.
    let resolved = recipe::resolve(run, r#ref)?;
    expect_commit(&resolved, expect_sha)?;
    let sample = recipe::checkout(run, &resolved)?;
    let mut env = EnvFile::read(&run.env_path())?;
    let added = env.add_missing(&sample);
    if !added.is_empty() {
        run.write_private("app.env", env.render().as_bytes())?;
    }
    let mut config = recipe::render(&ctx.docker, run, app, &env)?;
    // Before anything is created: `docker stack deploy` would adopt anything of
    // the same name in the namespace (rewrite a foreign service with our
    // labels, mount a foreign volume) and hand it all to our teardown. A
    // refusal is a red verdict, before the deploy is counted or recorded.
    ownership::refuse_foreign(&ctx.docker, app)?;
    secrets::ensure(&ctx.docker, app, run, &config, &env)?;
    recipe::label(&mut config, app, &resolved)?;
    health::inject(
        &mut config,
        &app.health,
        &ctx.cfg.probe_image,
        &app.labels(),
    );
    let images = recipe::images(&config);
    pull_images(&ctx.docker, &images)?;
    ccci_core::compose::write_rendered(&config, &run.rendered_path())?;

    // Anything swarm reports from one second before this point belongs to us.
    app.deploy_started_ms = (ids::now_nanos() / 1_000_000) as u64 - 1000;
    app.deploys += 1;
    app.save(run)?;
    run.ledger(
        "deploy-start",
        json!({"ref": resolved.r#ref, "sha": resolved.sha, "tag": resolved.tag, "images": images, "env_added": added}),
    )?;
    let rendered = run.rendered_path();
    ctx.docker
        .run(&[
            "stack",
            "deploy",
            "--resolve-image",
            "always",
            "-c",
            &rendered.to_string_lossy(),
            &app.stack,
        ])
        .map_err(|e| {
            if exit::code_of(&e) == exit::TEMPFAIL {
                e
            } else {
                exit::no(format!(
                    "docker stack deploy failed: {}",
                    ccci_core::cli::one_line(&e)
                ))
            }
        })?;
    app.deployed = Some(recipe::deployed_record(&resolved));
    app.save(run)?;
    run.ledger(
        "deploy",
        json!({"ref": resolved.r#ref, "sha": resolved.sha, "stack": app.stack}),
    )?;
    Ok(resolved)
}

/// The commit a run planned is its identity: a ref that names another one now
/// (a branch pushed during the run) is not deployed. Exit 75: the run is worth
/// repeating on the new head, and the recipe is not to blame.
fn expect_commit(resolved: &recipe::Resolved, expect: Option<&str>) -> Result<()> {
    match expect {
        Some(want) if !resolved.sha.starts_with(want) || want.len() < 7 => {
            Err(exit::tempfail(format!(
                "{} names {} now, not {want} the run planned: it moved during the run",
                resolved.r#ref,
                &resolved.sha[..12]
            )))
        }
        _ => Ok(()),
    }
}

fn timeout_for(run: &RunDir, app: &App, flag: Option<u64>) -> Duration {
    // The recipe's timeout label, as last deployed.
    let from_label = || -> Option<u64> {
        let text = std::fs::read_to_string(run.rendered_path()).ok()?;
        let config: serde_json::Value = serde_norway::from_str(&text).ok()?;
        let labels = ccci_core::compose::deploy_labels(&config["services"]["app"]);
        labels
            .get(&ccci_core::labels::coop_cloud(
                &app.stack,
                ccci_core::labels::coop::TIMEOUT,
            ))?
            .as_str()?
            .parse()
            .ok()
    };
    Duration::from_secs(
        flag.or(app.timeout_secs)
            .or_else(from_label)
            .unwrap_or(DEFAULT_TIMEOUT),
    )
}

fn wait_app(
    ctx: &Ctx,
    run: &RunDir,
    app: &App,
    timeout: Option<u64>,
    since_now: bool,
) -> Result<Verdict> {
    let timeout = timeout_for(run, app, timeout);
    let probe = health::Probe {
        health: app.health.clone(),
    };
    let since = if since_now {
        ids::now_nanos()
    } else {
        app.deploy_started_ms as u128 * 1_000_000
    };
    let v = converge::wait(&ctx.docker, app, since, timeout, &probe)?;
    run.ledger("wait", serde_json::to_value(&v)?)?;
    Ok(v)
}

/// A deploy that failed for the recipe's reasons (missing image, rejected spec)
/// is a red verdict; anything else (bad input, Docker unreachable) stays an error.
fn red_verdict(e: anyhow::Error) -> Result<Verdict> {
    if exit::code_of(&e) != exit::NO {
        return Err(e);
    }
    Ok(Verdict {
        ok: false,
        reason: ccci_core::cli::one_line(&e),
        service: None,
        logs: vec![],
        elapsed_ms: 0,
    })
}

fn report_verdict(ctx: &Ctx, v: &Verdict, extra: serde_json::Value) -> i32 {
    if ctx.json {
        let mut out = serde_json::to_value(v).unwrap_or_default();
        if let (Some(o), Some(e)) = (out.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        print_json(ccci_core::verdict::ok_or_red(v.ok), &v.reason, out);
    } else {
        let secs = v.elapsed_ms as f64 / 1000.0;
        if v.ok {
            println!("ok: {} in {secs:.1} s", v.reason);
        } else {
            println!("red: {} (after {secs:.1} s)", v.reason);
            for l in &v.logs {
                println!("  | {l}");
            }
        }
    }
    if v.ok { exit::OK } else { exit::NO }
}

fn cmd_deploy(ctx: &Ctx, a: DeployArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let _lock = run.lock()?;
    let mut app = App::load(&run)?;
    let r#ref = match a.r#ref {
        Some(r) => r,
        // Redeploy what runs; a first deploy is of the ref the app was created at.
        None => match (&app.deployed, &app.install_ref) {
            (Some(d), _) => d.r#ref.clone(),
            (None, Some(r)) => r.clone(),
            (None, None) => state::read_json::<Request>(&run.request_path())?.r#ref,
        },
    };
    let resolved = match deploy_ref(ctx, &run, &mut app, &r#ref, a.expect_sha.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            let v = red_verdict(e)?;
            run.ledger("deploy-failed", json!({"reason": v.reason}))?;
            return Ok(report_verdict(ctx, &v, json!({})));
        }
    };
    if a.wait {
        let v = wait_app(ctx, &run, &app, a.timeout, false)?;
        return Ok(report_verdict(
            ctx,
            &v,
            json!({"ref": resolved.r#ref, "sha": resolved.sha}),
        ));
    }
    if ctx.json {
        print_json(
            "ok",
            &format!(
                "deployed {} ({}) as stack {}",
                resolved.r#ref,
                &resolved.sha[..12],
                app.stack
            ),
            json!({"ok": true, "ref": resolved.r#ref, "sha": resolved.sha, "stack": app.stack}),
        );
    } else {
        println!(
            "deployed {} ({}) as stack {}",
            resolved.r#ref,
            &resolved.sha[..12],
            app.stack
        );
    }
    Ok(exit::OK)
}

fn cmd_wait(ctx: &Ctx, a: WaitArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let _lock = run.lock()?;
    let app = App::load(&run)?;
    if app.deployed.is_none() {
        return Err(exit::usage(format!("run {} has not been deployed", run.id)));
    }
    ctx.docker.check_swarm_manager()?;
    let v = wait_app(ctx, &run, &app, a.timeout, a.since_now)?;
    Ok(report_verdict(ctx, &v, json!({})))
}

/// What the running `app` service says it is: its version and chaos-version labels.
fn running_identity(ctx: &Ctx, app: &App) -> Result<(String, String)> {
    let v = ctx.docker.inspect("service", &[app.service_name("app")])?;
    let labels = v
        .first()
        .map(|s| s["Spec"]["Labels"].clone())
        .unwrap_or_default();
    use ccci_core::labels::coop;
    let get = |l: &str| {
        labels[ccci_core::labels::coop_cloud(&app.stack, l)]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    Ok((get(coop::VERSION), get(coop::CHAOS_VERSION)))
}

/// After an upgrade: is the running spec really the ref? (chaos-version = the SHA,
/// or version = the tag.) abra may stamp a `+U` suffix for unstaged changes; the
/// commit must still match.
pub fn runs_ref(version: &str, chaos: &str, sha: &str, tag: Option<&str>) -> bool {
    match tag {
        Some(t) => version == t && chaos.is_empty(),
        None => {
            let c = chaos.strip_suffix("+U").unwrap_or(chaos);
            c.len() >= 7 && sha.starts_with(c)
        }
    }
}

fn cmd_upgrade(ctx: &Ctx, a: UpgradeArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let _lock = run.lock()?;
    let mut app = App::load(&run)?;
    let Some(before) = app.deployed.clone() else {
        return Err(exit::usage(format!(
            "run {} has nothing deployed to upgrade; deploy it first",
            run.id
        )));
    };
    let resolved = match deploy_ref(ctx, &run, &mut app, &a.r#ref, a.expect_sha.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            let v = red_verdict(e)?;
            run.ledger("upgrade", json!({"ok": false, "reason": v.reason}))?;
            return Ok(report_verdict(
                ctx,
                &v,
                json!({"from": before.r#ref, "to": a.r#ref}),
            ));
        }
    };
    let mut v = wait_app(ctx, &run, &app, a.timeout, false)?;
    let (version, chaos) = running_identity(ctx, &app)?;
    let proven = runs_ref(&version, &chaos, &resolved.sha, resolved.tag.as_deref());
    let running = if chaos.is_empty() {
        format!("version {version}")
    } else {
        format!("chaos-version {chaos}")
    };
    if !proven {
        let why = format!(
            "the running spec is not {} ({}): the app service runs {running}",
            resolved.r#ref,
            &resolved.sha[..12]
        );
        // Keep a red wait's own reason (what failed) and add what runs instead.
        v.reason = if v.ok {
            why
        } else {
            format!("{}; {why}", v.reason)
        };
        v.ok = false;
    } else if v.ok {
        v.reason = format!("{}; running {running}", v.reason);
    }
    run.ledger(
        "upgrade",
        json!({"ok": v.ok, "from": before.sha, "to": resolved.sha, "running": running}),
    )?;
    Ok(report_verdict(
        ctx,
        &v,
        json!({"from": before.r#ref, "to": resolved.r#ref, "sha": resolved.sha, "running_version": version, "running_chaos_version": chaos}),
    ))
}

fn cmd_teardown(ctx: &Ctx, a: TeardownArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let _lock = run.lock()?;
    let app = state::read_json_opt::<App>(&run.app_path())?;
    ctx.docker.check_swarm_manager()?;
    let retained = run.retained()?;
    let keep: &[&str] = if a.release {
        &[]
    } else if a.keep_volumes || retained.is_some() {
        &teardown::RETAINED_KINDS
    } else {
        &[]
    };
    run.ledger(
        "teardown-start",
        json!({"keep": keep, "release": a.release}),
    )?;
    // The instance the app's objects were labelled with; a run that died before
    // its app.json was written can only have been this state dir's.
    let instance = match &app {
        Some(a) => a.instance.clone(),
        None => ctx.cfg.instance_id()?,
    };
    let report = teardown::teardown(
        &ctx.docker,
        &run.id,
        &instance,
        app.as_ref().map(|a| a.stack.as_str()),
        Duration::from_secs(60),
        keep,
    )?;
    if report.leftovers.is_empty() {
        if keep.is_empty() {
            if retained.is_some() {
                std::fs::remove_file(run.retained_path())?;
            }
        } else {
            let names = |kind: &str| -> Vec<String> {
                report
                    .kept
                    .iter()
                    .filter(|o| o.kind == kind)
                    .map(|o| o.name.clone())
                    .collect()
            };
            state::write_json(
                &run.retained_path(),
                &ccci_core::rundir::Retained {
                    schema: ccci_core::rundir::SCHEMA,
                    volumes: names("volume"),
                    secrets: names("secret"),
                    since: retained.map(|r| r.since).unwrap_or_else(ids::now_rfc3339),
                },
            )?;
        }
    }
    run.ledger("teardown", serde_json::to_value(&report)?)?;
    Ok(report_teardown(ctx, &run.id, &report))
}

fn report_teardown(ctx: &Ctx, run_id: &str, r: &teardown::Report) -> i32 {
    if ctx.json {
        let (outcome, summary) = if r.leftovers.is_empty() {
            (
                "clean",
                format!("run {run_id}: removed {} objects, nothing left", r.removed),
            )
        } else {
            (
                "leftovers",
                format!("run {run_id}: {} objects left behind", r.leftovers.len()),
            )
        };
        print_json(
            outcome,
            &summary,
            json!({"run_id": run_id, "clean": r.leftovers.is_empty(), "removed": r.removed, "leftovers": r.leftovers, "kept": r.kept, "foreign": r.foreign, "elapsed_ms": r.elapsed_ms}),
        );
    } else {
        // Foreign objects do not make a teardown red (they were never ours to
        // remove), but the verdict line says they are there, and each gets a
        // line saying whose it is.
        let foreign = if r.foreign.is_empty() {
            String::new()
        } else {
            format!(
                "; {} objects in its stack namespace are not this run's and were left alone",
                r.foreign.len()
            )
        };
        if r.leftovers.is_empty() {
            let kept = if r.kept.is_empty() {
                String::new()
            } else {
                format!(" but the {} retained volumes and secrets", r.kept.len())
            };
            println!(
                "clean: run {run_id}: removed {} objects in {:.1} s, nothing left{kept}{foreign}",
                r.removed,
                r.elapsed_ms as f64 / 1000.0
            );
        } else {
            println!(
                "red: run {run_id}: {} objects left behind{foreign}:",
                r.leftovers.len()
            );
            for o in &r.leftovers {
                println!("  {} {} ({})", o.kind, o.name, o.id);
            }
        }
        for f in &r.foreign {
            println!("left: {} {}: not this run's ({})", f.kind, f.name, f.owner);
        }
    }
    if r.leftovers.is_empty() {
        exit::OK
    } else {
        exit::NO
    }
}

/// When did the run last do anything? (The newest ledger event, else the run dir.)
fn last_activity_secs_ago(run: &RunDir) -> Option<u64> {
    let now = ids::now_nanos();
    let last = run
        .ledger_events()
        .ok()?
        .last()
        .and_then(|e| e["ts"].as_str().map(ids::parse_docker_time))
        .filter(|t| *t > 0)
        .or_else(|| {
            let m = std::fs::metadata(&run.path).ok()?.modified().ok()?;
            Some(m.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos())
        })?;
    Some((now.saturating_sub(last) / 1_000_000_000) as u64)
}

fn cmd_reap(ctx: &Ctx, a: ReapArgs) -> Result<i32> {
    let state_dir = ctx.cfg.ensure_state_dir()?.to_path_buf();
    ctx.docker.check_swarm_manager()?;
    let instance = ctx.cfg.instance_id()?;
    let runs = teardown::runs_on_engine(&ctx.docker, &instance)?;
    // The canonical apps are named in their canonical.json files, the one
    // record of them; an unreadable one stops the reaper (exit 2) rather than
    // let it reap a canonical app's data.
    let canonical = ccci_core::canonical::app_runs(&state_dir)?;
    let mut results = vec![];
    let mut code = exit::OK;
    for run_id in runs {
        // The id comes from a docker label anyone on this engine could set; it
        // must never lead outside the runs directory.
        if !ccci_core::rundir::valid_id(&run_id) {
            results.push(json!({"run_id": run_id, "verdict": "kept: not a valid run id"}));
            continue;
        }
        let dir = RunDir::runs_root(&state_dir).join(&run_id);
        let run = RunDir {
            id: run_id.clone(),
            path: dir.clone(),
        };
        let mut foreign: Vec<ownership::ForeignObject> = vec![];
        let verdict = if let Some(recipe) = canonical.get(&run_id) {
            format!("kept: canonical app of {recipe}")
        } else if dir.is_dir() && state::Lock::is_held(&run.lock_path())? {
            "kept: run is alive".to_string()
        } else if dir.is_dir() && last_activity_secs_ago(&run).is_some_and(|s| s < a.grace) {
            format!("kept: active within the last {} s", a.grace)
        } else if a.dry_run {
            "would reap".to_string()
        } else {
            // Take the run lock so a run resuming right now cannot race the reaper.
            let _lock = if dir.is_dir() {
                match state::Lock::try_acquire(&run.lock_path())? {
                    Some(l) => Some(l),
                    None => {
                        results.push(json!({"run_id": run_id, "verdict": "kept: run is alive"}));
                        continue;
                    }
                }
            } else {
                None
            };
            let stack = state::read_json_opt::<App>(&run.app_path())
                .ok()
                .flatten()
                .map(|a| a.stack);
            // A run retaining its data (awaiting promotion, or canonical) keeps it.
            let keep: &[&str] = if dir.is_dir() && run.retained()?.is_some() {
                &teardown::RETAINED_KINDS
            } else {
                &[]
            };
            // The runs were found by this instance's label, so this instance
            // is whose objects the reaper may remove.
            let r = teardown::teardown(
                &ctx.docker,
                &run_id,
                &instance,
                stack.as_deref(),
                Duration::from_secs(60),
                keep,
            )?;
            if dir.is_dir() {
                let _ = run.ledger("reap", serde_json::to_value(&r)?);
            }
            // What the reaper found in the run's namespace but left alone.
            let left: String = r
                .foreign
                .iter()
                .map(|f| format!("; left {} {}: not this run's ({})", f.kind, f.name, f.owner))
                .collect();
            foreign = r.foreign;
            if r.leftovers.is_empty() {
                format!("reaped: {} objects{left}", r.removed)
            } else {
                code = exit::NO;
                let names: Vec<String> = r
                    .leftovers
                    .iter()
                    .map(|o| format!("{} {}", o.kind, o.name))
                    .collect();
                format!("red: leftovers: {}{left}", names.join(", "))
            }
        };
        results.push(json!({"run_id": run_id, "verdict": verdict, "foreign": foreign}));
    }
    if ctx.json {
        let reaped = results
            .iter()
            .filter(|r| {
                r["verdict"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("reaped"))
            })
            .count();
        print_json(
            ccci_core::verdict::ok_or_red(code == exit::OK),
            &format!("{reaped} of {} runs reaped", results.len()),
            json!({"runs": results}),
        );
    } else if results.is_empty() {
        println!("nothing to reap");
    } else {
        for r in &results {
            println!(
                "{} {}",
                r["run_id"].as_str().unwrap_or(""),
                r["verdict"].as_str().unwrap_or("")
            );
        }
    }
    Ok(code)
}

fn cmd_exec(ctx: &Ctx, a: ExecArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let app = App::load(&run)?;
    let container = ctx
        .docker
        .running_container(&app.stack, &a.service)
        .map_err(|e| {
            if exit::code_of(&e) == exit::NO {
                exit::usage(format!(
                    "run {}: service {} has no running container",
                    run.id, a.service
                ))
            } else {
                e
            }
        })?;
    let status = ctx
        .docker
        .command()
        .args(["exec", "-i", &container])
        .args(&a.command)
        .status()
        .map_err(|e| exit::tempfail(format!("cannot run docker exec: {e}")))?;
    Ok(status.code().unwrap_or(exit::NO))
}

fn cmd_probe(ctx: &Ctx, a: ProbeArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let app = App::load(&run)?;
    let mut h = app.health.clone();
    apply_health(&mut h, &a.health);
    let snap = converge::snapshot(&ctx.docker, &app.stack)?;
    let outcome = health::Probe { health: h }.check(&ctx.docker, &app, &snap)?;
    let (ok, what) = match outcome {
        Ok(w) => (true, w),
        Err(w) => (false, w),
    };
    if ctx.json {
        print_json(
            ccci_core::verdict::ok_or_red(ok),
            &what,
            json!({"ok": ok, "reason": what}),
        );
    } else {
        println!("{}: {what}", if ok { "ok" } else { "red" });
    }
    Ok(if ok { exit::OK } else { exit::NO })
}

fn cmd_status(ctx: &Ctx, a: RunArg) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let app = App::load(&run)?;
    ctx.docker.check_swarm_manager()?;
    let snap = converge::snapshot(&ctx.docker, &app.stack)?;
    let since = app.deploy_started_ms as u128 * 1_000_000;
    let pending = converge::pending(&snap, &app.stack, since, 1);
    let failure = converge::failure(&snap, &app.stack, since)
        .map(|f| format!("service {}: {}", f.service, f.reason));
    // What runs is what the app service's labels say now, which after a
    // rollback is not what was last asked for.
    let running = match &app.deployed {
        Some(_) if !snap.services.is_empty() => Some(running_identity(ctx, &app)?),
        _ => None,
    };
    let running_text = running.as_ref().map(|(version, chaos)| {
        let what = if chaos.is_empty() {
            format!(
                "version {}",
                if version.is_empty() { "none" } else { version }
            )
        } else {
            format!("chaos-version {chaos}")
        };
        let asked = app
            .deployed
            .as_ref()
            .map(|d| runs_ref(version, chaos, &d.sha, d.tag.as_deref()))
            .unwrap_or(true);
        if asked {
            what
        } else {
            format!("{what}, not the ref last deployed (rolled back or paused)")
        }
    });
    if ctx.json {
        print_json(
            "ok",
            &format!(
                "run {}: {}",
                app.run_id,
                running_text
                    .clone()
                    .unwrap_or_else(|| "not deployed".into())
            ),
            json!({
                "app": app, "services": snap.services.len(), "pending": pending, "failure": failure,
                "running_version": running.as_ref().map(|r| &r.0),
                "running_chaos_version": running.as_ref().map(|r| &r.1),
                "running": running_text,
            }),
        );
    } else {
        println!("run      {}", app.run_id);
        println!("recipe   {}", app.recipe);
        println!("domain   {}", app.domain);
        println!("stack    {}", app.stack);
        if let Some(d) = &app.deployed {
            println!("deployed {} ({}) at {}", d.r#ref, d.sha, d.at);
        }
        if let Some(r) = &running_text {
            println!("running  {r}");
        }
        println!("services {}", snap.services.len());
        for p in &pending {
            println!("pending  {p}");
        }
        if let Some(f) = &failure {
            println!("failure  {f}");
        }
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn upgrade_proof() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(runs_ref("", sha, sha, None));
        assert!(runs_ref("", "01234567+U", sha, None));
        assert!(!runs_ref("", "fedcba98", sha, None));
        assert!(!runs_ref("", "", sha, None));
        assert!(runs_ref("0.2.0+1.1", "", sha, Some("0.2.0+1.1")));
        assert!(!runs_ref("0.1.0+1.0", "", sha, Some("0.2.0+1.1")));
    }
}
