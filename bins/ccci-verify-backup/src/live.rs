//! Is a volume written by its service while it runs?
//!
//! A file marker proves that files come back from a snapshot. It proves nothing
//! about a directory a running process owns: a database restored as files under
//! its own feet keeps serving (and rewriting) what it holds in memory, and the
//! marker, a file it never reads, "comes back" all the same. So before a file
//! marker may stand for a volume's data, ccci asks whether the volume is live,
//! by three signs, any one of which is enough:
//! - role: the service is a database by its image or its name;
//! - open files: a process of the service holds a file in the volume open for
//!   writing (what every real database does);
//! - change: files other than ccci's markers change during a short observation.
//!
//! Why this matters, and what a recipe must add instead: docs/backup-proof.md.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Image or service names of servers that keep their data live in a volume.
const DATABASES: [&str; 16] = [
    "postgres",
    "postgresql",
    "postgis",
    "mariadb",
    "mysql",
    "mongo",
    "mongodb",
    "redis",
    "valkey",
    "keydb",
    "couchdb",
    "influxdb",
    "clickhouse",
    "elasticsearch",
    "opensearch",
    "cockroach",
];

/// Service names that say "database" by convention in Co-op Cloud recipes.
const DATABASE_SERVICES: [&str; 2] = ["db", "database"];

/// Why a volume counts as live; shown in the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub service: String,
    pub volume: String,
    pub why: String,
}

/// The service is a database by its image's name or its own.
pub fn by_role(service: &str, image: &str) -> Option<String> {
    // `docker.io/library/postgres:15@sha256:...` -> `postgres`
    let repo = image.split('@').next().unwrap_or(image);
    let base = repo.rsplit('/').next().unwrap_or(repo);
    let base = base.split(':').next().unwrap_or(base);
    if DATABASES.contains(&base) {
        return Some(format!("its image {base} is a database server"));
    }
    if DATABASES.contains(&service) || DATABASE_SERVICES.contains(&service) {
        return Some(format!("service {service} is a database by its name"));
    }
    None
}

/// A process of the container holds a file under `target` (the volume's mount
/// point inside the container) open for writing. `pids` are host pids.
pub fn by_open_files(pids: &[u32], target: &str) -> Option<String> {
    let target = target.trim_end_matches('/');
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let path = link.to_string_lossy();
            if !(path.starts_with(&format!("{target}/")) || path == target) {
                continue;
            }
            let info = std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .unwrap_or_default();
            // `flags:` is octal; O_WRONLY = 1, O_RDWR = 2.
            let writing = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .is_some_and(|f| f & 0o3 != 0);
            if writing {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                return Some(format!(
                    "process {comm} (pid {pid}) holds {path} open for writing"
                ));
            }
        }
    }
    None
}

/// Size, modification time and inode of every file under some roots, markers
/// left out. Bounded: a huge volume is sampled, not walked whole.
pub type Fingerprint = BTreeMap<PathBuf, (u64, i128, u64)>;

const MAX_ENTRIES: usize = 50_000;

pub fn fingerprint(roots: &[PathBuf]) -> Fingerprint {
    use std::os::unix::fs::MetadataExt;
    let mut out = Fingerprint::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(p) = stack.pop() {
        if out.len() >= MAX_ENTRIES {
            break;
        }
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
            continue;
        }
        if is_marker(&p) {
            continue;
        }
        let mtime = md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128;
        out.insert(p, (md.len(), mtime, md.ino()));
    }
    out
}

fn is_marker(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".ccci-marker-"))
}

/// The first file that differs between two fingerprints, said in words.
pub fn changed(before: &Fingerprint, after: &Fingerprint, root: &Path) -> Option<String> {
    let rel = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    for (p, v) in after {
        match before.get(p) {
            None => return Some(format!("{} appeared", rel(p))),
            Some(b) if b != v => return Some(format!("{} changed", rel(p))),
            _ => {}
        }
    }
    before
        .keys()
        .find(|p| !after.contains_key(*p))
        .map(|p| format!("{} vanished", rel(p)))
}

/// Sleep until `window` has passed since `start`.
pub fn finish_window(start: Instant, window: Duration) {
    if let Some(rest) = window.checked_sub(start.elapsed()) {
        std::thread::sleep(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_are_known_by_image_or_name() {
        assert!(by_role("app", "docker.io/library/postgres:15-alpine").is_some());
        assert!(by_role("x", "mariadb:10.11@sha256:abc").is_some());
        assert!(by_role("db", "127.0.0.1:5000/ccci/busybox:1.0").is_some());
        assert!(by_role("postgres", "whatever:1").is_some());
        assert!(by_role("app", "nginx:1.25").is_none());
        assert!(by_role("app", "127.0.0.1:5000/ccci/busybox:1.0").is_none());
    }

    #[test]
    fn a_change_is_named_and_markers_do_not_count() {
        let dir = std::env::temp_dir().join(format!("ccci-live-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/data"), "1").unwrap();
        let a = fingerprint(std::slice::from_ref(&dir));
        std::fs::write(dir.join(".ccci-marker-r1"), "m").unwrap();
        let b = fingerprint(std::slice::from_ref(&dir));
        assert_eq!(changed(&a, &b, &dir), None, "a marker is not a change");
        std::fs::write(dir.join("sub/data"), "22").unwrap();
        let c = fingerprint(std::slice::from_ref(&dir));
        assert_eq!(changed(&a, &c, &dir).as_deref(), Some("sub/data changed"));
        std::fs::remove_file(dir.join("sub/data")).unwrap();
        let d = fingerprint(std::slice::from_ref(&dir));
        assert_eq!(changed(&a, &d, &dir).as_deref(), Some("sub/data vanished"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_for_writing_is_seen_in_proc() {
        let dir = std::env::temp_dir().join(format!("ccci-live-fd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let me = std::process::id();
        let f = std::fs::File::create(dir.join("wal")).unwrap();
        let why = by_open_files(&[me], &dir.to_string_lossy()).unwrap();
        assert!(why.contains("open for writing"), "{why}");
        drop(f);
        let _r = std::fs::File::open(dir.join("wal")).unwrap();
        assert_eq!(by_open_files(&[me], &dir.to_string_lossy()), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
