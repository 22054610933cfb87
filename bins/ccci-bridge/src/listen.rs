//! The bridge's HTTP listener: webhook deliveries in, run pages out.
//!
//! `POST /hooks/gitea` takes a signed delivery (202 queued for a decision,
//! 204 an event that cannot trigger, 401 unsigned or wrongly signed, 400
//! unreadable, 413 too large). `GET` serves the static pages under
//! `<state>/www/` read-only: no directory listings, no path outside that
//! folder (`..`, symlinks leading out and encoded tricks are 404). Anything
//! else is 405. One short-lived thread per connection; every connection is
//! closed after one answer.

use crate::webhook::{self, Event};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// Bodies larger than this are not webhooks we expect (Gitea's comment
/// payload is a few kilobytes).
const MAX_BODY: usize = 1 << 20;
const MAX_HEAD: usize = 16 << 10;
/// Connections served at once; Gitea delivers one at a time.
const MAX_CONNECTIONS: usize = 64;
/// A whole request must arrive within this, however slowly it trickles.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

pub struct Listener {
    pub addr: std::net::SocketAddr,
}

/// Bind `addr` and serve in the background; events go to `tx`.
pub fn start(
    addr: &str,
    secret: Vec<u8>,
    www: PathBuf,
    tx: Sender<Event>,
) -> anyhow::Result<Listener> {
    let l = TcpListener::bind(addr)
        .map_err(|e| ccci_core::exit::usage(format!("cannot listen on {addr}: {e}")))?;
    let bound = l.local_addr()?;
    let secret = std::sync::Arc::new(secret);
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            // A flood of slow clients gets a quick 503, not a thread each.
            if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = respond(&mut conn, 503, "text/plain", b"busy\n");
                continue;
            }
            open.fetch_add(1, Ordering::SeqCst);
            let (secret, www, tx, open) = (secret.clone(), www.clone(), tx.clone(), open.clone());
            std::thread::spawn(move || {
                let _ = handle(conn, &secret, &www, &tx);
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Ok(Listener { addr: bound })
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

fn handle(mut s: TcpStream, secret: &[u8], www: &Path, tx: &Sender<Event>) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let req = match read_request(&mut s) {
        Ok(r) => r,
        Err(code) => return respond(&mut s, code, "text/plain", b"bad request\n"),
    };
    match req.method.as_str() {
        "POST" if req.path == "/hooks/gitea" => {
            let header = |n: &str| req.header(n);
            if let Err(webhook::Refusal::Unsigned(why)) = webhook::verify(secret, header, &req.body)
            {
                ccci_core::log::warn(&format!("webhook refused: {why}"));
                return respond(&mut s, 401, "text/plain", format!("{why}\n").as_bytes());
            }
            let event = req
                .header("x-forgejo-event")
                .or_else(|| req.header("x-gitea-event"));
            match webhook::parse(event.as_deref(), &req.body) {
                Ok(Some(ev)) => {
                    let ok = tx.send(ev).is_ok();
                    let code = if ok { 202 } else { 503 };
                    respond(&mut s, code, "text/plain", b"")
                }
                Ok(None) => respond(&mut s, 204, "text/plain", b""),
                Err(webhook::Refusal::Malformed(m)) => {
                    ccci_core::log::warn(&format!("webhook skipped: {m}"));
                    respond(&mut s, 400, "text/plain", format!("{m}\n").as_bytes())
                }
                Err(webhook::Refusal::Unsigned(_)) => respond(&mut s, 401, "text/plain", b""),
            }
        }
        // `/runs/<id>` names a folder: its page's relative links need the slash.
        "GET" | "HEAD" if !req.path.ends_with('/') && is_dir(www, &req.path) => {
            redirect(&mut s, &format!("{}/", req.path))
        }
        "GET" | "HEAD" => match static_file(www, &req.path) {
            Some((p, ctype)) => match std::fs::read(&p) {
                Ok(bytes) => {
                    let body = if req.method == "HEAD" {
                        &[][..]
                    } else {
                        &bytes[..]
                    };
                    respond(&mut s, 200, ctype, body)
                }
                Err(_) => respond(&mut s, 404, "text/plain", b"not found\n"),
            },
            None => respond(&mut s, 404, "text/plain", b"not found\n"),
        },
        _ => respond(&mut s, 405, "text/plain", b"method not allowed\n"),
    }
}

fn read_request(s: &mut TcpStream) -> Result<Request, u16> {
    let started = std::time::Instant::now();
    let late = || started.elapsed() > REQUEST_DEADLINE;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
        if late() {
            return Err(408);
        }
        let n = s.read(&mut chunk).map_err(|_| 408u16)?;
        if n == 0 {
            return Err(400);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| 400u16)?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    if method.is_empty() || !target.starts_with('/') {
        return Err(400);
    }
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let find = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n));
    if find("transfer-encoding").is_some() {
        return Err(411);
    }
    let len: usize = match find("content-length") {
        Some((_, v)) => v.parse().map_err(|_| 400u16)?,
        None => 0,
    };
    if len > MAX_BODY {
        return Err(413);
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        if late() {
            return Err(408);
        }
        let n = s.read(&mut chunk).map_err(|_| 408u16)?;
        if n == 0 {
            return Err(400);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    Ok(Request {
        method: method.to_string(),
        path,
        headers,
        body,
    })
}

fn is_dir(www: &Path, url_path: &str) -> bool {
    static_file(www, url_path).is_some()
        && percent_decode(url_path).is_some_and(|d| www.join(d.trim_start_matches('/')).is_dir())
}

fn redirect(s: &mut TcpStream, to: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 301 Moved Permanently\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes())?;
    s.flush()
}

fn respond(s: &mut TcpStream, code: u16, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()
}

/// The file under `www` a URL path names, and its content type; `None` for
/// anything outside `www` or not a regular file.
pub fn static_file(www: &Path, url_path: &str) -> Option<(PathBuf, &'static str)> {
    let decoded = percent_decode(url_path)?;
    let mut p = www.to_path_buf();
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." || seg.starts_with('.') || seg.contains(['\\', '\0']) {
            return None;
        }
        p.push(seg);
    }
    if p.is_dir() {
        p.push("index.html");
    }
    // Symlinks may not lead out of the folder.
    let real = p.canonicalize().ok()?;
    let root = www.canonicalize().ok()?;
    if !real.starts_with(&root) || !real.is_file() {
        return None;
    }
    let ctype = match real.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    };
    Some((real, ctype))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_paths_stay_inside() {
        let d = std::env::temp_dir().join(format!("ccci-bridge-www-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("www/runs/r1")).unwrap();
        std::fs::write(d.join("www/index.html"), "i").unwrap();
        std::fs::write(d.join("www/runs/r1/index.html"), "r").unwrap();
        std::fs::write(d.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(d.join("secret"), d.join("www/link")).unwrap();
        let www = d.join("www");
        assert!(static_file(&www, "/").is_some());
        assert!(static_file(&www, "/runs/r1/").is_some());
        assert_eq!(
            static_file(&www, "/runs/r1/index.html").unwrap().1,
            "text/html; charset=utf-8"
        );
        for bad in [
            "/../secret",
            "/%2e%2e/secret",
            "/runs/../../secret",
            "/link",
            "/.hidden",
            "/%zz",
            "/nope",
        ] {
            assert!(static_file(&www, bad).is_none(), "{bad}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
