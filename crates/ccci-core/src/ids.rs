//! Identifiers: run ids, random secrets, and a stable short hash for names.

use anyhow::{Context, Result};
use std::io::Read;

/// Random bytes from the kernel.
pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("cannot read /dev/urandom")?;
    Ok(buf)
}

/// A random string of `len` characters drawn uniformly from `alphabet`
/// (rejection sampling, so no character is favoured).
pub fn random_string(len: usize, alphabet: &[u8]) -> Result<String> {
    assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len * 2)? {
            if (b as usize) < limit {
                out.push(alphabet[b as usize % alphabet.len()] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    Ok(out)
}

pub fn random_hex(len: usize) -> Result<String> {
    random_string(len, b"0123456789abcdef")
}

/// FNV-1a: a stable hash for deriving short names (not for security).
pub fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0u8)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// A new run id: UTC timestamp plus randomness, sortable and unique per host.
pub fn new_run_id() -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?
        .as_secs();
    Ok(format!("{}-{}", utc_compact(now), random_hex(6)?))
}

/// `YYYYmmddTHHMMSSZ` for a unix time, without a date crate.
pub fn utc_compact(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// RFC 3339 UTC timestamp for a unix time.
pub fn utc_rfc3339(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_rfc3339(now)
}

/// Days-from-civil inverse (Howard Hinnant's algorithm).
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Unix seconds of an RFC 3339 time with its mandatory offset (`Z` or
/// `±hh:mm`; fractional seconds are dropped), as Gitea sends them in the
/// server's own time zone. `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rb[0] == b'-' { -o } else { o }
        }
    };
    // Days from civil (Howard Hinnant's algorithm), the inverse of `civil`.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_offsets() {
        for t in [0u64, 1_795_000_000, 951_782_400, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&utc_rfc3339(t)), Some(t as i64));
        }
        assert_eq!(
            parse_rfc3339("2026-11-18T13:06:40+02:00"),
            Some(1_795_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-18T11:06:40.123Z"),
            Some(1_795_000_000)
        );
        for bad in [
            "",
            "2026-11-18T11:06:40",
            "2026-13-18T11:06:40Z",
            "2026-11-18 11:06Z",
            "2026-11-18T11:06:40+2:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(utc_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(utc_compact(951_782_400), "20000229T000000Z");
    }

    #[test]
    fn random_string_uses_alphabet() {
        let s = random_string(64, b"ab").unwrap();
        assert_eq!(s.len(), 64);
        assert!(s.bytes().all(|b| b == b'a' || b == b'b'));
    }

    #[test]
    fn fnv_is_stable_and_separates_parts() {
        assert_eq!(fnv1a(&["a", "b"]), fnv1a(&["a", "b"]));
        assert_ne!(fnv1a(&["ab", ""]), fnv1a(&["a", "b"]));
    }
}

/// Parse Docker's RFC 3339 UTC timestamps (`2026-11-22T22:40:01.123456789Z`) into
/// nanoseconds since the epoch. Docker's zero time and anything unparsable is 0.
pub fn parse_docker_time(s: &str) -> u128 {
    fn num(s: &str) -> Option<i64> {
        s.parse().ok()
    }
    let parse = || -> Option<u128> {
        let (date, rest) = s.split_once('T')?;
        let mut d = date.split('-');
        let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
        let rest = rest.strip_suffix('Z')?;
        let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
        let mut t = hms.split(':');
        let (h, mi, sec) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146097 + doe - 719468;
        let secs = days * 86400 + h * 3600 + mi * 60 + sec;
        if secs < 0 {
            return None;
        }
        let mut nanos = 0u128;
        for (i, c) in frac.bytes().take(9).enumerate() {
            if !c.is_ascii_digit() {
                return None;
            }
            nanos += ((c - b'0') as u128) * 10u128.pow(8 - i as u32);
        }
        Some(secs as u128 * 1_000_000_000 + nanos)
    };
    parse().unwrap_or(0)
}

/// Now, in nanoseconds since the epoch.
pub fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn docker_times() {
        assert_eq!(parse_docker_time("1970-01-01T00:00:01Z"), 1_000_000_000);
        assert_eq!(
            parse_docker_time("2026-11-18T11:06:40.5Z"),
            1_795_000_000_500_000_000
        );
        assert_eq!(parse_docker_time("0001-01-01T00:00:00Z"), 0);
        assert_eq!(parse_docker_time("garbage"), 0);
        assert_eq!(parse_docker_time("2026-01-01T00:00:00.x1Z"), 0);
    }
}
