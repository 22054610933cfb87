//! Outgoing webhooks: payloads, headers and signatures as Gitea sends them
//! (docs/gitea.md, the fake), checked at a real receiver.

mod common;

use ccci_fake_gitea::{Delivery, FakeGitea, State, sign, sign_sha1};
use common::*;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

fn actions(d: &[Delivery]) -> Vec<String> {
    d.iter()
        .map(|d| d.json()["action"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn is_uuid_v4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts[2].starts_with('4')
        && s.bytes()
            .all(|c| c == b'-' || matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

#[test]
fn a_comment_through_the_api_is_delivered_signed() {
    let f = world();
    let n = pull(&f, "Fix the thing", "fix", 2);
    let rx = Receiver::start(200, Duration::ZERO);
    f.add_webhook("recipes", "demo", &rx.url, Some("s3cr3t"), false)
        .unwrap();
    let r = send(
        &f,
        "POST",
        &repo_path(&format!("/issues/{n}/comments")),
        Some("bot-token"),
        r#"{"body":"!testme <now> & then"}"#,
    );
    assert_eq!(r.status, 201);
    let sent = f.wait_deliveries(1, WAIT).unwrap();
    let d = &sent[0];
    assert_eq!(d.outcome, Ok(200));
    assert_eq!(d.url, rx.url);

    // The receiver got exactly what was recorded, and it verifies.
    let got = &rx.received()[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/hook");
    assert_eq!(got.body, d.body.as_bytes());
    let h = |k: &str| {
        got.header(&k.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no {k}"))
    };
    assert_eq!(h("X-Gitea-Signature"), sign("s3cr3t", &got.body));
    assert_eq!(h("X-Gogs-Signature"), h("X-Gitea-Signature"));
    assert_eq!(
        h("X-Hub-Signature-256"),
        format!("sha256={}", sign("s3cr3t", &got.body))
    );
    assert_eq!(
        h("X-Hub-Signature"),
        format!("sha1={}", sign_sha1("s3cr3t", &got.body))
    );
    let id = h("X-Gitea-Delivery");
    assert!(is_uuid_v4(id), "{id}");
    for k in ["X-Gogs-Delivery", "X-GitHub-Delivery"] {
        assert_eq!(h(k), id, "{k}");
    }
    for k in ["X-Gitea-Event", "X-Gogs-Event", "X-GitHub-Event"] {
        assert_eq!(h(k), "issue_comment", "{k}");
    }
    for k in [
        "X-Gitea-Event-Type",
        "X-Gogs-Event-Type",
        "X-GitHub-Event-Type",
    ] {
        assert_eq!(h(k), "pull_request_comment", "{k}");
    }
    for k in [
        "X-Gitea-Hook-Installation-Target-Type",
        "X-GitHub-Hook-Installation-Target-Type",
    ] {
        assert_eq!(h(k), "repository", "{k}");
    }
    assert_eq!(h("Content-Type"), "application/json");
    assert_eq!(h("User-Agent"), "Go-http-client/1.1");
    assert!(got.header("x-forgejo-event").is_none());
    // The recorded headers are the ones sent, in the order sent.
    let names: Vec<String> = d
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    let wire: Vec<String> = got.headers.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(names, wire);

    // Go's MarshalIndent: two spaces, no trailing newline, HTML escaped.
    assert!(
        d.body.starts_with("{\n  \"action\": \"created\",\n"),
        "{}",
        d.body
    );
    assert!(!d.body.ends_with('\n'));
    assert!(d.body.contains(r#""!testme \u003cnow\u003e \u0026 then""#));
    let p = d.json();
    assert_eq!(p["is_pull"], true);
    assert_eq!(p["comment"]["id"], r.json()["id"]);
    assert_eq!(p["comment"], r.json(), "the comment as the API shows it");
    assert_eq!(p["sender"]["login"], "ci-bot");
    assert_eq!(p["issue"]["number"], n);
    assert_eq!(p["issue"]["title"], "Fix the thing");
    assert_eq!(p["issue"]["comments"], 1);
    let html = format!("{}recipes/demo/pulls/{n}", f.root_url());
    assert_eq!(p["issue"]["html_url"], html);
    assert_eq!(p["issue"]["pull_request"]["html_url"], html);
    assert_eq!(p["issue"]["pull_request"]["merged"], false);
    assert_eq!(
        p["issue"]["url"],
        format!("{}api/v1/repos/recipes/demo/issues/{n}", f.root_url())
    );
    assert_eq!(p["issue"]["repository"]["full_name"], "recipes/demo");
    assert_eq!(p["pull_request"]["number"], n);
    assert_eq!(p["pull_request"]["head"]["sha"], sha(2));
    assert_eq!(p["repository"]["full_name"], "recipes/demo");
    assert_eq!(p["repository"]["permissions"]["push"], true, "the sender's");
    assert!(p.get("changes").is_none());
}

#[test]
fn edits_and_deletions_through_helpers_and_the_api() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let rx = Receiver::start(204, Duration::ZERO);
    f.add_webhook("recipes", "demo", &rx.url, Some("k"), false)
        .unwrap();
    let id = f
        .add_comment("recipes", "demo", n, "alice", "!testme")
        .unwrap();
    f.edit_comment(id, "alice", "!testme again").unwrap();
    f.edit_comment(id, "alice", "!testme again").unwrap(); // unchanged: no event
    let path = repo_path(&format!("/issues/comments/{id}"));
    // Through the API: the same body again sends nothing either.
    send(
        &f,
        "PATCH",
        &path,
        Some("alice-token"),
        r#"{"body":"!testme again"}"#,
    );
    send(
        &f,
        "PATCH",
        &path,
        Some("bot-token"),
        r#"{"body":"edited"}"#,
    );
    assert_eq!(
        call_auth(&f, "DELETE", &path, Some("bot-token")).status,
        204
    );
    let other = f
        .add_comment("recipes", "demo", n, "reader", "bye")
        .unwrap();
    f.delete_comment(other).unwrap();
    let d = f.wait_deliveries(6, WAIT).unwrap();
    assert_eq!(
        actions(&d),
        [
            "created", "edited", "edited", "deleted", "created", "deleted"
        ]
    );
    assert!(d.iter().all(|d| d.outcome == Ok(204)));
    let edited = d[1].json();
    assert_eq!(edited["changes"]["body"]["from"], "!testme");
    assert_eq!(edited["comment"]["body"], "!testme again");
    assert_eq!(edited["sender"]["login"], "alice");
    let by_bot = d[2].json();
    assert_eq!(by_bot["changes"]["body"]["from"], "!testme again");
    assert_eq!(by_bot["sender"]["login"], "ci-bot");
    assert_eq!(by_bot["comment"]["user"]["login"], "alice");
    let deleted = d[3].json();
    assert_eq!(deleted["comment"]["id"], id);
    assert_eq!(deleted["comment"]["body"], "edited");
    assert_eq!(deleted["sender"]["login"], "ci-bot");
    assert_eq!(
        d[5].json()["sender"]["login"],
        "reader",
        "the author deletes"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(f.deliveries().len(), 6, "nothing more");
}

#[test]
fn forgejo_hooks_and_hooks_without_a_secret() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let rx = Receiver::start(200, Duration::ZERO);
    f.add_webhook("recipes", "demo", &rx.url, None, true)
        .unwrap();
    f.add_comment("recipes", "demo", n, "alice", "hi").unwrap();
    let d = &f.wait_deliveries(1, WAIT).unwrap()[0];
    let id = d.header("X-Gitea-Delivery").unwrap();
    assert_eq!(d.header("X-Forgejo-Delivery"), Some(id));
    assert_eq!(d.header("X-Forgejo-Event"), Some("issue_comment"));
    assert_eq!(
        d.header("X-Forgejo-Event-Type"),
        Some("pull_request_comment")
    );
    // No secret: the signature headers are there, empty.
    assert_eq!(d.header("X-Forgejo-Signature"), Some(""));
    assert_eq!(d.header("X-Gitea-Signature"), Some(""));
    assert_eq!(d.header("X-Hub-Signature"), Some("sha1="));
    assert_eq!(d.header("X-Hub-Signature-256"), Some("sha256="));
    assert_eq!(d.header("X-Gitea-Hook-Installation-Target-Type"), None);
    assert_eq!(d.header("X-GitHub-Hook-Installation-Target-Type"), None);
    assert_eq!(
        rx.received()[0].header("x-forgejo-signature"),
        Some(""),
        "sent, empty"
    );
}

#[test]
fn comments_on_issues_are_issue_comment_events() {
    let f = world();
    let issue = f.open_issue("recipes", "demo", "alice", "Bug").unwrap();
    let rx = Receiver::start(200, Duration::ZERO);
    f.add_webhook("recipes", "demo", &rx.url, Some("k"), false)
        .unwrap();
    f.add_comment("recipes", "demo", issue, "reader", "same")
        .unwrap();
    let d = &f.wait_deliveries(1, WAIT).unwrap()[0];
    assert_eq!(d.header("X-Gitea-Event"), Some("issue_comment"));
    assert_eq!(d.header("X-Gitea-Event-Type"), Some("issue_comment"));
    let p = d.json();
    assert_eq!(p["is_pull"], false);
    assert!(p.get("pull_request").is_none());
    assert!(p["issue"]["pull_request"].is_null());
    assert_eq!(
        p["issue"]["html_url"],
        format!("{}recipes/demo/issues/{issue}", f.root_url())
    );
    assert_eq!(p["comment"]["pull_request_url"], "");
}

#[test]
fn pull_requests_closed_merged_and_reopened() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let rx = Receiver::start(200, Duration::ZERO);
    f.add_webhook("recipes", "demo", &rx.url, Some("k"), false)
        .unwrap();
    let path = repo_path(&format!("/pulls/{n}"));
    let patch = |body: &str| send(&f, "PATCH", &path, Some("bot-token"), body).status;
    assert_eq!(patch(r#"{"state":"closed"}"#), 201);
    assert_eq!(patch(r#"{"state":"closed"}"#), 201); // no change, no event
    assert_eq!(patch(r#"{"title":"renamed"}"#), 201); // not a state change
    assert_eq!(patch(r#"{"state":"open"}"#), 201);
    f.set_pull_state("recipes", "demo", n, State::Closed)
        .unwrap();
    f.set_pull_state("recipes", "demo", n, State::Open).unwrap();
    f.merge_pull("recipes", "demo", n, &sha(9), "ci-bot")
        .unwrap();
    let d = f.wait_deliveries(5, WAIT).unwrap();
    assert_eq!(
        actions(&d),
        ["closed", "reopened", "closed", "reopened", "closed"]
    );
    for x in &d {
        assert_eq!(x.header("X-Gitea-Event"), Some("pull_request"));
        assert_eq!(x.header("X-Gitea-Event-Type"), Some("pull_request"));
    }
    let closed = d[0].json();
    assert_eq!(closed["number"], n);
    assert_eq!(closed["pull_request"]["state"], "closed");
    assert_eq!(closed["sender"]["login"], "ci-bot");
    assert_eq!(closed["commit_id"], "");
    assert!(closed["review"].is_null() && closed["requested_reviewer"].is_null());
    assert_eq!(d[1].json()["pull_request"]["state"], "open");
    assert_eq!(
        d[2].json()["sender"]["login"],
        "alice",
        "the web UI, as the author"
    );
    let merged = d[4].json();
    assert_eq!(merged["pull_request"]["merged"], true);
    assert_eq!(merged["pull_request"]["title"], "renamed");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(f.deliveries().len(), 5);
}

#[test]
fn failures_are_recorded_and_never_retried() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let broken = Receiver::start(500, Duration::ZERO);
    let slow = Receiver::start(200, Duration::from_millis(600));
    let nobody = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    for url in [&broken.url, &slow.url, &nobody] {
        f.add_webhook("recipes", "demo", url, Some("k"), false)
            .unwrap();
    }
    f.set_deliver_timeout(Duration::from_millis(200));
    f.add_comment("recipes", "demo", n, "alice", "!testme")
        .unwrap();
    let d = f.wait_deliveries(3, WAIT).unwrap();
    assert_eq!(d[0].outcome, Ok(500));
    let timed_out = d[1].outcome.clone().unwrap_err();
    assert!(timed_out.contains("no answer within"), "{timed_out}");
    assert!(d[2].outcome.is_err(), "{:?}", d[2].outcome);
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(f.deliveries().len(), 3, "no retries");
    assert_eq!(broken.received().len(), 1);
}

#[test]
fn redelivery_sends_the_same_body_with_a_new_id() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let rx = Receiver::start(200, Duration::ZERO);
    f.add_webhook("recipes", "demo", &rx.url, Some("s3cr3t"), false)
        .unwrap();
    f.add_comment("recipes", "demo", n, "alice", "!testme")
        .unwrap();
    f.wait_deliveries(1, WAIT).unwrap();
    f.redeliver(0).unwrap();
    let d = f.wait_deliveries(2, WAIT).unwrap();
    assert_eq!(d[1].body, d[0].body);
    assert_eq!(
        d[1].header("X-Gitea-Signature"),
        d[0].header("X-Gitea-Signature")
    );
    let (a, b) = (
        d[0].header("X-Gitea-Delivery"),
        d[1].header("X-Gitea-Delivery"),
    );
    assert_ne!(a, b);
    assert!(is_uuid_v4(b.unwrap()));
    assert_eq!(rx.received().len(), 2);
    assert!(f.redeliver(7).is_err());
}

#[test]
fn deliveries_never_hold_up_the_api() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let slow = Receiver::start(200, Duration::from_millis(700));
    f.add_webhook("recipes", "demo", &slow.url, None, false)
        .unwrap();
    let t = Instant::now();
    let r = send(
        &f,
        "POST",
        &repo_path(&format!("/issues/{n}/comments")),
        Some("bot-token"),
        r#"{"body":"!testme"}"#,
    );
    assert_eq!(r.status, 201);
    assert_eq!(get(&f, &repo_path("/issues/comments"), None).status, 200);
    f.add_comment("recipes", "demo", n, "alice", "more")
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(f.deliveries().is_empty(), "still delivering");
    assert!(f.wait_deliveries(2, WAIT).is_ok());
    // Waiting for more than will come says so.
    let e = f.wait_deliveries(3, Duration::from_millis(50)).unwrap_err();
    assert!(e.0.contains("2 webhook deliveries"), "{e}");
}

#[test]
fn only_the_repositorys_own_hooks_hear_of_it() {
    let f: FakeGitea = world();
    f.add_repo("recipes", "other").unwrap();
    let n = pull(&f, "x", "x", 2);
    let rx = Receiver::start(200, Duration::ZERO);
    f.add_webhook("recipes", "other", &rx.url, None, false)
        .unwrap();
    f.add_comment("recipes", "demo", n, "alice", "hi").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(f.deliveries().is_empty());
    assert!(
        f.add_webhook("recipes", "none", &rx.url, None, false)
            .is_err()
    );
}
