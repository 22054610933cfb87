//! Two instances (as YunoHost's `multi_instance`): with `two_instances` in
//! `recipe.json`, the custom tier creates a second app of the same ref beside
//! the first, and checks that it comes up, that the first still serves, and
//! that the two share no volume, config or secret. It catches a fixed host
//! port (the second deploy is refused), a fixed volume, config or secret
//! name (both mount the same one), and state the two would share.

use crate::runner::Runner;
use anyhow::Result;
use ccci_core::results::{Outcome, TestResult};
use ccci_core::rundir::RunDir;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Instant;

/// The step's id in the custom tier: ccci's own check.
pub(crate) const ID: &str = "_generic/custom/second-instance";
const LOG: &str = "logs/custom/second-instance.log";

impl Runner {
    /// The second instance's check, when the recipe asks for it.
    pub(crate) fn second_instance(&mut self) -> Result<Option<TestResult>> {
        if !self.plan.settings.two_instances {
            return Ok(None);
        }
        let t0 = Instant::now();
        let id = ccci_core::rundir::second_id(&self.run.id);
        // From now on the teardown takes it too, whatever happens here.
        self.second = Some(id.clone());
        let verdict = self.bring_up_second(&id)?;
        let (outcome, summary) = match verdict {
            Ok(what) => (Outcome::Pass, what),
            Err(why) => (Outcome::Fail, why),
        };
        ccci_core::log::info(&format!("custom: {ID} {outcome}: {summary}"));
        Ok(Some(TestResult {
            id: ID.into(),
            outcome,
            exit_code: None,
            duration_s: t0.elapsed().as_secs_f64(),
            log: LOG.into(),
            summary,
        }))
    }

    fn bring_up_second(&mut self, id: &str) -> Result<std::result::Result<String, String>> {
        let p = self.plan.clone();
        let mut args = self.new_args(id, &p.recipe, &p.source_repo, &p.r#ref);
        args.extend(["--expect-sha".into(), p.head_sha.clone()]);
        let planned_clone = self.run.file("source.git");
        if planned_clone.is_dir() {
            args.extend(["--clone-from".into(), planned_clone.display().to_string()]);
        }
        args.extend(self.settings_args()?);
        let Some((created, why)) = self.tool("ccci-deploy", &args, LOG)? else {
            return Ok(Err("the run stopped".into()));
        };
        if !created {
            return Ok(Err(format!(
                "a second instance could not be created: {why}"
            )));
        }
        let deploy = ["deploy".to_string(), id.to_string(), "--wait".into()];
        let Some((up, verdict)) = self.tool("ccci-deploy", &deploy, LOG)? else {
            return Ok(Err("the run stopped".into()));
        };
        if !up {
            return Ok(Err(format!(
                "a second instance did not come up beside the first: {verdict}"
            )));
        }
        let probe = ["probe".to_string(), self.run.id.clone()];
        let Some((serves, answered)) = self.tool("ccci-deploy", &probe, LOG)? else {
            return Ok(Err("the run stopped".into()));
        };
        if !serves {
            return Ok(Err(format!(
                "the first instance stopped serving once the second was up: {answered}"
            )));
        }
        let first = ccci_core::app::App::load(&self.run)?.stack;
        let second = ccci_core::app::App::load(&RunDir::open(&self.state_dir, id)?)?.stack;
        // Docker not answering is not "nothing shared": no verdict then.
        let (mine, theirs) = match (self.objects_of(&first), self.objects_of(&second)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                return Ok(Err(format!(
                    "cannot tell what the two instances share: {}",
                    ccci_core::cli::one_line(&e)
                )));
            }
        };
        let shared: Vec<String> = mine.intersection(&theirs).cloned().collect();
        if !shared.is_empty() {
            return Ok(Err(format!(
                "the two instances share {}: each would see the other's data",
                shared.join(", ")
            )));
        }
        Ok(Ok(
            "a second instance came up beside the first; both serve; they share no volume, config or secret"
                .into(),
        ))
    }

    /// The volumes, configs and secrets a stack's services use, as
    /// `volume x`, `config y`, `secret z`.
    fn objects_of(&self, stack: &str) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        let ids = self.docker.stack_service_ids(stack)?;
        let specs = self.docker.inspect("service", &ids)?;
        for s in &specs {
            let c = &s["Spec"]["TaskTemplate"]["ContainerSpec"];
            let each = |v: &Value| v.as_array().cloned().unwrap_or_default();
            for m in each(&c["Mounts"]) {
                if m["Type"] == "volume"
                    && let Some(src) = m["Source"].as_str()
                {
                    out.insert(format!("volume {src}"));
                }
            }
            for (kind, key) in [("Configs", "ConfigName"), ("Secrets", "SecretName")] {
                for x in each(&c[kind]) {
                    if let Some(n) = x[key].as_str() {
                        out.insert(format!("{} {n}", kind.trim_end_matches('s').to_lowercase()));
                    }
                }
            }
        }
        Ok(out)
    }
}
