//! Durable state files: atomic replace (temp file in the same directory, fsync,
//! rename, fsync the directory) and advisory locks from std's `File::lock` family.
//! Locks live in separate `.lock` files because data files are swapped by rename.

use crate::exit::{self, WithCode};
use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Write `bytes` to `path` atomically with the given mode.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path).with_context(|| format!("cannot rename into {}", path.display()))?;
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Serialize `value` (which must carry a `schema` field) and write it atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes, 0o644)
}

/// Read a JSON state file. A file that exists but does not parse is bad input
/// (exit 2), never silently replaced.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not valid", path.display()))
        .code(exit::USAGE)
}

/// Read a JSON file if it exists.
pub fn read_json_opt<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::metadata(path) {
        Ok(_) => read_json(path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// An exclusive lock held for as long as the value lives.
#[must_use = "the lock is released when dropped"]
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Lock {
    fn open(path: &Path) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot open lock {}", path.display()))
    }

    /// Take the lock without waiting; `Ok(None)` when someone else holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<Lock>> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock {
                file,
                path: path.to_path_buf(),
            })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }

    /// Wait up to `timeout` for the lock, telling the operator once that we wait.
    /// A lock still busy afterwards is a temporary failure (exit 75).
    pub fn acquire(path: &Path, timeout: Duration, what: &str) -> Result<Lock> {
        if let Some(l) = Self::try_acquire(path)? {
            return Ok(l);
        }
        crate::log::info(&format!("waiting for {what} ({})", path.display()));
        let start = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            if let Some(l) = Self::try_acquire(path)? {
                return Ok(l);
            }
            if start.elapsed() >= timeout {
                return Err(exit::tempfail(format!(
                    "{what} is busy: {} is locked by another process",
                    path.display()
                )));
            }
        }
    }

    /// Is the lock at `path` held by some live process right now?
    pub fn is_held(path: &Path) -> Result<bool> {
        if !path.exists() {
            return Ok(false);
        }
        Ok(Self::try_acquire(path)?.is_none())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ccci-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tmpdir("atomic");
        let p = d.join("x.json");
        write_json(&p, &serde_json::json!({"schema": 1, "a": 1})).unwrap();
        write_json(&p, &serde_json::json!({"schema": 1, "a": 2})).unwrap();
        let v: serde_json::Value = read_json(&p).unwrap();
        assert_eq!(v["a"], 2);
        let names: Vec<_> = fs::read_dir(&d).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn corrupt_json_is_usage_error() {
        let d = tmpdir("corrupt");
        let p = d.join("x.json");
        fs::write(&p, "{not json").unwrap();
        let e = read_json::<serde_json::Value>(&p).unwrap_err();
        assert_eq!(exit::code_of(&e), exit::USAGE);
    }

    #[test]
    fn lock_excludes_second_holder() {
        let d = tmpdir("lock");
        let p = d.join("l.lock");
        let a = Lock::try_acquire(&p).unwrap().unwrap();
        assert!(Lock::try_acquire(&p).unwrap().is_none());
        assert!(Lock::is_held(&p).unwrap());
        let e = Lock::acquire(&p, Duration::from_millis(250), "test lock")
            .err()
            .unwrap();
        assert_eq!(exit::code_of(&e), exit::TEMPFAIL);
        drop(a);
        assert!(!Lock::is_held(&p).unwrap());
    }
}
