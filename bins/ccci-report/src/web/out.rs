//! The output folder, `<state>/www/`: every file is written atomically, only
//! when its content changed (a finished run's page and logs are read, not
//! rewritten, on the next regeneration, and keep their time for web caches),
//! and only at a path of plain names below the folder.

use anyhow::{Result, anyhow};
use ccci_core::state;
use std::path::{Component, Path, PathBuf};

pub const DIR: &str = "www";

pub struct Www {
    root: PathBuf,
    /// Files produced, and how many of them changed.
    pub files: usize,
    pub changed: usize,
}

impl Www {
    pub fn open(state_dir: &Path) -> Result<Www> {
        let root = state_dir.join(DIR);
        std::fs::create_dir_all(&root).map_err(|e| {
            ccci_core::exit::usage(format!("cannot create {}: {e}", root.display()))
        })?;
        Ok(Www {
            root,
            files: 0,
            changed: 0,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Write `bytes` at `rel`, a `/`-separated path below the folder.
    pub fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(rel)?;
        self.files += 1;
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        state::write_atomic(&path, bytes, 0o644)?;
        self.changed += 1;
        Ok(())
    }

    /// Is there a file at `rel` (from this regeneration or an earlier one)?
    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).is_ok_and(|p| p.is_file())
    }

    fn path(&self, rel: &str) -> Result<PathBuf> {
        safe_rel(rel)
            .map(|r| self.root.join(r))
            .ok_or_else(|| anyhow!("refusing to write {rel:?}: not a plain path below www"))
    }
}

/// `rel` as a relative path of plain names, or `None` when it has anything
/// else (`..`, `.`, a root, an empty name): what comes from a run directory
/// can never address a file outside the folder it belongs in.
pub fn safe_rel(rel: &str) -> Option<PathBuf> {
    if rel.is_empty() || rel.split('/').any(str::is_empty) {
        return None;
    }
    let p = Path::new(rel);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| p.to_path_buf())
}

/// A run's page folder, relative to www.
pub fn run_dir(id: &str) -> String {
    format!("runs/{id}")
}

pub fn run_page(id: &str) -> String {
    format!("runs/{id}/index.html")
}

pub fn recipe_page(recipe: &str) -> String {
    format!("recipes/{recipe}/index.html")
}

pub fn badge(recipe: &str) -> String {
    format!("badges/{recipe}.svg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_safe() {
        assert_eq!(
            safe_rel("runs/r1/logs/a.log.txt"),
            Some("runs/r1/logs/a.log.txt".into())
        );
        for bad in [
            "",
            "..",
            "../x",
            "runs/../../etc/passwd",
            "/etc/passwd",
            "runs//x",
            "./x",
            "runs/r1/",
        ] {
            assert_eq!(safe_rel(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn nothing_is_written_outside_the_folder() {
        let scratch = ccci_testkit::Scratch::new("report-www");
        let mut www = Www::open(&scratch.path).unwrap();
        let e = www.write("../escaped.txt", b"x").unwrap_err();
        assert!(format!("{e}").contains("not a plain path"), "{e}");
        assert!(www.write(&run_page(".."), b"x").is_err());
        assert!(!scratch.join("escaped.txt").exists());
        assert!(!scratch.join("index.html").exists());
        assert_eq!((www.files, www.changed), (0, 0));
    }

    #[test]
    fn unchanged_content_is_not_rewritten() {
        let scratch = ccci_testkit::Scratch::new("report-www-same");
        let mut www = Www::open(&scratch.path).unwrap();
        www.write("a/b.html", b"one").unwrap();
        www.write("a/b.html", b"one").unwrap();
        www.write("a/b.html", b"two").unwrap();
        assert_eq!((www.files, www.changed), (3, 2));
        assert_eq!(
            std::fs::read_to_string(scratch.join("www/a/b.html")).unwrap(),
            "two"
        );
        assert!(www.exists("a/b.html") && !www.exists("../www/a/b.html"));
    }
}
