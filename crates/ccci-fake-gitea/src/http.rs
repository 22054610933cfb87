//! Just enough HTTP/1.1 for an API server on 127.0.0.1: one request per
//! connection (`Connection: close`), bodies by `Content-Length` or chunked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// One parsed request. Header names are lowercased; `path` is still
/// percent-encoded, as routing splits it into segments before decoding.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response about to be written.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Gitea's JSON: compact, escaped as Go does, with the trailing newline
    /// `json.Encoder` adds.
    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        let mut body = go_escape(serde_json::to_string(v).unwrap_or_default()).into_bytes();
        body.push(b'\n');
        Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json;charset=utf-8".into(),
            )],
            body,
        }
    }

    /// A status with no body at all (Gitea's `ctx.Status(...)`).
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: vec![],
            body: vec![],
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        423 => "Locked",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Go's JSON text: `<`, `>`, `&`, U+2028 and U+2029 escaped (as `json.Marshal`
/// does by default). They only ever occur inside strings, so replacing them in
/// the encoded text is exact.
pub fn go_escape(json: String) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Read one request; `Err` carries the status to answer a malformed one with.
pub fn read_request(stream: &TcpStream) -> Result<Request, u16> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    let mut head = 0usize;
    let mut read_line = |r: &mut BufReader<&TcpStream>, line: &mut String| -> Result<(), u16> {
        line.clear();
        let n = r.read_line(line).map_err(|_| 400u16)?;
        head += n;
        if n == 0 || head > MAX_HEAD {
            return Err(400);
        }
        Ok(())
    };
    read_line(&mut r, &mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(400);
    }
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = vec![];
    loop {
        read_line(&mut r, &mut line)?;
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').ok_or(400u16)?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let body = if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut r)?
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().map_err(|_| 400u16)?;
        if len > MAX_BODY {
            return Err(413);
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).map_err(|_| 400u16)?;
        body
    } else {
        vec![]
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (target.clone(), vec![]),
    };
    Ok(Request {
        method,
        target,
        path,
        query,
        headers,
        body,
    })
}

fn read_chunked(r: &mut BufReader<&TcpStream>) -> Result<Vec<u8>, u16> {
    let mut body = vec![];
    loop {
        let mut size = String::new();
        r.read_line(&mut size).map_err(|_| 400u16)?;
        let hex = size.trim().split(';').next().unwrap_or("");
        let n = usize::from_str_radix(hex, 16).map_err(|_| 400u16)?;
        if body.len() + n > MAX_BODY {
            return Err(413);
        }
        let mut chunk = vec![0; n + 2];
        if n == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                let mut t = String::new();
                r.read_line(&mut t).map_err(|_| 400u16)?;
                if t.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        r.read_exact(&mut chunk).map_err(|_| 400u16)?;
        body.extend_from_slice(&chunk[..n]);
    }
}

pub fn write_response(mut stream: &TcpStream, resp: &Response) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        resp.body.len()
    ));
    stream.write_all(out.as_bytes())?;
    stream.write_all(&resp.body)?;
    stream.flush()
}

/// Decode `%XX` (and `+` as space when `plus` is set, as in a query).
pub fn percent_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for &c in s.as_bytes() {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(c as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{c:02X}")),
        }
    }
    out
}

/// Go's `url.Values.Encode`: keys sorted, each key's values in the order sent.
pub fn encode_query(q: &[(String, String)]) -> String {
    let mut keys: Vec<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut parts = vec![];
    for k in keys {
        for (_, v) in q.iter().filter(|(kk, _)| kk == k) {
            parts.push(format!("{}={}", query_escape(k), query_escape(v)));
        }
    }
    parts.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_like_go() {
        assert_eq!(
            go_escape(r#"{"body":"a < b && c > d"}"#.into()),
            r#"{"body":"a \u003c b \u0026\u0026 c \u003e d"}"#
        );
    }

    #[test]
    fn query_round_trip_like_go() {
        let q =
            parse_query("state=open&limit=10&page=2&since=2026-07-27T10%3A00%3A00%2B02%3A00&x=a+b");
        assert_eq!(q[3].1, "2026-07-27T10:00:00+02:00");
        assert_eq!(q[4].1, "a b");
        assert_eq!(
            encode_query(&q),
            "limit=10&page=2&since=2026-07-27T10%3A00%3A00%2B02%3A00&state=open&x=a+b"
        );
        assert_eq!(percent_decode("a%2Fb%zz%", false), "a/b%zz%");
    }
}
