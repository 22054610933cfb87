//! Scripted misbehaviour: what a failing Gitea, or a proxy in front of it, does
//! to a request. A fault matches requests by method and path, may wait before
//! answering (to provoke client timeouts), and answers with a status and a body
//! of its choice, or serves the request and cuts the answer short.
//!
//! ```
//! use ccci_fake_gitea::Fault;
//! use std::time::Duration;
//! // A proxy's page, three times, for any method on the pulls list.
//! let bad_gateway = Fault::status(502)
//!     .html("<html><body><h1>502 Bad Gateway</h1></body></html>")
//!     .path("/pulls")
//!     .times(3);
//! // Every GET answered 503 for two seconds.
//! let storm = Fault::status(503).method("GET").for_duration(Duration::from_secs(2));
//! // A slow answer, then the real one.
//! let slow = Fault::latency(Duration::from_secs(3)).path("/comments");
//! // 200 with JSON cut off half way.
//! let torn = Fault::truncated().path("/pulls");
//! ```

use crate::api;
use crate::http::Response;
use std::time::{Duration, Instant};

/// One scripted fault; give it to [`crate::FakeGitea::fault`]. It matches every
/// method and path unless narrowed, and lasts for one matching request unless
/// told otherwise.
#[derive(Debug, Clone)]
pub struct Fault {
    method: Option<String>,
    path_contains: String,
    delay: Duration,
    effect: Effect,
    lasts: Lasts,
}

#[derive(Debug, Clone)]
enum Effect {
    /// Serve the request as usual (only the delay applies).
    Serve,
    /// Serve it, then send only the first half of the body.
    Truncate,
    /// Answer this instead of serving it; no body means Gitea's JSON error with
    /// an empty message (what a 500 shows a non-admin).
    Answer {
        status: u16,
        body: Option<(String, Vec<u8>)>,
        headers: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Lasts {
    Times(u32),
    /// Until this long after the fault was added.
    For(Duration),
    Until(Instant),
}

/// What a matching request gets: a wait, then an answer or the real response.
#[derive(Debug, Clone)]
pub struct Hit {
    pub delay: Duration,
    effect: Effect,
}

impl Fault {
    fn new(effect: Effect) -> Fault {
        Fault {
            method: None,
            path_contains: String::new(),
            delay: Duration::ZERO,
            effect,
            lasts: Lasts::Times(1),
        }
    }

    /// Answer `status` with Gitea's JSON error body (`message` empty), unless a
    /// body is given with [`Fault::text`], [`Fault::html`] or [`Fault::body`].
    pub fn status(status: u16) -> Fault {
        Fault::new(Effect::Answer {
            status,
            body: None,
            headers: vec![],
        })
    }

    /// Wait this long, then serve the request as usual.
    pub fn latency(delay: Duration) -> Fault {
        Fault::new(Effect::Serve).delay(delay)
    }

    /// Serve the request but send only the first half of the body, with a
    /// `Content-Length` to match: a 200 whose JSON is cut off.
    pub fn truncated() -> Fault {
        Fault::new(Effect::Truncate)
    }

    /// Answer with this body and `Content-Type` (status 200 unless set by
    /// [`Fault::status`]): e.g. `body("application/json", "{\"id\": 1,")`.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Fault {
        let body = Some((content_type.to_string(), body.into()));
        self.effect = match self.effect {
            Effect::Answer {
                status, headers, ..
            } => Effect::Answer {
                status,
                body,
                headers,
            },
            _ => Effect::Answer {
                status: 200,
                body,
                headers: vec![],
            },
        };
        self
    }

    /// A plain-text body, as a proxy or load balancer sends.
    pub fn text(self, body: &str) -> Fault {
        self.body("text/plain; charset=utf-8", body)
    }

    /// An HTML body, as nginx's error pages are.
    pub fn html(self, body: &str) -> Fault {
        self.body("text/html; charset=utf-8", body)
    }

    /// An extra header on the answer, e.g. `Retry-After` on a 429.
    pub fn header(mut self, name: &str, value: &str) -> Fault {
        if let Effect::Answer { headers, .. } = &mut self.effect {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Wait this long before answering.
    pub fn delay(mut self, delay: Duration) -> Fault {
        self.delay = delay;
        self
    }

    /// Only requests with this method (any case); any method by default.
    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_string());
        self
    }

    /// Only requests whose path (without the query) contains this.
    pub fn path(mut self, path_contains: &str) -> Fault {
        self.path_contains = path_contains.to_string();
        self
    }

    /// The next `n` matching requests (one by default).
    pub fn times(mut self, n: u32) -> Fault {
        self.lasts = Lasts::Times(n);
        self
    }

    /// Every matching request until `d` has passed since the fault was added
    /// (real time, not the fake's clock): a storm.
    pub fn for_duration(mut self, d: Duration) -> Fault {
        self.lasts = Lasts::For(d);
        self
    }

    /// Start a storm's time; `None` when the fault would never match.
    pub(crate) fn armed(mut self) -> Option<Fault> {
        match self.lasts {
            Lasts::Times(0) => return None,
            Lasts::For(d) => self.lasts = Lasts::Until(Instant::now() + d),
            _ => {}
        }
        Some(self)
    }

    pub(crate) fn expired(&self) -> bool {
        matches!(self.lasts, Lasts::Until(t) if Instant::now() >= t)
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.contains(&self.path_contains)
    }

    /// One use: the hit, and whether the fault is now used up.
    pub(crate) fn take(&mut self) -> (Hit, bool) {
        let used_up = match &mut self.lasts {
            Lasts::Times(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            _ => false,
        };
        let hit = Hit {
            delay: self.delay,
            effect: self.effect.clone(),
        };
        (hit, used_up)
    }
}

impl Hit {
    /// The answer to send instead of serving the request, if any.
    pub fn answer(&self, root: &str) -> Option<Response> {
        let Effect::Answer {
            status,
            body,
            headers,
        } = &self.effect
        else {
            return None;
        };
        let mut resp = match body {
            None => api::api_error(root, *status, ""),
            Some((content_type, bytes)) => Response {
                status: *status,
                headers: vec![("Content-Type".into(), content_type.clone())],
                body: bytes.clone(),
            },
        };
        resp.headers.extend(headers.iter().cloned());
        Some(resp)
    }

    /// Apply what happens after serving (cutting the body short).
    pub fn after(&self, mut resp: Response) -> Response {
        if matches!(self.effect, Effect::Truncate) {
            let half = resp.body.len() / 2;
            resp.body.truncate(half);
        }
        resp
    }
}
