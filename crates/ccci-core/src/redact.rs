//! Secret redaction: every secret value a tool learns is registered here (opening
//! a run registers its generated secrets), and every log line, docker output and
//! hook output passes through [`Redactor::apply`] before it is shown or written.

use std::sync::{Mutex, OnceLock};

#[derive(Default)]
pub struct Redactor {
    secrets: Mutex<Vec<String>>,
}

const MASK: &str = "[REDACTED]";

impl Redactor {
    /// Register a value; values shorter than 4 characters are ignored because masking
    /// them would shred ordinary text.
    pub fn add(&self, secret: &str) {
        if secret.len() >= 4 {
            let mut s = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
            if !s.iter().any(|x| x == secret) {
                s.push(secret.to_string());
                // Longest first so a secret containing another is masked whole.
                s.sort_by_key(|x| std::cmp::Reverse(x.len()));
            }
        }
    }

    pub fn apply(&self, text: &str) -> String {
        let s = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_string();
        for secret in s.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

/// The process-wide redactor used by logging.
pub fn global() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(Redactor::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_longest_first() {
        let r = Redactor::default();
        r.add("abcd");
        r.add("abcdefgh");
        r.add("xy");
        assert_eq!(
            r.apply("p=abcdefgh q=abcd xy"),
            "p=[REDACTED] q=[REDACTED] xy"
        );
    }
}
