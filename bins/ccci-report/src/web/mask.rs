//! Masking what a run's page and copied logs show. Registered for each run:
//! its generated secrets (`secrets.json`), its dependency apps' secrets (their
//! deploy output lands in this run's logs), and the values of its `app.env`
//! whose key names a secret. Each value is also registered as HTML, XML and
//! JSON escape it, so an escaped copy in junit.xml or a logged JSON document
//! is masked too.
//!
//! A run whose secrets cannot be read is not published at all: masking that
//! does not know the secrets would only look safe.

use anyhow::{Context, Result};
use ccci_core::envfile::EnvFile;
use ccci_core::redact::Redactor;
use ccci_core::rundir::RunDir;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

#[derive(Default)]
pub struct Masker {
    redactor: Redactor,
}

impl Masker {
    /// The masker of run `id`, whose dependency apps ran as `deps`.
    pub fn for_run<'a>(
        state_dir: &Path,
        id: &'a str,
        deps: impl IntoIterator<Item = &'a String>,
    ) -> Result<Masker> {
        let m = Masker::default();
        for dir_id in std::iter::once(id).chain(deps.into_iter().map(String::as_str)) {
            let dir = RunDir {
                id: dir_id.to_string(),
                path: RunDir::runs_root(state_dir).join(dir_id),
            };
            for v in dir.secrets()?.values() {
                m.add(v);
            }
            let env = dir.env_path();
            if env.exists() {
                let env = EnvFile::read(&env)
                    .with_context(|| format!("cannot read {} to mask it", env.display()))?;
                for (k, v) in env.vars() {
                    if secret_key(k) {
                        m.add(v);
                    }
                }
            }
        }
        Ok(m)
    }

    pub fn add(&self, value: &str) {
        self.redactor.add(value);
        let html = value
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        self.redactor.add(&html);
        self.redactor.add(&html.replace('\'', "&apos;"));
        if let Ok(json) = serde_json::to_string(value) {
            self.redactor.add(&json[1..json.len() - 1]);
        }
    }

    /// Mask the run's secrets, and the host's own (the Gitea token and any
    /// other value this process registered with the global redactor).
    pub fn text(&self, s: &str) -> String {
        ccci_core::redact::global().apply(&self.redactor.apply(s))
    }

    /// A copy of a value with every string in it masked (a summary, a
    /// warning, a test's last line: any of them may print a secret).
    pub fn value<T: Serialize + DeserializeOwned>(&self, v: &T) -> Result<T> {
        let mut json = serde_json::to_value(v)?;
        self.walk(&mut json);
        Ok(serde_json::from_value(json)?)
    }

    fn walk(&self, v: &mut serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::String(s) => *s = self.text(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.walk(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.walk(x)),
            _ => {}
        }
    }
}

/// Does an env key name a secret? One of its `_`-separated words says so;
/// abra's `SECRET_<NAME>_VERSION` keys hold a version, not the secret.
pub fn secret_key(key: &str) -> bool {
    const WORDS: [&str; 12] = [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "PW",
        "PASSPHRASE",
        "PRIVATE",
        "TOKEN",
        "KEY",
        "APIKEY",
        "CREDENTIALS",
    ];
    let key = key.to_ascii_uppercase();
    !key.ends_with("_VERSION") && key.split('_').any(|w| WORDS.contains(&w))
}

/// A repository URL without the user and password it may carry
/// (`https://user:token@host/x` shows as `https://…@host/x`).
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{scheme}://…{}", &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_values_and_their_escaped_forms() {
        let m = Masker::default();
        m.add("s3cr<e>t\"q'");
        m.add("abc"); // too short to mask without shredding text
        let raw = "pw=s3cr<e>t\"q' abc";
        assert_eq!(m.text(raw), "pw=[REDACTED] abc");
        assert_eq!(
            m.text("<failure message=\"s3cr&lt;e&gt;t&quot;q&apos;\"/>"),
            "<failure message=\"[REDACTED]\"/>"
        );
        assert_eq!(m.text("td>s3cr&lt;e&gt;t&quot;q'<"), "td>[REDACTED]<");
        assert_eq!(m.text(r#"{"pw":"s3cr<e>t\"q'"}"#), r#"{"pw":"[REDACTED]"}"#);
    }

    #[test]
    fn masks_every_string_of_a_value() {
        let m = Masker::default();
        m.add("hunter22");
        let v = serde_json::json!({"a": ["x hunter22 y", {"b": "hunter22"}], "n": 1});
        assert_eq!(
            m.value(&v).unwrap(),
            serde_json::json!({"a": ["x [REDACTED] y", {"b": "[REDACTED]"}], "n": 1})
        );
    }

    #[test]
    fn secret_keys() {
        for k in [
            "DB_PASSWORD",
            "SECRET_KEY_BASE",
            "API_TOKEN",
            "smtp_pass",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(secret_key(k), "{k}");
        }
        for k in [
            "DOMAIN",
            "SECRET_DB_PASSWORD_VERSION",
            "KEYCLOAK_URL",
            "PASSENGER",
        ] {
            assert!(!secret_key(k), "{k}");
        }
    }

    #[test]
    fn credentials_leave_urls() {
        assert_eq!(
            without_credentials("https://bot:t0ken@git.example.org/r/demo.git"),
            "https://…@git.example.org/r/demo.git"
        );
        assert_eq!(
            without_credentials("https://git.example.org/a@b"),
            "https://git.example.org/a@b"
        );
        assert_eq!(without_credentials("/srv/demo"), "/srv/demo");
    }

    #[test]
    fn a_runs_secrets_and_its_dependencies_are_masked() {
        let scratch = ccci_testkit::Scratch::new("report-mask");
        let run = RunDir::create(&scratch.path, "r1").unwrap();
        run.save_secrets(&[("db_password".to_string(), "Zq9generated".to_string())].into())
            .unwrap();
        std::fs::write(
            run.env_path(),
            "DOMAIN=demo.ci.localhost\nADMIN_PASSWORD=from-the-env\n",
        )
        .unwrap();
        let dep = RunDir::create(&scratch.path, "r1-dep-kc").unwrap();
        dep.save_secrets(&[("admin".to_string(), "depSecret77".to_string())].into())
            .unwrap();
        let m = Masker::for_run(&scratch.path, "r1", &["r1-dep-kc".to_string()]).unwrap();
        assert_eq!(
            m.text("Zq9generated from-the-env depSecret77 demo.ci.localhost"),
            "[REDACTED] [REDACTED] [REDACTED] demo.ci.localhost"
        );
        std::fs::write(run.secrets_path(), "{not json").unwrap();
        assert!(Masker::for_run(&scratch.path, "r1", []).is_err());
    }
}
