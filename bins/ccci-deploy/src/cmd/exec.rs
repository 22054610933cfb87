//! `ccci-deploy exec`: run a command in a service's running container.

use crate::ExecArgs;
use crate::app::App;
use crate::open_run;
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::exit;

pub(crate) fn cmd_exec(ctx: &Ctx, a: ExecArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let app = App::load(&run)?;
    let container = ctx
        .docker
        .running_container(&app.stack, &a.service)
        .map_err(|e| {
            if exit::code_of(&e) == exit::NO {
                exit::usage(format!(
                    "run {}: service {} has no running container",
                    run.id, a.service
                ))
            } else {
                e
            }
        })?;
    let status = ctx
        .docker
        .command()
        .args(["exec", "-i", &container])
        .args(&a.command)
        .status()
        .map_err(|e| exit::tempfail(format!("cannot run docker exec: {e}")))?;
    Ok(status.code().unwrap_or(exit::NO))
}
