//! The checks. Each adds findings for its rule (whose level the rule table
//! gives) or says why it was not checked; a rule with neither passed.

pub mod abra;
pub mod backup;
pub mod flaky;
pub mod network;
pub mod overlay;
pub mod own;

use crate::recipe::{Loc, Recipe, TextFile};
use crate::rules::{self, Level, Scope};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub id: &'static str,
    pub name: &'static str,
    pub level: Level,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// One rule's outcome, for the JSON output's `rules`.
#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    pub id: &'static str,
    pub name: &'static str,
    pub level: Level,
    pub status: Status,
    /// Why it was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub skipped: Vec<(&'static str, String)>,
}

impl Report {
    pub fn add(&mut self, id: &'static str, loc: Loc, message: impl Into<String>) {
        let rule = rules::get(id);
        self.findings.push(Finding {
            id,
            name: rule.name,
            level: rule.level,
            file: loc.file,
            line: loc.line,
            message: message.into(),
        });
    }

    pub fn skip(&mut self, id: &'static str, why: impl Into<String>) {
        rules::get(id);
        if !self.skipped.iter().any(|(i, _)| *i == id) {
            self.skipped.push((id, why.into()));
        }
    }

    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// Every rule of the table with its status, in the table's order.
    pub fn statuses(&self) -> Vec<RuleStatus> {
        rules::RULES
            .iter()
            .map(|r| {
                let note = self
                    .skipped
                    .iter()
                    .find(|(i, _)| *i == r.id)
                    .map(|(_, w)| w.clone());
                let status = if self.findings.iter().any(|f| f.id == r.id) {
                    Status::Fail
                } else if note.is_some() {
                    Status::Skip
                } else {
                    Status::Pass
                };
                RuleStatus {
                    id: r.id,
                    name: r.name,
                    level: r.level,
                    status,
                    note,
                }
            })
            .collect()
    }

    /// Findings in the table's order (stable within a rule).
    pub fn sort(&mut self) {
        let pos = |id: &str| rules::RULES.iter().position(|r| r.id == id);
        self.findings.sort_by_key(|f| pos(f.id));
        self.skipped.sort_by_key(|(id, _)| pos(id));
    }
}

/// What lint needs besides the recipe.
#[derive(Default)]
pub struct Options {
    /// The release tag under test (C002).
    pub tag: Option<String>,
    /// recipe.json's `timeouts.deploy` (C010).
    pub deploy_timeout: Option<u64>,
    /// CI compose overlays to check (C011).
    pub overlays: Vec<TextFile>,
    /// recipe.json's known-flaky tests (C012), and today (`YYYY-MM-DD`).
    pub flaky: std::collections::BTreeMap<String, ccci_core::settings::Flaky>,
    pub today: String,
}

/// Every rule over one recipe.
pub fn run(recipe: &Recipe, opts: &Options) -> Report {
    let mut r = Report::default();
    for rule in rules::RULES.iter().filter(|r| r.scope == Scope::Network) {
        r.skip(rule.id, "not checked: needs the network");
    }
    abra::file_rules(recipe, &mut r);
    match &recipe.config {
        Ok(config) => {
            abra::config_rules(recipe, config, &mut r);
            own::version_label(config, opts.tag.as_deref(), recipe, &mut r);
            own::secrets_declared(config, recipe, &mut r);
            own::start_period(config, opts.deploy_timeout, recipe, &mut r);
            backup::labels(config, recipe, &mut r);
            backup::paths_written(config, recipe, &mut r);
            backup::pipefail(config, recipe, &mut r);
            network::bare_names(config, recipe, &mut r);
        }
        Err(why) => {
            r.add("C001", Loc::default().or_first(recipe), why.clone());
            for rule in rules::RULES {
                if !matches!(
                    rule.id,
                    "R001" | "R006" | "R007" | "R008" | "R012" | "R013" | "R014" | "C001" | "C011"
                ) {
                    r.skip(
                        rule.id,
                        "not checked: the compose files do not render (C001)",
                    );
                }
            }
        }
    }
    overlay::scope(recipe, &opts.overlays, &mut r);
    flaky::expiry(&opts.flaky, &opts.today, &mut r);
    r.sort();
    r
}

impl Loc {
    /// This location, or the first compose file when it names none.
    fn or_first(self, recipe: &Recipe) -> Loc {
        if self.file.is_some() {
            return self;
        }
        recipe
            .files
            .first()
            .map(|f| Loc::file(&f.name))
            .unwrap_or_else(|| Loc::file(".env.sample"))
    }
}

/// `a, b and c`.
pub fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
