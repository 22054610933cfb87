//! Settings derived from the run: `{domain}`, `{stack}` and
//! `{dep.<recipe>.domain}` in the env values of `recipe.json`, filled in when
//! the app is created (or upgraded) and its names are known.
//!
//! A placeholder is `{` + a lowercase name (letters, digits, `.`, `_`, `-`) +
//! `}`. Anything else in braces is literal text (JSON in a value stays as it
//! is), and `{{` is a literal `{` for the rare value that needs `{domain}`
//! itself. An unknown placeholder is bad input (exit 2): a misspelt
//! `{domian}` must not reach the app as text.

use crate::exit;
use anyhow::Result;
use std::collections::BTreeMap;

/// The values a run can fill in.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub domain: String,
    pub stack: String,
    /// Dependency recipe → its app's domain.
    pub deps: BTreeMap<String, String>,
}

/// One piece of a value: text, or a placeholder's name.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Name(&'a str),
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn pieces(value: &str) -> Vec<Piece<'_>> {
    let mut out = vec![];
    let mut rest = value;
    while let Some(i) = rest.find('{') {
        if rest[i..].starts_with("{{") {
            out.push(Piece::Text(&rest[..=i]));
            rest = &rest[i + 2..];
            continue;
        }
        match rest[i + 1..].find('}') {
            Some(j) if is_name(&rest[i + 1..i + 1 + j]) => {
                out.push(Piece::Text(&rest[..i]));
                out.push(Piece::Name(&rest[i + 1..i + 1 + j]));
                rest = &rest[i + 2 + j..];
            }
            _ => {
                out.push(Piece::Text(&rest[..=i]));
                rest = &rest[i + 1..];
            }
        }
    }
    out.push(Piece::Text(rest));
    out
}

/// The placeholders a value uses.
pub fn names(value: &str) -> Vec<&str> {
    pieces(value)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Name(n) => Some(n),
            Piece::Text(_) => None,
        })
        .collect()
}

/// Is `name` a placeholder a run can fill, given the recipe's dependencies?
/// `Err` says why not, for the one-line error.
pub fn check_name(name: &str, deps: &[&str]) -> std::result::Result<(), String> {
    match name {
        "domain" | "stack" => Ok(()),
        _ => match name
            .strip_prefix("dep.")
            .and_then(|r| r.strip_suffix(".domain"))
        {
            Some(d) if deps.contains(&d) => Ok(()),
            Some(d) => Err(format!(
                "{{{name}}} names {d:?}, which is not a dependency of this recipe"
            )),
            None => Err(format!(
                "{{{name}}} is not a placeholder (known: {{domain}}, {{stack}}, {{dep.<recipe>.domain}})"
            )),
        },
    }
}

/// Fill in every placeholder of `value` for the setting `key`.
pub fn expand(key: &str, value: &str, known: &Known) -> Result<String> {
    let mut out = String::new();
    for p in pieces(value) {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Name("domain") => out.push_str(&known.domain),
            Piece::Name("stack") => out.push_str(&known.stack),
            Piece::Name(n) => {
                let dep = n
                    .strip_prefix("dep.")
                    .and_then(|r| r.strip_suffix(".domain"));
                match dep.and_then(|d| known.deps.get(d)) {
                    Some(domain) if !domain.is_empty() => out.push_str(domain),
                    Some(_) => {
                        return Err(exit::usage(format!(
                            "env {key}: {{{n}}}: the dependency has no app in this run"
                        )));
                    }
                    None => {
                        let deps: Vec<&str> = known.deps.keys().map(String::as_str).collect();
                        let why = match check_name(n, &deps) {
                            Err(why) => why,
                            Ok(()) => format!("{{{n}}} has no value"),
                        };
                        return Err(exit::usage(format!("env {key}: {why}")));
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        Known {
            domain: "demo-1.ci.example".into(),
            stack: "demo-1_ci_example".into(),
            deps: [("keycloak".to_string(), "kc-1.ci.example".to_string())].into(),
        }
    }

    #[test]
    fn fills_domain_stack_and_dependency_domains() {
        let k = known();
        assert_eq!(
            expand("MAIL", "noreply@{domain}", &k).unwrap(),
            "noreply@demo-1.ci.example"
        );
        assert_eq!(
            expand("ISS", "https://{dep.keycloak.domain}/realms/ci", &k).unwrap(),
            "https://kc-1.ci.example/realms/ci"
        );
        assert_eq!(
            expand("S", "{stack}_db", &k).unwrap(),
            "demo-1_ci_example_db"
        );
    }

    #[test]
    fn braces_that_are_not_placeholders_stay_text() {
        let k = known();
        for v in [
            r#"{"a": 1}"#,
            "{}",
            "{ domain }",
            "{Domain}",
            "a{b",
            "}{",
            "${DOMAIN}",
        ] {
            assert_eq!(expand("K", v, &k).unwrap(), v.replace("{{", "{"), "{v}");
        }
        assert_eq!(expand("K", "{{domain}", &k).unwrap(), "{domain}");
    }

    #[test]
    fn unknown_placeholders_are_bad_input_naming_the_key() {
        let k = known();
        for (v, says) in [
            ("{domian}", "{domian} is not a placeholder"),
            ("{dep.sso.domain}", "\"sso\", which is not a dependency"),
        ] {
            let e = expand("OIDC", v, &k).unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE);
            let msg = format!("{e:#}");
            assert!(msg.starts_with("env OIDC: ") && msg.contains(says), "{msg}");
        }
        let mut k = known();
        k.deps.clear();
        let e = expand("OIDC", "{dep.keycloak.domain}", &k).unwrap_err();
        assert!(format!("{e:#}").contains("not a dependency"), "{e:#}");
        k.deps.insert("keycloak".into(), String::new());
        let e = expand("OIDC", "{dep.keycloak.domain}", &k).unwrap_err();
        assert!(format!("{e:#}").contains("has no app in this run"), "{e:#}");
        assert_eq!(check_name("dep.keycloak.domain", &["keycloak"]), Ok(()));
        assert_eq!(names("a{domain}b{{x}{stack}"), ["domain", "stack"]);
    }
}
