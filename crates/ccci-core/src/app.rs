//! `app.json`: what ccci knows about the one app of a run, written by
//! `ccci-deploy` and read by every tool that works on the app; and the health
//! settings, the same type in a recipe's `recipe.json` and in `app.json`.

use crate::rundir::RunDir;
use crate::{exit, ids, labels, state};
use anyhow::Result;
use serde::{Deserialize, Serialize};

pub const SCHEMA: u32 = 1;

/// How an app's health is probed. A closed set: an unknown kind in a
/// `recipe.json` is bad input, never quietly HTTP.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HealthKind {
    Http,
    Tcp,
    None,
}

impl HealthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthKind::Http => "http",
            HealthKind::Tcp => "tcp",
            HealthKind::None => "none",
        }
    }
}

impl std::fmt::Display for HealthKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health probe of an app: `health` in `recipe.json` (every field may be
/// left out) and in `app.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Health {
    #[serde(default = "default_kind")]
    pub kind: HealthKind,
    /// Compose service the probe targets.
    #[serde(default = "default_service")]
    pub service: String,
    /// Port; `None` means the Traefik service port label of that service.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default = "default_codes")]
    pub codes: Vec<u16>,
    /// Probe from the host instead of the app network: `https://{domain}/path`
    /// (the public route, as production serves it) or `tcp://host:port`.
    /// `{domain}` is replaced by the app's domain.
    #[serde(default)]
    pub url: Option<String>,
    /// Seconds from the start of a deploy during which a service's tasks may
    /// fail and be restarted without the deploy being red (the fair start, see
    /// `ccci-deploy`'s `converge`). `None`: the service's healthcheck
    /// `start_period`, else 60 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_window: Option<u64>,
    /// Failed tasks in a row (none coming up in between) a service may have
    /// within its start window; one more is red. `None`: 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
}

fn default_kind() -> HealthKind {
    HealthKind::Http
}
fn default_service() -> String {
    "app".into()
}
fn default_path() -> String {
    "/".into()
}
fn default_codes() -> Vec<u16> {
    vec![200]
}

impl Default for Health {
    fn default() -> Self {
        Health {
            kind: default_kind(),
            service: default_service(),
            port: None,
            path: default_path(),
            codes: default_codes(),
            url: None,
            start_window: None,
            max_restarts: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployed {
    pub r#ref: String,
    pub sha: String,
    /// The release tag deployed, or `None` for a chaos (untagged) deploy.
    pub tag: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct App {
    pub schema: u32,
    pub run_id: String,
    pub recipe: String,
    pub domain: String,
    pub stack: String,
    /// Id of the ccci state dir that owns this app (docker label `ccci.instance`).
    pub instance: String,
    pub health: Health,
    /// Convergence timeout; `None` = the recipe's timeout label, else 300 s.
    pub timeout_secs: Option<u64>,
    /// Executable that supplies secrets marked `generate=false`.
    pub secret_hook: Option<String>,
    /// Number of `deploy` calls so far (a run deploys one app; upgrades redeploy it).
    pub deploys: u32,
    /// The ref the app is created at (`new --install-ref`, else `--ref`): what a
    /// first `deploy` without `--ref` deploys. `None` in app.json files written
    /// before it was recorded; then the request's ref.
    #[serde(default)]
    pub install_ref: Option<String>,
    pub deployed: Option<Deployed>,
    /// Unix milliseconds just before the last `docker stack deploy`: swarm events
    /// older than this belong to earlier deploys.
    #[serde(default)]
    pub deploy_started_ms: u64,
    /// CI compose overlays, copied into the run directory when the app was
    /// created; each deploy layers those of its phase after the recipe's files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlays: Vec<crate::overlay::Overlay>,
    /// The swarm node every service of the app is pinned to (its volumes
    /// and backups live there); `None` in app.json files from before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl App {
    pub fn load(run: &RunDir) -> Result<App> {
        let p = run.app_path();
        if !p.exists() {
            return Err(exit::usage(format!(
                "run {} has no app (app.json missing); run `ccci-deploy new` first",
                run.id
            )));
        }
        state::read_json(&p)
    }

    pub fn save(&self, run: &RunDir) -> Result<()> {
        state::write_json(&run.app_path(), self)
    }

    /// Labels for every docker object of this app.
    pub fn labels(&self) -> Vec<(String, String)> {
        vec![
            (labels::RUN.into(), self.run_id.clone()),
            (labels::INSTANCE.into(), self.instance.clone()),
        ]
    }

    pub fn service_name(&self, service: &str) -> String {
        format!("{}_{}", self.stack, service)
    }
}

/// abra's limit on stack names (`MAX_SANITISED_APP_NAME_LENGTH`).
const MAX_STACK: usize = 45;

/// The per-run domain: `<recipe>-<hash>.<base>`, where the hash covers recipe, PR,
/// ref, run id and the ccci instance: the same inputs give the same name, two
/// runs never collide. The instance is in it because run ids are only unique
/// within one state dir (`--run-id` is given by hand or by a runner), and two
/// ccci hosts sharing a swarm must never be handed the same stack.
/// The unique part comes first so abra's 45-character cut of the stack name can
/// never remove it.
pub fn domain_for(
    recipe: &str,
    pr: Option<u64>,
    r#ref: &str,
    run_id: &str,
    instance: &str,
    base: &str,
) -> String {
    let h = ids::fnv1a(&[
        recipe,
        &pr.map(|p| p.to_string()).unwrap_or_default(),
        r#ref,
        run_id,
        instance,
    ]);
    let slug: String = recipe
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(16)
        .collect();
    let slug = slug.trim_matches('-');
    format!(
        "{}-{:08x}.{base}",
        if slug.is_empty() { "app" } else { slug },
        h as u32
    )
}

/// abra's stack name: the domain with dots as underscores, cut to 45 characters.
pub fn stack_for(domain: &str) -> String {
    let s: String = domain.replace('.', "_");
    s.chars()
        .take(MAX_STACK)
        .collect::<String>()
        .trim_end_matches('_')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_deterministic_and_unique_per_run() {
        let a = domain_for("demo", Some(3), "main", "r1", "i1", "ci.localhost");
        assert_eq!(
            a,
            domain_for("demo", Some(3), "main", "r1", "i1", "ci.localhost")
        );
        assert_ne!(
            a,
            domain_for("demo", Some(3), "main", "r2", "i1", "ci.localhost")
        );
        assert_ne!(
            a,
            domain_for("demo", Some(4), "main", "r1", "i1", "ci.localhost")
        );
        assert!(a.starts_with("demo-") && a.ends_with(".ci.localhost"));
    }

    #[test]
    fn two_instances_with_the_same_run_id_get_different_domains() {
        let a = domain_for(
            "demo",
            None,
            "0.1.0+1.0",
            "r1",
            "0123456789ab",
            "ci.localhost",
        );
        let b = domain_for(
            "demo",
            None,
            "0.1.0+1.0",
            "r1",
            "ba9876543210",
            "ci.localhost",
        );
        assert_ne!(a, b);
        assert_ne!(stack_for(&a), stack_for(&b));
    }

    #[test]
    fn stack_is_abra_style() {
        assert_eq!(
            stack_for("demo-1a2b3c4d.ci.localhost"),
            "demo-1a2b3c4d_ci_localhost"
        );
        let long = stack_for("a-very-long-recipe-name-1a2b3c4d.some.long.base.domain.example.org");
        assert_eq!(long.len(), 45);
        assert!(long.contains("1a2b3c4d"));
    }
}
