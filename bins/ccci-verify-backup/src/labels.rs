//! What backup-bot-two would back up, read from the deployed services' labels:
//! a service with `backupbot.backup=true` has its volumes backed up, minus those
//! labelled `backupbot.backup.volumes.<vol>=false`, narrowed to
//! `backupbot.backup.volumes.<vol>.path=a,b` when given (legacy
//! `backupbot.backup.path=/abs,...` maps onto the volumes mounted there). Hooks run
//! inside the service's container. Volumes of services without the label are
//! reported as not covered.

use ccci_core::backupbot as bb;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VolumePlan {
    /// Volume name in the recipe (`db`).
    pub volume: String,
    /// Docker's name (`<stack>_db`).
    pub docker_name: String,
    /// Where the service mounts it.
    pub target: String,
    pub covered: bool,
    /// Paths relative to the volume root; empty = the whole volume.
    pub paths: Vec<String>,
    /// Why not covered, when not.
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServicePlan {
    pub service: String,
    pub enabled: bool,
    pub pre_hook: Option<String>,
    pub post_hook: Option<String>,
    pub restore_pre_hook: Option<String>,
    pub restore_post_hook: Option<String>,
    pub volumes: Vec<VolumePlan>,
}

fn label<'a>(svc: &'a Value, key: &str) -> Option<&'a str> {
    svc["Spec"]["Labels"][key]
        .as_str()
        .filter(|s| !s.is_empty())
}

/// Plan the backup of a stack from its services (docker inspect JSON).
pub fn plan(services: &[Value], stack: &str) -> Vec<ServicePlan> {
    let mut out = vec![];
    for svc in services {
        let full = svc["Spec"]["Name"].as_str().unwrap_or("");
        let service = full
            .strip_prefix(&format!("{stack}_"))
            .unwrap_or(full)
            .to_string();
        if service == "ccci-probe" {
            continue;
        }
        let enabled = label(svc, bb::BACKUP) == Some("true");
        let legacy: Vec<&str> = label(svc, bb::LEGACY_PATH)
            .map(bb::paths)
            .unwrap_or_default();
        let mounts = svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut volumes = vec![];
        for m in mounts.iter().filter(|m| m["Type"] == "volume") {
            let docker_name = m["Source"].as_str().unwrap_or("").to_string();
            let target = m["Target"].as_str().unwrap_or("").to_string();
            let volume = docker_name
                .strip_prefix(&format!("{stack}_"))
                .unwrap_or(&docker_name)
                .to_string();
            let key = bb::volume_key(&volume);
            let mut paths: Vec<String> = label(svc, &bb::volume_paths_key(&volume))
                .map(|p| {
                    bb::paths(p)
                        .into_iter()
                        .map(|s| s.trim_start_matches('/').to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            for abs in &legacy {
                // Component-wise: /database is not inside a mount at /data.
                if let Ok(rel) = std::path::Path::new(abs).strip_prefix(&target) {
                    let rel = rel.to_string_lossy().into_owned();
                    if !rel.is_empty() {
                        paths.push(rel);
                    }
                }
            }
            let escaping: Vec<&String> = paths.iter().filter(|p| bb::leaves_volume(p)).collect();
            let (covered, why) = if let Some(bad) = escaping.first() {
                (
                    false,
                    format!("label path {bad:?} leaves the volume; refusing it"),
                )
            } else if !enabled {
                (
                    false,
                    format!("service {service} has no backupbot.backup=true label"),
                )
            } else if label(svc, &key) == Some("false") {
                (false, format!("excluded by {key}=false"))
            } else {
                (true, String::new())
            };
            volumes.push(VolumePlan {
                volume,
                docker_name,
                target,
                covered,
                paths,
                why,
            });
        }
        out.push(ServicePlan {
            service,
            enabled,
            pre_hook: label(svc, bb::PRE_HOOK).map(String::from),
            post_hook: label(svc, bb::POST_HOOK).map(String::from),
            restore_pre_hook: label(svc, bb::RESTORE_PRE_HOOK).map(String::from),
            restore_post_hook: label(svc, bb::RESTORE_POST_HOOK).map(String::from),
            volumes,
        });
    }
    out.sort_by(|a, b| a.service.cmp(&b.service));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, labels: Value, mounts: Value) -> Value {
        json!({"Spec": {"Name": name, "Labels": labels, "TaskTemplate": {"ContainerSpec": {"Mounts": mounts}}}})
    }

    #[test]
    fn reads_bb2_labels() {
        let services = vec![
            svc(
                "s_db",
                json!({"backupbot.backup": "true", "backupbot.backup.pre-hook": "dump", "backupbot.backup.volumes.db.path": "dump.tar", "backupbot.restore.post-hook": "load"}),
                json!([{"Type": "volume", "Source": "s_db", "Target": "/var/lib/db"}]),
            ),
            svc(
                "s_app",
                json!({"backupbot.backup": "true", "backupbot.backup.volumes.cache": "false"}),
                json!([{"Type": "volume", "Source": "s_content", "Target": "/www"}, {"Type": "volume", "Source": "s_cache", "Target": "/cache"}, {"Type": "bind", "Source": "/etc", "Target": "/etc"}]),
            ),
            svc(
                "s_worker",
                json!({}),
                json!([{"Type": "volume", "Source": "s_scratch", "Target": "/x"}]),
            ),
            svc(
                "s_legacy",
                json!({"backupbot.backup": "true", "backupbot.backup.path": "/data/uploads,/elsewhere,/database"}),
                json!([{"Type": "volume", "Source": "s_data", "Target": "/data"}]),
            ),
            svc(
                "s_evil",
                json!({"backupbot.backup": "true", "backupbot.backup.volumes.x.path": "../../../../etc"}),
                json!([{"Type": "volume", "Source": "s_x", "Target": "/x"}]),
            ),
        ];
        let p = plan(&services, "s");
        let names: Vec<&str> = p.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["app", "db", "evil", "legacy", "worker"]);
        assert!(!p[2].volumes[0].covered && p[2].volumes[0].why.contains("leaves the volume"));
        let db = &p[1];
        assert_eq!(db.pre_hook.as_deref(), Some("dump"));
        assert_eq!(db.restore_post_hook.as_deref(), Some("load"));
        assert_eq!(db.volumes[0].paths, ["dump.tar"]);
        assert!(db.volumes[0].covered);
        let app = &p[0];
        assert_eq!(app.volumes.len(), 2, "bind mounts are not volumes");
        assert!(app.volumes[0].covered && app.volumes[0].paths.is_empty());
        assert!(!app.volumes[1].covered && app.volumes[1].why.contains("=false"));
        assert!(
            !p[4].volumes[0].covered && p[4].volumes[0].why.contains("no backupbot.backup=true")
        );
        assert_eq!(
            p[3].volumes[0].paths,
            ["uploads"],
            "/database is not under /data"
        );
    }
}
