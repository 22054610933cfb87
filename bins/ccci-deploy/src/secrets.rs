//! Docker secrets the recipe declares: external secrets named
//! `<stack>_<name>_<version>`, generated per run with the length and charset the
//! `.env.sample` line declares (`SECRET_<NAME>_VERSION=v1 # length=32`).
//! Secrets marked `generate=false` come from a recipe hook instead.
//! docs/abra-parity.md compares these modifiers with abra's.

use crate::app::App;
use anyhow::{Context, Result};
use ccci_core::docker::Docker;
use ccci_core::envfile::EnvFile;
use ccci_core::rundir::RunDir;
use ccci_core::{compose, exit, ids, redact};
use serde_json::Value;
use std::process::{Command, Stdio};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SPECIAL: &[u8] = b"!#%+,-.:=?@^_~";
/// Docker refuses longer object names (abra's lint rule R015 warns about them).
const MAX_NAME: usize = 64;

#[derive(Debug, Clone)]
pub struct Declared {
    /// Key in the compose `secrets:` section, e.g. `db_password`.
    pub key: String,
    /// Docker secret name after interpolation.
    pub name: String,
    pub version: String,
    pub length: usize,
    pub alphabet: Vec<u8>,
    pub generate: bool,
}

fn env_var_for(key: &str) -> String {
    format!("SECRET_{}_VERSION", key.to_ascii_uppercase())
}

/// The characters a `charset=` modifier names. A name ccci does not know is no
/// reason to stop a run (abra is not known to refuse one): ccci warns and uses
/// the default alphabet for that part.
fn alphabet(charset: &str, origin: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for part in charset.split(',').map(str::trim) {
        match part {
            "default" | "alnum" => out.extend_from_slice(ALNUM),
            "special" => out.extend_from_slice(SPECIAL),
            "hex" => out.extend_from_slice(b"0123456789abcdef"),
            other => {
                ccci_core::log::warn(&format!(
                    "{origin}: ccci knows no secret charset {other:?} (it knows default, special, hex) and generates from the default alphabet instead"
                ));
                out.extend_from_slice(ALNUM);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A name Docker would refuse is the recipe's doing: its secret key is too long
/// for the stack prefix and version that deploying adds.
fn check_name_length(key: &str, name: &str) -> Result<()> {
    if name.len() <= MAX_NAME {
        return Ok(());
    }
    Err(exit::no(format!(
        "secret {key}: its deployed name {name} is {} characters, over Docker's limit of {MAX_NAME} (abra lint R015, long secret names); shorten the secret's key",
        name.len()
    )))
}

/// The external secrets of this stack in a rendered config.
pub fn declared(config: &Value, env: &EnvFile, stack: &str) -> Result<Vec<Declared>> {
    let mut out = vec![];
    for (key, def) in compose::section(config, "secrets") {
        if !compose::is_external(def) {
            continue; // file-based secrets are created by `docker stack deploy` itself
        }
        let name = def
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_string();
        if !name.starts_with(&format!("{stack}_")) {
            continue; // shared secrets of other stacks are not ours to create
        }
        check_name_length(key, &name)?;
        let var = env_var_for(key);
        let entry = env.entry(&var);
        let origin = format!(".env.sample {var}");
        let m = entry.map(|e| e.modifiers.clone()).unwrap_or_default();
        let length = match m.get("length") {
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| exit::usage(format!("{origin}: length={l} is not 1..4096")))?,
            None => 32,
        };
        let alphabet = alphabet(
            m.get("charset").map(String::as_str).unwrap_or("default"),
            &origin,
        );
        out.push(Declared {
            key: key.clone(),
            name,
            version: entry
                .map(|e| e.value.clone())
                .unwrap_or_else(|| "v1".into()),
            length,
            alphabet,
            generate: m.get("generate").map(String::as_str) != Some("false"),
        });
    }
    Ok(out)
}

/// Ask the recipe's hook for a secret that cannot be generated. The hook gets the
/// secret key and version as arguments and prints the value.
fn from_hook(app: &App, run: &RunDir, s: &Declared) -> Result<String> {
    let Some(hook) = &app.secret_hook else {
        return Err(exit::usage(format!(
            "secret {} is marked generate=false and this run has no secret hook (give one to `ccci-deploy new --secret-hook PATH`)",
            s.key
        )));
    };
    let out = Command::new(hook)
        .args([&s.key, &s.version])
        .env("CCCI_RUN_DIR", &run.path)
        .env("CCCI_STACK", &app.stack)
        .env("CCCI_DOMAIN", &app.domain)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| exit::usage(format!("cannot run secret hook {hook}: {e}")))?;
    if !out.status.success() {
        return Err(exit::no(format!(
            "secret hook {hook} failed for {} ({}): {}",
            s.key,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let v = String::from_utf8(out.stdout).map_err(|_| {
        exit::no(format!(
            "secret hook {hook} printed non-UTF-8 for {}",
            s.key
        ))
    })?;
    let v = v.trim_end_matches('\n').to_string();
    if v.is_empty() {
        return Err(exit::no(format!(
            "secret hook {hook} printed nothing for {}",
            s.key
        )));
    }
    Ok(v)
}

/// Create every declared secret that does not exist yet. Values are kept in the
/// run's `secrets.json` (0600) and registered for redaction; they never reach argv
/// or a log.
pub fn ensure(
    docker: &Docker,
    app: &App,
    run: &RunDir,
    config: &Value,
    env: &EnvFile,
) -> Result<Vec<String>> {
    let mut store = run.secrets()?;
    for v in store.values() {
        redact::global().add(v);
    }
    let mut created = vec![];
    let declared = declared(config, env, &app.stack)?;
    // One listing for all: `--filter name=` matches prefixes, names are compared exactly.
    let existing = if declared.is_empty() {
        vec![]
    } else {
        docker.lines(&[
            "secret",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            &format!("name={}_", app.stack),
        ])?
    };
    for s in declared {
        if existing.contains(&s.name) {
            continue;
        }
        // A value already chosen for this name (a warm start copies them) is kept.
        let value = if let Some(v) = store.get(&s.name) {
            v.clone()
        } else if s.generate {
            ids::random_string(s.length, &s.alphabet)?
        } else {
            from_hook(app, run, &s)?
        };
        redact::global().add(&value);
        store.insert(s.name.clone(), value.clone());
        run.save_secrets(&store)?;
        run.ledger("secret-create", serde_json::json!({"name": s.name}))?;
        let mut args = vec!["secret".to_string(), "create".into()];
        for (k, v) in app.labels() {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.push(s.name.clone());
        args.push("-".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker
            .run_stdin(&args, value.as_bytes())
            .with_context(|| format!("cannot create secret {}", s.name))?;
        created.push(s.name);
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> Value {
        serde_json::json!({"secrets": {"db_password": {"external": true, "name": name}}})
    }

    fn sample(line: &str) -> EnvFile {
        EnvFile::parse(line, ".env.sample").unwrap()
    }

    #[test]
    fn modifiers_give_length_alphabet_and_generate() {
        let env = sample("SECRET_DB_PASSWORD_VERSION=v2 # length=12 charset=hex generate=false");
        let d = declared(&config("st_db_password_v2"), &env, "st").unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].length, d[0].version.as_str()), (12, "v2"));
        assert_eq!(d[0].alphabet, b"0123456789abcdef");
        assert!(!d[0].generate);
    }

    #[test]
    fn an_unknown_charset_falls_back_to_the_default_alphabet() {
        let env = sample("SECRET_DB_PASSWORD_VERSION=v1 # charset=safespecial");
        let d = declared(&config("st_db_password_v1"), &env, "st").unwrap();
        assert_eq!(d[0].alphabet, alphabet("default", "x"));
        let mixed = alphabet("special,nope", "x");
        assert!(mixed.contains(&b'!') && mixed.contains(&b'a'));
    }

    #[test]
    fn a_name_over_docker_limit_is_the_recipes_fault_in_one_line() {
        let env = sample("SECRET_DB_PASSWORD_VERSION=v1");
        let name = format!("{}_db_password_v1", "s".repeat(50));
        let e = declared(&config(&name), &env, &"s".repeat(50)).unwrap_err();
        assert_eq!(exit::code_of(&e), exit::NO);
        let msg = exit::one_line(&e);
        assert!(
            msg.starts_with("secret db_password: its deployed name"),
            "{msg}"
        );
        assert!(msg.contains("is 65 characters"), "{msg}");
        let fits = format!("{}_db_password_v1", "s".repeat(49));
        assert!(declared(&config(&fits), &env, &"s".repeat(49)).is_ok());
    }
}
