//! The one shape of every tool's `--json` output, so that no caller reads a
//! tool's human words:
//!
//! ```json
//! {"schema": 1, "tool": "ccci-deploy", "outcome": "red",
//!  "summary": "service app: task failed: ...", ...fields of the tool's own}
//! ```
//!
//! `outcome` is one word the tool documents (`ok`/`red` for a verdict,
//! `clean`/`leftovers` for a teardown, `error` when the tool failed); the exit
//! code keeps its meaning beside it (docs/contracts.md, exit codes). A failed
//! tool also answers in this shape, with `code` (its exit code) and `cause`:
//! `usage` when the command line itself was wrong (for a caller that built it,
//! its own bug), `input` for bad input the tool found, `trouble` (75), `bug` (70).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolVerdict {
    pub schema: u32,
    pub tool: String,
    pub outcome: String,
    pub summary: String,
    /// The tool's own fields, side by side with the shared ones.
    #[serde(flatten)]
    pub detail: Map<String, Value>,
}

/// Why a tool failed, in the error form of the verdict.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    Usage,
    Input,
    Trouble,
    Bug,
}

impl ToolVerdict {
    /// A verdict of this process's tool; `detail` must be a JSON object (or
    /// null). Shared keys win over a detail key of the same name.
    pub fn new(outcome: &str, summary: impl Into<String>, detail: Value) -> ToolVerdict {
        let mut detail = match detail {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for k in ["schema", "tool", "outcome", "summary"] {
            detail.remove(k);
        }
        ToolVerdict {
            schema: SCHEMA,
            tool: crate::log::tool_name(),
            outcome: outcome.to_string(),
            // Masked with everything else when printed.
            summary: summary.into().replace('\n', " "),
            detail,
        }
    }

    /// The error form: `outcome` is `error`, with the exit code and its cause.
    pub fn error(code: i32, cause: Cause, summary: &str) -> ToolVerdict {
        let mut v = ToolVerdict::new("error", summary, Value::Null);
        v.detail.insert("code".into(), code.into());
        v.detail.insert(
            "cause".into(),
            serde_json::to_value(cause).unwrap_or_default(),
        );
        v
    }

    pub fn cause(&self) -> Option<Cause> {
        serde_json::from_value(self.detail.get("cause")?.clone()).ok()
    }

    /// Print it on stdout, masked.
    pub fn print(&self) {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        println!("{}", crate::redact::global().apply(&text));
    }
}

/// Print a verdict of this tool on stdout: the `--json` answer of a command.
pub fn print(outcome: &str, summary: impl Into<String>, detail: Value) {
    ToolVerdict::new(outcome, summary, detail).print()
}

/// `ok` or `red`, the outcome of a yes/no verdict.
pub fn ok_or_red(ok: bool) -> &'static str {
    if ok { "ok" } else { "red" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shared_fields_and_the_tools_own_side_by_side() {
        let v = ToolVerdict::new(
            "red",
            "line one\nline two",
            json!({"ok": false, "tool": "x"}),
        );
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["schema"], 1);
        assert_eq!(j["outcome"], "red");
        assert_eq!(j["summary"], "line one line two");
        assert_eq!(j["ok"], false);
        assert_ne!(j["tool"], "x", "a detail cannot override a shared key");
        let back: ToolVerdict = serde_json::from_value(j).unwrap();
        assert_eq!(back, v);
        let e = ToolVerdict::error(2, Cause::Usage, "no such flag");
        assert_eq!(e.cause(), Some(Cause::Usage));
        assert_eq!(e.detail["code"], 2);
    }
}
