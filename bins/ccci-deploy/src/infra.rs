//! Trouble that is not the recipe's fault (docs/infra-trouble.md): a registry
//! that rate-limits, fails or drops the connection while images are pulled, and
//! a Docker data root too full for a deploy. Both are exit 75, which the runner
//! records as an error worth repeating, never as a red install; a tag or
//! repository that does not exist stays red, at once.

use anyhow::Result;
use ccci_core::docker::Docker;
use ccci_core::{exit, log};
use std::time::Duration;

/// Tries of one image before its registry's trouble is reported: with the
/// default first wait, 2 s, 4 s and 8 s between them, long enough for a rate
/// limit window or a registry restart, short enough to hold a run slot.
const PULL_ATTEMPTS: u32 = 4;
const PULL_FIRST_WAIT_MS: u64 = 2000;
/// Shortens the waits (milliseconds before the second try); tests set it so
/// that a registry in trouble costs them a second, not fourteen.
const PULL_BACKOFF_ENV: &str = "CCCI_PULL_BACKOFF_MS";

/// Whose fault one failed `docker pull` is, read from the docker CLI's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PullFailure {
    /// The registry, or the way to it, is in trouble: worth trying again. The
    /// text completes "the registry ...".
    Registry(String),
    /// The engine itself is not there (the CLI's own words): exit 75 at once,
    /// since waiting for a registry would not help.
    Engine,
    /// Anything else, a missing tag or repository first: the recipe's.
    Recipe,
}

/// Classify the text of a failed `docker pull` (its stderr, as the error
/// carries it). Only what is known to pass is retried; anything unknown stays
/// the recipe's, as it was before retries existed.
pub(crate) fn classify_pull(text: &str) -> PullFailure {
    if ccci_core::docker::engine_unreachable(text) {
        return PullFailure::Engine;
    }
    let t = text.to_ascii_lowercase();
    if t.contains("toomanyrequests") || http_status(&t) == Some(429) {
        return PullFailure::Registry("answered 429 (too many requests)".into());
    }
    if let Some(code @ 500..=599) = http_status(&t) {
        return PullFailure::Registry(format!("answered {code}"));
    }
    let network: [(&str, &[&str]); 4] = [
        (
            "timed out",
            &[
                "client.timeout exceeded",
                "i/o timeout",
                "tls handshake timeout",
                "context deadline exceeded",
            ],
        ),
        (
            "dropped the connection",
            &["connection reset by peer", "\": eof", "unexpected eof"],
        ),
        ("refused the connection", &["connection refused"]),
        (
            "could not be reached",
            &[
                "no route to host",
                "network is unreachable",
                "temporary failure in name resolution",
                "server misbehaving",
            ],
        ),
    ];
    for (what, markers) in network {
        if markers.iter().any(|m| t.contains(m)) {
            return PullFailure::Registry(what.into());
        }
    }
    PullFailure::Recipe
}

/// The HTTP status the daemon quotes: `received unexpected HTTP status: 503
/// Service Unavailable`, or `error parsing HTTP 429 response body` when the
/// registry's answer was not the JSON it expected. `text` is lower case.
fn http_status(text: &str) -> Option<u16> {
    ["unexpected http status: ", "error parsing http "]
        .iter()
        .find_map(|marker| {
            let at = text.find(marker)? + marker.len();
            let digits = text.get(at..at + 3)?;
            digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits.parse().ok())?
        })
}

/// The waits between `attempts` tries, doubling from `first`: 2 s, 4 s, 8 s
/// for four tries from 2 s. Bounded by construction: one wait fewer than tries.
pub(crate) fn backoff(attempts: u32, first: Duration) -> Vec<Duration> {
    (0..attempts.saturating_sub(1))
        .map(|i| first.saturating_mul(1 << i.min(16)))
        .collect()
}

/// The first wait, from the environment when a test shortened it.
fn first_wait() -> Result<Duration> {
    let Ok(v) = std::env::var(PULL_BACKOFF_ENV) else {
        return Ok(Duration::from_millis(PULL_FIRST_WAIT_MS));
    };
    v.parse()
        .map(Duration::from_millis)
        .map_err(|_| exit::usage(format!("{PULL_BACKOFF_ENV}={v:?} is not a number")))
}

/// Pull one image, trying again while its registry is in trouble. A registry
/// still in trouble after the last try is exit 75; what the registry refuses
/// for good (no such tag or repository) is a red verdict at once. Credentials
/// are the docker CLI's own (`DOCKER_CONFIG`), never an argument.
pub(crate) fn pull(docker: &Docker, image: &str) -> Result<()> {
    let waits = backoff(PULL_ATTEMPTS, first_wait()?);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Err(e) = docker.run(&["pull", "--quiet", image]) else {
            return Ok(());
        };
        // Bad input (no docker CLI) is not a registry's answer.
        if exit::code_of(&e) == exit::USAGE {
            return Err(e);
        }
        let said = exit::one_line(&e);
        let what = match classify_pull(&said) {
            PullFailure::Engine => {
                return Err(exit::wrap(e, exit::TEMPFAIL).context(format!("cannot pull {image}")));
            }
            PullFailure::Recipe => {
                return Err(exit::no(format!("cannot pull image {image}: {said}")));
            }
            PullFailure::Registry(what) => what,
        };
        let Some(wait) = waits.get(attempt - 1) else {
            return Err(exit::tempfail(format!(
                "cannot pull {image}: the registry {what} after {attempt} attempts \
                 (registry trouble, not the recipe's): {said}"
            )));
        };
        log::debug(&format!(
            "pull of {image}: the registry {what} (attempt {attempt} of {PULL_ATTEMPTS}), \
             trying again in {}ms",
            wait.as_millis()
        ));
        std::thread::sleep(*wait);
    }
}

/// Refuse a deploy while Docker's data root has less than `min_mib` MiB free
/// (0: no check): an upgrade briefly holds both releases' images, and a disk
/// that fills up halfway fails a deploy in ways that look like the recipe's.
/// Exit 75, before anything is created.
pub(crate) fn check_free_disk(docker: &Docker, min_mib: u64) -> Result<()> {
    if min_mib == 0 {
        return Ok(());
    }
    let Some((root, free)) = ccci_core::disk::data_root_free(docker)? else {
        log::debug("the Docker engine is not local: its free disk space is not checked");
        return Ok(());
    };
    if free < min_mib {
        return Err(exit::tempfail(format!(
            "only {free} MiB free on {root}, below the configured minimum of {min_mib} MiB \
             (min_free_disk_mb)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The docker CLI's words, as a 28.2 client and a 20.10 engine print them
    // against the rig's registry and a test server answering each status.
    const MISSING_TAG: &str = "Error response from daemon: manifest for 127.0.0.1:5000/ccci/busybox:9.9-missing not found: manifest unknown: manifest unknown";
    const MISSING_REPO_RIG: &str = "Error response from daemon: manifest for 127.0.0.1:5000/ccci/nosuchrepo:1 not found: manifest unknown: manifest unknown";
    const MISSING_REPO: &str = "Error response from daemon: repository 127.0.0.1:5975/x not found: name unknown: repository name not known to registry";
    const BARE_MANIFEST_UNKNOWN: &str = "Error response from daemon: manifest unknown";
    const NOT_FOUND_NO_BODY: &str = "Error response from daemon: error parsing HTTP 404 response body: unexpected end of JSON input: \"\"";
    const UNAUTHORIZED: &str = "Error response from daemon: unauthorized";
    const DENIED: &str = "Error response from daemon: denied";
    // Docker Hub's answer for a repository that does not exist (or is private).
    const HUB_DENIED: &str = "Error response from daemon: pull access denied for nosuch/repo, repository does not exist or may require 'docker login': denied: requested access to the resource is denied";
    const RATE_LIMITED: &str =
        "Error response from daemon: toomanyrequests: You have reached your pull rate limit.";
    const RATE_LIMITED_NO_BODY: &str = "Error response from daemon: error parsing HTTP 429 response body: unexpected end of JSON input: \"\"";
    const RATE_LIMITED_TEXT: &str = "Error response from daemon: error parsing HTTP 429 response body: invalid character 'r' looking for beginning of value: \"rate limited\"";
    const UNAVAILABLE: &str =
        "Error response from daemon: received unexpected HTTP status: 503 Service Unavailable";
    const INTERNAL: &str =
        "Error response from daemon: received unexpected HTTP status: 500 Internal Server Error";
    const BAD_GATEWAY: &str =
        "Error response from daemon: received unexpected HTTP status: 502 Bad Gateway";
    const TIMEOUT: &str = "Error response from daemon: Get \"http://127.0.0.1:5990/v2/\": net/http: request canceled (Client.Timeout exceeded while awaiting headers)";
    const RESET: &str = "Error response from daemon: Get \"http://127.0.0.1:5984/v2/\": read tcp 127.0.0.1:34416->127.0.0.1:5984: read: connection reset by peer";
    const CLOSED: &str = "Error response from daemon: Get \"http://127.0.0.1:5985/v2/\": EOF";
    const REFUSED: &str = "Error response from daemon: Get \"http://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused";
    const ENGINE_DOWN: &str =
        "Cannot connect to the Docker daemon at unix:///nope.sock. Is the docker daemon running?";

    /// As the error reaches the classifier: behind `docker pull failed: `.
    fn classify(stderr: &str) -> PullFailure {
        classify_pull(&format!("docker pull failed: {stderr}"))
    }

    #[test]
    fn a_missing_tag_or_repository_is_the_recipes() {
        for s in [
            MISSING_TAG,
            MISSING_REPO_RIG,
            MISSING_REPO,
            BARE_MANIFEST_UNKNOWN,
            NOT_FOUND_NO_BODY,
            UNAUTHORIZED,
            DENIED,
            HUB_DENIED,
            "invalid reference format",
        ] {
            assert_eq!(classify(s), PullFailure::Recipe, "{s}");
        }
    }

    #[test]
    fn rate_limits_are_the_registrys() {
        for s in [RATE_LIMITED, RATE_LIMITED_NO_BODY, RATE_LIMITED_TEXT] {
            assert_eq!(
                classify(s),
                PullFailure::Registry("answered 429 (too many requests)".into()),
                "{s}"
            );
        }
    }

    #[test]
    fn server_errors_are_the_registrys_with_their_status() {
        for (s, code) in [(UNAVAILABLE, 503), (INTERNAL, 500), (BAD_GATEWAY, 502)] {
            assert_eq!(
                classify(s),
                PullFailure::Registry(format!("answered {code}")),
                "{s}"
            );
        }
    }

    #[test]
    fn network_trouble_is_the_registrys() {
        for (s, what) in [
            (TIMEOUT, "timed out"),
            (RESET, "dropped the connection"),
            (CLOSED, "dropped the connection"),
            (REFUSED, "refused the connection"),
        ] {
            assert_eq!(classify(s), PullFailure::Registry(what.into()), "{s}");
        }
    }

    #[test]
    fn an_engine_that_is_not_there_is_not_retried() {
        assert_eq!(classify(ENGINE_DOWN), PullFailure::Engine);
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let s = Duration::from_secs;
        assert_eq!(backoff(4, s(2)), vec![s(2), s(4), s(8)]);
        assert_eq!(backoff(1, s(2)), Vec::<Duration>::new());
        assert_eq!(backoff(0, s(2)), Vec::<Duration>::new());
        assert_eq!(
            backoff(4, Duration::from_millis(50)),
            [50, 100, 200].map(Duration::from_millis)
        );
        // No overflow, however many tries.
        assert_eq!(backoff(100, s(2)).len(), 99);
    }
}
