//! `ccci-deploy probe`: probe the app once, as the health check does.

use crate::ProbeArgs;
use crate::app::App;
use crate::converge;
use crate::health;
use crate::{apply_health, open_run, print_json};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::exit;
use serde_json::json;

pub(crate) fn cmd_probe(ctx: &Ctx, a: ProbeArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let app = App::load(&run)?;
    let mut h = app.health.clone();
    apply_health(&mut h, &a.health)?;
    let snap = converge::snapshot(&ctx.docker, &app.stack)?;
    let outcome = health::Probe { health: h }.check(&ctx.docker, &app, &snap)?;
    let (ok, what) = match outcome {
        Ok(w) => (true, w),
        Err(w) => (false, w),
    };
    if ctx.json {
        print_json(
            ccci_core::verdict::ok_or_red(ok),
            &what,
            json!({"ok": ok, "reason": what}),
        );
    } else {
        println!("{}: {what}", if ok { "ok" } else { "red" });
    }
    Ok(if ok { exit::OK } else { exit::NO })
}
