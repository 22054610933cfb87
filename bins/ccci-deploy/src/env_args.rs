//! `--env KEY=VALUE` and `--dep-domain RECIPE=DOMAIN`, as `new` and `upgrade`
//! take them: values are literal text (no quotes, no `$` expansion: they come
//! from `recipe.json` strings or a shell that already did its quoting), and
//! may use the run's placeholders (`ccci_core::placeholders`), filled in once
//! the app's names are known.

use anyhow::Result;
use ccci_core::exit;
use ccci_core::placeholders::{self, Known};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct EnvArgs {
    pairs: Vec<(String, String)>,
    deps: BTreeMap<String, String>,
}

fn split<'a>(flag: &str, kv: &'a str) -> Result<(&'a str, &'a str)> {
    match kv.split_once('=') {
        Some((k, v))
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            Ok((k, v))
        }
        _ => Err(exit::usage(format!("{flag} {kv:?} is not KEY=VALUE"))),
    }
}

impl EnvArgs {
    /// Check every flag before anything is created.
    pub(crate) fn parse(env: &[String], deps: &[String]) -> Result<EnvArgs> {
        let mut out = EnvArgs::default();
        for kv in deps {
            // Keyed by recipe name, which may hold `-`, unlike a variable name.
            let Some((k, v)) = kv
                .split_once('=')
                .filter(|(k, _)| ccci_core::recipe_name::RecipeName::is_valid(k))
            else {
                return Err(exit::usage(format!(
                    "--dep-domain {kv:?} is not RECIPE=DOMAIN"
                )));
            };
            out.deps.insert(k.to_string(), v.to_string());
        }
        let names: Vec<&str> = out.deps.keys().map(String::as_str).collect();
        for kv in env {
            let (k, v) = split("--env", kv)?;
            for n in placeholders::names(v) {
                placeholders::check_name(n, &names)
                    .map_err(|why| exit::usage(format!("env {k}: {why}")))?;
            }
            out.pairs.push((k.to_string(), v.to_string()));
        }
        Ok(out)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The settings with the app's names filled in.
    pub(crate) fn expanded(&self, domain: &str, stack: &str) -> Result<Vec<(String, String)>> {
        let known = Known {
            domain: domain.into(),
            stack: stack.into(),
            deps: self.deps.clone(),
        };
        self.pairs
            .iter()
            .map(|(k, v)| Ok((k.clone(), placeholders::expand(k, v, &known)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_literal_and_placeholders_are_filled() {
        let a = EnvArgs::parse(
            &[
                "A='quoted' # kept".into(),
                "B=x=y".into(),
                "C=https://{dep.kc-ng.domain}/{domain}".into(),
                "D=".into(),
            ],
            &["kc-ng=kc.example".into()],
        )
        .unwrap();
        assert_eq!(
            a.expanded("app.example", "app_example").unwrap(),
            [
                ("A".to_string(), "'quoted' # kept".to_string()),
                ("B".into(), "x=y".into()),
                ("C".into(), "https://kc.example/app.example".into()),
                ("D".into(), String::new()),
            ]
        );
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for (env, deps) in [
            (vec!["NOEQUALS"], vec![]),
            (vec!["=v"], vec![]),
            (vec!["A-B=v"], vec![]),
            (vec!["A={domian}"], vec![]),
            (vec!["A={dep.kc.domain}"], vec![]),
            (vec![], vec!["nodomain"]),
        ] {
            let env: Vec<String> = env.into_iter().map(String::from).collect();
            let deps: Vec<String> = deps.into_iter().map(String::from).collect();
            let e = EnvArgs::parse(&env, &deps).unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE, "{env:?} {deps:?}");
        }
    }
}
