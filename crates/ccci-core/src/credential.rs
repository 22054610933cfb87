//! Where a secret file is: systemd's credentials (`LoadCredential=`) or a path
//! an operator gave. One rule for every secret ccci reads from a file (the
//! Gitea token, the webhook secret), so they are found the same way.

use std::path::{Path, PathBuf};

/// `file` as given (a relative path is looked up in systemd's
/// `$CREDENTIALS_DIRECTORY`), else the credential `name` when systemd passed
/// one, else `None`.
pub fn locate(file: Option<&Path>, name: &str) -> Option<PathBuf> {
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let file = file.filter(|p| !p.as_os_str().is_empty());
    match (file, &creds) {
        (Some(p), Some(c)) if p.is_relative() => Some(c.join(p)),
        (Some(p), _) => Some(p.to_path_buf()),
        (None, Some(c)) if c.join(name).is_file() => Some(c.join(name)),
        (None, _) => None,
    }
}
