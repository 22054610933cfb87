//! Finding tests and hooks on disk.
//!
//! A test is any executable file under a tier folder, found recursively and run
//! in path order. Entries starting with `_` or `.` are helpers (shared modules,
//! fixtures) and never run. A file that looks like a test (it has a `#!` line)
//! but is not executable is reported, not silently dropped.

use anyhow::Result;
use ccci_core::plan::Step;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A test may ask for its own timeout with a line `# ccci-timeout: SECONDS`
/// among its first ten lines.
fn declared_timeout(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).into_owned();
    head.lines().take(10).find_map(|l| {
        let v = l.split("ccci-timeout:").nth(1)?;
        v.trim().parse().ok().filter(|n| *n > 0)
    })
}

fn has_shebang(path: &Path) -> bool {
    use std::io::Read;
    let mut b = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
        && &b == b"#!"
}

fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>, warnings: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.collect::<std::result::Result<_, _>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        let path = e.path();
        // Follow symlinks: a recipe may link a shared test in.
        let meta = std::fs::metadata(&path)?;
        if meta.is_dir() {
            walk(&path, &rel.join(&name), out, warnings)?;
        } else if meta.permissions().mode() & 0o111 != 0 {
            out.push(path);
        } else if has_shebang(&path) {
            warnings.push(format!(
                "{} has a #! line but is not executable: not run",
                path.display()
            ));
        }
    }
    Ok(())
}

/// The tests under `dir` as steps with ids `<source_id>/<tier>/<relative path>`.
pub fn tests(
    dir: &Path,
    source_id: &str,
    source: &str,
    tier: &str,
    default_timeout: u64,
    warnings: &mut Vec<String>,
) -> Result<Vec<Step>> {
    let mut files = vec![];
    walk(dir, Path::new(""), &mut files, warnings)?;
    Ok(files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            Step {
                id: format!("{source_id}/{tier}/{rel}"),
                timeout_s: declared_timeout(&p).unwrap_or(default_timeout),
                path: p,
                source: source.into(),
            }
        })
        .collect())
}

/// A single hook file, if present and executable.
pub fn hook(path: &Path, id: String, timeout: u64, warnings: &mut Vec<String>) -> Option<Step> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o111 == 0 {
        warnings.push(format!("{} is not executable: not run", path.display()));
        return None;
    }
    Some(Step {
        id,
        path: path.to_path_buf(),
        source: "hook".into(),
        timeout_s: declared_timeout(path).unwrap_or(timeout),
    })
}
