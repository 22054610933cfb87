//! Disk space: what is free on Docker's data root (the deploy's minimum and
//! the host's budget both read it) and what a directory takes.

use crate::docker::Docker;
use crate::exit;
use anyhow::Result;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Docker's data root and its free MiB, as `df` sees them; `None` when the
/// engine is not local (behind a context or a remote `DOCKER_HOST`, its data
/// root is on another host, out of reach of a local df).
pub fn data_root_free(docker: &Docker) -> Result<Option<(String, u64)>> {
    let Some(api) = docker.api() else {
        return Ok(None);
    };
    // The engine's API on its socket: a deploy asks this every time, and the
    // CLI would cost a process start.
    let info = api.get("/info").map_err(|e| {
        exit::wrap(e, exit::TEMPFAIL).context("cannot ask Docker for its data root")
    })?;
    let root = info["DockerRootDir"].as_str().unwrap_or("").trim();
    if root.is_empty() {
        return Err(exit::tempfail(
            "Docker is unreachable (its API named no data root)",
        ));
    }
    Ok(Some((root.to_string(), free_mib(root)?)))
}

/// Free MiB on the file system holding `path`, as `df` sees it. A path df
/// cannot measure stays so on every try: exit 2, naming the way out.
pub fn free_mib(path: &str) -> Result<u64> {
    let cannot = |why: String| {
        exit::usage(format!(
            "cannot tell the free space on Docker's data root {path}: {why}; \
             set min_free_disk_mb to 0 to deploy without the check"
        ))
    };
    let out = Command::new("df")
        .args(["-Pk", path])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| cannot(format!("cannot run df: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(cannot(format!(
            "df says {}",
            stderr.trim().replace('\n', " ")
        )));
    }
    df_available_kib(&stdout)
        .map(|kib| kib / 1024)
        .ok_or_else(|| cannot(format!("df printed {:?}", stdout.trim())))
}

/// The Available column of `df -Pk`'s one line: the number before the
/// capacity (`39%`). Read from the right of the device, whose name may hold
/// spaces, and the left of the mount point, whose name may too.
pub fn df_available_kib(out: &str) -> Option<u64> {
    let line = out.lines().nth(1)?;
    let cols: Vec<&str> = line.split_whitespace().collect();
    let number = |s: &str| s.parse::<u64>().ok();
    (4..cols.len()).find_map(|i| {
        let fits = cols[i].ends_with('%')
            && number(cols[i].trim_end_matches('%')).is_some()
            && cols[i - 3..i].iter().all(|c| number(c).is_some());
        fits.then(|| number(cols[i - 1]))?
    })
}

/// Bytes the files under `dir` take on disk (allocated blocks, as `du`
/// counts them), not following symbolic links. What cannot be read counts
/// as nothing: a measure, never a reason to fail a run.
pub fn used_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            total += m.blocks() * 512;
            if m.is_dir() {
                todo.push(e.path());
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_df_available() {
        let df = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                  /dev/vda         264212084 37113896  58171992      39% /var/lib/docker\n";
        assert_eq!(df_available_kib(df), Some(58171992));
        let spaced = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                      my disk 100 40 60 40% /mnt/with 99% in it\n";
        assert_eq!(df_available_kib(spaced), Some(60));
        assert_eq!(df_available_kib("Filesystem\n"), None);
        assert_eq!(df_available_kib(""), None);
    }

    #[test]
    fn measures_a_real_path() {
        assert!(free_mib("/").unwrap() > 0);
        let e = free_mib("/nonexistent/ccci").unwrap_err();
        assert_eq!(exit::code_of(&e), exit::USAGE);
        assert!(format!("{e:#}").contains("min_free_disk_mb"), "{e:#}");
    }

    #[test]
    fn counts_what_files_take() {
        let d = std::env::temp_dir().join(format!("ccci-disk-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a"), vec![7u8; 256 * 1024]).unwrap();
        let used = used_bytes(&d);
        assert!(used >= 256 * 1024, "{used}");
        assert_eq!(used_bytes(&d.join("missing")), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
