//! The pages in a real browser: headless Chromium from Debian's `chromium`
//! package (scripts/rig.sh installs it), reading them over HTTP from a small
//! server of this test, at a phone's size. Screenshots are kept as artifacts
//! under `target/test-artifacts/ccci-report/` (or `$CCCI_TEST_ARTIFACTS`).
//!
//! Two honest witnesses, each proven by a control page: console messages
//! are read from Chromium's own log on stderr (`--enable-logging=stderr`),
//! where each is a `:CONSOLE` line (the pages have no script, so any such
//! line is something the page's CSP blocked or an error of the page); and
//! the test's server records every request with its status, so a resource
//! that failed to load shows as a 404 there (headless Chromium does not put
//! failed loads on its console log).

use crate::{World, assert_links_resolve, mixed, percent_decode};
use ccci_testkit::Scratch;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium() -> PathBuf {
    let p = PathBuf::from(CHROMIUM);
    assert!(
        p.is_file(),
        "{CHROMIUM} is missing: the browser tests need Debian's chromium package \
         (scripts/rig.sh installs it; by hand: apt-get install -y chromium)"
    );
    p
}

fn artifacts() -> PathBuf {
    let dir = match std::env::var_os("CCCI_TEST_ARTIFACTS") {
        Some(d) => PathBuf::from(d),
        // The test binary is <target>/<profile>/deps/report-<hash>.
        None => std::env::current_exe()
            .unwrap()
            .ancestors()
            .nth(3)
            .unwrap()
            .join("test-artifacts"),
    }
    .join("ccci-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Requests served: path and status code.
type Served = Arc<Mutex<Vec<(String, u16)>>>;

/// Serve `root` on a free loopback port, one thread per connection (a
/// browser may open a connection it never uses).
fn serve(root: PathBuf) -> (u16, Served) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Served::default();
    let log = served.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let (root, log) = (root.clone(), log.clone());
            std::thread::spawn(move || answer(&root, s, &log));
        }
    });
    (port, served)
}

fn answer(root: &Path, mut s: TcpStream, log: &Served) -> std::io::Result<()> {
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(s.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    // A connection the browser opened ahead and closed unused asks nothing.
    let Some(target) = first.split_whitespace().nth(1) else {
        return Ok(());
    };
    let path = percent_decode(target.split(['?', '#']).next().unwrap_or(""));
    let rel = path.trim_start_matches('/');
    let file = (!rel.split('/').any(|c| c == ".."))
        .then(|| root.join(rel))
        .filter(|p| p.is_file());
    let (status, kind, body) = match file.and_then(|f| std::fs::read(&f).ok().map(|b| (f, b))) {
        Some((f, b)) => {
            let kind = match f.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("css") => "text/css",
                Some("svg") => "image/svg+xml",
                Some("xml") => "application/xml",
                _ => "text/plain; charset=utf-8",
            };
            ("200 OK", kind, b)
        }
        None => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
    };
    let code = if status.starts_with("200") { 200 } else { 404 };
    log.lock().unwrap().push((path.clone(), code));
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(&body)
}

/// What Chromium made of a page: its DOM (or nothing, for a screenshot) and
/// the console lines of its log.
struct Visit {
    dom: String,
    console: Vec<String>,
}

/// Chromium as this machine requires it (no sandbox as root, no GPU, nothing
/// fetched on its own), with a fresh profile, and `what` to do.
fn browse(url: &str, what: &[&str]) -> Visit {
    let profile = Scratch::new("report-chromium");
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path.display()))
        .args(what)
        .arg(url)
        .output()
        .expect("run chromium");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium {what:?} {url}: {stderr}");
    Visit {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(String::from)
            .collect(),
    }
}

/// The paths that were requested and not found.
fn not_found(served: &Served) -> Vec<String> {
    let s = served.lock().unwrap();
    s.iter()
        .filter(|(_, c)| *c != 200)
        .map(|(p, _)| p.clone())
        .collect()
}

#[test]
fn the_witnesses_see_a_failed_load_and_a_blocked_script() {
    let w = World::new("report-browser-control");
    w.report(&["pages"]).assert_code(0);
    // A page like ours (same CSP) with a missing stylesheet and a script.
    let page = w.read("index.html").replace(
        "<h1>",
        "<link rel=\"stylesheet\" href=\"missing.css\"><script>document.title='ran'</script><h1>",
    );
    std::fs::write(w.www("control.html"), page).unwrap();
    let (port, served) = serve(w.www(""));
    let v = browse(
        &format!("http://127.0.0.1:{port}/control.html"),
        &["--dump-dom"],
    );
    assert!(
        !v.dom.contains("<title>ran</title>"),
        "the script ran: {}",
        v.dom
    );
    let all = v.console.join("\n");
    assert!(
        all.contains("Content Security Policy"),
        "no blocked script seen: {all}"
    );
    assert_eq!(not_found(&served), ["/missing.css"]);
    let ok = served
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, c)| *c == 200)
        .count();
    assert!(
        ok >= 2,
        "the page and its stylesheet: {:?}",
        served.lock().unwrap()
    );
}

#[test]
fn pages_render_in_chromium_with_working_links_and_no_console_errors() {
    let w = World::new("report-browser");
    let m = mixed(&w);
    w.report(&["pages"]).assert_code(0);
    let (port, served) = serve(w.www(""));
    let shots = artifacts();
    let pages = [
        ("index", "index.html".to_string()),
        ("recipe-demo", "recipes/demo/index.html".to_string()),
        ("run-green", format!("runs/{}/index.html", m.green)),
        ("run-red", format!("runs/{}/index.html", m.red)),
        (
            "run-interrupted",
            format!("runs/{}/index.html", m.interrupted),
        ),
        ("run-dependency", format!("runs/{}/index.html", m.with_dep)),
        ("run-running", format!("runs/{}/index.html", m.running)),
        ("badge-demo", "badges/demo.svg".to_string()),
    ];
    let mut fetched = vec![];
    for (name, rel) in &pages {
        let url = format!("http://127.0.0.1:{port}/{rel}");
        served.lock().unwrap().clear();
        let v = browse(&url, &["--dump-dom"]);
        assert!(v.console.is_empty(), "{rel}: console says {:#?}", v.console);
        if rel.ends_with(".html") {
            assert!(v.dom.contains("</main>"), "{rel}: {}", v.dom);
            assert!(assert_links_resolve(&w, rel, &v.dom) > 3, "{rel}");
        }
        let shot = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&shot);
        let v = browse(
            &url,
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=412,900",
                "--hide-scrollbars",
            ],
        );
        assert!(v.console.is_empty(), "{rel}: console says {:#?}", v.console);
        let png = std::fs::read(&shot).unwrap_or_default();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 1000,
            "{}",
            shot.display()
        );
        // Everything a page asked for was there. A bare SVG names no icon,
        // so the browser probes the server root for one: not our link.
        let missing = not_found(&served);
        if rel.ends_with(".html") {
            assert!(missing.is_empty(), "{rel}: not found {missing:?}");
        } else {
            assert!(
                missing.iter().all(|p| p == "/favicon.ico"),
                "{rel}: {missing:?}"
            );
        }
        fetched.extend(served.lock().unwrap().iter().map(|(p, _)| p.clone()));
    }
    for p in ["/style.css", "/favicon.svg", "/badges/demo.svg"] {
        assert!(fetched.iter().any(|x| x == p), "{p} was never loaded");
    }
    let dom = |rel: &str| browse(&format!("http://127.0.0.1:{port}/{rel}"), &["--dump-dom"]).dom;
    let green = dom(&format!("runs/{}/index.html", m.green));
    assert_eq!(green.matches("<tr class=\"tier\">").count(), 6);
    assert_eq!(green.matches("<tr class=\"test\">").count(), 7);
    assert!(green.contains("L5 green"));
    let red = dom(&format!("runs/{}/index.html", m.red));
    assert!(red.contains("L1 red"));
    // The test named like a script is text in the DOM, not an element.
    assert!(
        red.contains("demo/custom/&lt;script&gt;alert(\"x\")&lt;/script&gt;"),
        "{red}"
    );
    assert!(!red.contains("<script"));
    let running = dom(&format!("runs/{}/index.html", m.running));
    assert!(running.contains(r#"<meta http-equiv="refresh" content="10">"#));
    let recipe = dom("recipes/demo/index.html");
    assert_eq!(recipe.matches("<rect ").count(), 4);
    eprintln!("screenshots in {}", shots.display());
}
