//! What the sweep remembers: a release that was red for the recipe's or its
//! tests' reasons (class `recipe` or `test`, after a rerun alone) is not tested
//! again until something that could change the answer changes: a newer tag,
//! ccci's tests for the recipe (a hash of its suite), ccci's version, or an
//! operator's `ccci-sweep --force`. One file per recipe,
//! `<state>/known-red/<recipe>.json`. `flake` and `infrastructure` reds are
//! never remembered: they are retried on the next sweep.

use crate::classify::{Class, short_hash};
use crate::results::Results;
use crate::state;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownRed {
    pub schema: u32,
    pub recipe: String,
    /// The release tag that was red.
    pub tag: String,
    /// The run that showed it.
    pub run_id: String,
    /// The classes and signatures of its red tiers.
    pub reds: Vec<String>,
    /// `suite_hash` of the recipe's tests when it was red.
    pub suite: String,
    /// ccci's version when it was red.
    pub ccci: String,
    pub since: String,
}

/// Why a remembered red no longer holds, if it does not.
pub fn stale(k: &KnownRed, tag: &str, suite: &str, ccci: &str) -> Option<String> {
    if k.tag != tag {
        Some(format!(
            "the newest release is {tag}, not the red {}",
            k.tag
        ))
    } else if k.suite != suite {
        Some(format!(
            "ccci's tests for {} changed since run {}",
            k.recipe, k.run_id
        ))
    } else if k.ccci != ccci {
        Some(format!("ccci changed version ({} → {ccci})", k.ccci))
    } else {
        None
    }
}

fn path(state_dir: &Path, recipe: &str) -> PathBuf {
    state_dir.join("known-red").join(format!("{recipe}.json"))
}

pub fn read(state_dir: &Path, recipe: &str) -> Result<Option<KnownRed>> {
    state::read_json_opt(&path(state_dir, recipe))
}

/// After a sweep's run of `tag`: remember a red of class `recipe` or `test`
/// only; forget anything else (a green, a flake, the host's trouble).
pub fn record(state_dir: &Path, r: &Results, tag: &str, suite: &str, ccci: &str) -> Result<bool> {
    let reds: Vec<(Class, String)> = r
        .tiers
        .iter()
        .filter_map(|t| {
            t.red.as_ref().map(|red| {
                (
                    red.class,
                    format!("{} {} {}", t.name, red.class, red.signature.id),
                )
            })
        })
        .collect();
    // Only a red that came back alone, the same way, is known: an
    // unconfirmed one (no rerun, a rerun stopped or troubled) is retried.
    let remember = r.verdict == crate::results::Verdict::Red
        && r.reproduced_alone > 0
        && !reds.is_empty()
        && reds
            .iter()
            .all(|(c, _)| matches!(c, Class::Recipe | Class::Test));
    let p = path(state_dir, &r.recipe);
    if !remember {
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => return Ok(false),
        }
    }
    std::fs::create_dir_all(p.parent().unwrap_or(state_dir))?;
    state::write_json(
        &p,
        &KnownRed {
            schema: SCHEMA,
            recipe: r.recipe.clone(),
            tag: tag.into(),
            run_id: r.run_id.clone(),
            reds: reds.into_iter().map(|(_, s)| s).collect(),
            suite: suite.into(),
            ccci: ccci.into(),
            since: crate::ids::now_rfc3339(),
        },
    )?;
    Ok(true)
}

/// A hash of ccci's tests for `recipe`: every file under `recipes/_generic/`
/// and `recipes/<recipe>/`, by path and content. Any change to them may
/// change the answer.
pub fn suite_hash(recipes_dir: &Path, recipe: &str) -> Result<String> {
    let mut files = vec![];
    for d in [crate::settings::GENERIC, recipe] {
        collect(&recipes_dir.join(d), Path::new(d), &mut files)?;
    }
    files.sort();
    let mut text = Vec::new();
    for (rel, abs) in files {
        text.extend_from_slice(rel.as_bytes());
        text.push(0);
        text.extend_from_slice(&std::fs::read(&abs)?);
        text.push(0);
    }
    Ok(short_hash(&String::from_utf8_lossy(&text)))
}

fn collect(dir: &Path, rel: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e?;
        let p = e.path();
        let r = rel.join(e.file_name());
        if e.file_type()?.is_dir() {
            collect(&p, &r, out)?;
        } else {
            out.push((r.display().to_string(), p));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suite_hash_follows_the_recipes_tests_and_the_generic_ones() {
        let d = std::env::temp_dir().join(format!("ccci-known-red-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("_generic/install")).unwrap();
        std::fs::create_dir_all(d.join("demo/custom")).unwrap();
        std::fs::create_dir_all(d.join("other")).unwrap();
        std::fs::write(d.join("_generic/install/a"), "a").unwrap();
        std::fs::write(d.join("demo/custom/b"), "b").unwrap();
        let one = suite_hash(&d, "demo").unwrap();
        std::fs::write(d.join("other/c"), "c").unwrap();
        assert_eq!(
            suite_hash(&d, "demo").unwrap(),
            one,
            "another recipe's tests"
        );
        std::fs::write(d.join("demo/custom/b"), "b2").unwrap();
        assert_ne!(suite_hash(&d, "demo").unwrap(), one);
        let _ = std::fs::remove_dir_all(&d);
        let k = KnownRed {
            schema: SCHEMA,
            recipe: "demo".into(),
            tag: "0.2.0+1.1".into(),
            run_id: "r".into(),
            reds: vec![],
            suite: "s".into(),
            ccci: "0.1.0".into(),
            since: String::new(),
        };
        assert_eq!(stale(&k, "0.2.0+1.1", "s", "0.1.0"), None);
        assert!(
            stale(&k, "0.3.0+1.1", "s", "0.1.0")
                .unwrap()
                .contains("not the red")
        );
        assert!(
            stale(&k, "0.2.0+1.1", "t", "0.1.0")
                .unwrap()
                .contains("tests")
        );
        assert!(
            stale(&k, "0.2.0+1.1", "s", "0.2.0")
                .unwrap()
                .contains("version")
        );
    }
}
