//! Why a tier is red: its class, the evidence for it, and a signature that
//! identifies the failure across runs (docs/classification.md).
//!
//! The signature is the tier, the failing step and the first error with
//! everything that differs between two runs of the same failure taken out
//! (run ids, domains, stack names, times, ports, hashes, task ids), plus the
//! service Swarm named. Two runs failing the same way have the same `id`.

use serde::{Deserialize, Serialize};

crate::results::word_enum! {
    /// The class of a red tier.
    Class {
        /// The host or its services failed (Docker, the registry, the disk, a
        /// lock or slot): the exit-75 family.
        Infrastructure = "infrastructure",
        /// A ccci tool broke (exit 70, a usage error between ccci's tools, a
        /// generic test that answered outside the contract).
        Harness = "harness",
        /// The app is healthy and the tier's generic tests pass, but a
        /// recipe-specific test fails.
        Test = "test",
        /// The recipe fails: deploy, convergence, health, upgrade, backup or
        /// restore, or lint.
        Recipe = "recipe",
        /// Red once, green when run again alone.
        Flake = "flake",
    }
}

impl Class {
    /// Worth running again alone to tell a flake from a defect: not when the
    /// host or ccci itself failed.
    pub fn rerunnable(self) -> bool {
        matches!(self, Class::Test | Class::Recipe)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signature {
    /// Short hash of the fields below: equal ids, same failure.
    pub id: String,
    pub tier: String,
    /// The failing test or hook id, or `deploy`, `upgrade`, `run`.
    pub step: String,
    /// The first error, normalised.
    pub error: String,
    /// The service Swarm reported the failure for, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl Signature {
    /// `names` are this run's own words to take out: (text, placeholder),
    /// e.g. its domain and stack.
    pub fn new(tier: &str, step: &str, error: &str, names: &[(&str, &str)]) -> Signature {
        let error = normalize(error, names);
        let service = service_in(&error);
        // When Swarm reported a task error, that is the failure: the words
        // around it say at which moment ccci looked (`is rolling back` or
        // `rolled back`), which differs between two runs of one failure.
        let error = match (task_error(&error), &service) {
            (Some(task), Some(svc)) => format!("service {svc}: {task}"),
            (Some(task), None) => task.to_string(),
            (None, _) => error,
        };
        let id = short_hash(&format!(
            "{tier}\u{1f}{step}\u{1f}{error}\u{1f}{}",
            service.as_deref().unwrap_or("")
        ));
        Signature {
            id,
            tier: tier.into(),
            // Test and hook ids name the step the same in every run.
            step: step.into(),
            error,
            service,
        }
    }
}

/// A red tier's class, the reasons for it, and its signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Red {
    pub class: Class,
    pub evidence: Vec<String>,
    pub signature: Signature,
}

/// `...; task error: task: non-zero exit (3); ...` → `task: non-zero exit (3)`.
fn task_error(error: &str) -> Option<&str> {
    let at = error.find("task error: ")? + "task error: ".len();
    let rest = &error[at..];
    Some(rest.split(';').next().unwrap_or(rest).trim())
}

/// `service app: task failed` → `app`.
fn service_in(error: &str) -> Option<String> {
    let at = error.find("service ")? + "service ".len();
    let name: String = error[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .collect();
    (!name.is_empty() && error[at + name.len()..].starts_with(':')).then_some(name)
}

/// Names shorter than this are not taken out of an error.
const MIN_NAME: usize = 10;

/// Take out what differs between two runs of the same failure.
pub fn normalize(text: &str, names: &[(&str, &str)]) -> String {
    let mut s = text.trim().to_string();
    // A short name (a run id given by hand, `wrong`) would take words out
    // of the error itself; generated ids, domains and stacks are long.
    let mut names: Vec<&(&str, &str)> = names.iter().filter(|(n, _)| n.len() >= MIN_NAME).collect();
    // Longest first: a stack name contains the domain's words.
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (n, placeholder) in names {
        s = s.replace(n, placeholder);
    }
    let chars: Vec<char> = without_times(&s).chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_alphanumeric() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric()
                // A decimal or a version stays one token.
                || (chars[i] == '.'
                    && i + 1 < chars.len()
                    && chars[i + 1].is_ascii_digit()
                    && chars[i - 1].is_ascii_digit()))
        {
            i += 1;
        }
        let token: String = chars[start..i].iter().collect();
        if start > 0 && chars[start - 1] == '+' {
            // A release's upstream part (`0.2.0+1.1`) names what was tested.
            out.push_str(&token);
        } else {
            out.push_str(&token_placeholder(&token));
        }
    }
    out
}

/// Times and dates → `<time>`: RFC 3339 (`2026-11-30T02:00:01.5Z`, `+01:00`
/// offsets), log stamps (`2026/11/30 02:00:01`, `2026-11-30 02:00:01`), clock
/// times (`02:00:01`) and dates (`2026/11/30`, `2026-11-30`).
fn without_times(s: &str) -> String {
    const SHAPES: &[&str] = &[
        "dddd-dd-ddTdd:dd:dd",
        "dddd-dd-dd dd:dd:dd",
        "dddd/dd/dd dd:dd:dd",
        "dddd-dd-dd",
        "dddd/dd/dd",
        "dd:dd:dd",
    ];
    let b = s.as_bytes();
    let fits = |at: usize, shape: &str| {
        at + shape.len() <= b.len()
            && (at == 0 || !b[at - 1].is_ascii_digit())
            && shape.bytes().zip(&b[at..]).all(|(want, got)| match want {
                b'd' => got.is_ascii_digit(),
                w => w == *got,
            })
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(shape) = SHAPES.iter().find(|sh| fits(i, sh)) {
            let mut j = i + shape.len();
            if j < b.len() && b[j] == b'.' {
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < b.len() && b[j] == b'Z' {
                j += 1;
            } else if j + 6 <= b.len() && (b[j] == b'+' || b[j] == b'-') && b[j + 3] == b':' {
                j += 6;
            }
            out.push_str("<time>");
            i = j;
            continue;
        }
        let c = s[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn token_placeholder(t: &str) -> String {
    let digits = t.chars().filter(char::is_ascii_digit).count();
    let letters = t.chars().filter(char::is_ascii_alphabetic).count();
    let dots = t.matches('.').count();
    if digits == 0 {
        return t.to_string();
    }
    if letters == 0 && dots == 0 {
        // Exit codes, HTTP statuses and counts are the failure; ports, pids
        // and milliseconds are not.
        return if t.len() <= 3 {
            t.to_string()
        } else {
            "<n>".into()
        };
    }
    if letters == 0 {
        // 12.4 (seconds) and 10.0.3.7 (an address) vary; 1.2.3 (a version)
        // does not.
        return match dots {
            1 => "<n>".into(),
            3 => "<ip>".into(),
            _ => t.to_string(),
        };
    }
    if t.len() >= 7 && dots == 0 && t.chars().all(|c| c.is_ascii_hexdigit()) {
        return "<hash>".into();
    }
    if t.len() >= 12 && dots == 0 {
        // Swarm task and container ids, run stamps.
        return "<id>".into();
    }
    t.to_string()
}

/// FNV-1a, 64 bits, as 12 hex digits: a stable name for a failure or a test
/// suite, not a security boundary.
pub fn short_hash(text: &str) -> String {
    format!("{:016x}", fnv(text.as_bytes()))[..12].to_string()
}

pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_differs_between_runs_is_taken_out() {
        let names = [
            ("demo-3f2a1b0c.ci.localhost", "<domain>"),
            ("demo-3f2a1b0c_ci_localhost", "<stack>"),
            ("20261130T020000Z-ab12cd", "<run>"),
        ];
        let a = normalize(
            "service app: task x8k2m1q9z0c4v7b5n3l6p8r2t did not start after 12.4 s on 10.0.3.7:8080 (image sha256:4f9a0c3d2e1b)",
            &names,
        );
        assert_eq!(
            a,
            "service app: task <id> did not start after <n> s on <ip>:<n> (image sha256:<hash>)"
        );
        assert_eq!(
            normalize(
                "GET https://demo-3f2a1b0c.ci.localhost/ answered 503 in run 20261130T020000Z-ab12cd",
                &names
            ),
            "GET https://<domain>/ answered 503 in run <run>"
        );
        // What the failure is stays: exit codes, counts, versions.
        assert_eq!(
            normalize("6 tasks failed in a row; exit 1; 0.2.0+1.1", &[]),
            "6 tasks failed in a row; exit 1; 0.2.0+1.1"
        );
    }

    #[test]
    fn same_failure_same_id_and_the_service_is_read() {
        let one = Signature::new(
            "install",
            "deploy",
            "service app: task failed at 2026-11-30T02:00:01Z",
            &[],
        );
        let two = Signature::new(
            "install",
            "deploy",
            "service app: task failed at 2026-11-30T03:14:15Z",
            &[],
        );
        assert_eq!(one.id, two.id);
        assert_eq!(one.service.as_deref(), Some("app"));
        let other = Signature::new("install", "deploy", "service db: task failed", &[]);
        assert_ne!(one.id, other.id);
        // One rollback, seen at two moments.
        let rolling = Signature::new(
            "upgrade",
            "upgrade",
            "service app: update failed and is rolling back: update rolled back due to failure or early termination of task x8k2m1q9z0c4v7b5n3l6p8r2t; task error: task: non-zero exit (3); the running spec is not 0.3.0+1.1",
            &[],
        );
        let rolled = Signature::new(
            "upgrade",
            "upgrade",
            "service app: update rolled back to the previous spec: rollback completed; task error: task: non-zero exit (3); the app settled back",
            &[],
        );
        assert_eq!(rolling.id, rolled.id);
        assert_eq!(rolling.error, "service app: task: non-zero exit (3)");
        assert_eq!(short_hash("x").len(), 12);
        assert_eq!(
            normalize(
                "at 2026-11-30T02:00:01.25+01:00 and 2026-11-30T02:00:01Z.",
                &[]
            ),
            "at <time> and <time>."
        );
        assert_eq!(
            normalize("first attempt fails at 06:19:54 on 2026/11/30", &[]),
            "first attempt fails at <time> on <time>"
        );
    }
}
