//! The pull request side of `ccci-report`: a comment that says a run is
//! going and is edited into its verdict, and a commit status that goes
//! `pending` → `success`, `failure` or `error` (docs/report.md).

pub mod body;
pub mod deliver;
pub mod target;

use crate::web::mask::Masker;
use anyhow::Result;
use ccci_core::config::Config;
use ccci_core::gitea::Gitea;
use ccci_core::queue;
use ccci_core::results::{Results, Role};
use ccci_core::rundir::RunDir;
use ccci_core::{exit, log, state};
use deliver::{Message, Phase};
use std::path::Path;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The run id
    pub run: String,
    /// File holding the Gitea token (relative: in $CREDENTIALS_DIRECTORY)
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct DeliverArgs {
    /// File holding the Gitea token (relative: in $CREDENTIALS_DIRECTORY)
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
}

fn gitea(cfg: &Config, token_file: Option<&Path>) -> Result<Option<Gitea>> {
    let Some(url) = &cfg.gitea_url else {
        return Ok(None);
    };
    let token = ccci_core::gitea::load_token(token_file)?.ok_or_else(|| {
        exit::usage(
            "reporting to Gitea needs a token: --token-file, $CCCI_GITEA_TOKEN_FILE, \
             the gitea-token credential or $CCCI_GITEA_TOKEN",
        )
    })?;
    Ok(Some(Gitea::new(url, Some(token), Duration::from_secs(20))?))
}

/// The run's page, when the host says where its pages are served.
pub fn page_url(cfg: &Config, run_id: &str) -> Option<String> {
    cfg.public_url.as_deref().map(|u| {
        let base = u.trim_end_matches('/');
        format!("{base}/runs/{run_id}/")
    })
}

/// `start` or `finish` (and `resend`: the newest phase again).
pub fn command(cfg: &Config, a: &RunArgs, phase: Option<Phase>, json: bool) -> Result<i32> {
    if !ccci_core::rundir::valid_id(&a.run) {
        return Err(exit::usage(format!("{:?} is not a run id", a.run)));
    }
    let sd = &cfg.state_dir;
    // The pages first: they need no network and tell the same story.
    if let Err(e) = crate::web::regenerate(sd, Some(&a.run)) {
        log::warn(&format!(
            "the run's pages could not be written: {}",
            exit::one_line(&e)
        ));
    }
    let Some(t) = target::of(sd, &a.run)? else {
        return said(
            json,
            "nothing to report: no Gitea repository is known for this run",
            0,
        );
    };
    let Some(g) = gitea(cfg, a.token_file.as_deref())? else {
        return said(json, "nothing to report: no gitea_url is configured", 0);
    };
    let phase = match phase {
        // `finish` is safe to repeat (the runner and the bridge both call
        // it): a verdict already delivered is not sent again; `resend` is
        // how an operator sends it anyway.
        Some(Phase::Finish)
            if deliver::load(sd, &a.run)?
                .is_some_and(|r| r.sent == Some(Phase::Finish) && !r.pending) =>
        {
            return said(
                json,
                &format!("the verdict of run {} was already delivered", a.run),
                0,
            );
        }
        Some(p) => p,
        None => match deliver::load(sd, &a.run)? {
            Some(r) => r.want,
            None => {
                return Err(exit::usage(format!(
                    "run {} was never reported; use start or finish",
                    a.run
                )));
            }
        },
    };
    let make = |p: Phase| message(cfg, &a.run, &t, p);
    let r = deliver::report(sd, &g, &t, &a.run, phase, &make)?;
    said(
        json,
        &format!(
            "reported {} of run {} to {}{}",
            match r.want {
                Phase::Start => "the start",
                Phase::Finish => "the verdict",
            },
            a.run,
            t.repo,
            t.pr.map(|n| format!("#{n}")).unwrap_or_default()
        ),
        0,
    )
}

/// Send every pending report (the bridge calls this each cycle).
pub fn deliver_pending(cfg: &Config, a: &DeliverArgs, json: bool) -> Result<i32> {
    let sd = &cfg.state_dir;
    let (pending, bad) = deliver::pending(sd);
    for b in &bad {
        log::error(&format!("skipped: {b}"));
    }
    if pending.is_empty() && bad.is_empty() {
        return said(json, "no report is pending", 0);
    }
    let Some(g) = gitea(cfg, a.token_file.as_deref())? else {
        return said(
            json,
            "reports are pending but no gitea_url is configured",
            exit::USAGE,
        );
    };
    let (mut sent, mut left) = (0, 0);
    for mut r in pending {
        let t = target::Target {
            repo: r.repo.parse()?,
            pr: r.pr,
            sha: r.sha.clone(),
            recipe: r.recipe.clone(),
        };
        let id = r.run_id.clone();
        let make = |p: Phase| message(cfg, &id, &t, p);
        match deliver::send(sd, &g, &mut r, &make) {
            Ok(()) => sent += 1,
            Err(e) => {
                left += 1;
                log::warn(&format!(
                    "report of run {id} still pending: {}",
                    exit::one_line(&e)
                ));
            }
        }
    }
    // Unreadable report files are the operator's to fix (exit 2); trouble
    // with Gitea is retried (75).
    let code = if !bad.is_empty() {
        exit::USAGE
    } else if left > 0 {
        exit::TEMPFAIL
    } else {
        0
    };
    let mut summary = format!("{sent} reports delivered, {left} still pending");
    if !bad.is_empty() {
        summary.push_str(&format!(
            ", {} report files unreadable (see above)",
            bad.len()
        ));
    }
    said(json, &summary, code)
}

fn said(json: bool, summary: &str, code: i32) -> Result<i32> {
    if json {
        let outcome = if code == 0 { "yes" } else { "trouble" };
        ccci_core::verdict::print(outcome, summary, serde_json::json!({}));
    } else {
        println!("{summary}");
    }
    Ok(code)
}

/// Build what to send for `phase` from the run's files, masked.
fn message(cfg: &Config, run_id: &str, t: &target::Target, phase: Phase) -> Result<Message> {
    let sd = &cfg.state_dir;
    let url = page_url(cfg, run_id);
    let target_url = url.clone().unwrap_or_default();
    let dir = RunDir::runs_root(sd).join(run_id);
    let results: Option<Results> = state::read_json_opt(&dir.join(ccci_core::results::FILE))?;
    let (body, status) = match (phase, results) {
        (Phase::Start, _) => body::start(run_id, t, url.as_deref()),
        (Phase::Finish, Some(r)) => {
            let deps: Vec<String> = r
                .apps
                .iter()
                .filter(|a| a.role == Role::Dependency)
                .map(|a| a.run_id.clone())
                .collect();
            let masker = Masker::for_run(sd, run_id, deps.iter())?;
            let r = masker.value(&r)?;
            let tails = tails(&dir, &r, &masker);
            body::finish(&r, t, url.as_deref(), &tails)
        }
        (Phase::Finish, None) => {
            let e = queue::load_all(sd)?
                .into_iter()
                .find(|e| e.run_id == run_id)
                .ok_or_else(|| {
                    exit::usage(format!(
                        "run {run_id} has no results.json and no queue entry"
                    ))
                })?;
            body::lost(&e, url.as_deref())
        }
    };
    Ok(Message {
        body,
        status,
        target_url,
    })
}

/// The last lines of each failing test's log, masked.
fn tails(dir: &Path, r: &Results, masker: &Masker) -> Vec<(String, String, String)> {
    let mut out = vec![];
    for tier in &r.tiers {
        for t in tier.tests.iter().filter(|t| body::failed(t.outcome)) {
            // Only a plain path under the run's logs/ is read: results.json
            // may be damaged, and a comment must never carry another file.
            let plain = Path::new(&t.log)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
                && t.log.starts_with("logs/");
            if !plain {
                out.push((
                    tier.name.clone(),
                    t.id.clone(),
                    format!("(log path {:?} refused)", t.log),
                ));
                continue;
            }
            let text = std::fs::read(dir.join(&t.log))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|_| format!("(no log at {})", t.log));
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(body::TAIL_LINES);
            out.push((
                tier.name.clone(),
                t.id.clone(),
                masker.text(&lines[from..].join("\n")),
            ));
        }
    }
    out
}
