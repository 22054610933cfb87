//! Configuration: one JSON file plus environment overrides.
//!
//! Looked up at `$CCCI_CONFIG`, else `/etc/ccci/config.json` if present; every key can
//! be overridden by an environment variable (`CCCI_STATE_DIR`, ...), and the state dir
//! falls back to systemd's `$STATE_DIRECTORY`. JSON because the NixOS module writes it
//! with `builtins.toJSON` and the tools already speak serde_json.

use crate::exit::{self, WithCode};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where runs, canonical state, ledgers and locks live.
    pub state_dir: PathBuf,
    /// Per-run app domains are `<name>.<base_domain>`.
    pub base_domain: String,
    /// Docker context to talk to (empty: the docker CLI's default).
    pub docker_context: String,
    /// Image the network probe container runs; needs `wget` and `nc`.
    pub probe_image: String,
    /// How many runs may hold a deploy slot at once on this host.
    pub max_parallel_runs: u32,
    /// MiB that must be free on Docker's data root before a deploy (0: no
    /// check): an upgrade briefly holds both releases' images.
    pub min_free_disk_mb: u64,
    /// MiB of memory the runs side by side may take together (0: three
    /// quarters of the engine's host memory); docs/budget.md.
    pub budget_memory_mb: u64,
    /// MiB of disk the runs and the shared apps may take together (0: no
    /// cap beyond what is free above `min_free_disk_mb`).
    pub budget_disk_mb: u64,
    /// Per-recipe settings and test suites (`recipes/` of the source tree).
    pub recipes_dir: PathBuf,
    /// The Gitea (or Forgejo) server's `ROOT_URL`, where pull requests live.
    pub gitea_url: Option<String>,
    /// Where the run pages are served (`https://ci.example.org/`), for links
    /// in pull request comments and commit statuses.
    pub public_url: Option<String>,
    /// The `!testme` bridge (docs/bridge.md).
    pub bridge: Bridge,
}

/// What the bridge watches and how it starts runs.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Bridge {
    /// Repositories to watch, `OWNER/NAME`.
    pub repos: Vec<String>,
    /// Organisations whose every repository is watched.
    pub orgs: Vec<String>,
    /// Logins that may trigger without write permission on the repository.
    pub allow: Vec<String>,
    /// Seconds between poll cycles.
    pub poll_interval_s: u64,
    /// The longest wait between cycles while Gitea is in trouble.
    pub max_backoff_s: u64,
    /// Seconds between re-reads of the organisations' repository lists.
    pub org_refresh_s: u64,
    /// Seconds one request to Gitea may take.
    pub gitea_timeout_s: u64,
    /// `ADDR:PORT` of the webhook and run-page listener (none: no listener).
    pub listen: Option<String>,
    /// File holding the webhooks' shared secret (relative: in systemd's
    /// `$CREDENTIALS_DIRECTORY`); required when `listen` is set.
    pub webhook_secret_file: Option<PathBuf>,
    /// How a queued run is started.
    pub launcher: Launcher,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Launcher {
    /// `ccci-run` as a child of the bridge (by hand, tests).
    Direct,
    /// `systemctl start ccci-run@<run-id>.service` (a host: runs outlive a
    /// bridge restart).
    Systemd,
}

impl Default for Bridge {
    fn default() -> Self {
        Bridge {
            repos: vec![],
            orgs: vec![],
            allow: vec![],
            poll_interval_s: 60,
            max_backoff_s: 600,
            org_refresh_s: 3600,
            gitea_timeout_s: 20,
            listen: None,
            webhook_secret_file: None,
            launcher: Launcher::Direct,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: PathBuf::from("/var/lib/ccci"),
            base_domain: "ci.localhost".into(),
            docker_context: String::new(),
            probe_image: "127.0.0.1:5000/ccci/busybox:1.0".into(),
            max_parallel_runs: 1,
            min_free_disk_mb: 2048,
            budget_memory_mb: 0,
            budget_disk_mb: 0,
            recipes_dir: PathBuf::from("/usr/share/ccci/recipes"),
            gitea_url: None,
            public_url: None,
            bridge: Bridge::default(),
        }
    }
}

impl Config {
    /// Load from the config file (if any) and the environment.
    pub fn load() -> Result<Config> {
        let explicit = std::env::var_os("CCCI_CONFIG").map(PathBuf::from);
        let path = explicit
            .clone()
            .or_else(|| Some(PathBuf::from("/etc/ccci/config.json")).filter(|p| p.exists()));
        let mut cfg = match &path {
            Some(p) => Self::from_file(p)?,
            None => Config::default(),
        };
        if let Some(sd) = std::env::var_os("STATE_DIRECTORY") {
            // systemd may pass several colon-separated directories; the first is ours.
            let first = sd
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or("")
                .to_string();
            if !first.is_empty() && path.is_none() {
                cfg.state_dir = PathBuf::from(first);
            }
        }
        if let Some(v) = std::env::var_os("CCCI_STATE_DIR") {
            cfg.state_dir = PathBuf::from(v);
        }
        if let Ok(v) = std::env::var("CCCI_BASE_DOMAIN") {
            cfg.base_domain = v;
        }
        if let Ok(v) = std::env::var("CCCI_DOCKER_CONTEXT") {
            cfg.docker_context = v;
        }
        if let Ok(v) = std::env::var("CCCI_PROBE_IMAGE") {
            cfg.probe_image = v;
        }
        // Set but empty means unset (a unit's `Environment=` cannot unset).
        if let Ok(v) = std::env::var("CCCI_GITEA_URL")
            && !v.is_empty()
        {
            cfg.gitea_url = Some(v);
        }
        if let Ok(v) = std::env::var("CCCI_PUBLIC_URL")
            && !v.is_empty()
        {
            cfg.public_url = Some(v);
        }
        if let Some(v) = std::env::var_os("CCCI_RECIPES_DIR") {
            cfg.recipes_dir = PathBuf::from(v);
        }
        if let Ok(v) = std::env::var("CCCI_MAX_PARALLEL_RUNS") {
            cfg.max_parallel_runs = v.parse().map_err(|_| {
                exit::usage(format!("CCCI_MAX_PARALLEL_RUNS={v:?} is not a number"))
            })?;
        }
        for (var, field) in [
            ("CCCI_MIN_FREE_DISK_MB", &mut cfg.min_free_disk_mb),
            ("CCCI_BUDGET_MEMORY_MB", &mut cfg.budget_memory_mb),
            ("CCCI_BUDGET_DISK_MB", &mut cfg.budget_disk_mb),
        ] {
            if let Ok(v) = std::env::var(var) {
                *field = v
                    .parse()
                    .map_err(|_| exit::usage(format!("{var}={v:?} is not a number")))?;
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_file(p: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read config {}", p.display()))
            .code(exit::USAGE)?;
        serde_json::from_str(&text).map_err(|e| {
            let at = blame(&text).map(|k| format!(" at {k}")).unwrap_or_default();
            exit::usage(format!("config {} is invalid{at}: {e}", p.display()))
        })
    }

    pub fn validate(&self) -> Result<()> {
        if !self.state_dir.is_absolute() {
            return Err(exit::usage(format!(
                "state_dir {} must be an absolute path",
                self.state_dir.display()
            )));
        }
        let d = &self.base_domain;
        let ok = !d.is_empty()
            && d.len() <= 200
            && d.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            return Err(exit::usage(format!("base_domain {d:?} is not a DNS name")));
        }
        if !self.recipes_dir.is_absolute() {
            return Err(exit::usage(format!(
                "recipes_dir {} must be an absolute path",
                self.recipes_dir.display()
            )));
        }
        if self.probe_image.trim().is_empty() || self.probe_image.contains(char::is_whitespace) {
            return Err(exit::usage(format!(
                "probe_image {:?} is not an image reference",
                self.probe_image
            )));
        }
        for (key, url) in [
            ("gitea_url", &self.gitea_url),
            ("public_url", &self.public_url),
        ] {
            if let Some(u) = url
                && !(u.starts_with("http://") || u.starts_with("https://"))
            {
                return Err(exit::usage(format!("{key} {u:?} is not an http(s) URL")));
            }
        }
        for r in &self.bridge.repos {
            r.parse::<crate::gitea::RepoRef>()
                .map_err(|_| exit::usage(format!("bridge.repos: {r:?} is not OWNER/NAME")))?;
        }
        if let Some(l) = &self.bridge.listen
            && l.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(exit::usage(format!(
                "bridge.listen {l:?} is not ADDRESS:PORT (e.g. 127.0.0.1:8080)"
            )));
        }
        // Upper bounds keep times from overflowing, and catch a unit mix-up
        // (milliseconds for seconds).
        let b = &self.bridge;
        for (key, v, max) in [
            ("bridge.poll_interval_s", b.poll_interval_s, 86_400),
            ("bridge.max_backoff_s", b.max_backoff_s, 7 * 86_400),
            ("bridge.org_refresh_s", b.org_refresh_s, 7 * 86_400),
            ("bridge.gitea_timeout_s", b.gitea_timeout_s, 3_600),
        ] {
            if v > max {
                return Err(exit::usage(format!("{key} {v} is more than {max} seconds")));
            }
        }
        if self.bridge.poll_interval_s == 0 || self.bridge.gitea_timeout_s == 0 {
            return Err(exit::usage(
                "bridge.poll_interval_s and bridge.gitea_timeout_s must be at least 1",
            ));
        }
        if self.max_parallel_runs == 0 {
            return Err(exit::usage("max_parallel_runs must be at least 1"));
        }
        // 1 PiB: a size in bytes (2 GiB is 2147483648) is caught as a unit mix-up.
        for (key, v) in [
            ("min_free_disk_mb", self.min_free_disk_mb),
            ("budget_memory_mb", self.budget_memory_mb),
            ("budget_disk_mb", self.budget_disk_mb),
        ] {
            if v > MAX_MIB {
                return Err(exit::usage(format!(
                    "{key} {v} is more than {MAX_MIB} MiB (1 PiB): it is in MiB, not bytes"
                )));
            }
        }
        Ok(())
    }

    /// Make sure the state directory exists and is writable by us; a clear exit-2
    /// line otherwise (the classic mistake is a root-owned dir and a service user).
    pub fn ensure_state_dir(&self) -> Result<&Path> {
        let d = &self.state_dir;
        std::fs::create_dir_all(d)
            .with_context(|| format!("cannot create state dir {}", d.display()))
            .code(exit::USAGE)?;
        let probe = d.join(format!(".write-test.{}", std::process::id()));
        std::fs::write(&probe, b"")
            .with_context(|| format!("state dir {} is not writable", d.display()))
            .code(exit::USAGE)?;
        let _ = std::fs::remove_file(&probe);
        Ok(d)
    }

    /// A stable id of this state dir, stamped on every docker object we create so
    /// that two ccci instances (or test suites) on one engine never reap each other.
    pub fn instance_id(&self) -> Result<String> {
        let p = self.state_dir.join("instance-id");
        if let Ok(s) = std::fs::read_to_string(&p) {
            let s = s.trim().to_string();
            if !s.is_empty() {
                return Ok(s);
            }
        }
        let _lock = crate::state::Lock::acquire(
            &self.state_dir.join("instance-id.lock"),
            std::time::Duration::from_secs(10),
            "instance id",
        )?;
        if let Ok(s) = std::fs::read_to_string(&p)
            && !s.trim().is_empty()
        {
            return Ok(s.trim().to_string());
        }
        let id = crate::ids::random_hex(12)?;
        crate::state::write_atomic(&p, format!("{id}\n").as_bytes(), 0o644)?;
        Ok(id)
    }
}

/// The largest size in MiB a key takes, 1 PiB.
pub const MAX_MIB: u64 = 1 << 30;

/// The key a config fails on (`bridge.poll_interval_s`), found by reading
/// each key alone; serde's own message names a type, not where it was.
fn blame(text: &str) -> Option<String> {
    let serde_json::Value::Object(top) = serde_json::from_str(text).ok()? else {
        return None;
    };
    let fails = |v: serde_json::Value| serde_json::from_value::<Config>(v).is_err();
    for (k, v) in top {
        if !fails(serde_json::json!({ k.clone(): v.clone() })) {
            continue;
        }
        if let serde_json::Value::Object(inner) = &v {
            for (ik, iv) in inner {
                if fails(serde_json::json!({ k.clone(): { ik.clone(): iv.clone() } })) {
                    return Some(format!("{k}.{ik}"));
                }
            }
        }
        return Some(k);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_domain_and_relative_dir() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        c.base_domain = "bad domain".into();
        assert_eq!(exit::code_of(&c.validate().unwrap_err()), exit::USAGE);
        let c = Config {
            state_dir: "rel".into(),
            ..Config::default()
        };
        assert_eq!(exit::code_of(&c.validate().unwrap_err()), exit::USAGE);
    }

    #[test]
    fn min_free_disk_mb_is_mib_and_named_when_bad() {
        assert_eq!(Config::default().min_free_disk_mb, 2048);
        let c = Config {
            min_free_disk_mb: 0,
            ..Config::default()
        };
        assert!(c.validate().is_ok(), "0 disables the check");
        let c = Config {
            min_free_disk_mb: 2 * 1024 * 1024 * 1024,
            ..Config::default()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(exit::code_of(&e), exit::USAGE);
        assert!(format!("{e:#}").contains("min_free_disk_mb"), "{e:#}");
        assert_eq!(
            blame(r#"{"state_dir":"/x","min_free_disk_mb":"lots"}"#).as_deref(),
            Some("min_free_disk_mb")
        );
    }

    #[test]
    fn unknown_key_is_usage_error() {
        let d = std::env::temp_dir().join(format!("ccci-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("c.json");
        std::fs::write(&p, r#"{"state_dir":"/x","bogus":1}"#).unwrap();
        let e = Config::from_file(&p).unwrap_err();
        assert_eq!(exit::code_of(&e), exit::USAGE);
        assert!(format!("{e:#}").contains("bogus"));
    }
}
