//! `roundtrip`: seed, backup, disturb, restore and check in order; a failure
//! after disturbing puts the markers back before reporting.

use crate::RoundtripArgs;
use crate::backup::backup;
use crate::check::{check, report};
use crate::restore::{disturb, restore, undisturb};
use crate::seed::seed;
use crate::state::{load_state, save_state};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::exit;
use ccci_core::rundir::RunDir;
use serde_json::json;

pub(crate) fn roundtrip(ctx: &Ctx, a: &RoundtripArgs) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, &a.run)?;
    let _lock = run.lock()?;
    if !a.existing {
        seed(ctx, &run, &a.repo)?;
    }
    let mut st = load_state(&run)?;
    if a.existing && st.snapshot.is_none() {
        return Err(exit::usage(format!(
            "run {}: no snapshot to restore from; run `ccci-verify-backup backup` first",
            run.id
        )));
    }
    let existing = a.existing;
    let result = (|| -> Result<()> {
        if !existing {
            backup(ctx, &run, &mut st)?;
        }
        disturb(&run, &mut st)?;
        restore(ctx, &run, &mut st, &a.after)
    })();
    if let Err(e) = result {
        save_state(&run, &st)?;
        // The table shows the data as the failure left it; then nothing is left
        // disturbed: what was removed is put back before reporting.
        let mut rows = check(&run, &st).map(|(_, rows)| rows).unwrap_or_default();
        if !st.restored {
            // Markers still in place prove nothing when nothing was restored.
            for r in rows.iter_mut().filter(|r| r.marker != "-") {
                r.marker = "not checked: the round trip stopped before the restore".into();
            }
        }
        if st.disturbed {
            let put_back = undisturb(&run, &mut st);
            save_state(&run, &st)?;
            put_back?;
        }
        if exit::code_of(&e) != exit::NO {
            return Err(e);
        }
        return report(ctx, false, &rows, &st, Some(&ccci_core::cli::one_line(&e)));
    }
    let (ok, rows) = check(&run, &st)?;
    if !ok {
        // The restore lost data; put the markers back so the app is as it was.
        save_state(&run, &st)?;
        undisturb(&run, &mut st)?;
    }
    save_state(&run, &st)?;
    run.ledger("backup-roundtrip", json!({"ok": ok}))?;
    report(ctx, ok, &rows, &st, None)
}
