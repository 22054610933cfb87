//! What a run's apps take, measured while the run goes, for the host's budget
//! (docs/budget.md): each app's peak memory (its containers' memory as
//! `docker stats` counts it, without the page cache the kernel can drop,
//! sampled every [`TICK`]) and peak disk (its volumes, and for the run's own
//! app the run directory with its backup repository, every [`DISK_EVERY`]
//! ticks and once more at the end).
//!
//! An app is a run id: the run's own (`<run>`, with its decoys and probes),
//! its second app (`<run>-second`) and its dependencies (`<run>-dep-<recipe>`),
//! named by the runner in full. Objects are found by ccci's labels with one of
//! those run ids, so another run's are never counted.

use ccci_core::budget::Figures;
use ccci_core::docker_api::Api;
use ccci_core::labels;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const TICK: Duration = Duration::from_secs(2);
const DISK_EVERY: u32 = 5;
const MIB: u64 = 1024 * 1024;

/// Peak figures by app run id.
pub(crate) type Peaks = BTreeMap<String, Figures>;

pub(crate) struct Sampler {
    done: Arc<AtomicBool>,
    handle: JoinHandle<Peaks>,
}

/// Start sampling the apps of a run, by their run ids (the run's own
/// first); `None` when the engine is not local (its stats would cost a
/// process per container per tick).
pub(crate) fn start(
    api: Option<Api>,
    apps: Vec<String>,
    instance: &str,
    run_dir: PathBuf,
) -> Option<Sampler> {
    let api = api?;
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let w = Watch {
        api,
        apps,
        instance: instance.to_string(),
        run_dir,
    };
    let handle = std::thread::spawn(move || {
        let mut peaks = Peaks::new();
        let mut tick = 0u32;
        while !d.load(Ordering::SeqCst) {
            // One look at the run's services serves both measures.
            let services = w.services();
            w.memory(&services, &mut peaks);
            if tick.is_multiple_of(DISK_EVERY) {
                w.disk(&services, &mut peaks);
            }
            tick += 1;
            // Short sleeps: stopping must not wait a whole tick.
            for _ in 0..TICK.as_millis() / 100 {
                if d.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        w.disk(&w.services(), &mut peaks);
        peaks
    });
    Some(Sampler { done, handle })
}

impl Sampler {
    /// Stop (before the teardown removes what is measured) and say the peaks.
    pub(crate) fn stop(self) -> Peaks {
        self.done.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

struct Watch {
    api: Api,
    /// The run ids of the run's apps, its own first.
    apps: Vec<String>,
    instance: String,
    run_dir: PathBuf,
}

impl Watch {
    /// The app run id an object's labels name, if it is one of this run's.
    fn app_of(&self, labels: &Value) -> Option<String> {
        if labels[labels::INSTANCE].as_str() != Some(&self.instance) {
            return None;
        }
        let run = labels[labels::RUN].as_str()?;
        self.apps.iter().find(|a| *a == run).cloned()
    }

    /// Service id → app, and stack → app, of this run's services.
    fn services(&self) -> Services {
        let (mut by_id, mut by_stack) = (BTreeMap::new(), BTreeMap::new());
        let label = format!("{}={}", labels::INSTANCE, self.instance);
        for s in self.api.services_with_label(&label).unwrap_or_default() {
            let l = &s["Spec"]["Labels"];
            if let (Some(app), Some(id)) = (self.app_of(l), s["ID"].as_str()) {
                if let Some(ns) = l[labels::NAMESPACE].as_str() {
                    by_stack.insert(ns.to_string(), app.clone());
                }
                by_id.insert(id.to_string(), app);
            }
        }
        Services { by_id, by_stack }
    }

    fn memory(&self, services: &Services, peaks: &mut Peaks) {
        let by_id = &services.by_id;
        if by_id.is_empty() {
            return;
        }
        let mut now: BTreeMap<String, u64> = BTreeMap::new();
        let containers = self.api.get("/containers/json").unwrap_or_default();
        for c in containers.as_array().into_iter().flatten() {
            let service = c["Labels"]["com.docker.swarm.service.id"].as_str();
            let (Some(app), Some(id)) = (service.and_then(|s| by_id.get(s)), c["Id"].as_str())
            else {
                continue;
            };
            let bytes = match from_cgroup(id) {
                Some(b) => b,
                None => match self.api.get(&format!(
                    "/containers/{id}/stats?stream=false&one-shot=true"
                )) {
                    Ok(stats) => memory_bytes(&stats["memory_stats"]),
                    Err(_) => continue,
                },
            };
            *now.entry(app.clone()).or_default() += bytes;
        }
        raise(peaks, now, |f| &mut f.memory_mb);
    }

    fn disk(&self, services: &Services, peaks: &mut Peaks) {
        let by_stack = &services.by_stack;
        let mut now: BTreeMap<String, u64> = BTreeMap::new();
        let volumes = self.api.get("/volumes").unwrap_or_default();
        for v in volumes["Volumes"].as_array().into_iter().flatten() {
            let l = &v["Labels"];
            let app = self.app_of(l).or_else(|| {
                l[labels::NAMESPACE]
                    .as_str()
                    .and_then(|ns| by_stack.get(ns).cloned())
            });
            if let (Some(app), Some(mp)) = (app, v["Mountpoint"].as_str()) {
                *now.entry(app).or_default() += ccci_core::disk::used_bytes(mp.as_ref());
            }
        }
        *now.entry(self.apps[0].clone()).or_default() += ccci_core::disk::used_bytes(&self.run_dir);
        raise(peaks, now, |f| &mut f.disk_mb);
    }
}

/// The run's services, by service id and by stack, each to its app.
struct Services {
    by_id: BTreeMap<String, String>,
    by_stack: BTreeMap<String, String>,
}

/// Raise each app's peak figure to what it takes now (bytes, to MiB).
fn raise(peaks: &mut Peaks, now: BTreeMap<String, u64>, figure: fn(&mut Figures) -> &mut u64) {
    for (app, bytes) in now {
        let f = figure(peaks.entry(app).or_default());
        *f = (*f).max(bytes.div_ceil(MIB));
    }
}

/// The same figure read from the container's cgroup, where the engine keeps
/// it (cgroup v1 or v2, cgroupfs or systemd driver): a file read, where the
/// engine's stats call takes a second per container on a busy swarm host.
fn from_cgroup(id: &str) -> Option<u64> {
    let places = [
        (
            format!("memory/docker/{id}"),
            "memory.usage_in_bytes",
            "total_inactive_file",
        ),
        (
            format!("memory/system.slice/docker-{id}.scope"),
            "memory.usage_in_bytes",
            "total_inactive_file",
        ),
        (
            format!("system.slice/docker-{id}.scope"),
            "memory.current",
            "inactive_file",
        ),
        (format!("docker/{id}"), "memory.current", "inactive_file"),
    ];
    places.iter().find_map(|(dir, usage, cache)| {
        let dir = std::path::Path::new("/sys/fs/cgroup").join(dir);
        let usage: u64 = std::fs::read_to_string(dir.join(usage))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let stat = std::fs::read_to_string(dir.join("memory.stat")).ok()?;
        Some(usage.saturating_sub(stat_field(&stat, cache).unwrap_or(0)))
    })
}

/// One `<key> <value>` line of a cgroup's `memory.stat`.
fn stat_field(stat: &str, key: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A container's memory as `docker stats` shows it: usage less the inactive
/// page cache (cgroup v1 names it `total_inactive_file`, v2 `inactive_file`).
fn memory_bytes(m: &Value) -> u64 {
    let usage = m["usage"].as_u64().unwrap_or(0);
    let cache = m["stats"]["total_inactive_file"]
        .as_u64()
        .or_else(|| m["stats"]["inactive_file"].as_u64())
        .unwrap_or(0);
    usage.saturating_sub(cache)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_is_usage_without_the_inactive_cache() {
        let v1 = json!({"usage": 10 * MIB, "stats": {"total_inactive_file": 4 * MIB}});
        assert_eq!(memory_bytes(&v1), 6 * MIB);
        let v2 = json!({"usage": 10 * MIB, "stats": {"inactive_file": MIB}});
        assert_eq!(memory_bytes(&v2), 9 * MIB);
        assert_eq!(memory_bytes(&json!({})), 0);
    }

    #[test]
    fn reads_a_cgroups_memory_stat() {
        let v1 = "cache 8192\ninactive_file 0\ntotal_inactive_file 7884800\n";
        assert_eq!(stat_field(v1, "total_inactive_file"), Some(7884800));
        assert_eq!(stat_field(v1, "inactive_file"), Some(0));
        assert_eq!(stat_field("anon 1\n", "inactive_file"), None);
        // A container that is not there has no cgroup.
        assert_eq!(from_cgroup("0000-not-a-container"), None);
    }

    #[test]
    fn a_real_containers_cgroup_says_what_the_engine_says() {
        // Without this, a cgroup path that no longer matches the engine's
        // layout would fall back to the slow stats call unnoticed.
        ccci_testkit::require_rig();
        let name = format!("ccci-measure-{}", std::process::id());
        let docker = |args: &[&str]| {
            let o = std::process::Command::new("docker")
                .args(args)
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let id = docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "127.0.0.1:5000/ccci/busybox:1.0",
            "sleep",
            "60",
        ]);
        let from_file = from_cgroup(&id);
        let api = Api::local("").unwrap();
        let stats = api
            .get(&format!(
                "/containers/{id}/stats?stream=false&one-shot=true"
            ))
            .unwrap();
        docker(&["rm", "-f", &name]);
        let from_engine = memory_bytes(&stats["memory_stats"]);
        let from_file = from_file.expect("the container's cgroup was not found");
        // The same figure, read a moment apart.
        assert!(
            from_file.abs_diff(from_engine) < 4 * MIB,
            "{from_file} {from_engine}"
        );
    }

    #[test]
    fn only_this_runs_apps_are_counted() {
        let w = Watch {
            api: Api::local("").unwrap(),
            apps: vec!["r1".into(), "r1-second".into(), "r1-dep-db".into()],
            instance: "i".into(),
            run_dir: PathBuf::new(),
        };
        let l = |run: &str, inst: &str| json!({"ccci.run": run, "ccci.instance": inst});
        assert_eq!(w.app_of(&l("r1", "i")).as_deref(), Some("r1"));
        assert_eq!(w.app_of(&l("r1-dep-db", "i")).as_deref(), Some("r1-dep-db"));
        assert_eq!(w.app_of(&l("r1-second", "i")).as_deref(), Some("r1-second"));
        assert_eq!(w.app_of(&l("r10", "i")), None);
        // Another recipe's run whose id starts with this one's (a sweep's
        // `sweep-<time>-web` and `sweep-<time>-web-sso`).
        assert_eq!(w.app_of(&l("r1-sso", "i")), None);
        assert_eq!(w.app_of(&l("r1", "other")), None);
        assert_eq!(w.app_of(&l("shared-db", "i")), None);
    }
}
