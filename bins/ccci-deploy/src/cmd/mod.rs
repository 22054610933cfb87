//! One module per subcommand: its handler and the helpers only it (or a
//! sibling command) needs. The command line itself is in the crate root.

pub(crate) mod deploy;
pub(crate) mod exec;
pub(crate) mod new;
pub(crate) mod probe;
pub(crate) mod reap;
pub(crate) mod runs;
pub(crate) mod status;
pub(crate) mod teardown;
pub(crate) mod upgrade;
pub(crate) mod wait;
