//! `ccci-deploy new`: create a run's app (clone, env, secrets, warm start).

use super::deploy::expect_commit;
use crate::NewArgs;
use crate::app::{self, App, Health};
use crate::{apply_health, print_json};
use crate::{ownership, recipe, secrets, warm};
use anyhow::{Context, Result};
use ccci_core::cli::Ctx;
use ccci_core::envfile::EnvFile;
use ccci_core::overlay::{Overlay, Phase};
use ccci_core::rundir::{Request, RunDir};
use ccci_core::{exit, git, ids, log, state};
use serde_json::json;

pub(crate) fn cmd_new(ctx: &Ctx, a: NewArgs) -> Result<i32> {
    ccci_core::recipe_name::RecipeName::parse(&a.recipe)?;
    let overrides = crate::env_args::EnvArgs::parse(&a.env, &a.dep_domain)?;
    let overlays = a
        .overlays
        .iter()
        .map(|p| Overlay::at(p))
        .collect::<Result<Vec<_>>>()?;
    // They are copied into the run by name: two of one name would be one.
    for (i, o) in overlays.iter().enumerate() {
        if overlays[..i].iter().any(|x| x.file == o.file) {
            return Err(exit::usage(format!(
                "two overlays are named {} ({}): give each its own name",
                o.file,
                o.path.display()
            )));
        }
    }
    if let Some(h) = &a.secret_hook
        && !std::path::Path::new(h).is_file()
    {
        return Err(exit::usage(format!("secret hook {h} does not exist")));
    }
    // Every flag is checked before anything is created.
    let mut health = Health::default();
    apply_health(&mut health, &a.health)?;
    if let Some(u) = &health.url
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

    match &a.clone_from {
        Some(local) => git::clone_via(std::path::Path::new(local), &a.repo, &run.recipe_dir())?,
        None => git::clone(&a.repo, &run.recipe_dir())?,
    }
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
    let sample = with_app_domain(&run, sample, &a.recipe, &domain)?;
    let overrides = overrides.expanded(&domain, &stack)?;
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
        overlays: vec![],
        // One node holds the app: the engine ccci drives (docs/scaling.md).
        node: Some(ctx.docker.node_id()?),
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
    let mut app = app;
    app.overlays = copy_overlays(&run, &overlays)?;
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
    for (k, v) in &overrides {
        env.set(k, v);
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
    let config = recipe::render(&ctx.docker, &run, &app, &env, Phase::Install)?;
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

/// Copy the CI overlays into the run directory: the run deploys what it was
/// created with, whatever happens to the recipes tree meanwhile.
fn copy_overlays(run: &RunDir, overlays: &[Overlay]) -> Result<Vec<Overlay>> {
    let dir = run.file("overlays");
    let mut out = vec![];
    for o in overlays {
        std::fs::create_dir_all(&dir)?;
        let to = dir.join(&o.file);
        std::fs::copy(&o.path, &to)
            .with_context(|| format!("cannot copy overlay {}", o.path.display()))?;
        out.push(Overlay {
            path: to,
            ..o.clone()
        });
    }
    Ok(out)
}

/// What `abra app new` writes: the recipe's sample with every
/// `<recipe>.example.com` (DOMAIN, and `EXTRA_DOMAINS` or a mail domain that
/// repeats it) replaced by the app's domain, in the file's text, so the
/// references of other settings stay as written.
fn with_app_domain(run: &RunDir, sample: EnvFile, recipe: &str, domain: &str) -> Result<EnvFile> {
    let placeholder = format!("{recipe}.example.com");
    let path = run.recipe_dir().join(".env.sample");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !text.contains(&placeholder) {
        return Ok(sample);
    }
    EnvFile::parse(
        &text.replace(&placeholder, domain),
        &path.display().to_string(),
    )
}
