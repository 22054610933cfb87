//! abra's rules, R001..R016 (R006 and R013 need the network and are never
//! checked). docs/lint.md says where ccci's reading of a rule is its own.

use super::{Report, list};
use crate::recipe::{self, Loc, Recipe, STACK};
use ccci_core::compose;
use serde_json::Value;
use std::collections::BTreeMap;

/// The rules read from the recipe's files as they are: R001, R007, R008,
/// R012, R014.
pub fn file_rules(recipe: &Recipe, r: &mut Report) {
    compose_version(recipe, r);
    readme_metadata(recipe, r);
    if let Some(why) = &recipe.sample_problem {
        r.add("R008", Loc::file(".env.sample"), why.clone());
    }
    abra_sh_vendors(recipe, r);
    annotated_tags(recipe, r);
}

/// The rules read from the rendered config.
pub fn config_rules(recipe: &Recipe, config: &Value, r: &mut Report) {
    healthchecks(recipe, config, r);
    images(recipe, config, r);
    app_service(recipe, config, r);
    traefik(recipe, config, r);
    secret_lengths(recipe, config, r);
}

fn compose_version(recipe: &Recipe, r: &mut Report) {
    for f in &recipe.files {
        let Some(yaml) = &f.yaml else { continue };
        let version = match &yaml["version"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        match version {
            Some(v) if v == "3.8" => {}
            Some(v) => r.add(
                "R001",
                Loc::at(&f.name, f.index.key(&["version"])),
                format!("{} declares version {v:?}, not \"3.8\"", f.name),
            ),
            None => r.add(
                "R001",
                Loc::at(&f.name, Some(1)),
                format!("{} declares no version (want \"3.8\")", f.name),
            ),
        }
    }
}

/// The metadata lines abra wants filled in (`* **Category**: Apps`).
pub const METADATA: [&str; 6] = [
    "Category",
    "Image",
    "Healthcheck",
    "Backups",
    "Email",
    "SSO",
];

fn readme_metadata(recipe: &Recipe, r: &mut Report) {
    let Some(text) = &recipe.readme else {
        r.add(
            "R007",
            Loc::file("README.md"),
            "README.md is missing (it holds the catalogue's metadata block)",
        );
        return;
    };
    let start = text.find("<!-- metadata -->");
    let end = text.find("<!-- endmetadata -->");
    let (Some(s), Some(e)) = (start, end) else {
        r.add(
            "R007",
            Loc::file("README.md"),
            "README.md has no <!-- metadata --> ... <!-- endmetadata --> block",
        );
        return;
    };
    let line = text[..s].lines().count() + 1;
    if e < s {
        r.add(
            "R007",
            Loc::at("README.md", Some(line)),
            "README.md's <!-- endmetadata --> comes before <!-- metadata -->",
        );
        return;
    }
    let block = &text[s..e];
    let mut missing = vec![];
    for field in METADATA {
        let marker = format!("**{field}**");
        let value = block
            .lines()
            .find(|l| l.contains(&marker))
            .and_then(|l| l.split_once(&marker))
            .map(|(_, v)| v.trim_start_matches(':').trim());
        match value {
            Some(v) if !v.is_empty() => {}
            Some(_) => missing.push(format!("{field} (empty)")),
            None => missing.push(field.to_string()),
        }
    }
    if !missing.is_empty() {
        r.add(
            "R007",
            Loc::at("README.md", Some(line)),
            format!("README.md's metadata block lacks {}", list(&missing)),
        );
    }
}

/// The variables a compose template uses: `$NAME`, `${NAME}`, `${NAME:-x}`.
pub fn template_vars(s: &str) -> Vec<String> {
    let mut out = vec![];
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            if b.get(i + 1) == Some(&b'$') {
                i += 2;
                continue;
            }
            let start = if b.get(i + 1) == Some(&b'{') {
                i + 2
            } else {
                i + 1
            };
            let end = start
                + s[start..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
            if end > start {
                out.push(s[start..end].to_string());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn abra_sh_vendors(recipe: &Recipe, r: &mut Report) {
    // The configs as the compose files declare them, later files overriding.
    let mut configs: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for f in &recipe.files {
        let Some(yaml) = &f.yaml else { continue };
        for (k, def) in compose::section(yaml, "configs") {
            let e = configs.entry(k.clone()).or_default();
            if let Value::Object(m) = def {
                e.extend(m.clone());
            }
        }
    }
    let configs: Vec<(String, Value)> = configs
        .into_iter()
        .map(|(k, m)| (k, Value::Object(m)))
        .filter(|(_, d)| !compose::is_external(d))
        .collect();
    if configs.is_empty() {
        return;
    }
    if recipe.abra_sh.is_none() {
        let names: Vec<String> = configs.iter().map(|(k, _)| k.clone()).collect();
        r.add(
            "R012",
            Loc::file("abra.sh"),
            format!(
                "abra.sh is missing, but the recipe has swarm configs ({}) whose versions it must export",
                list(&names)
            ),
        );
        return;
    }
    for (key, def) in &configs {
        let loc = recipe.locate(&["configs", key, "name"]);
        let Some(name) = def["name"].as_str() else {
            r.add(
                "R012",
                loc,
                format!(
                    "config {key} has no name:, so its name never changes and a changed file cannot be redeployed; name it ${{STACK_NAME}}_{key}_${{{}_VERSION}}",
                    key.to_uppercase()
                ),
            );
            continue;
        };
        let vars: Vec<String> = template_vars(name)
            .into_iter()
            .filter(|v| v != "STACK_NAME")
            .collect();
        if vars.iter().any(|v| recipe.exports.get(v).is_some()) {
            continue;
        }
        let msg = match vars.first() {
            None => format!(
                "config {key}'s name {name:?} has no version variable: a changed file cannot be redeployed under the same name"
            ),
            Some(v) if recipe.sample.get(v).is_some() => format!(
                "config {key}'s name uses ${{{v}}}, which .env.sample sets but abra.sh does not export: an app's env keeps the old version on upgrade"
            ),
            Some(v) => format!("config {key}'s name uses ${{{v}}}, which abra.sh does not export"),
        };
        r.add("R012", loc, msg);
    }
}

fn annotated_tags(recipe: &Recipe, r: &mut Report) {
    let Some(repo) = &recipe.git else {
        r.skip(
            "R014",
            "not checked: not a git repository (give the repository, or --ref)",
        );
        return;
    };
    let out = match ccci_core::git::git(
        repo,
        &[
            "for-each-ref",
            "--format=%(objecttype) %(refname:strip=2)",
            "refs/tags",
        ],
    ) {
        Ok(o) => o,
        Err(e) => {
            r.skip(
                "R014",
                format!("not checked: {}", ccci_core::cli::one_line(&e)),
            );
            return;
        }
    };
    let light: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(kind, _)| *kind != "tag")
        .map(|(_, name)| name.to_string())
        .collect();
    if !light.is_empty() {
        let shown: Vec<String> = light.iter().take(10).cloned().collect();
        let more = if light.len() > 10 {
            format!(" (and {} more)", light.len() - 10)
        } else {
            String::new()
        };
        r.add(
            "R014",
            Loc::default(),
            format!(
                "lightweight tags, not annotated: {}{more}",
                shown.join(", ")
            ),
        );
    }
}

fn healthchecks(recipe: &Recipe, config: &Value, r: &mut Report) {
    for (name, s) in recipe::services(config) {
        let h = &s["healthcheck"];
        if h.is_null() {
            r.add(
                "R002",
                recipe.locate(&["services", name]),
                format!("{name} has no healthcheck: swarm calls it running as soon as it starts"),
            );
        } else if h["disable"] == Value::Bool(true) {
            r.add(
                "R002",
                recipe.locate(&["services", name, "healthcheck"]),
                format!("{name} disables its healthcheck"),
            );
        }
    }
}

/// What an image reference pins.
#[derive(Debug, PartialEq, Eq)]
pub enum Pin<'a> {
    Digest,
    Tag(&'a str),
    Nothing,
}

/// `name:tag` or `name@sha256:...`; a registry's port is not a tag.
pub fn pin(image: &str) -> Pin<'_> {
    if image.split_once('@').is_some_and(|(_, d)| d.contains(':')) {
        return Pin::Digest;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => Pin::Tag(tag),
        None => Pin::Nothing,
    }
}

/// Tags that move by design.
pub const UNSTABLE: [&str; 11] = [
    "latest", "stable", "edge", "nightly", "main", "master", "dev", "develop", "unstable",
    "rolling", "mainline",
];

/// `v`? then one to three dot-separated numbers, then an optional `-suffix`.
pub fn semver_like(tag: &str) -> bool {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let (version, suffix) = match t.split_once('-') {
        Some((v, s)) => (v, Some(s)),
        None => (t, None),
    };
    let parts: Vec<&str> = version.split('.').collect();
    let numbers_ok = (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let suffix_ok = suffix.is_none_or(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    });
    numbers_ok && suffix_ok
}

fn images(recipe: &Recipe, config: &Value, r: &mut Report) {
    for (name, s) in recipe::services(config) {
        let loc = recipe.locate(&["services", name, "image"]);
        let Some(image) = s["image"].as_str().filter(|i| !i.is_empty()) else {
            r.add(
                "R011",
                recipe.locate(&["services", name]),
                format!("{name} has no image"),
            );
            continue;
        };
        match pin(image) {
            Pin::Digest => {}
            Pin::Nothing => r.add(
                "R003",
                loc,
                format!("{name}: {image} has no tag, so it is latest"),
            ),
            Pin::Tag(tag) => {
                if UNSTABLE.contains(&tag.to_ascii_lowercase().as_str()) {
                    r.add(
                        "R004",
                        loc.clone(),
                        format!("{name}: {image} uses the moving tag {tag}"),
                    );
                }
                if !semver_like(tag) {
                    r.add(
                        "R005",
                        loc,
                        format!("{name}: tag {tag:?} of {image} is not a version abra can compare"),
                    );
                }
            }
        }
    }
}

fn app_service(recipe: &Recipe, config: &Value, r: &mut Report) {
    let app = &config["services"]["app"];
    if app.is_null() {
        r.add(
            "R009",
            recipe.locate(&["services"]),
            "no service is named app (abra puts the version labels there; ccci probes it)",
        );
        r.skip("R016", "not checked: no app service (R009)");
        return;
    }
    if compose::deploy_labels(app).is_empty() {
        r.add(
            "R016",
            recipe.locate(&["services", "app", "deploy"]),
            "app has no deploy: labels: (where abra keeps the version and Traefik its routes)",
        );
    }
}

fn traefik(recipe: &Recipe, config: &Value, r: &mut Report) {
    if recipe.sample.get("DOMAIN").is_none() {
        r.skip("R010", "skipped: .env.sample has no DOMAIN");
        return;
    }
    let enabled = recipe::services(config).into_iter().any(|(_, s)| {
        compose::deploy_labels(s)
            .get("traefik.enable")
            .and_then(Value::as_str)
            == Some("true")
    });
    if !enabled {
        r.add(
            "R010",
            recipe.locate(&["services", "app", "deploy", "labels"]),
            "no service has the deploy label traefik.enable=true: the proxy does not route the app's domain",
        );
    }
}

/// The longest stack name abra makes: the domain, dots to underscores, cut here.
pub const MAX_STACK: usize = 45;
/// Docker refuses longer secret names.
pub const MAX_SECRET_NAME: usize = 64;

fn secret_lengths(recipe: &Recipe, config: &Value, r: &mut Report) {
    for (key, def) in compose::section(config, "secrets") {
        let rendered = def["name"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("{STACK}_{key}"));
        let (len, shape) = match rendered.strip_prefix(STACK) {
            Some(rest) => (
                MAX_STACK + rest.len(),
                format!("<{MAX_STACK}-character stack>{rest}"),
            ),
            None => (rendered.len(), rendered.clone()),
        };
        if len > MAX_SECRET_NAME {
            r.add(
                "R015",
                recipe.locate(&["secrets", key]),
                format!(
                    "secret {key} is named {shape}: {len} characters with the longest stack name, over Docker's {MAX_SECRET_NAME}"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins() {
        assert_eq!(pin("127.0.0.1:5000/x/y:1.0"), Pin::Tag("1.0"));
        assert_eq!(pin("127.0.0.1:5000/x/y"), Pin::Nothing);
        assert_eq!(pin("nginx@sha256:abc"), Pin::Digest);
        assert_eq!(pin("nginx:1.2@sha256:abc"), Pin::Digest);
        assert_eq!(pin("busybox:@IMAGE_TAG@"), Pin::Tag("@IMAGE_TAG@"));
    }

    #[test]
    fn semver_like_tags() {
        for ok in [
            "1",
            "15",
            "1.22",
            "1.22.1",
            "1.3.4",
            "15-bookworm",
            "v2.3.4-alpine",
            "1.0",
            "3.6.0-rootless",
        ] {
            assert!(semver_like(ok), "{ok}");
        }
        for bad in [
            "latest",
            "stable",
            "1.2.3.4",
            "v",
            "1.",
            ".1",
            "1.2-",
            "RELEASE.2023",
            "@IMAGE_TAG@",
        ] {
            assert!(!semver_like(bad), "{bad}");
        }
    }

    #[test]
    fn template_variables() {
        assert_eq!(
            template_vars("${STACK_NAME}_app_sh_${APP_SH_VERSION}"),
            ["STACK_NAME", "APP_SH_VERSION"]
        );
        assert_eq!(template_vars("x_$V_1 $${NOT} ${D:-v1}"), ["V_1", "D"]);
        assert!(template_vars("plain").is_empty());
    }
}
