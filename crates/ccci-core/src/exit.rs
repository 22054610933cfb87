//! The exit-code contract shared by every ccci tool (docs/contracts.md, exit codes).
//!
//! Errors travel as `anyhow::Error`; a [`Code`] attached anywhere in the chain (as
//! the error itself or as context) decides the process exit status. Anything without
//! a code is a bug and exits [`BUG`].

use std::fmt;

/// Success, yes, run, converged.
pub const OK: i32 = 0;
/// A clean no: red verdict, skip, did not converge.
pub const NO: i32 = 1;
/// Bad usage or bad input.
pub const USAGE: i32 = 2;
/// Temporary failure worth retrying (sysexits EX_TEMPFAIL).
pub const TEMPFAIL: i32 = 75;
/// An unexpected internal error (sysexits EX_SOFTWARE); outside systemd's 200-243.
pub const BUG: i32 = 70;

/// An exit code carried through an error chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub i32);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            NO => write!(f, "red verdict"),
            USAGE => write!(f, "bad input"),
            TEMPFAIL => write!(f, "temporary failure"),
            c => write!(f, "exit {c}"),
        }
    }
}

impl std::error::Error for Code {}

/// Build an error with a code: `bail!(exit::usage("no compose.yml in {dir}"))`.
pub fn coded(code: i32, msg: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Code(code)).context(msg.to_string())
}

pub fn usage(msg: impl fmt::Display) -> anyhow::Error {
    coded(USAGE, msg)
}

pub fn no(msg: impl fmt::Display) -> anyhow::Error {
    coded(NO, msg)
}

pub fn tempfail(msg: impl fmt::Display) -> anyhow::Error {
    coded(TEMPFAIL, msg)
}

/// Give an error a code, keeping its message (and any code it already has).
pub fn wrap(e: anyhow::Error, code: i32) -> anyhow::Error {
    if e.chain().any(|c| c.downcast_ref::<Code>().is_some()) {
        return e;
    }
    coded(code, one_line(&e))
}

/// Join an error chain into one line, dropping the bare code markers.
pub fn one_line(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .filter(|c| c.downcast_ref::<Code>().is_none())
        .map(|c| c.to_string().replace('\n', " "))
        .collect();
    let mut s = parts.join(": ");
    if s.is_empty() {
        s = e.to_string();
    }
    s
}

/// The exit code an error maps to: the first [`Code`] found in its chain, else [`BUG`].
pub fn code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Code>().map(|c| c.0))
        .unwrap_or(BUG)
}

/// Attach a code to any result: `fs::read(p).code(USAGE)?`.
pub trait WithCode<T> {
    fn code(self, code: i32) -> anyhow::Result<T>;
}

impl<T, E> WithCode<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn code(self, code: i32) -> anyhow::Result<T> {
        self.map_err(|e| wrap(e.into(), code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_found_through_context() {
        let e = usage("bad thing").context("while doing x");
        assert_eq!(code_of(&e), USAGE);
        assert_eq!(format!("{e:#}"), "while doing x: bad thing: bad input");
    }

    #[test]
    fn uncoded_is_bug() {
        let e = anyhow::anyhow!("oops");
        assert_eq!(code_of(&e), BUG);
    }

    #[test]
    fn with_code_keeps_inner_code() {
        let r: Result<(), anyhow::Error> = Err(tempfail("daemon down"));
        assert_eq!(code_of(&r.code(USAGE).unwrap_err()), TEMPFAIL);
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("x"));
        assert_eq!(code_of(&r.code(USAGE).unwrap_err()), USAGE);
    }
}
