//! The benchmark's history: COUNT finished runs of one recipe, an hour
//! apart, written as `ccci-run` leaves them, with the tests' own fixtures
//! (real `Results`, plan, request, junit.xml, secrets and a log per step).
//! About one run in nine is red at the upgrade and one in 23 interrupted.
//! Prints the newest run's id.
//!
//!   cargo run --example fake_history -- STATE_DIR RECIPE COUNT

// The tests use all of the fixtures; this generator only some.
#[allow(dead_code)]
#[path = "../tests/report/fixtures.rs"]
mod fixtures;

use std::path::Path;
use std::process::ExitCode;

/// 2026-01-01T00:00:00Z.
const START: u64 = 1_767_225_600;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (state, recipe, count) = match args.as_slice() {
        [s, r, c] if c.parse::<u32>().is_ok_and(|n| n > 0) => {
            (Path::new(s), r.as_str(), c.parse::<u32>().unwrap_or(1))
        }
        _ => {
            eprintln!("usage: fake_history STATE_DIR RECIPE COUNT (COUNT > 0)");
            return ExitCode::from(2);
        }
    };
    let mut newest = String::new();
    for i in 0..count {
        let started = START + u64::from(i) * 3600;
        let id = fixtures::run_id(started, i);
        let mut r = fixtures::green(&id, recipe, started, 90.0 + f64::from(i % 31) * 2.5);
        if i % 9 == 4 {
            fixtures::red_at_upgrade(&mut r, "the marker written before the upgrade is gone");
        } else if i % 23 == 11 {
            fixtures::interrupted_at(&mut r, "custom");
        }
        let secret = format!("bench-secret-{i:06}");
        fixtures::write_finished(state, &r, &[("db_password", &secret)], |_| String::new());
        newest = id;
    }
    println!("{newest}");
    ExitCode::SUCCESS
}
