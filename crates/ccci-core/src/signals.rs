//! SIGTERM, SIGINT and SIGHUP become a flag a long-running tool (the runner,
//! the sweep) checks between steps and while a child runs (`proc` stops the
//! child's group): the runner then tears down and exits 75. A second signal
//! changes nothing: the teardown that is running finishes.

use anyhow::Result;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub fn install() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, flag.clone())?;
    }
    Ok(flag)
}
