//! C012: the known-flaky tests of `recipe.json` (`flaky`) expire. A failure of
//! one does not count until its date; lint says so before the date comes, so
//! the test is fixed or the entry renewed on purpose, and after it, when its
//! failures count again.

use super::{Loc, Report};
use ccci_core::settings::Flaky;
use std::collections::BTreeMap;

/// How many days ahead an expiry is announced.
pub const WARN_DAYS: i64 = 14;

fn day(date: &str) -> Option<i64> {
    ccci_core::ids::parse_rfc3339(&format!("{date}T00:00:00Z")).map(|s| s / 86_400)
}

pub fn expiry(flaky: &BTreeMap<String, Flaky>, today: &str, r: &mut Report) {
    if flaky.is_empty() {
        r.skip("C012", "not checked: no known-flaky test in recipe.json");
        return;
    }
    let Some(now) = day(today) else {
        return;
    };
    for (id, f) in flaky {
        let Some(until) = day(&f.until) else {
            continue;
        };
        let left = until - now;
        let said = if left < 0 {
            format!(
                "known-flaky test {id} expired on {}: its failures count again; fix it or renew the entry ({})",
                f.until, f.reason
            )
        } else if left <= WARN_DAYS {
            format!(
                "known-flaky test {id} expires on {} (in {left} days): then its failures count again ({})",
                f.until, f.reason
            )
        } else {
            continue;
        };
        r.add("C012", Loc::default(), said);
    }
}
