//! Scripted faults: what a failing Gitea, or the proxy in front of it, does to
//! a client (docs/gitea.md, the fake).

mod common;

use ccci_fake_gitea::Fault;
use common::*;
use std::time::{Duration, Instant};

const PULLS: &str = "/api/v1/repos/recipes/demo/pulls";

#[test]
fn a_proxy_page_instead_of_json() {
    let f = world();
    let page = "<html><body><h1>502 Bad Gateway</h1></body></html>\n";
    f.fault(
        Fault::status(502)
            .html(page)
            .method("GET")
            .path("/pulls")
            .times(2),
    );
    for _ in 0..2 {
        let r = get(&f, PULLS, None);
        assert_eq!(r.status, 502);
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.body, page);
    }
    assert_eq!(get(&f, PULLS, None).status, 200, "used up after two");
    // Plain text and extra headers, e.g. a rate limiter's.
    f.fault(
        Fault::status(429)
            .text("slow down")
            .header("Retry-After", "7"),
    );
    let r = get(&f, "/api/v1/version", None);
    assert_eq!(
        (r.status, r.body.as_str(), r.header("Retry-After")),
        (429, "slow down", Some("7"))
    );
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    // Without a body: Gitea's own JSON error, message hidden.
    f.fault(Fault::status(500));
    let r = get(&f, PULLS, None);
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["message"], "");
    // Faults show in the request log with what they answered.
    let log = f.requests();
    assert_eq!(
        log.iter().map(|l| l.status).collect::<Vec<_>>(),
        [502, 502, 200, 429, 500]
    );
}

#[test]
fn latency_makes_clients_time_out() {
    let f = world();
    f.fault(Fault::latency(Duration::from_millis(800)).path("/pulls"));
    let slow = std::thread::scope(|s| {
        let slow = s.spawn(|| get_within(&f, PULLS, Duration::from_millis(200)));
        // The delay holds no lock: others are served meanwhile.
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        assert_eq!(get(&f, "/api/v1/version", None).status, 200);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        slow.join().unwrap()
    });
    let e = slow.err().expect("the client gave up");
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    // A delayed error, and a delayed success a patient client gets.
    f.fault(Fault::status(504).delay(Duration::from_millis(100)));
    let t = Instant::now();
    assert_eq!(get(&f, PULLS, None).status, 504);
    assert!(t.elapsed() >= Duration::from_millis(100));
    f.fault(Fault::latency(Duration::from_millis(100)));
    assert_eq!(get(&f, PULLS, None).status, 200);
}

#[test]
fn a_200_with_broken_json() {
    let f = world();
    pull(&f, "x", "x", 2);
    let whole = get(&f, PULLS, None).body;
    f.fault(Fault::truncated().path("/pulls"));
    let r = get(&f, PULLS, None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
    assert!(whole.starts_with(&r.body) && r.body.len() < whole.len());
    assert!(serde_json::from_str::<serde_json::Value>(&r.body).is_err());
    // Or any body at all.
    f.fault(Fault::status(200).body("application/json", "{\"id\": 1,"));
    let r = get(&f, PULLS, None);
    assert_eq!((r.status, r.body.as_str()), (200, "{\"id\": 1,"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
}

#[test]
fn a_storm_lasts_its_time() {
    let f = world();
    f.fail_for(
        Some("GET"),
        "/pulls",
        503,
        Some("Service Unavailable"),
        Duration::from_millis(300),
    );
    for _ in 0..5 {
        let r = get(&f, PULLS, None);
        assert_eq!((r.status, r.body.as_str()), (503, "Service Unavailable"));
    }
    // Other methods and paths are not caught.
    assert_eq!(get(&f, "/api/v1/version", None).status, 200);
    let r = send(&f, "PATCH", &format!("{PULLS}/9"), Some("bot-token"), "{}");
    assert_eq!(r.status, 404);
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(get(&f, PULLS, None).status, 200);
    // The builder form, with Gitea's JSON error.
    f.fault(Fault::status(502).for_duration(Duration::from_secs(60)));
    for _ in 0..3 {
        let r = get(&f, "/api/v1/version", None);
        assert_eq!((r.status, r.json()["message"].as_str()), (502, Some("")));
    }
}

#[test]
fn faults_apply_in_the_order_added() {
    let f = world();
    f.fail(Some("GET"), "/pulls", 500, 1);
    f.fail(None, "/pulls", 503, 1);
    f.fail(Some("GET"), "/pulls", 502, 0); // never
    let statuses: Vec<u16> = (0..3).map(|_| get(&f, PULLS, None).status).collect();
    assert_eq!(statuses, [500, 503, 200]);
}
