//! Run the fake Gitea by hand or from a script:
//!
//!   ccci-fake-gitea [--listen 127.0.0.1:0] [--seed world.json] [--url-file FILE]
//!
//! It prints its ROOT_URL (e.g. `http://127.0.0.1:41234/`) on stdout, writes it
//! to `--url-file` once it is listening, and serves until killed. The seed is
//! JSON:
//!
//! ```json
//! {"users": [{"login": "ci-bot", "admin": false,
//!             "tokens": [{"token": "s3cr3t", "scopes": ["write:issue", "write:repository"]}]}],
//!  "repos": [{"owner": "recipes", "name": "demo", "private": false,
//!             "collaborators": {"ci-bot": "write"},
//!             "pulls": [{"title": "Fix", "poster": "alice", "head": "fix", "head_sha": "<40 hex>",
//!                        "base": "main", "base_sha": "<40 hex>"}],
//!             "hooks": [{"url": "http://127.0.0.1:8099/hook", "secret": "s3cr3t", "forgejo": false}]}]}
//! ```
//!
//! Hooks get Gitea's signed deliveries for comments and pull request state
//! changes (see the library's documentation).

use ccci_fake_gitea::{FakeGitea, Perm, PullSpec};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Seed {
    users: Vec<SeedUser>,
    repos: Vec<SeedRepo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedUser {
    login: String,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    tokens: Vec<SeedToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedToken {
    token: String,
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedRepo {
    owner: String,
    name: String,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    collaborators: BTreeMap<String, Perm>,
    #[serde(default)]
    pulls: Vec<SeedPull>,
    #[serde(default)]
    hooks: Vec<SeedHook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedHook {
    url: String,
    secret: Option<String>,
    #[serde(default)]
    forgejo: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedPull {
    title: String,
    #[serde(default)]
    body: String,
    poster: String,
    head: String,
    head_sha: String,
    base: String,
    base_sha: String,
}

fn load(fake: &FakeGitea, seed: Seed) -> Result<(), String> {
    for u in seed.users {
        if u.admin {
            fake.add_admin(&u.login);
        } else {
            fake.add_user(&u.login);
        }
        for t in u.tokens {
            let scopes: Option<Vec<&str>> = t
                .scopes
                .as_ref()
                .map(|s| s.iter().map(String::as_str).collect());
            fake.add_token(&u.login, &t.token, scopes.as_deref());
        }
    }
    for r in seed.repos {
        fake.add_repo(&r.owner, &r.name).map_err(|e| e.0)?;
        fake.set_private(&r.owner, &r.name, r.private)
            .map_err(|e| e.0)?;
        for (login, perm) in r.collaborators {
            fake.add_collaborator(&r.owner, &r.name, &login, perm)
                .map_err(|e| e.0)?;
        }
        for p in r.pulls {
            let spec = PullSpec {
                title: p.title,
                body: p.body,
                poster: p.poster,
                head_branch: p.head,
                head_sha: p.head_sha,
                base_branch: p.base,
                base_sha: p.base_sha,
            };
            fake.open_pull(&r.owner, &r.name, spec).map_err(|e| e.0)?;
        }
        for h in r.hooks {
            fake.add_webhook(&r.owner, &r.name, &h.url, h.secret.as_deref(), h.forgejo)
                .map_err(|e| e.0)?;
        }
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let mut listen = "127.0.0.1:0".to_string();
    let mut seed = None;
    let mut url_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match a.as_str() {
            "--listen" => listen = value("--listen")?,
            "--seed" => seed = Some(value("--seed")?),
            "--url-file" => url_file = Some(value("--url-file")?),
            "-h" | "--help" => {
                println!(
                    "usage: ccci-fake-gitea [--listen ADDR] [--seed FILE.json] [--url-file FILE]\n\
                     A fake Gitea API server for tests; prints its ROOT_URL and serves until killed."
                );
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let fake =
        FakeGitea::start_on(&listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    if let Some(path) = seed {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let seed: Seed = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        load(&fake, seed).map_err(|e| format!("{path}: {e}"))?;
    }
    println!("{}", fake.root_url());
    let _ = std::io::stdout().flush();
    if let Some(f) = url_file {
        // Written whole under a temporary name, so a reader never sees half a URL.
        let tmp = format!("{f}.tmp");
        std::fs::write(&tmp, format!("{}\n", fake.root_url()))
            .and_then(|_| std::fs::rename(&tmp, &f))
            .map_err(|e| format!("cannot write {f}: {e}"))?;
    }
    loop {
        std::thread::park();
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ccci-fake-gitea: {e}");
            ExitCode::from(2)
        }
    }
}
