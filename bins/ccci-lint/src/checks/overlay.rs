//! CI compose overlays (C011): what ccci's recipes tree may layer over a
//! recipe's own compose files. Only what makes the app fit the CI host: per
//! service `healthcheck`, `image` and `deploy.resources`, of services the
//! recipe has.

use super::Report;
use crate::recipe::{Loc, Recipe, TextFile};
use ccci_core::compose;
use serde_json::Value;
use std::collections::BTreeSet;

const SERVICE_KEYS: [&str; 3] = ["healthcheck", "image", "deploy"];

/// The recipe's service names: rendered, or from its files when it does not render.
fn recipe_services(recipe: &Recipe) -> BTreeSet<String> {
    match &recipe.config {
        Ok(c) => compose::section(c, "services")
            .map(|(n, _)| n.clone())
            .collect(),
        Err(_) => recipe
            .files
            .iter()
            .filter_map(|f| f.yaml.as_ref())
            .flat_map(|y| compose::section(y, "services").map(|(n, _)| n.clone()))
            .collect(),
    }
}

pub fn scope(recipe: &Recipe, overlays: &[TextFile], r: &mut Report) {
    if overlays.is_empty() {
        r.skip("C011", "not checked: no CI compose overlay");
        return;
    }
    let known = recipe_services(recipe);
    for f in overlays {
        let at = |path: &[&str]| Loc::at(&f.name, f.index.key(path).or(Some(1)));
        let Some(Value::Object(top)) = &f.yaml else {
            r.add(
                "C011",
                Loc::at(&f.name, Some(1)),
                format!("{} is not a YAML mapping", f.name),
            );
            continue;
        };
        for (k, v) in top {
            match k.as_str() {
                "version" => {}
                "services" => {
                    let Value::Object(services) = v else {
                        r.add("C011", at(&["services"]), "services is not a mapping");
                        continue;
                    };
                    for (name, s) in services {
                        if !known.contains(name) {
                            r.add(
                                "C011",
                                at(&["services", name]),
                                format!("service {name} is not a service of the recipe: an overlay may not add services"),
                            );
                            continue;
                        }
                        let Value::Object(keys) = s else { continue };
                        for (key, val) in keys {
                            if !SERVICE_KEYS.contains(&key.as_str()) {
                                r.add(
                                    "C011",
                                    at(&["services", name, key]),
                                    format!("{name}.{key}: an overlay may only change healthcheck, image and deploy.resources"),
                                );
                                continue;
                            }
                            if key == "deploy" {
                                let deploy_keys: Vec<&String> = match val {
                                    Value::Object(d) => d.keys().collect(),
                                    _ => vec![],
                                };
                                for dk in deploy_keys.into_iter().filter(|dk| *dk != "resources") {
                                    r.add(
                                        "C011",
                                        at(&["services", name, "deploy", dk]),
                                        format!("{name}.deploy.{dk}: an overlay may only change deploy.resources"),
                                    );
                                }
                            }
                        }
                    }
                }
                other => r.add(
                    "C011",
                    at(&[other]),
                    format!("top-level {other}: an overlay may only change services"),
                ),
            }
        }
    }
}
