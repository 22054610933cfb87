//! CI compose overlays: `recipes/<recipe>/compose/*.yml` in ccci's recipes
//! tree, layered after the recipe's own `COMPOSE_FILE` for what a CI host must
//! adjust without changing the recipe (a longer healthcheck `start_period` for
//! a slow first migration, an image re-pinned because upstream deleted it).
//!
//! The file name says when an overlay applies: `install-*.yml` only to the
//! install's deploy, `upgrade-*.yml` only to the upgrade's, any other name to
//! both. Lint rule C011 checks that an overlay touches only what it may.

use crate::exit;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

crate::results::word_enum! {
    /// Which deploys an overlay applies to.
    Phase { Install = "install", Upgrade = "upgrade", Both = "both" }
}

impl Phase {
    /// The phase a file name gives.
    pub fn of(file_name: &str) -> Phase {
        if file_name.starts_with("install-") {
            Phase::Install
        } else if file_name.starts_with("upgrade-") {
            Phase::Upgrade
        } else {
            Phase::Both
        }
    }

    /// Does an overlay of this phase apply to a deploy of `deploy`?
    pub fn applies_to(self, deploy: Phase) -> bool {
        self == Phase::Both || self == deploy
    }
}

/// One overlay file and when it applies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Overlay {
    /// Its file name, as results and reports name it.
    pub file: String,
    pub path: PathBuf,
    pub phase: Phase,
}

impl Overlay {
    pub fn at(path: &Path) -> Result<Overlay> {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".yml") || f.ends_with(".yaml"))
            .ok_or_else(|| {
                exit::usage(format!(
                    "overlay {} is not a .yml or .yaml file",
                    path.display()
                ))
            })?;
        if !path.is_file() {
            return Err(exit::usage(format!(
                "overlay {} does not exist",
                path.display()
            )));
        }
        Ok(Overlay {
            phase: Phase::of(&file),
            file,
            path: path.to_path_buf(),
        })
    }
}

/// The overlays in `dir` (a recipe's `compose/` folder), by name; none when
/// there is no such folder.
pub fn scan(dir: &Path) -> Result<Vec<Overlay>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(vec![]);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        // `.x.yml` is a helper, as `.` and `_` names are everywhere in the tree.
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| !f.starts_with('.') && !f.starts_with('_'))
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| Overlay::at(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_says_when_it_applies() {
        assert_eq!(Phase::of("install-slow-migration.yml"), Phase::Install);
        assert_eq!(Phase::of("upgrade-repin.yml"), Phase::Upgrade);
        assert_eq!(Phase::of("resources.yml"), Phase::Both);
        assert!(Phase::Both.applies_to(Phase::Upgrade));
        assert!(Phase::Install.applies_to(Phase::Install));
        assert!(!Phase::Install.applies_to(Phase::Upgrade));
    }

    #[test]
    fn scan_reads_yaml_files_in_order() {
        let d = std::env::temp_dir().join(format!("ccci-overlay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["b.yml", "install-a.yaml", "notes.md"] {
            std::fs::write(d.join(f), "version: '3.8'\n").unwrap();
        }
        let found = scan(&d).unwrap();
        let names: Vec<(&str, Phase)> = found.iter().map(|o| (o.file.as_str(), o.phase)).collect();
        assert_eq!(
            names,
            [("b.yml", Phase::Both), ("install-a.yaml", Phase::Install)]
        );
        assert!(scan(&d.join("missing")).unwrap().is_empty());
        let e = Overlay::at(&d.join("notes.md")).unwrap_err();
        assert_eq!(exit::code_of(&e), exit::USAGE);
        let _ = std::fs::remove_dir_all(&d);
    }
}
