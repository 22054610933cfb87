//! A raw HTTP/1.1 client for testing the fake: what goes over the wire is
//! exactly what the test wrote, with no client library smoothing anything over.

#![allow(dead_code)]

use ccci_fake_gitea::http::{Request, Response, read_request, write_response};
use ccci_fake_gitea::{FakeGitea, Perm, PullSpec};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Send one request to the fake; `path` starts with `/`.
pub fn call(
    fake: &FakeGitea,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    exchange(fake, method, path, headers, body, None).expect("an answer")
}

/// A GET that gives up after `timeout`, as a client with a read timeout does.
pub fn get_within(fake: &FakeGitea, path: &str, timeout: Duration) -> std::io::Result<Resp> {
    exchange(fake, "GET", path, &[], None, Some(timeout))
}

fn exchange(
    fake: &FakeGitea,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    timeout: Option<Duration>,
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(fake.addr())?;
    s.set_read_timeout(timeout)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", fake.addr());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes())?;
    let mut raw = vec![];
    s.read_to_end(&mut raw)?;
    // Lossy: a truncated body may end inside a character.
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(Resp {
        status,
        headers,
        body: body.to_string(),
    })
}

pub fn get(fake: &FakeGitea, path: &str, token: Option<&str>) -> Resp {
    let auth = token.map(|t| format!("token {t}"));
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    call(fake, "GET", path, &h, None)
}

/// A request without a body (`DELETE`, or `GET` under another method name).
pub fn call_auth(fake: &FakeGitea, method: &str, path: &str, token: Option<&str>) -> Resp {
    let auth = token.map(|t| format!("token {t}"));
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    call(fake, method, path, &h, None)
}

pub fn send(fake: &FakeGitea, method: &str, path: &str, token: Option<&str>, body: &str) -> Resp {
    let auth = token.map(|t| format!("token {t}"));
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    call(fake, method, path, &h, Some(body))
}

pub fn sha(n: u32) -> String {
    format!("{n:040x}")
}

/// A fake with repository `recipes/demo`, a bot with a write token (`bot-token`),
/// a reader (`reader-token`) and `alice`, who authors pull requests (`alice-token`).
pub fn world() -> FakeGitea {
    let f = FakeGitea::start().expect("start fake");
    f.set_clock(Some(1_785_146_400)); // 2026-07-27T10:00:00Z
    f.add_repo("recipes", "demo").unwrap();
    f.add_token("ci-bot", "bot-token", None);
    f.add_collaborator("recipes", "demo", "ci-bot", Perm::Write)
        .unwrap();
    f.add_token("reader", "reader-token", None);
    f.add_token("alice", "alice-token", None);
    f
}

pub fn pull(f: &FakeGitea, title: &str, head: &str, n: u32) -> i64 {
    f.open_pull(
        "recipes",
        "demo",
        PullSpec {
            title: title.into(),
            poster: "alice".into(),
            head_branch: head.into(),
            head_sha: sha(n),
            base_branch: "main".into(),
            base_sha: sha(1),
            ..PullSpec::default()
        },
    )
    .unwrap()
}

/// A webhook receiver on 127.0.0.1: answers every request with `status` after
/// `delay`, and keeps each request exactly as it arrived.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    pub fn start(status: u16, delay: Duration) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(vec![]));
        let keep = got.clone();
        // Lives as long as the test process; one request at a time, like the
        // fake's one delivery worker.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                if let Ok(req) = read_request(&stream) {
                    keep.lock().unwrap().push(req);
                }
                std::thread::sleep(delay);
                let _ = write_response(&stream, &Response::empty(status));
            }
        });
        Receiver { url, got }
    }

    pub fn received(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }
}

/// `owner/name`'s API path prefix.
pub fn repo_path(rest: &str) -> String {
    format!("/api/v1/repos/recipes/demo{rest}")
}
