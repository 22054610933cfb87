//! ccci's own rules over the rendered config: the version label (C002),
//! secrets declared (C003), healthcheck grace against the deploy timeout (C010).

use super::Report;
use crate::recipe::{self, Recipe, STACK};
use ccci_core::compose;
use serde_json::Value;
use std::collections::BTreeSet;

pub fn version_label(config: &Value, tag: Option<&str>, recipe: &Recipe, r: &mut Report) {
    let Some(tag) = tag else {
        r.skip("C002", "not checked: no --tag (not a release)");
        return;
    };
    if config["services"]["app"].is_null() {
        r.skip("C002", "not checked: no app service (R009)");
        return;
    }
    let key = ccci_core::labels::coop_cloud(STACK, ccci_core::labels::coop::VERSION);
    let labels = compose::deploy_labels(&config["services"]["app"]);
    let loc = recipe.locate_within(&["services", "app", "deploy", "labels"], ".version");
    match labels.get(&key).and_then(Value::as_str) {
        Some(v) if v == tag => {}
        Some(v) => r.add(
            "C002",
            loc,
            format!("app's version label is {v}, but the release tag is {tag}"),
        ),
        None => r.add(
            "C002",
            loc,
            format!("app has no coop-cloud.${{STACK_NAME}}.version label (release tag {tag})"),
        ),
    }
}

/// abra's convention: secret `db_password` is versioned by `SECRET_DB_PASSWORD_VERSION`.
fn secret_var(name: &str) -> String {
    format!("SECRET_{}_VERSION", name.to_uppercase())
}

pub fn secrets_declared(config: &Value, recipe: &Recipe, r: &mut Report) {
    let used: BTreeSet<String> = compose::section(config, "secrets")
        .map(|(n, _)| n.clone())
        .collect();
    let declared: BTreeSet<String> = recipe
        .sample
        .vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("SECRET_")
                .and_then(|r| r.strip_suffix("_VERSION"))
                .map(str::to_lowercase)
        })
        .collect();
    for s in used.difference(&declared) {
        r.add(
            "C003",
            recipe.locate(&["secrets", s]),
            format!(
                "secret {s} is used but {} is not in .env.sample",
                secret_var(s)
            ),
        );
    }
    for s in declared.difference(&used) {
        let var = secret_var(s);
        r.add(
            "C003",
            recipe.env_line(&var),
            format!("{var} is in .env.sample but no secret {s} is used"),
        );
    }
}

/// A Go duration as Docker's loader prints it (`1m30s`, `500ms`, `5s`), in seconds.
pub fn go_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    if s == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphabetic() || *b >= 0x80)
            .count();
        let unit = &rest[..u];
        rest = &rest[u..];
        total += value
            * match unit {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 1e-3,
                "us" | "µs" | "μs" => 1e-6,
                "ns" => 1e-9,
                _ => return None,
            };
    }
    Some(total)
}

/// Docker's healthcheck defaults.
const DEFAULT_INTERVAL: f64 = 30.0;
const DEFAULT_RETRIES: f64 = 3.0;

/// The share of the deploy timeout a healthcheck's grace must reach.
pub const TIMEOUT_SHARE: f64 = 0.1;

pub fn start_period(config: &Value, from_settings: Option<u64>, recipe: &Recipe, r: &mut Report) {
    let key = ccci_core::labels::coop_cloud(STACK, ccci_core::labels::coop::TIMEOUT);
    let from_label = compose::deploy_labels(&config["services"]["app"])
        .get(&key)
        .and_then(Value::as_str)
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (timeout, source) = match (from_settings, from_label) {
        (Some(t), _) => (t, "recipe.json's timeouts.deploy"),
        (None, Some(t)) => (t, "app's coop-cloud.${STACK_NAME}.timeout label"),
        (None, None) => {
            r.skip("C010", "not checked: the recipe sets no deploy timeout");
            return;
        }
    };
    let want = timeout as f64 * TIMEOUT_SHARE;
    for (name, s) in recipe::services(config) {
        let h = &s["healthcheck"];
        if h.is_null() || h["disable"] == Value::Bool(true) {
            continue;
        }
        let secs = |k: &str, default: f64| h[k].as_str().and_then(go_duration).unwrap_or(default);
        let start = secs("start_period", 0.0);
        let interval = secs("interval", DEFAULT_INTERVAL);
        let retries = h["retries"].as_f64().unwrap_or(DEFAULT_RETRIES);
        let grace = start + retries * interval;
        if grace < want {
            r.add(
                "C010",
                recipe.locate(&["services", name, "healthcheck", "start_period"]),
                format!(
                    "{name}'s healthcheck gives a starting task {grace:.0} s (start_period {start:.0} s + {retries:.0} retries x {interval:.0} s) before swarm replaces it, under a tenth of the {timeout} s deploy timeout ({source})"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("5s"), Some(5.0));
        assert_eq!(go_duration("1m0s"), Some(60.0));
        assert_eq!(go_duration("1h2m3s"), Some(3723.0));
        assert_eq!(go_duration("1m30.5s"), Some(90.5));
        assert_eq!(go_duration("500ms"), Some(0.5));
        assert_eq!(go_duration("0s"), Some(0.0));
        assert_eq!(go_duration("0"), Some(0.0));
        assert_eq!(go_duration("5"), None);
        assert_eq!(go_duration("5x"), None);
        assert_eq!(go_duration(""), None);
    }
}
