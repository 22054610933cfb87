//! The cross-stack collision (C008, C009): a service on a shared external
//! network that reaches a sibling by its bare service name. Swarm gives every
//! service its short name as an alias on each network it joins, so on a network
//! many stacks share, `app` or `db` can answer from another stack.

use super::Report;
use crate::recipe::{self, Loc, Recipe};
use ccci_core::compose;
use serde_json::Value;

fn boundary(c: Option<char>) -> bool {
    c.is_none_or(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$' | '{')))
}

/// Does `text` use `name` as a host name: `://name`, `@name`, `name:5432`,
/// `tasks.name`, `-h name`, `--host name`?
pub fn names_host(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(name).map(|i| i + from) {
        from = i + name.len();
        let before = &text[..i];
        let after = &text[i + name.len()..];
        let mut next = after.chars();
        let (a0, a1) = (next.next(), next.next());
        let ends = match a0 {
            None => true,
            Some(':') => a1.is_some_and(|c| c.is_ascii_digit()),
            Some(c) => c.is_whitespace() || "/\"',;)]}".contains(c),
        };
        if !ends {
            continue;
        }
        // `tasks.<name>` is a host name by construction.
        let (head, tasks) = match before.strip_suffix("tasks.") {
            Some(h) => (h, true),
            None => (before, false),
        };
        if !boundary(head.chars().next_back()) {
            continue;
        }
        let port = a0 == Some(':');
        let hosty = tasks
            || port
            || head.ends_with("://")
            || head.ends_with('@')
            || head.ends_with("-h ")
            || head.ends_with("--host ")
            || head.ends_with("--host=");
        let plain_start = head
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || "\"'=,(@[".contains(c));
        if hosty && (!port || tasks || plain_start || head.ends_with("://")) {
            return true;
        }
    }
    false
}

/// Environment keys whose whole value is a host name.
fn host_key(k: &str) -> bool {
    let k = k.to_ascii_uppercase();
    [
        "HOST", "ADDR", "SERVER", "URL", "URI", "ENDPOINT", "UPSTREAM", "BACKEND",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Where a service's configuration names `sibling` as a host: a description
/// and a location.
fn references(
    config: &Value,
    recipe: &Recipe,
    name: &str,
    s: &Value,
    sibling: &str,
) -> Option<(String, Loc)> {
    for (k, v) in compose::section(s, "environment") {
        let v = v.as_str().unwrap_or("");
        if (v == sibling && host_key(k)) || names_host(v, sibling) {
            return Some((
                format!("environment {k}"),
                recipe.locate(&["services", name, "environment", k]),
            ));
        }
    }
    for k in ["command", "entrypoint"] {
        if names_host(&recipe::words(&s[k]), sibling) {
            return Some((k.to_string(), recipe.locate(&["services", name, k])));
        }
    }
    if names_host(&recipe::words(&s["healthcheck"]["test"]), sibling) {
        return Some((
            "healthcheck".into(),
            recipe.locate(&["services", name, "healthcheck", "test"]),
        ));
    }
    for (target, file) in recipe::config_mounts(config, s) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if let Some(n) = text.lines().position(|l| names_host(l, sibling)) {
            let rel = recipe.relative(&file);
            return Some((
                format!("config {target} ({rel})"),
                Loc::at(&rel, Some(n + 1)),
            ));
        }
    }
    None
}

pub fn bare_names(config: &Value, recipe: &Recipe, r: &mut Report) {
    let shared: Vec<&String> = compose::section(config, "networks")
        .filter(|(_, d)| compose::is_external(d))
        .map(|(n, _)| n)
        .collect();
    if shared.is_empty() {
        return;
    }
    let services = recipe::services(config);
    for (name, s) in &services {
        let nets = recipe::networks(s);
        let Some(net) = shared.iter().find(|n| nets.contains(n)) else {
            continue;
        };
        for (sibling, t) in &services {
            if sibling == name {
                continue;
            }
            let Some((what, loc)) = references(config, recipe, name, s, sibling) else {
                continue;
            };
            if recipe::networks(t).contains(net) {
                r.add(
                    "C008",
                    loc,
                    format!(
                        "{name} is on the shared network {net} and reaches {sibling}, also on {net}, by its bare name ({what}): on {net} that name answers for every stack's {sibling}; use ${{STACK_NAME}}_{sibling}"
                    ),
                );
            } else {
                r.add(
                    "C009",
                    loc,
                    format!(
                        "{name} is on the shared network {net} and reaches {sibling} by its bare name ({what}): another stack's {sibling} on {net} would answer too; use ${{STACK_NAME}}_{sibling}"
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_in_text() {
        for yes in [
            "http://app:8080/",
            "postgres://u:p@db:5432/x",
            "postgres://u:p@db/x",
            "db:5432",
            "DB=db:5432",
            "wget http://tasks.db:5432/rows",
            "tasks.db",
            "pg_isready -h db -U x",
            "--host=db",
            "proxy_pass http://app;",
            "server app:80;",
        ] {
            assert!(
                names_host(yes, if yes.contains("app") { "app" } else { "db" }),
                "{yes}"
            );
        }
        for no in [
            "POSTGRES_DB=db",
            "db",
            "/var/lib/db",
            "http://ccci_lint_db:5432",
            "http://${STACK_NAME}_db:5432",
            "dbx:5432",
            "my-db:5432",
            "db.example.com",
            "/srv/db:1",
            "the db is up",
        ] {
            assert!(!names_host(no, "db"), "{no}");
        }
    }

    #[test]
    fn host_keys() {
        assert!(host_key("DB_HOST") && host_key("upstream") && host_key("REDIS_URL"));
        assert!(!host_key("POSTGRES_DB") && !host_key("DB_NAME"));
    }
}
