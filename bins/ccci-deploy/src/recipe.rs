//! The recipe side of a deploy: check out a ref, build the app env, and render the
//! compose config with ccci's labels added.

use crate::app::{App, Deployed};
use anyhow::{Context, Result};
use ccci_core::docker::Docker;
use ccci_core::envfile::EnvFile;
use ccci_core::overlay::Phase;
use ccci_core::rundir::RunDir;
use ccci_core::{compose, exit, git, ids};
use serde_json::Value;

/// A ref resolved in the run's recipe checkout.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub r#ref: String,
    pub sha: String,
    /// Set when the ref is a release tag (then it is deployed as that version).
    pub tag: Option<String>,
}

pub fn resolve(run: &RunDir, r#ref: &str) -> Result<Resolved> {
    let repo = run.recipe_dir();
    // A tag or full SHA the clone already has is final; anything else (a branch,
    // a commit pushed since the run cloned) needs the origin's newest state.
    let known = git::is_tag(&repo, r#ref)
        || (r#ref.len() == 40 && git::resolve_commit(&repo, r#ref).is_ok());
    if !known && let Err(e) = git::fetch(&repo) {
        ccci_core::log::warn(&format!(
            "cannot fetch the recipe's origin, using the clone as is: {e:#}"
        ));
    }
    let sha = git::resolve_in_clone(&repo, r#ref)?;
    let tag = git::is_tag(&repo, r#ref).then(|| r#ref.to_string());
    Ok(Resolved {
        r#ref: r#ref.to_string(),
        sha,
        tag,
    })
}

/// Check the ref out and make sure it is a recipe at all.
pub fn checkout(run: &RunDir, r: &Resolved) -> Result<EnvFile> {
    let repo = run.recipe_dir();
    git::checkout(&repo, &r.sha)?;
    let sample = repo.join(".env.sample");
    if !sample.is_file() {
        return Err(exit::usage(format!(
            "{} at {} has no .env.sample (not a recipe?)",
            run.id, r.r#ref
        )));
    }
    if !repo.join("compose.yml").is_file() {
        return Err(exit::usage(format!(
            "the recipe at {} has no compose.yml",
            r.r#ref
        )));
    }
    EnvFile::read(&sample)
}

/// The variables a deploy interpolates with: the app env, `abra.sh` exports and
/// `STACK_NAME`, as abra merges them.
pub fn deploy_vars(run: &RunDir, app: &App, env: &EnvFile) -> Result<Vec<(String, String)>> {
    compose::interpolation_vars(&run.recipe_dir(), env, &app.stack)
}

/// Render the config of the checked-out ref, for a deploy of `phase`: the
/// recipe's compose files, then the CI overlays that apply to it.
pub fn render(
    docker: &Docker,
    run: &RunDir,
    app: &App,
    env: &EnvFile,
    phase: Phase,
) -> Result<Value> {
    let mut files = compose::files(&run.recipe_dir(), env)?;
    files.extend(
        app.overlays
            .iter()
            .filter(|o| o.phase.applies_to(phase))
            .map(|o| o.path.clone()),
    );
    let vars = deploy_vars(run, app, env)?;
    compose::render(docker, &run.recipe_dir(), &files, &vars)
}

/// Add ccci's labels to every object the stack will create, abra's version labels
/// to the `app` service, and make stack networks attachable so a probe container
/// can join them.
pub fn label(config: &mut Value, app: &App, r: &Resolved) -> Result<()> {
    let labels = app.labels();
    let stack = app.stack.clone();
    // With a shared network, the app's own networks are named to sort after
    // it: the order in which Docker's DNS lets another stack's service answer
    // a bare name (crate::decoy). Production's stack names often sort so.
    let shared = !crate::decoy::shared_networks(config).is_empty();
    let services = compose::obj_mut(config, "services");
    if !services.contains_key("app") {
        return Err(exit::usage(
            "the recipe has no service named `app` (abra puts its version labels there)",
        ));
    }
    for (name, svc) in services.iter_mut() {
        let container = compose::labels_mut(svc);
        for (k, v) in &labels {
            container.insert(k.clone(), Value::String(v.clone()));
        }
        let deploy = svc.as_object_mut().context("service is not a map")?;
        let deploy = deploy
            .entry("deploy")
            .or_insert_with(|| Value::Object(Default::default()));
        let dl = compose::labels_mut(deploy);
        for (k, v) in &labels {
            dl.insert(k.clone(), Value::String(v.clone()));
        }
        if name == "app" {
            use ccci_core::labels::coop;
            let key = |l: &str| ccci_core::labels::coop_cloud(&stack, l);
            dl.insert(key(coop::RECIPE), Value::String(app.recipe.clone()));
            match &r.tag {
                Some(tag) => {
                    dl.insert(key(coop::VERSION), Value::String(tag.clone()));
                    dl.insert(key(coop::CHAOS), Value::String("false".into()));
                    dl.remove(&key(coop::CHAOS_VERSION));
                }
                None => {
                    // abra --chaos keeps the recipe's own version label and
                    // records the commit as its short form (8 hex digits).
                    dl.insert(key(coop::CHAOS), Value::String("true".into()));
                    let short = &r.sha[..CHAOS_SHA_LEN.min(r.sha.len())];
                    dl.insert(key(coop::CHAOS_VERSION), Value::String(short.into()));
                }
            }
        }
    }
    for section in ["networks", "volumes", "configs", "secrets"] {
        if config.get(section).is_none() {
            continue;
        }
        for (key, def) in compose::obj_mut(config, section).iter_mut() {
            if compose::is_external(def) {
                continue;
            }
            let l = compose::labels_mut(def);
            for (k, v) in &labels {
                l.insert(k.clone(), Value::String(v.clone()));
            }
            if section == "networks" && shared {
                let key = key.clone();
                let def = def.as_object_mut().context("network is not a map")?;
                def.entry("name")
                    .or_insert_with(|| Value::String(last_name(&stack, &key)));
            }
            if section == "networks" {
                def.as_object_mut()
                    .context("network is not a map")?
                    .insert("attachable".into(), Value::Bool(true));
            }
        }
    }
    // A stack without explicit networks gets `<stack>_default` from docker; declare
    // it so it carries our labels too.
    let uses_default =
        compose::section(config, "services").any(|(_, s)| s.get("networks").is_none());
    if uses_default {
        let nets = compose::obj_mut(config, "networks");
        if !nets.contains_key("default") {
            let mut l = serde_json::Map::new();
            for (k, v) in &labels {
                l.insert(k.clone(), Value::String(v.clone()));
            }
            let mut def = serde_json::json!({"labels": l, "attachable": true});
            if shared {
                def["name"] = Value::String(last_name(&stack, "default"));
            }
            nets.insert("default".into(), def);
        }
    }
    Ok(())
}

/// An own network's name that sorts after every shared network's (`zz-`
/// sorts after any name that starts with a letter).
fn last_name(stack: &str, key: &str) -> String {
    format!("zz-{stack}_{key}")
}

/// Pin every service of the app (the health probe included) to its node: its
/// volumes, and so its backups, live there. The recipe's own constraints
/// stay; swarm wants all of them.
pub fn pin(config: &mut Value, app: &App) -> Result<()> {
    let Some(node) = &app.node else {
        return Ok(());
    };
    let constraint = Value::String(format!("node.id == {node}"));
    for (name, svc) in compose::obj_mut(config, "services").iter_mut() {
        let svc = svc
            .as_object_mut()
            .with_context(|| format!("service {name} is not a map"))?;
        let deploy = svc
            .entry("deploy")
            .or_insert_with(|| Value::Object(Default::default()));
        let placement = deploy
            .as_object_mut()
            .with_context(|| format!("service {name}'s deploy is not a map"))?
            .entry("placement")
            .or_insert_with(|| Value::Object(Default::default()));
        let constraints = placement
            .as_object_mut()
            .with_context(|| format!("service {name}'s placement is not a map"))?
            .entry("constraints")
            .or_insert_with(|| Value::Array(vec![]));
        if let Some(list) = constraints.as_array_mut()
            && !list.contains(&constraint)
        {
            list.push(constraint.clone());
        }
    }
    Ok(())
}

/// The length of the commit abra writes in the chaos-version label.
const CHAOS_SHA_LEN: usize = 8;

/// What abra adds to the `app` service from the app env: every variable of it
/// in the container's environment (`ExposeAllEnv`: a config template or an
/// entrypoint may read a setting the compose file does not list; what the
/// compose file sets itself is kept), and the auto-update label from
/// `ENABLE_AUTO_UPDATE`. `vars` are the interpolation variables (app env,
/// `abra.sh` exports, `STACK_NAME`).
pub fn expose_app_env(config: &mut Value, app: &App, vars: &[(String, String)]) -> Result<()> {
    let services = compose::obj_mut(config, "services");
    let Some(svc) = services.get_mut("app") else {
        return Ok(());
    };
    let svc = svc.as_object_mut().context("service app is not a map")?;
    let env = svc
        .entry("environment")
        .or_insert_with(|| Value::Object(Default::default()));
    let env = env
        .as_object_mut()
        .context("service app's environment is not a map")?;
    for (k, v) in vars {
        env.entry(k.clone())
            .or_insert_with(|| Value::String(v.clone()));
    }
    let auto = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "ENABLE_AUTO_UPDATE")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "false".into());
    let deploy = svc
        .entry("deploy")
        .or_insert_with(|| Value::Object(Default::default()));
    compose::labels_mut(deploy).insert(
        ccci_core::labels::coop_cloud(&app.stack, ccci_core::labels::coop::AUTOUPDATE),
        Value::String(auto),
    );
    Ok(())
}

/// Images of every service, in order, without duplicates.
pub fn images(config: &Value) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for (_, s) in compose::section(config, "services") {
        if let Some(i) = s.get("image").and_then(Value::as_str)
            && !out.iter().any(|x| x == i)
        {
            out.push(i.to_string());
        }
    }
    out
}

pub fn deployed_record(r: &Resolved) -> Deployed {
    Deployed {
        r#ref: r.r#ref.clone(),
        sha: r.sha.clone(),
        tag: r.tag.clone(),
        at: ids::now_rfc3339(),
    }
}
