//! The recipe as lint reads it: its files as text and as YAML (for line numbers
//! and for what rendering loses, like `version:` and `${...}` in config names),
//! and its config as Docker's loader renders it with the sample env.

use crate::yamlpos::Index;
use anyhow::Result;
use ccci_core::envfile::EnvFile;
use ccci_core::{compose, exit};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The stack name the config is rendered with (labels and names carry it).
pub const STACK: &str = "ccci_lint";

pub struct TextFile {
    /// As the recipe names it (`compose.yml`), or the path given (overlays).
    pub name: String,
    pub text: String,
    /// The parsed YAML; `None` when it does not parse (the render says why).
    pub yaml: Option<Value>,
    pub index: Index,
}

impl TextFile {
    pub fn new(name: String, text: String) -> TextFile {
        let yaml = serde_norway::from_str::<Value>(&text).ok();
        let index = Index::new(&text);
        TextFile {
            name,
            text,
            yaml,
            index,
        }
    }
}

/// Where a finding is: a file of the recipe and a line, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loc {
    pub file: Option<String>,
    pub line: Option<usize>,
}

impl Loc {
    pub fn file(name: &str) -> Loc {
        Loc {
            file: Some(name.to_string()),
            line: None,
        }
    }

    pub fn at(name: &str, line: Option<usize>) -> Loc {
        Loc {
            file: Some(name.to_string()),
            line,
        }
    }
}

pub struct Recipe {
    /// Where the files are read from (a scratch copy with --ref).
    pub dir: PathBuf,
    /// The git repository, for its tags (R014); `None` for a plain directory.
    pub git: Option<PathBuf>,
    pub sample: EnvFile,
    /// Why `.env.sample` is missing or malformed (R008).
    pub sample_problem: Option<String>,
    pub sample_text: String,
    /// The compose files COMPOSE_FILE names that exist, in order.
    pub files: Vec<TextFile>,
    pub abra_sh: Option<String>,
    pub exports: EnvFile,
    pub readme: Option<String>,
    /// The rendered config, or why it does not render (C001).
    pub config: std::result::Result<Value, String>,
}

fn read_opt(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

impl Recipe {
    /// Read the recipe in `dir`; only a Docker CLI in trouble is an error
    /// (everything wrong with the recipe becomes a finding).
    pub fn load(
        docker: &ccci_core::docker::Docker,
        dir: &Path,
        git: Option<PathBuf>,
    ) -> Result<Recipe> {
        let sample_path = dir.join(".env.sample");
        let sample_text = read_opt(&sample_path).unwrap_or_default();
        let (sample, sample_problem) = if !sample_path.is_file() {
            (
                EnvFile::default(),
                Some(".env.sample is missing".to_string()),
            )
        } else {
            match EnvFile::parse(&sample_text, ".env.sample") {
                Ok(s) => (s, None),
                Err(e) => (EnvFile::default(), Some(ccci_core::cli::one_line(&e))),
            }
        };
        let mut files = vec![];
        let list = sample.get("COMPOSE_FILE").unwrap_or("compose.yml");
        for name in list.split(':').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(text) = read_opt(&dir.join(name)) {
                files.push(TextFile::new(name.to_string(), text));
            }
        }
        let abra_sh = read_opt(&dir.join("abra.sh"));
        let exports = compose::abra_sh_exports(dir).unwrap_or_default();
        let rendered = (|| -> Result<Value> {
            let paths = compose::files(dir, &sample)?;
            let vars = compose::interpolation_vars(dir, &sample, STACK)?;
            compose::render(docker, dir, &paths, &vars)
        })();
        let config = match rendered {
            Ok(c) => Ok(c),
            Err(e) if exit::code_of(&e) == exit::TEMPFAIL => return Err(e),
            Err(e) => Err(ccci_core::cli::one_line(&e)),
        };
        Ok(Recipe {
            dir: dir.to_path_buf(),
            git,
            sample,
            sample_problem,
            sample_text,
            files,
            abra_sh,
            exports,
            readme: read_opt(&dir.join("README.md")),
            config,
        })
    }

    /// The key at `path` in the last compose file that has it (later files
    /// override earlier ones); failing that, its nearest parent that is found.
    pub fn locate(&self, path: &[&str]) -> Loc {
        for n in (1..=path.len()).rev() {
            for f in self.files.iter().rev() {
                if let Some(line) = f.index.key(&path[..n]) {
                    return Loc::at(&f.name, Some(line));
                }
            }
        }
        self.files
            .first()
            .map(|f| Loc::file(&f.name))
            .unwrap_or_default()
    }

    /// The first line under `path` containing `needle`, else [`Recipe::locate`].
    pub fn locate_within(&self, path: &[&str], needle: &str) -> Loc {
        for f in self.files.iter().rev() {
            if let Some(line) = f.index.within(path, needle) {
                return Loc::at(&f.name, Some(line));
            }
        }
        self.locate(path)
    }

    /// The line of `KEY=` in `.env.sample`.
    pub fn env_line(&self, key: &str) -> Loc {
        let line = self.sample_text.lines().position(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("export ").unwrap_or(l);
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        });
        Loc::at(".env.sample", line.map(|n| n + 1))
    }

    /// A file of the recipe by the absolute path the rendered config gives it,
    /// as a name relative to the recipe.
    pub fn relative(&self, path: &str) -> String {
        Path::new(path)
            .strip_prefix(&self.dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.to_string())
    }
}

/// The services of a rendered config.
pub fn services(config: &Value) -> Vec<(&String, &Value)> {
    compose::section(config, "services").collect()
}

/// A service's volume mounts as (volume, target).
pub fn volume_mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|m| m["type"] == "volume")
                .map(|m| {
                    (
                        m["source"].as_str().unwrap_or("").to_string(),
                        m["target"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The files of the swarm configs a service mounts, as (target, file path).
pub fn config_mounts(config: &Value, service: &Value) -> Vec<(String, String)> {
    service["configs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    let source = c["source"].as_str()?;
                    let target = c["target"]
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| format!("/{source}"));
                    let file = config["configs"][source]["file"].as_str()?;
                    Some((target, file.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The networks a service joins.
pub fn networks(service: &Value) -> Vec<String> {
    match &service["networks"] {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => vec![],
    }
}

/// A rendered value (string or list of strings) as one line of text.
pub fn words(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
impl Recipe {
    /// A recipe with no files, only a rendered config.
    pub fn for_tests(config: Value) -> Recipe {
        Recipe {
            dir: PathBuf::from("/nonexistent"),
            git: None,
            sample: EnvFile::default(),
            sample_problem: None,
            sample_text: String::new(),
            files: vec![],
            abra_sh: None,
            exports: EnvFile::default(),
            readme: None,
            config: Ok(config),
        }
    }
}
