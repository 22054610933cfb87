//! What every step of the bridge works with: the configuration, the Gitea
//! connection, the bot's own login, and the lock that makes one process at a
//! time decide comments and start runs.

use anyhow::Result;
use ccci_core::config::Config;
use ccci_core::gitea::{Gitea, RepoRef};
use ccci_core::settings::Settings;
use ccci_core::{exit, state};
use std::path::PathBuf;
use std::time::Duration;

pub struct Bridge {
    pub cfg: Config,
    pub gitea: Gitea,
    /// The token's own login (`GET /user`), once known: its comments never
    /// trigger, and no comment is decided before it is known.
    pub bot: Option<String>,
    /// Called after every request to Gitea and between steps: the daemon
    /// feeds systemd's watchdog from it, so a slow Gitea never looks stuck.
    pub tick: Box<dyn FnMut()>,
}

impl Bridge {
    pub fn new(cfg: Config, token_file: Option<&std::path::Path>) -> Result<Bridge> {
        let url = cfg.gitea_url.clone().ok_or_else(|| {
            exit::usage("no Gitea server: set gitea_url in the config or $CCCI_GITEA_URL")
        })?;
        let token = ccci_core::gitea::load_token(token_file)?.ok_or_else(|| {
            exit::usage(
                "the bridge needs a Gitea token: --token-file, $CCCI_GITEA_TOKEN_FILE, \
                 the gitea-token credential or $CCCI_GITEA_TOKEN",
            )
        })?;
        let timeout = Duration::from_secs(cfg.bridge.gitea_timeout_s);
        let gitea = Gitea::new(&url, Some(token), timeout)?;
        Ok(Bridge {
            cfg,
            gitea,
            bot: None,
            tick: Box::new(|| {}),
        })
    }

    /// The lock held while deciding comments or moving queue entries, so a
    /// hand-run `poll --once` and the daemon take turns instead of racing.
    pub fn lock(&self) -> Result<state::Lock> {
        let dir = crate::ledger::root(&self.cfg.state_dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| exit::usage(format!("cannot create {}: {e}", dir.display())))?;
        state::Lock::acquire(
            &dir.join("bridge.lock"),
            Duration::from_secs(120),
            "the bridge's ledger",
        )
    }

    /// Learn the bot's login if it is not known yet.
    pub fn know_bot(&mut self) -> Result<&str> {
        if self.bot.is_none() {
            let me = self.gitea.current_user();
            (self.tick)();
            self.bot = Some(me?.login);
        }
        Ok(self.bot.as_deref().unwrap_or_default())
    }

    pub fn recipes_dir(&self) -> PathBuf {
        self.cfg.recipes_dir.clone()
    }
}

/// The recipe a repository holds: the enrolled recipe whose `recipe.json`
/// names this repository as `gitea_repo`, else the recipe named like the
/// repository (the Co-op Cloud convention: `coop-cloud/custom-html` holds
/// `custom-html`). Returns its name and settings.
pub fn recipe_for(recipes_dir: &std::path::Path, repo: &RepoRef) -> Result<(String, Settings)> {
    let full = repo.to_string();
    if let Ok(rd) = std::fs::read_dir(recipes_dir) {
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| !n.starts_with(['.', '_']))
            .collect();
        names.sort();
        for n in names {
            let Ok(s) = Settings::load(recipes_dir, &n) else {
                continue;
            };
            if s.gitea_repo
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(&full))
            {
                return Ok((n, s));
            }
        }
    }
    let name = ccci_core::recipe_name::RecipeName::parse(&repo.name)
        .map_err(|_| {
            exit::usage(format!(
                "repository {full}: no recipe names it as gitea_repo and {:?} is not a recipe name",
                repo.name
            ))
        })?
        .to_string();
    let s = Settings::load(recipes_dir, &name)?;
    Ok((name, s))
}
