//! backup-bot-two's labels: well formed (C004), something backed up (C005),
//! dump paths that a pre-hook writes (C006), hooks whose pipes cannot hide a
//! failure (C007). The label grammar is `ccci_core::backupbot`.

use super::Report;
use crate::recipe::{self, Loc, Recipe};
use ccci_core::backupbot as bb;
use ccci_core::compose;
use serde_json::Value;
use std::path::Path;

fn label_loc(recipe: &Recipe, service: &str, key: &str) -> Loc {
    recipe.locate_within(&["services", service, "deploy", "labels"], key)
}

/// Known keys, boolean switches, volume names the service mounts, relative
/// paths that stay inside their volume, legacy absolute paths under a mount,
/// hooks that say something (C004); some service backed up (C005).
pub fn labels(config: &Value, recipe: &Recipe, r: &mut Report) {
    let mut covered = 0;
    for (name, s) in recipe::services(config) {
        let labels = compose::deploy_labels(s);
        let mounts = recipe::volume_mounts(s);
        for (k, v) in &labels {
            let Some(key) = bb::key(k) else { continue };
            let loc = || label_loc(recipe, name, k);
            let v = v.as_str().unwrap_or("");
            let vol = match key {
                bb::Key::Volume(vol) | bb::Key::VolumePaths(vol) => Some(vol),
                _ => None,
            };
            if let Some(vol) = vol
                && !mounts.iter().any(|(src, _)| src == vol)
            {
                r.add(
                    "C004",
                    loc(),
                    format!("{name}: {k} names volume {vol}, which {name} does not mount"),
                );
                continue;
            }
            match key {
                bb::Key::Unknown => r.add("C004", loc(), format!("{name}: unknown label {k}")),
                bb::Key::Volume(_) | bb::Key::Fixed(bb::BACKUP | bb::RESTORE) => {
                    if v != "true" && v != "false" {
                        r.add(
                            "C004",
                            loc(),
                            format!("{name}: {k}={v:?} is not true or false"),
                        );
                    }
                }
                bb::Key::VolumePaths(_) => {
                    for p in bb::paths(v).into_iter().filter(|p| bb::leaves_volume(p)) {
                        r.add(
                            "C004",
                            loc(),
                            format!("{name}: {k} path {p:?} leaves the volume"),
                        );
                    }
                }
                bb::Key::Fixed(bb::LEGACY_PATH) => {
                    for p in bb::paths(v) {
                        let inside = mounts
                            .iter()
                            .any(|(_, t)| Path::new(p).strip_prefix(t).is_ok());
                        if !p.starts_with('/') || !inside {
                            r.add(
                                "C004",
                                loc(),
                                format!(
                                    "{name}: backupbot.backup.path {p:?} is not inside a volume {name} mounts"
                                ),
                            );
                        }
                    }
                }
                bb::Key::Fixed(_) => {
                    if k.ends_with("-hook") && v.trim().is_empty() {
                        r.add("C004", loc(), format!("{name}: {k} is empty"));
                    }
                }
            }
        }
        if labels.get(bb::BACKUP).and_then(Value::as_str) == Some("true") {
            covered += 1;
            if mounts.is_empty() {
                r.add(
                    "C004",
                    label_loc(recipe, name, bb::BACKUP),
                    format!("{name}: backupbot.backup=true but it mounts no volume"),
                );
            }
        }
    }
    if covered == 0 {
        r.add(
            "C005",
            recipe.locate(&["services"]),
            "no service has backupbot.backup=true: nothing of this app is backed up",
        );
    }
}

/// File names that say "a dump made for the backup".
const DUMP_SUFFIXES: [&str; 14] = [
    ".sql", ".dump", ".pgdump", ".tar", ".tgz", ".gz", ".zst", ".bz2", ".xz", ".zip", ".bak",
    ".backup", ".archive", ".ldif",
];

pub fn dump_like(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    DUMP_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Absolute paths in a shell text, split on whitespace and shell punctuation.
fn absolute_paths(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || "<>|;&()\"'=`,".contains(c))
        .filter(|w| w.starts_with('/'))
        .collect()
}

/// A label path: the service, the label, the path as written, and where it is
/// in the service's file system.
struct LabelPath {
    service: String,
    key: String,
    path: String,
    location: String,
    /// The volume it lies in.
    volume: Option<String>,
}

fn label_paths(config: &Value) -> Vec<LabelPath> {
    let mut out = vec![];
    for (name, s) in recipe::services(config) {
        let mounts = recipe::volume_mounts(s);
        for (k, v) in compose::deploy_labels(s) {
            let v = v.as_str().unwrap_or("");
            match bb::key(&k) {
                Some(bb::Key::VolumePaths(vol)) => {
                    let Some((_, target)) = mounts.iter().find(|(src, _)| src == vol) else {
                        continue;
                    };
                    for p in bb::paths(v).into_iter().filter(|p| !bb::leaves_volume(p)) {
                        out.push(LabelPath {
                            service: name.clone(),
                            key: k.clone(),
                            path: p.to_string(),
                            location: format!(
                                "{}/{}",
                                target.trim_end_matches('/'),
                                p.trim_start_matches('/')
                            ),
                            volume: Some(vol.to_string()),
                        });
                    }
                }
                Some(bb::Key::Fixed(bb::LEGACY_PATH)) => {
                    for p in bb::paths(v).into_iter().filter(|p| p.starts_with('/')) {
                        let volume = mounts
                            .iter()
                            .find(|(_, t)| Path::new(p).strip_prefix(t).is_ok())
                            .map(|(src, _)| src.clone());
                        out.push(LabelPath {
                            service: name.clone(),
                            key: k.clone(),
                            path: p.to_string(),
                            location: p.to_string(),
                            volume,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The text of a hook and of the recipe files it runs (configs it names by
/// their mount target).
fn hook_texts(config: &Value, service: &Value, hook: &str) -> Vec<String> {
    let mut out = vec![hook.to_string()];
    for (target, file) in recipe::config_mounts(config, service) {
        if absolute_paths(hook).contains(&target.as_str())
            && let Ok(t) = std::fs::read_to_string(&file)
        {
            out.push(t);
        }
    }
    out
}

/// A dump a label names is written by a pre-hook, where the label says (C006).
pub fn paths_written(config: &Value, recipe: &Recipe, r: &mut Report) {
    let services = recipe::services(config);
    // Everything the recipe says outside its backup labels: environment,
    // commands and the config files.
    let mut elsewhere = String::new();
    for (_, s) in &services {
        for k in ["command", "entrypoint"] {
            elsewhere.push_str(&recipe::words(&s[k]));
            elsewhere.push('\n');
        }
        for v in compose::section(s, "environment").map(|(_, v)| v) {
            elsewhere.push_str(v.as_str().unwrap_or(""));
            elsewhere.push('\n');
        }
    }
    for (_, def) in compose::section(config, "configs") {
        if let Some(t) = def["file"]
            .as_str()
            .and_then(|f| std::fs::read_to_string(f).ok())
        {
            elsewhere.push_str(&t);
        }
    }
    for lp in label_paths(config) {
        // The pre-hooks of the services that share the volume (or of the
        // service itself for a path outside any volume).
        let mut texts = vec![];
        let mut hooks = 0;
        for (name, s) in &services {
            let shares = match &lp.volume {
                Some(v) => recipe::volume_mounts(s).iter().any(|(src, _)| src == v),
                None => **name == lp.service,
            };
            let labels = compose::deploy_labels(s);
            if let (true, Some(hook)) = (shares, labels.get(bb::PRE_HOOK).and_then(Value::as_str)) {
                hooks += 1;
                texts.extend(hook_texts(config, s, hook));
            }
        }
        let file_name = lp.path.rsplit('/').next().unwrap_or(&lp.path).to_string();
        let written_at: Vec<&str> = texts
            .iter()
            .flat_map(|t| absolute_paths(t))
            .filter(|p| p.rsplit('/').next() == Some(file_name.as_str()))
            .collect();
        let loc = || label_loc(recipe, &lp.service, &lp.key);
        if written_at.contains(&lp.location.as_str()) {
            continue;
        }
        if let Some(other) = written_at.first() {
            r.add(
                "C006",
                loc(),
                format!(
                    "{}: {} backs up {}, but the pre-hook writes {other}",
                    lp.service, lp.key, lp.location
                ),
            );
            continue;
        }
        if texts.iter().any(|t| t.contains(&file_name))
            || !dump_like(&lp.path)
            || elsewhere.contains(&lp.location)
        {
            continue;
        }
        let why = if hooks == 0 {
            "no service sharing the volume has a pre-hook"
        } else {
            "no pre-hook mentions it"
        };
        r.add(
            "C006",
            loc(),
            format!(
                "{}: {} names the dump {} ({}), which nothing writes: {why}",
                lp.service, lp.key, lp.path, lp.location
            ),
        );
    }
}

/// Commands at the head of a pipe that cannot fail.
const CANNOT_FAIL: [&str; 5] = ["echo", "printf", "true", "yes", ":"];

/// The first command word of every pipeline in `text` that has a pipe. Quotes
/// start a new command (`sh -c '... | ...'` runs its string as a script).
pub fn piped_heads(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = vec![];
    let mut start = 0;
    let mut in_pipe = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let two = |x: u8| b.get(i + 1) == Some(&x);
        match c {
            b'|' if two(b'|') => {
                start = i + 2;
                in_pipe = false;
                i += 2;
                continue;
            }
            b'|' => {
                if !in_pipe {
                    let head = text[start..i]
                        .split_whitespace()
                        .find(|w| {
                            !w.contains('=')
                                && !matches!(*w, "exec" | "time" | "!" | "then" | "do" | "else")
                        })
                        .unwrap_or("")
                        .to_string();
                    if !head.is_empty() {
                        out.push(head);
                    }
                }
                in_pipe = true;
            }
            b';' | b'&' | b'\n' | b'(' | b')' | b'\'' | b'"' | b'`' | b'{' | b'}' => {
                start = i + 1;
                in_pipe = false;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Hooks whose pipe could hide a failed first command (C007).
pub fn pipefail(config: &Value, recipe: &Recipe, r: &mut Report) {
    for (name, s) in recipe::services(config) {
        let labels = compose::deploy_labels(s);
        for key in [bb::PRE_HOOK, bb::RESTORE_PRE_HOOK, bb::RESTORE_POST_HOOK] {
            let Some(hook) = labels.get(key).and_then(Value::as_str) else {
                continue;
            };
            if hook.contains("pipefail") {
                continue;
            }
            let heads: Vec<String> = piped_heads(hook)
                .into_iter()
                .filter(|h| !CANNOT_FAIL.contains(&h.rsplit('/').next().unwrap_or(h)))
                .collect();
            if let Some(head) = heads.first() {
                r.add(
                    "C007",
                    label_loc(recipe, name, key),
                    format!(
                        "{name}: {key} pipes {head} into another command without pipefail: if {head} fails, the hook still succeeds"
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
    fn heads_of_pipes() {
        assert_eq!(piped_heads("gunzip -c /x.gz | psql -U a"), ["gunzip"]);
        assert_eq!(
            piped_heads("bash -c 'PGPASSWORD=x pg_dump -U a a | gzip > /d.gz'"),
            ["pg_dump"]
        );
        assert_eq!(piped_heads("test -f x || exit 1; cat x | a | b"), ["cat"]);
        assert_eq!(piped_heads("a || b && c"), Vec::<String>::new());
        assert_eq!(piped_heads("echo hi | wall"), ["echo"]);
    }

    #[test]
    fn dumps_and_paths() {
        assert!(dump_like("dump.sql") && dump_like("x/backup.tar.gz") && dump_like("DB.SQL"));
        assert!(!dump_like("data") && !dump_like("app.sqlite"));
        assert_eq!(
            absolute_paths("pg_dump -f /var/lib/db/dump.sql; gzip >/tmp/x.gz \"$D/rel\""),
            ["/var/lib/db/dump.sql", "/tmp/x.gz"]
        );
    }

    #[test]
    fn backup_label_shapes() {
        let c = serde_json::json!({"services": {"db": {
            "volumes": [{"type": "volume", "source": "db", "target": "/var/lib/db"}],
            "deploy": {"labels": {
                "backupbot.backup": "yes",
                "backupbot.backup.volumes.other.path": "x",
                "backupbot.backup.volumes.db.path": "../etc",
                "backupbot.backup.path": "/etc/passwd",
                "backupbot.bakup.pre-hook": "x"
            }}
        }}});
        let recipe = crate::recipe::Recipe::for_tests(c.clone());
        let mut r = Report::default();
        labels(&c, &recipe, &mut r);
        let all: Vec<&str> = r.findings.iter().map(|f| f.message.as_str()).collect();
        for want in [
            "is not true or false",
            "does not mount",
            "leaves the volume",
            "not inside a volume",
            "unknown label",
        ] {
            assert!(all.iter().any(|m| m.contains(want)), "{want}: {all:?}");
        }
        // backupbot.backup=yes covers nothing.
        assert!(r.findings.iter().all(|f| f.id == "C004" || f.id == "C005"));
        assert_eq!(r.findings.iter().filter(|f| f.id == "C005").count(), 1);
    }
}
