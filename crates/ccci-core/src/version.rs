//! Co-op Cloud release tags and the one order every ccci tool sorts them by.
//!
//! A release tag is `<recipe semver>+<upstream>`: `1.13.0+1.31.1`,
//! `3.6.0+1.24.2-rootless`, `0.3.0+v0.4.219`, `1.0.0+v1.6.870-0`. The recipe part
//! is strict semver 2.0 (`MAJOR.MINOR.PATCH`, optional `-pre.release`, no leading
//! zeros); the upstream part is the packaged image's tag, any non-empty run of
//! Docker tag characters (`A-Z a-z 0-9 _ . -`, at most 128).
//!
//! Decisions (callers rely on them):
//! - **Order.** Semver 2.0 precedence on the recipe part decides
//!   (`2.0.0-rc.1+5.0 < 2.0.0+5.0`). Only when the recipe parts are identical does
//!   the upstream part break the tie: no upstream sorts first, then a natural order
//!   (digit runs by numeric value, other runs bytewise, digits before letters), then
//!   plain bytes. Semver calls `+...` metadata with no precedence, but a sweep must
//!   never call two different tags "equal", so the order is total: `a == b` exactly
//!   when the tags are the same string. Two tags differing only after `+` should not
//!   occur; if they do, the natural order sorts `+1.10` after `+1.9`.
//! - **`+upstream` is optional.** A plain `1.2.0` is a release tag with no upstream
//!   part; abra's own tags always carry one, but nothing is ordered by it.
//! - **No leading `v`.** abra never writes `v1.2.0+...`; accepting it would give one
//!   version two spellings (two tags comparing equal), so such a tag is not a release
//!   tag. (The upstream part may start with `v`: `0.3.0+v0.4.219`.)
//! - **Pre-releases are releases.** `2.0.0-rc.1+5.0` is a release tag; it sorts
//!   below `2.0.0+5.0` and above every `1.x`.
//! - **Not a release tag is not an error of the repository.** [`Version::parse`]
//!   says why a string is not one; [`newest`] simply skips such tags (legacy
//!   `1.13.4_1`, `latest`, `v1.0`, ...).
//!
//! `Display` prints the tag back exactly: `parse(s).to_string() == s`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A parsed release tag. Construct with [`Version::parse`] (or `str::parse`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    /// Semver pre-release identifiers; empty for a release.
    pre: Vec<Pre>,
    upstream: Option<String>,
}

/// One semver pre-release identifier. The derived order is semver's: numeric
/// identifiers below alphanumeric ones, numbers by value, text by ASCII.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Pre {
    Num(u64),
    Alpha(String),
}

/// Why a string is not a release tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub tag: String,
    pub reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a release tag (<recipe semver>+<upstream>): {}",
            self.tag, self.reason
        )
    }
}

impl std::error::Error for ParseError {}

const MAX_UPSTREAM: usize = 128;

impl Version {
    /// Parse a release tag; `Err` says why `tag` is not one.
    pub fn parse(tag: &str) -> Result<Version, ParseError> {
        let err = |reason| ParseError {
            tag: tag.to_string(),
            reason,
        };
        if tag.is_empty() {
            return Err(err("empty"));
        }
        // Said before anything else, so a stray space or newline (a tag pasted
        // from a terminal) is not blamed on the numbers.
        if tag.chars().any(char::is_whitespace) {
            return Err(err("it contains whitespace"));
        }
        if tag.starts_with(['v', 'V']) {
            return Err(err("a leading v is not part of a release tag"));
        }
        let (recipe, upstream) = match tag.split_once('+') {
            Some((r, u)) => (r, Some(u)),
            None => (tag, None),
        };
        if let Some(u) = upstream {
            if u.is_empty() {
                return Err(err("empty upstream version after +"));
            }
            if u.len() > MAX_UPSTREAM {
                return Err(err("upstream version longer than 128 characters"));
            }
            if !u
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            {
                return Err(err(
                    "upstream version has characters other than A-Z a-z 0-9 _ . -",
                ));
            }
        }
        let (core, pre) = match recipe.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (recipe, None),
        };
        let mut nums = core.split('.');
        let mut next = || -> Result<u64, ParseError> {
            let n = nums
                .next()
                .ok_or_else(|| err("recipe version is not MAJOR.MINOR.PATCH"))?;
            numeric(n).ok_or_else(|| {
                err(if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    "recipe version parts must be numbers"
                } else {
                    "recipe version parts must be numbers without leading zeros"
                })
            })
        };
        let (major, minor, patch) = (next()?, next()?, next()?);
        if nums.next().is_some() {
            return Err(err("recipe version is not MAJOR.MINOR.PATCH"));
        }
        let pre = match pre {
            None => vec![],
            Some(p) => p
                .split('.')
                .map(|id| {
                    pre_ident(id).ok_or_else(|| {
                        err("pre-release identifiers must be non-empty [0-9A-Za-z-], numbers without leading zeros")
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Version {
            major,
            minor,
            patch,
            pre,
            upstream: upstream.map(str::to_string),
        })
    }

    pub fn major(&self) -> u64 {
        self.major
    }

    pub fn minor(&self) -> u64 {
        self.minor
    }

    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// Has a semver pre-release part (`2.0.0-rc.1+5.0`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// The part after `+`, if any.
    pub fn upstream(&self) -> Option<&str> {
        self.upstream.as_deref()
    }

    /// Semver precedence of the recipe parts alone, ignoring upstream: what abra
    /// calls "the same version" is `cmp_recipe(..) == Equal`.
    pub fn cmp_recipe(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                // A release outranks any of its pre-releases.
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                // Vec's order is semver's: identifier by identifier, then the
                // longer list is greater.
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

/// A semver numeric identifier: digits, no leading zero, fits u64.
fn numeric(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn pre_ident(s: &str) -> Option<Pre> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        numeric(s).map(Pre::Num)
    } else {
        Some(Pre::Alpha(s.to_string()))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.cmp_recipe(other)
            .then_with(|| match (&self.upstream, &other.upstream) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => natural(a, b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Natural order of two strings: runs of digits compare by value, other runs
/// bytewise, a digit run sorts before a text run; strings equal by that measure
/// (`01` and `1`) fall back to bytes, so only identical strings compare equal.
fn natural(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (Runs(a.as_bytes()), Runs(b.as_bytes()));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = cmp_run(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

fn cmp_run(p: &[u8], q: &[u8]) -> Ordering {
    let digits = |r: &[u8]| r[0].is_ascii_digit();
    match (digits(p), digits(q)) {
        (true, true) => {
            // By value without parsing (runs can be longer than any integer type).
            let trim = |r: &[u8]| {
                let z = r.iter().take_while(|&&b| b == b'0').count();
                r[z..].to_vec()
            };
            let (p, q) = (trim(p), trim(q));
            p.len().cmp(&q.len()).then_with(|| p.cmp(&q))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => p.cmp(q),
    }
}

/// Maximal runs of ASCII digits or of anything else; never empty.
struct Runs<'a>(&'a [u8]);

impl<'a> Iterator for Runs<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let first = *self.0.first()?;
        let kind = first.is_ascii_digit();
        let n = self
            .0
            .iter()
            .take_while(|b| b.is_ascii_digit() == kind)
            .count();
        let (run, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(run)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        for (i, p) in self.pre.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            match p {
                Pre::Num(n) => write!(f, "{n}")?,
                Pre::Alpha(s) => f.write_str(s)?,
            }
        }
        if let Some(u) = &self.upstream {
            write!(f, "+{u}")?;
        }
        Ok(())
    }
}

impl FromStr for Version {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Version, ParseError> {
        Version::parse(s)
    }
}

// Stored as the tag string; a JSON file holding something else is rejected on read.
impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Version, D::Error> {
        let s = String::deserialize(d)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The newest release tag among `tags`; tags that are not release tags are skipped.
pub fn newest<I, S>(tags: I) -> Option<Version>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    tags.into_iter()
        .filter_map(|t| Version::parse(t.as_ref()).ok())
        .max()
}

/// The newest release tag strictly older than `bound` (a run's "previous release").
pub fn newest_below<I, S>(tags: I, bound: &Version) -> Option<Version>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    tags.into_iter()
        .filter_map(|t| Version::parse(t.as_ref()).ok())
        .filter(|v| v < bound)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Tags of the forms real recipes use (docs/abra.md, release tags).
    const REAL: &[&str] = &[
        "1.13.0+1.31.1",
        "3.5.3+1.24.2-rootless",
        "3.6.0+1.24.2-rootless",
        "0.3.0+v0.4.219",
        "1.0.0+v1.6.870-0",
        "0.8.1+3.5.0",
        "2.1.9+10.11.15",
        "1.5.1+v2.6.3",
        "1.6.0+v2.7.5",
        "1.0.0+1.14.3",
        "2.0.1+1.0.6-social-amd64",
        "0.6.0+v2026.5.1",
        "1.4.0+6.45.0-alpine",
        "1.9.0+2.26.0",
        "3.1.0+v2.0.0",
        "3.0.1+v2.0.0",
        "1.2.0+2.43.0",
        "3.4.0+2.23.2",
        "3.1.0+2.4.0",
    ];

    #[test]
    fn real_tags_parse_and_print_back() {
        for t in REAL {
            assert_eq!(v(t).to_string(), *t);
        }
        let x = v("3.6.0+1.24.2-rootless");
        assert_eq!((x.major(), x.minor(), x.patch()), (3, 6, 0));
        assert_eq!(x.upstream(), Some("1.24.2-rootless"));
        assert!(!x.is_prerelease());
    }

    #[test]
    fn each_rejection_names_its_real_cause() {
        let why = |t: &str| Version::parse(t).unwrap_err().reason;
        assert_eq!(why(" 1.2.0+1.0"), "it contains whitespace");
        assert_eq!(why("1.2.0+1.0\n"), "it contains whitespace");
        assert_eq!(why("1.2.0 +1.0"), "it contains whitespace");
        assert_eq!(
            why("01.2.0+1.0"),
            "recipe version parts must be numbers without leading zeros"
        );
        assert_eq!(why("1.x.0+1.0"), "recipe version parts must be numbers");
        assert_eq!(why("1..0+1.0"), "recipe version parts must be numbers");
        assert!(
            Version::parse(" 1.2.0")
                .unwrap_err()
                .to_string()
                .starts_with("\" 1.2.0\" is not a release tag")
        );
    }

    #[test]
    fn real_tags_order() {
        // Each pair: older, newer.
        let pairs = [
            ("3.5.3+1.24.2-rootless", "3.6.0+1.24.2-rootless"),
            ("1.5.1+v2.6.3", "1.6.0+v2.7.5"),
            ("3.0.1+v2.0.0", "3.1.0+v2.0.0"),
            ("0.3.0+v0.4.219", "1.0.0+v1.6.870-0"),
            // Recipe semver decides even against the upstream part.
            ("1.9.0+9.9.9", "1.10.0+0.0.1"),
            ("2.1.9+10.11.15", "2.1.10+1.0"),
            ("2.0.0-rc.1+5.0", "2.0.0+5.0"),
            ("2.0.0-rc.1+5.0", "2.0.0-rc.2+4.0"),
            ("1.99.99+1", "2.0.0-alpha+1"),
        ];
        for (a, b) in pairs {
            assert!(v(a) < v(b), "{a} < {b}");
            assert!(v(b) > v(a), "{b} > {a}");
        }
    }

    #[test]
    fn semver_spec_precedence_chain() {
        // The example of semver 2.0 section 11.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for w in chain.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
            assert_eq!(v(w[0]).cmp_recipe(&v(w[1])), Ordering::Less);
        }
        // Numeric identifiers compare by value, and below alphanumeric ones.
        assert!(v("1.0.0-2") < v("1.0.0-10"));
        assert!(v("1.0.0-999") < v("1.0.0-a"));
        assert!(v("1.0.0-rc-1") > v("1.0.0-rc"));
    }

    #[test]
    fn upstream_only_breaks_ties() {
        assert_eq!(v("1.0.0+1.9").cmp_recipe(&v("1.0.0+1.10")), Ordering::Equal);
        assert!(v("1.0.0+1.9") < v("1.0.0+1.10"));
        assert!(v("1.0.0") < v("1.0.0+1.0"));
        assert!(v("1.0.0+1.24.2") < v("1.0.0+1.24.2-rootless"));
        // Equal by value, so bytes decide ('0' < '1').
        assert!(v("1.0.0+01") < v("1.0.0+1"));
        assert_ne!(v("1.0.0+1"), v("1.0.0+01"));
        assert_eq!(v("1.0.0+1.2"), v("1.0.0+1.2"));
    }

    #[test]
    fn not_release_tags() {
        let bad = [
            "",
            "latest",
            "main",
            "v1.0.0+1.0",
            "V1.0.0",
            "1.13.4_1",
            "1.0",
            "1.0.0.0",
            "1.0.0+",
            "1.0.0+a b",
            "1.0.0+1+2",
            "01.0.0+1",
            "1.00.0",
            "1.0.0-",
            "1.0.0-rc..1",
            "1.0.0-01",
            "1.0.0-rc_1",
            "-1.0.0",
            "1.0.0 +1",
            "1.0.x+1",
            "99999999999999999999.0.0",
            "1.0.0-99999999999999999999",
            "release/1.0.0",
            "1.0.0+ü",
        ];
        for t in bad {
            let e = Version::parse(t).expect_err(t);
            assert_eq!(e.tag, t);
            assert!(e.to_string().contains("is not a release tag"), "{e}");
        }
        let long = format!("1.0.0+{}", "a".repeat(129));
        assert!(Version::parse(&long).is_err());
        assert!(Version::parse(&format!("1.0.0+{}", "a".repeat(128))).is_ok());
    }

    #[test]
    fn newest_skips_junk() {
        let tags = [
            "latest",
            "0.1.0+1.0",
            "v9.0.0",
            "1.13.4_1",
            "0.2.0+1.1",
            "0.10.0+0.1",
            "1.0.0-rc.1+2",
        ];
        assert_eq!(newest(tags), Some(v("1.0.0-rc.1+2")));
        assert_eq!(newest(&tags[..6]), Some(v("0.10.0+0.1")));
        assert_eq!(newest(["latest", "v1.0.0"]), None);
        assert_eq!(newest(Vec::<String>::new()), None);
        assert_eq!(newest_below(tags, &v("0.10.0+0.1")), Some(v("0.2.0+1.1")));
        assert_eq!(newest_below(tags, &v("0.1.0+1.0")), None);
    }

    #[test]
    fn serde_is_the_tag_string() {
        let x = v("0.3.0+v0.4.219");
        let j = serde_json::to_string(&x).unwrap();
        assert_eq!(j, "\"0.3.0+v0.4.219\"");
        assert_eq!(serde_json::from_str::<Version>(&j).unwrap(), x);
        let e = serde_json::from_str::<Version>("\"main\"").unwrap_err();
        assert!(e.to_string().contains("is not a release tag"), "{e}");
    }

    // Property tests over generated versions. A small seeded generator (no extra
    // dependency) drawn from narrow domains so that equal parts, shared prefixes and
    // ties on the recipe part happen often.

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len() as u64) as usize]
        }
    }

    fn gen_tag(r: &mut Rng) -> String {
        let mut s = format!("{}.{}.{}", r.below(3), r.below(3), r.below(12));
        let n_pre = [0, 0, 0, 1, 1, 2, 3][r.below(7) as usize];
        for i in 0..n_pre {
            s.push(if i == 0 { '-' } else { '.' });
            if r.below(2) == 0 {
                s.push_str(&r.below(12).to_string());
            } else {
                s.push_str(r.pick(&["alpha", "beta", "rc", "RC", "rc-1", "a1", "x-y"]));
            }
        }
        match r.below(4) {
            0 => {}
            _ => {
                s.push('+');
                let runs = 1 + r.below(4);
                for _ in 0..runs {
                    s.push_str(r.pick(&[
                        "1", "2", "10", "01", "0", ".", "-", "v", "rootless", "alpine", "_", "9",
                    ]));
                }
            }
        }
        s
    }

    fn sample(seed: u64, n: usize) -> Vec<Version> {
        let mut r = Rng(seed);
        (0..n).map(|_| v(&gen_tag(&mut r))).collect()
    }

    #[test]
    fn prop_display_parse_round_trip() {
        let mut r = Rng(0x5eed_0001);
        for _ in 0..5000 {
            let t = gen_tag(&mut r);
            let x = v(&t);
            assert_eq!(x.to_string(), t);
            assert_eq!(v(&x.to_string()), x);
        }
    }

    #[test]
    fn prop_order_is_total_antisymmetric_and_consistent_with_eq() {
        let xs = sample(0x5eed_0002, 400);
        for a in &xs {
            assert_eq!(a.cmp(a), Ordering::Equal);
            for b in &xs {
                let ab = a.cmp(b);
                assert_eq!(ab, b.cmp(a).reverse(), "{a} vs {b}");
                assert_eq!(ab == Ordering::Equal, a == b, "{a} vs {b}");
                assert_eq!(ab == Ordering::Equal, a.to_string() == b.to_string());
                assert_eq!(a.partial_cmp(b), Some(ab));
            }
        }
    }

    #[test]
    fn prop_order_is_transitive() {
        let xs = sample(0x5eed_0003, 120);
        for a in &xs {
            for b in &xs {
                if a > b {
                    continue;
                }
                for c in &xs {
                    if b <= c {
                        assert!(a <= c, "{a} <= {b} <= {c}");
                    }
                }
            }
        }
        // And a sort agrees with every pairwise comparison.
        let mut ys = sample(0x5eed_0004, 500);
        ys.sort();
        for i in 0..ys.len() {
            for j in i..ys.len() {
                assert!(ys[i] <= ys[j], "{} <= {}", ys[i], ys[j]);
            }
        }
    }

    #[test]
    fn prop_recipe_semver_decides_and_prerelease_is_lower() {
        let xs = sample(0x5eed_0005, 400);
        for a in &xs {
            if a.is_prerelease() {
                let mut rel = a.clone();
                rel.pre.clear();
                assert!(*a < rel, "{a} < {rel}");
                assert_eq!(a.cmp_recipe(&rel), Ordering::Less);
            }
            for b in &xs {
                let core = (a.major, a.minor, a.patch).cmp(&(b.major, b.minor, b.patch));
                if core != Ordering::Equal {
                    assert_eq!(a.cmp(b), core, "{a} vs {b}");
                }
                let r = a.cmp_recipe(b);
                if r != Ordering::Equal {
                    assert_eq!(a.cmp(b), r, "upstream overrode recipe: {a} vs {b}");
                }
                assert_eq!(r, b.cmp_recipe(a).reverse());
            }
        }
    }

    #[test]
    fn prop_newest_is_max_and_ignores_junk() {
        let mut r = Rng(0x5eed_0006);
        let junk = [
            "latest",
            "v1.0.0",
            "1.0",
            "9.9.9+",
            "1.13.4_1",
            "main",
            "99.0.0+a b",
        ];
        for _ in 0..300 {
            let n = r.below(8) as usize;
            let mut tags: Vec<String> = (0..n).map(|_| gen_tag(&mut r)).collect();
            let want = tags.iter().map(|t| v(t)).max();
            for _ in 0..r.below(4) {
                let at = r.below(tags.len() as u64 + 1) as usize;
                tags.insert(at, r.pick(&junk).to_string());
            }
            assert_eq!(newest(&tags), want, "{tags:?}");
        }
    }

    #[test]
    fn prop_parse_never_panics_and_accepts_only_what_it_prints() {
        let mut r = Rng(0x5eed_0007);
        let alphabet = [
            "0", "1", "9", "01", ".", "-", "+", "v", "a", "rc", "_", " ", "ü", "", "00",
        ];
        for _ in 0..20000 {
            let n = r.below(10);
            let s: String = (0..n).map(|_| r.pick(&alphabet)).collect();
            if let Ok(x) = Version::parse(&s) {
                assert_eq!(x.to_string(), s, "accepted {s:?} but prints differently");
            }
        }
    }
}
