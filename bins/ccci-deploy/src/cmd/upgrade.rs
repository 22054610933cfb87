//! `ccci-deploy upgrade`: redeploy another ref and prove it is what runs.

use super::deploy::{deploy_ref, red_verdict};
use super::wait::{report_verdict, wait_app};
use crate::UpgradeArgs;
use crate::app::App;
use crate::open_run;
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::envfile::EnvFile;
use ccci_core::exit;
use ccci_core::overlay::Phase;
use serde_json::json;

pub(crate) fn cmd_upgrade(ctx: &Ctx, a: UpgradeArgs) -> Result<i32> {
    let overrides = crate::env_args::EnvArgs::parse(&a.env, &a.dep_domain)?;
    let run = open_run(ctx, &a.run)?;
    let _lock = run.lock()?;
    let mut app = App::load(&run)?;
    let Some(before) = app.deployed.clone() else {
        return Err(exit::usage(format!(
            "run {} has nothing deployed to upgrade; deploy it first",
            run.id
        )));
    };
    if !overrides.is_empty() {
        // Set before the new release's sample fills in what it adds: these
        // are the operator's choices for the upgrade, which the sample's
        // defaults must not replace.
        let set = overrides.expanded(&app.domain, &app.stack)?;
        let mut env = EnvFile::read(&run.env_path())?;
        for (k, v) in &set {
            env.set(k, v);
        }
        run.write_private("app.env", env.render().as_bytes())?;
        let keys: Vec<&str> = set.iter().map(|(k, _)| k.as_str()).collect();
        run.ledger("upgrade-env", json!({"keys": keys}))?;
    }
    let (resolved, asks) = match deploy_ref(
        ctx,
        &run,
        &mut app,
        &a.r#ref,
        a.expect_sha.as_deref(),
        Phase::Upgrade,
    ) {
        Ok(done) => done,
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
    let running = describe_running(&version, &chaos);
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
    // The upgrade goes on, but the pull request shows what the release asks
    // of operators, who upgrade by hand.
    let asks_text = asks.sentence(&app.stack);
    if let Some(t) = &asks_text {
        v.reason = format!("{}; {t}", v.reason);
    }
    run.ledger(
        "upgrade",
        json!({"ok": v.ok, "from": before.sha, "to": resolved.sha, "running": running,
               "operator_env": asks.env, "operator_secrets": asks.secrets}),
    )?;
    Ok(report_verdict(
        ctx,
        &v,
        json!({"from": before.r#ref, "to": resolved.r#ref, "sha": resolved.sha, "running_version": version, "running_chaos_version": chaos,
               "operator_actions": {"env": asks.env, "secrets": asks.secrets, "say": asks_text}}),
    ))
}

/// What the running `app` service says it is: its version and chaos-version labels.
pub(crate) fn running_identity(ctx: &Ctx, app: &App) -> Result<(String, String)> {
    let v = ctx.docker.inspect("service", &[app.service_name("app")])?;
    Ok(identity_of(
        app,
        v.first().unwrap_or(&serde_json::Value::Null),
    ))
}

/// The version and chaos-version labels of an inspected `app` service.
pub(crate) fn identity_of(app: &App, service: &serde_json::Value) -> (String, String) {
    use ccci_core::labels::coop;
    let get = |l: &str| {
        service["Spec"]["Labels"][ccci_core::labels::coop_cloud(&app.stack, l)]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    (get(coop::VERSION), get(coop::CHAOS_VERSION))
}

/// What runs, in words: `version X` or `chaos-version SHA`.
pub(crate) fn describe_running(version: &str, chaos: &str) -> String {
    if chaos.is_empty() {
        format!(
            "version {}",
            if version.is_empty() { "none" } else { version }
        )
    } else {
        format!("chaos-version {chaos}")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
