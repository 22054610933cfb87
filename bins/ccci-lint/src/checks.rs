//! The checks, each over the recipe's files and its config as Docker's loader
//! renders it with the sample env.

use ccci_core::backupbot as bb;
use ccci_core::compose;
use ccci_core::envfile::EnvFile;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// The stack name the config is rendered with (labels name it).
pub const STACK: &str = "ccci_lint";

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub reason: String,
}

fn f(id: &'static str, severity: Severity, reason: impl Into<String>) -> Finding {
    Finding {
        id,
        severity,
        reason: reason.into(),
    }
}

fn services(config: &Value) -> Vec<(&String, &Value)> {
    compose::section(config, "services").collect()
}

pub fn app_service(config: &Value) -> Finding {
    if config["services"].get("app").is_some() {
        f("app-service", Severity::Ok, "a service named app")
    } else {
        f(
            "app-service",
            Severity::Error,
            "no service is named app (abra puts the version labels there, and probes it)",
        )
    }
}

pub fn healthchecks(config: &Value) -> Finding {
    let missing: Vec<&str> = services(config)
        .into_iter()
        .filter(|(_, s)| {
            let h = &s["healthcheck"];
            h.is_null() || h["disable"] == Value::Bool(true)
        })
        .map(|(n, _)| n.as_str())
        .collect();
    if missing.is_empty() {
        f(
            "healthcheck",
            Severity::Ok,
            "every service has a healthcheck",
        )
    } else {
        f(
            "healthcheck",
            Severity::Warning,
            format!(
                "no healthcheck on {}: swarm calls them running as soon as they start",
                missing.join(", ")
            ),
        )
    }
}

/// `name:tag` or `name@sha256:...`; a registry port is not a tag.
fn image_ref(image: &str) -> (bool, Option<&str>) {
    if image.contains('@') {
        return (true, None);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => (true, Some(tag)),
        None => (false, None),
    }
}

pub fn images_pinned(config: &Value) -> Finding {
    let mut bad = vec![];
    for (name, s) in services(config) {
        let Some(image) = s["image"].as_str() else {
            bad.push(format!("{name} has no image"));
            continue;
        };
        match image_ref(image) {
            (false, _) => bad.push(format!("{name}: {image} has no tag")),
            (true, Some("latest")) => bad.push(format!("{name}: {image} uses latest")),
            _ => {}
        }
    }
    if bad.is_empty() {
        f(
            "image-pinned",
            Severity::Ok,
            "every image is pinned to a tag or digest",
        )
    } else {
        f("image-pinned", Severity::Error, bad.join("; "))
    }
}

pub fn version_label(config: &Value, tag: Option<&str>) -> Finding {
    let key = ccci_core::labels::coop_cloud(STACK, ccci_core::labels::coop::VERSION);
    let labels = compose::deploy_labels(&config["services"]["app"]);
    let found = labels.get(&key).and_then(Value::as_str);
    match (tag, found) {
        (None, _) => f(
            "version-label",
            Severity::Ok,
            "not a release tag: the version label is not compared",
        ),
        (Some(t), Some(v)) if v == t => f(
            "version-label",
            Severity::Ok,
            format!("app's version label is {t}"),
        ),
        (Some(t), Some(v)) => f(
            "version-label",
            Severity::Error,
            format!("app's version label is {v}, but the release tag is {t}"),
        ),
        (Some(t), None) => f(
            "version-label",
            Severity::Error,
            format!("app has no coop-cloud.${{STACK_NAME}}.version label (release tag {t})"),
        ),
    }
}

/// abra's convention: secret `db_password` is versioned by `SECRET_DB_PASSWORD_VERSION`.
fn secret_var(name: &str) -> String {
    format!("SECRET_{}_VERSION", name.to_uppercase())
}

pub fn secrets_declared(config: &Value, sample: &EnvFile) -> Finding {
    let used: BTreeSet<String> = compose::section(config, "secrets")
        .map(|(n, _)| n.clone())
        .collect();
    let declared: BTreeSet<String> = sample
        .vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("SECRET_")
                .and_then(|r| r.strip_suffix("_VERSION"))
                .map(str::to_lowercase)
        })
        .collect();
    let mut bad = vec![];
    for s in used.difference(&declared) {
        bad.push(format!(
            "secret {s} is used but {} is not in .env.sample",
            secret_var(s)
        ));
    }
    for s in declared.difference(&used) {
        bad.push(format!(
            "{} is in .env.sample but no secret {s} is used",
            secret_var(s)
        ));
    }
    if bad.is_empty() {
        f(
            "secrets-declared",
            Severity::Ok,
            format!("{} secrets, each declared in .env.sample", used.len()),
        )
    } else {
        f("secrets-declared", Severity::Error, bad.join("; "))
    }
}

/// Backup-bot labels: known keys, boolean switches, volume names the service
/// mounts, relative paths that stay inside their volume, legacy absolute paths
/// under a mount. Paths are not required to exist now: pre-hooks often write
/// the very file a label names (a database dump).
pub fn backup_labels(config: &Value) -> Finding {
    let mut bad = vec![];
    let mut covered = 0;
    for (name, s) in services(config) {
        let labels = compose::deploy_labels(s);
        let mounts: Vec<(String, String)> = s["volumes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|m| m["type"] == "volume")
                    .map(|m| {
                        (
                            m["source"].as_str().unwrap_or("").to_string(),
                            m["target"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in &labels {
            let Some(key) = bb::key(k) else {
                continue;
            };
            let v = v.as_str().unwrap_or("");
            let boolean = |bad: &mut Vec<String>| {
                if v != "true" && v != "false" {
                    bad.push(format!("{name}: {k}={v:?} is not true or false"));
                }
            };
            let vol = match key {
                bb::Key::Volume(vol) | bb::Key::VolumePaths(vol) => Some(vol),
                _ => None,
            };
            if let Some(vol) = vol
                && !mounts.iter().any(|(src, _)| src == vol)
            {
                bad.push(format!(
                    "{name}: {k} names volume {vol}, which {name} does not mount"
                ));
                continue;
            }
            match key {
                bb::Key::Unknown => bad.push(format!("{name}: unknown label {k}")),
                bb::Key::Volume(_) | bb::Key::Fixed(bb::BACKUP | bb::RESTORE) => boolean(&mut bad),
                bb::Key::VolumePaths(_) => {
                    for p in bb::paths(v).into_iter().filter(|p| bb::leaves_volume(p)) {
                        bad.push(format!("{name}: {k} path {p:?} leaves the volume"));
                    }
                }
                bb::Key::Fixed(bb::LEGACY_PATH) => {
                    for p in bb::paths(v) {
                        let inside = mounts
                            .iter()
                            .any(|(_, t)| Path::new(p).strip_prefix(t).is_ok());
                        if !p.starts_with('/') || !inside {
                            bad.push(format!(
                            "{name}: backupbot.backup.path {p:?} is not inside a volume {name} mounts"
                        ));
                        }
                    }
                }
                bb::Key::Fixed(_) => {
                    if k.ends_with("-hook") && v.trim().is_empty() {
                        bad.push(format!("{name}: {k} is empty"));
                    }
                }
            }
        }
        if labels.get(bb::BACKUP).and_then(Value::as_str) == Some("true") {
            covered += 1;
            if mounts.is_empty() {
                bad.push(format!(
                    "{name}: backupbot.backup=true but it mounts no volume"
                ));
            }
        }
    }
    if !bad.is_empty() {
        f("backup-labels", Severity::Error, bad.join("; "))
    } else if covered == 0 {
        f(
            "backup-labels",
            Severity::Warning,
            "no service has backupbot.backup=true: nothing of this app is backed up",
        )
    } else {
        f(
            "backup-labels",
            Severity::Ok,
            format!("{covered} services backed up, labels well formed"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_refs() {
        assert_eq!(image_ref("127.0.0.1:5000/x/y:1.0"), (true, Some("1.0")));
        assert_eq!(image_ref("127.0.0.1:5000/x/y"), (false, None));
        assert_eq!(image_ref("nginx@sha256:abc"), (true, None));
        let c = json!({"services": {"app": {"image": "nginx:latest"}, "db": {"image": "pg"}}});
        let r = images_pinned(&c);
        assert_eq!(r.severity, Severity::Error);
        assert!(r.reason.contains("latest") && r.reason.contains("db: pg has no tag"));
    }

    #[test]
    fn backup_label_shapes() {
        let c = json!({"services": {"db": {
            "volumes": [{"type": "volume", "source": "db", "target": "/var/lib/db"}],
            "deploy": {"labels": {
                "backupbot.backup": "yes",
                "backupbot.backup.volumes.other.path": "x",
                "backupbot.backup.volumes.db.path": "../etc",
                "backupbot.backup.path": "/etc/passwd",
                "backupbot.bakup.pre-hook": "x"
            }}
        }}});
        let r = backup_labels(&c);
        assert_eq!(r.severity, Severity::Error);
        for want in [
            "is not true or false",
            "does not mount",
            "leaves the volume",
            "not inside a volume",
            "unknown label",
        ] {
            assert!(r.reason.contains(want), "{want}: {}", r.reason);
        }
    }

    #[test]
    fn secrets_both_ways() {
        let c = json!({"secrets": {"db_password": {}}});
        let env = EnvFile::parse("SECRET_ADMIN_TOKEN_VERSION=v1\n", "t").unwrap();
        let r = secrets_declared(&c, &env);
        assert!(
            r.reason
                .contains("SECRET_DB_PASSWORD_VERSION is not in .env.sample")
        );
        assert!(r.reason.contains("no secret admin_token is used"));
    }
}
