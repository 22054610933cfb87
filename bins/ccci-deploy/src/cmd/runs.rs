//! `ccci-deploy runs`: does the app run this commit (or release tag)? The one
//! upgrade proof, for the generic upgrade test as for `upgrade` itself.

use super::upgrade::{describe_running, running_identity, runs_ref};
use crate::app::App;
use crate::{RunsArgs, open_run, print_json};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::{exit, verdict};
use serde_json::json;

pub(crate) fn cmd_runs(ctx: &Ctx, a: RunsArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let app = App::load(&run)?;
    if a.sha.len() < 7 || !a.sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(exit::usage(format!(
            "--sha {:?} is not a commit id (7 to 40 hex digits)",
            a.sha
        )));
    }
    let (version, chaos) = running_identity(ctx, &app)?;
    let ok = runs_ref(&version, &chaos, &a.sha, a.tag.as_deref());
    let running = describe_running(&version, &chaos);
    let want = a.tag.clone().unwrap_or_else(|| a.sha.clone());
    let summary = if ok {
        format!("app runs {running}")
    } else {
        format!("app runs {running}, not {want}")
    };
    if ctx.json {
        print_json(
            verdict::ok_or_red(ok),
            &summary,
            json!({"version": version, "chaos_version": chaos}),
        );
    } else {
        println!("{}: {summary}", verdict::ok_or_red(ok));
    }
    Ok(if ok { exit::OK } else { exit::NO })
}
