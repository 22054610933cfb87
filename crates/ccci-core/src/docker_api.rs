//! A minimal Docker Engine API client over the local unix socket, for the one hot
//! path: watching a stack converge. Two small HTTP requests per tick instead of
//! three `docker` processes keep the watcher from competing with the swarm for
//! CPU on a small host. Everything else goes through the CLI (see `docker.rs`),
//! which is also the fallback whenever the engine is not local (a context or a
//! `tcp://`/`ssh://` DOCKER_HOST).

use crate::exit;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Api {
    socket: PathBuf,
}

impl Api {
    /// The local socket, when the CLI would talk to one (no context, no remote host).
    pub fn local(context: &str) -> Option<Api> {
        if !context.is_empty() && context != "default" {
            return None;
        }
        if std::env::var("DOCKER_CONTEXT").is_ok_and(|c| !c.is_empty() && c != "default") {
            return None;
        }
        // `docker context use X` is stored as currentContext in the CLI's config.
        let config_dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        if let Some(dir) = config_dir
            && let Ok(text) = std::fs::read_to_string(dir.join("config.json"))
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && v["currentContext"]
                .as_str()
                .is_some_and(|c| !c.is_empty() && c != "default")
        {
            return None;
        }
        let socket = match std::env::var("DOCKER_HOST") {
            Ok(h) if !h.is_empty() => PathBuf::from(h.strip_prefix("unix://")?),
            _ => PathBuf::from("/var/run/docker.sock"),
        };
        Some(Api { socket })
    }

    /// GET a path and parse the JSON body.
    pub fn get(&self, path: &str) -> Result<Value> {
        let mut s = UnixStream::connect(&self.socket).map_err(|e| {
            exit::tempfail(format!(
                "Docker is unreachable: cannot connect to {}: {e}",
                self.socket.display()
            ))
        })?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .context("reading the Docker API response")?;
        let (status, body) = parse_response(&raw)?;
        if status == 200 {
            return serde_json::from_slice(&body).context("the Docker API returned invalid JSON");
        }
        let msg = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        if status >= 500 {
            return Err(exit::tempfail(format!("Docker API {path}: {status} {msg}")));
        }
        bail!("Docker API {path}: {status} {msg}")
    }

    /// Services carrying a label (`key=value`).
    pub fn services_with_label(&self, label: &str) -> Result<Vec<Value>> {
        let filters = serde_json::json!({ "label": [label] }).to_string();
        Ok(as_array(
            self.get(&format!("/services?filters={}", encode(&filters)))?,
        ))
    }

    /// Every task (history included) of the given services.
    pub fn tasks_of(&self, service_ids: &[String]) -> Result<Vec<Value>> {
        if service_ids.is_empty() {
            return Ok(vec![]);
        }
        let filters = serde_json::json!({ "service": service_ids }).to_string();
        Ok(as_array(
            self.get(&format!("/tasks?filters={}", encode(&filters)))?,
        ))
    }
}

fn as_array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        _ => vec![],
    }
}

/// Percent-encode a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Split an HTTP/1.1 response into status and body, undoing chunked encoding.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("malformed HTTP response from Docker")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .context("malformed HTTP status line from Docker")?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("malformed chunk in Docker response")?;
        let size_str = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
            .context("malformed chunk size in Docker response")?;
        rest = &rest[eol + 2..];
        if size == 0 {
            break;
        }
        if rest.len() < size {
            bail!("truncated chunk in Docker response");
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    Ok((status, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";
        assert_eq!(parse_response(plain).unwrap(), (200, b"[]".to_vec()));
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            (404, b"{\"a\":1}".to_vec())
        );
    }

    #[test]
    fn encodes_query() {
        assert_eq!(
            encode("{\"a\":[\"b=c\"]}"),
            "%7B%22a%22%3A%5B%22b%3Dc%22%5D%7D"
        );
    }

    #[test]
    fn remote_hosts_use_the_cli() {
        assert!(Api::local("prod-server").is_none());
    }
}
