//! Can this host run ccci? Checked before a unit deploys anything, so that a
//! host set up wrong says what to run instead of failing one run after another
//! with less obvious errors.

use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::exit;

/// Every check, in order; the first that cannot even ask Docker stops.
pub fn run(ctx: &Ctx, json: bool) -> Result<i32> {
    ctx.cfg.ensure_state_dir()?;
    // Docker answers and is a swarm manager (75 when it does not answer).
    let mut problems = vec![];
    if let Err(e) = ctx.docker.check_swarm_manager() {
        if exit::code_of(&e) == exit::TEMPFAIL {
            return Err(e);
        }
        problems.push(format!(
            "{}; on this host run `docker swarm init --advertise-addr <this host's address>`",
            exit::one_line(&e).trim_end_matches("; run `docker swarm init`")
        ));
    }
    let live = ctx
        .docker
        .run(&["info", "--format", "{{.LiveRestoreEnabled}}"])
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if live == "true" {
        problems.push(
            "Docker's live-restore is on, which swarm mode does not allow: set \"live-restore\": false \
             in /etc/docker/daemon.json (NixOS: virtualisation.docker.liveRestore = false) and restart Docker"
                .into(),
        );
    }
    let image = &ctx.cfg.probe_image;
    if ctx
        .docker
        .run(&["image", "inspect", "--format", "{{.Id}}", image])
        .is_err()
    {
        problems.push(format!(
            "the probe image {image} is not on this host: run `docker pull {image}`, or set probe_image \
             to an image with wget and nc that is"
        ));
    }
    if !problems.is_empty() {
        return Err(exit::usage(format!("preflight: {}", problems.join("; "))));
    }
    let summary = format!(
        "preflight: Docker answers, this engine is a swarm manager, live-restore is off, the probe image {image} is here"
    );
    if json {
        ccci_core::verdict::print("ok", &summary, serde_json::json!({}));
    } else {
        println!("{summary}");
    }
    Ok(0)
}
