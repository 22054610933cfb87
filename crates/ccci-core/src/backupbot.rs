//! backup-bot-two's label grammar, in one place: `ccci-verify-backup` reads it
//! from the deployed services to know what to back up, `ccci-lint` from the
//! compose file to check what a recipe declares (docs/abra.md, backup-bot-two
//! labels).

/// `true`: back this service's volumes up.
pub const BACKUP: &str = "backupbot.backup";
pub const PRE_HOOK: &str = "backupbot.backup.pre-hook";
pub const POST_HOOK: &str = "backupbot.backup.post-hook";
/// Legacy: absolute paths inside the service's mounts, comma-separated.
pub const LEGACY_PATH: &str = "backupbot.backup.path";
pub const RESTORE: &str = "backupbot.restore";
pub const RESTORE_PRE_HOOK: &str = "backupbot.restore.pre-hook";
pub const RESTORE_POST_HOOK: &str = "backupbot.restore.post-hook";
/// `backupbot.backup.volumes.<vol>=false` excludes a volume;
/// `backupbot.backup.volumes.<vol>.path=a,b` narrows it to paths inside it.
const VOLUMES: &str = "backupbot.backup.volumes.";

/// What one label key means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    /// One of the fixed keys above.
    Fixed(&'static str),
    /// `backupbot.backup.volumes.<vol>`: `true` or `false`.
    Volume(&'a str),
    /// `backupbot.backup.volumes.<vol>.path`: paths relative to the volume.
    VolumePaths(&'a str),
    /// Starts with `backupbot.` but is none of the above (a typo).
    Unknown,
}

const FIXED: [&str; 7] = [
    BACKUP,
    PRE_HOOK,
    POST_HOOK,
    LEGACY_PATH,
    RESTORE,
    RESTORE_PRE_HOOK,
    RESTORE_POST_HOOK,
];

/// The meaning of a label key; `None` when it is not backup-bot's.
pub fn key(k: &str) -> Option<Key<'_>> {
    if !k.starts_with("backupbot.") {
        return None;
    }
    if let Some(f) = FIXED.iter().find(|f| **f == k) {
        return Some(Key::Fixed(f));
    }
    Some(match k.strip_prefix(VOLUMES) {
        Some(rest) => match rest.strip_suffix(".path") {
            Some(vol) if !vol.is_empty() => Key::VolumePaths(vol),
            _ if !rest.is_empty() && !rest.contains('.') => Key::Volume(rest),
            _ => Key::Unknown,
        },
        None => Key::Unknown,
    })
}

/// The key of a volume's switch, `backupbot.backup.volumes.<vol>`.
pub fn volume_key(vol: &str) -> String {
    format!("{VOLUMES}{vol}")
}

/// The key of a volume's paths, `backupbot.backup.volumes.<vol>.path`.
pub fn volume_paths_key(vol: &str) -> String {
    format!("{VOLUMES}{vol}.path")
}

/// A comma-separated path list, trimmed, empty entries dropped.
pub fn paths(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Does a relative label path leave its volume (`..`, an absolute part)?
pub fn leaves_volume(path: &str) -> bool {
    std::path::Path::new(path.trim_start_matches('/'))
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar() {
        assert_eq!(key("traefik.enable"), None);
        assert_eq!(key("backupbot.backup"), Some(Key::Fixed(BACKUP)));
        assert_eq!(
            key("backupbot.restore.post-hook"),
            Some(Key::Fixed(RESTORE_POST_HOOK))
        );
        assert_eq!(key("backupbot.backup.volumes.db"), Some(Key::Volume("db")));
        assert_eq!(
            key("backupbot.backup.volumes.db.path"),
            Some(Key::VolumePaths("db"))
        );
        assert_eq!(key("backupbot.bakup.pre-hook"), Some(Key::Unknown));
        assert_eq!(key("backupbot.backup.volumes."), Some(Key::Unknown));
        assert_eq!(volume_paths_key("db"), "backupbot.backup.volumes.db.path");
        assert_eq!(paths(" a, ,b ,"), ["a", "b"]);
        assert!(leaves_volume("../etc") && leaves_volume("a/../../b"));
        assert!(!leaves_volume("dump.sql") && !leaves_volume("/data/x"));
    }
}
