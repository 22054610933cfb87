//! Shared library of the ccci tools.
//!
//! Everything two binaries would otherwise each write lives here: the exit-code
//! contract, atomic state files and locks, the run-directory layout, configuration,
//! journald-friendly logging, secret redaction, and thin access to `docker` and `git`.

pub mod app;
pub mod backupbot;
pub mod budget;
pub mod canonical;
pub mod classify;
pub mod cli;
pub mod compose;
pub mod config;
pub mod credential;
pub mod disk;
pub mod docker;
pub mod docker_api;
pub mod envfile;
pub mod exit;
pub mod git;
pub mod gitea;
pub mod ids;
pub mod known_red;
pub mod labels;
pub mod log;
pub mod notify;
pub mod overlay;
pub mod placeholders;
pub mod plan;
pub mod proc;
pub mod queue;
pub mod recipe_name;
pub mod redact;
pub mod results;
pub mod rundir;
pub mod settings;
pub mod shared;
pub mod signals;
pub mod state;
pub mod sweep;
pub mod tool;
pub mod verdict;
pub mod version;
