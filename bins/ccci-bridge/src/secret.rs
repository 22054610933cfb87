//! The webhooks' shared secret: from a file, never the command line or the
//! environment (where `ps` and `/proc` show it).

use anyhow::Result;
use ccci_core::exit;
use std::path::Path;

/// Read the secret from `file` (a relative path is looked up in systemd's
/// `$CREDENTIALS_DIRECTORY`), else the credential `webhook-secret`. A
/// listener without a secret would let anyone start runs: exit 2.
pub fn load(file: Option<&Path>) -> Result<Vec<u8>> {
    let Some(path) = ccci_core::credential::locate(file, "webhook-secret") else {
        return Err(exit::usage(
            "bridge.listen is set but no webhook secret is: set bridge.webhook_secret_file \
             or the webhook-secret credential (unsigned webhooks would let anyone start runs)",
        ));
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        exit::usage(format!(
            "cannot read the webhook secret {}: {e}",
            path.display()
        ))
    })?;
    let secret = text.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(exit::usage(format!(
            "the webhook secret file {} is empty",
            path.display()
        )));
    }
    ccci_core::redact::global().add(&secret);
    Ok(secret.into_bytes())
}
