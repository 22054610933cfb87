//! Shared dependency apps: one long-lived app per recipe and host (an SSO
//! provider that takes minutes to start), deployed by the first run that needs
//! it and kept between runs like a canonical app. Its record is
//! `<state>/shared/<recipe>.json`; its run is `shared-<recipe>`. No run and no
//! reaper tears it down: an operator does, with
//! `ccci-deploy teardown shared-<recipe>` and by removing the record.

use crate::exit;
use crate::state::{self, Lock};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shared {
    pub schema: u32,
    pub recipe: String,
    /// The run directory holding the app (`shared-<recipe>`).
    pub run_id: String,
    pub repo: String,
    #[serde(rename = "ref")]
    pub r#ref: String,
    pub domain: String,
    pub stack: String,
    /// RFC 3339 UTC, when it was first deployed.
    pub since: String,
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("shared")
}

/// The run id of a recipe's shared app.
pub fn run_id(recipe: &str) -> String {
    format!("shared-{recipe}")
}

fn path(state_dir: &Path, recipe: &str) -> PathBuf {
    dir(state_dir).join(format!("{recipe}.json"))
}

/// The record, if the recipe has a shared app. One that does not parse is
/// exit 2 naming the file: never taken for absent (a second app would be
/// made beside the first).
pub fn read(state_dir: &Path, recipe: &str) -> Result<Option<Shared>> {
    state::read_json_opt(&path(state_dir, recipe))
}

pub fn write(state_dir: &Path, s: &Shared) -> Result<()> {
    std::fs::create_dir_all(dir(state_dir))?;
    state::write_json(&path(state_dir, &s.recipe), s)
}

/// Held while a run finds or creates the recipe's shared app, so two runs
/// never create two. Creating one can take minutes: `wait` bounds it.
pub fn lock(state_dir: &Path, recipe: &str, wait: Duration) -> Result<Lock> {
    std::fs::create_dir_all(dir(state_dir))?;
    Lock::acquire(
        &dir(state_dir).join(format!("{recipe}.lock")),
        wait,
        &format!("shared app of {recipe}"),
    )
}

/// Run id → recipe of every shared app: what the reaper leaves alone.
pub fn app_runs(state_dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir(state_dir)) else {
        return Ok(out);
    };
    for e in entries {
        let p = e?.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let s: Shared = state::read_json(&p).map_err(|e| {
            exit::usage(format!(
                "{} is not a shared app record: {}",
                p.display(),
                crate::cli::one_line(&e)
            ))
        })?;
        out.insert(s.run_id, s.recipe);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_name_their_runs() {
        let d = std::env::temp_dir().join(format!("ccci-shared-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        assert!(read(&d, "keycloak").unwrap().is_none());
        assert!(app_runs(&d).unwrap().is_empty());
        let s = Shared {
            schema: SCHEMA,
            recipe: "keycloak".into(),
            run_id: run_id("keycloak"),
            repo: "/srv/keycloak.git".into(),
            r#ref: "10.1.0+24.0.5".into(),
            domain: "kc.example".into(),
            stack: "kc_example".into(),
            since: "2026-11-30T00:00:00Z".into(),
        };
        write(&d, &s).unwrap();
        assert_eq!(read(&d, "keycloak").unwrap(), Some(s));
        assert_eq!(app_runs(&d).unwrap()["shared-keycloak"], "keycloak");
        std::fs::write(d.join("shared/bad.json"), "{").unwrap();
        let e = app_runs(&d).unwrap_err();
        assert_eq!(exit::code_of(&e), exit::USAGE);
        let _ = std::fs::remove_dir_all(&d);
    }
}
