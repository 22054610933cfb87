//! The fake's behaviour, request by request, against what docs/gitea.md says
//! Gitea does.

mod common;

use ccci_fake_gitea::State;
use common::*;

const PULLS: &str = "/api/v1/repos/recipes/demo/pulls";

#[test]
fn version_is_public_compact_json() {
    let f = world();
    let r = get(&f, "/api/v1/version", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(r.body, "{\"version\":\"1.27.1\"}\n");
}

#[test]
fn every_token_form_gitea_accepts() {
    let f = world();
    // base64("alice-token:"), base64("alice-token:x-oauth-basic"), base64("alice:alice-token")
    let forms = [
        "token alice-token",
        "Bearer alice-token",
        "bEaReR alice-token",
        "TOKEN alice-token",
        "Basic YWxpY2UtdG9rZW46",
        "Basic YWxpY2UtdG9rZW46eC1vYXV0aC1iYXNpYw==",
        "Basic YWxpY2U6YWxpY2UtdG9rZW4=",
    ];
    for h in forms {
        let r = call(&f, "GET", "/api/v1/user", &[("Authorization", h)], None);
        assert_eq!(r.status, 200, "{h}: {}", r.body);
        assert_eq!(r.json()["login"], "alice", "{h}");
        assert_eq!(r.json()["username"], "alice", "{h}");
    }
    for q in ["token", "access_token"] {
        let r = get(&f, &format!("/api/v1/user?{q}=alice-token"), None);
        assert_eq!(r.json()["login"], "alice", "{q}");
    }
    // Three fields is not a token header: anonymous, and /user needs a token.
    let r = call(
        &f,
        "GET",
        "/api/v1/user",
        &[("Authorization", "token a b")],
        None,
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "token is required");
}

#[test]
fn a_bad_token_is_401_before_routing() {
    let f = world();
    for path in [
        "/api/v1/version",
        "/api/v1/repos/recipes/demo",
        "/api/v1/nowhere",
    ] {
        let r = get(&f, path, Some("wrong"));
        assert_eq!(r.status, 401, "{path}");
        let j = r.json();
        assert_eq!(j["message"], "invalid username, password or token");
        assert_eq!(j["url"], format!("{}api/swagger", f.root_url()));
    }
}

#[test]
fn writes_and_user_need_a_token() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let r = send(
        &f,
        "POST",
        &format!("/api/v1/repos/recipes/demo/issues/{n}/comments"),
        None,
        r#"{"body":"hi"}"#,
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "token is required");
    let r = send(
        &f,
        "PATCH",
        &format!("{PULLS}/{n}"),
        None,
        r#"{"state":"closed"}"#,
    );
    assert_eq!(r.status, 401);
    assert_eq!(get(&f, "/api/v1/user", None).status, 401);
    // Reading a public repository needs nothing.
    assert_eq!(get(&f, PULLS, None).status, 200);
}

#[test]
fn private_repositories_are_404_to_those_who_cannot_see_them() {
    let f = world();
    f.set_private("recipes", "demo", true).unwrap();
    for tok in [None, Some("reader-token")] {
        let r = get(&f, "/api/v1/repos/recipes/demo", tok);
        assert_eq!(r.status, 404, "{tok:?}");
        assert_eq!(r.json()["message"], "not found");
    }
    let r = get(&f, "/api/v1/repos/recipes/demo", Some("bot-token"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["permissions"]["push"], true);
    assert_eq!(r.json()["permissions"]["admin"], false);
    // Names match case-insensitively.
    assert_eq!(
        get(&f, "/api/v1/repos/Recipes/DEMO", Some("bot-token")).status,
        200
    );
}

#[test]
fn token_scopes_are_enforced_before_the_repository_is_looked_up() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    f.add_token("ci-bot", "read-repo", Some(&["read:repository"]));
    f.add_token("ci-bot", "write-issue", Some(&["write:issue"]));
    assert_eq!(get(&f, PULLS, Some("read-repo")).status, 200);
    let r = send(
        &f,
        "PATCH",
        &format!("{PULLS}/{n}"),
        Some("read-repo"),
        r#"{"state":"closed"}"#,
    );
    assert_eq!(r.status, 403);
    let msg = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with(
            "token does not have at least one of required scope(s), required=[write:repository]"
        ),
        "{msg}"
    );
    // Scope first: even a repository that does not exist answers 403.
    assert_eq!(
        get(
            &f,
            "/api/v1/repos/nobody/nothing/pulls",
            Some("write-issue")
        )
        .status,
        403
    );
    // write:issue implies read:issue.
    let r = get(
        &f,
        &format!("/api/v1/repos/recipes/demo/issues/{n}/comments"),
        Some("write-issue"),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn pull_list_pages_like_gitea() {
    let f = world();
    for i in 0..35 {
        pull(&f, &format!("pr {i}"), &format!("b{i}"), 100 + i);
        f.advance_clock(1);
    }
    let r = get(&f, &format!("{PULLS}?state=open&limit=10&page=2"), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Total-Count"), Some("35"));
    let root = f.root_url();
    let u =
        |p: u32| format!("<{root}api/v1/repos/recipes/demo/pulls?limit=10&page={p}&state=open>");
    assert_eq!(
        r.header("Link").unwrap(),
        format!(
            "{}; rel=\"next\",{}; rel=\"last\",{}; rel=\"first\",{}; rel=\"prev\"",
            u(3),
            u(4),
            u(1),
            u(1)
        )
    );
    assert_eq!(
        r.header("Access-Control-Expose-Headers"),
        Some("Link, X-Total-Count")
    );
    let items = r.json();
    assert_eq!(items.as_array().unwrap().len(), 10);
    // Newest first by default: page 2 starts at the 11th newest.
    assert_eq!(items[0]["title"], "pr 24");

    // Default 30 per page; page 1 has no first/prev.
    let r = get(&f, &format!("{PULLS}?state=open"), None);
    assert_eq!(r.json().as_array().unwrap().len(), 30);
    let link = r.header("Link").unwrap().to_string();
    assert!(
        link.contains("rel=\"next\"") && !link.contains("rel=\"prev\""),
        "{link}"
    );
    // A limit over 50 is clamped (echoed as sent in links); one page: no Link.
    let r = get(&f, &format!("{PULLS}?state=open&limit=100"), None);
    assert_eq!(r.json().as_array().unwrap().len(), 35);
    assert_eq!(r.header("Link"), None);
    assert_eq!(
        r.header("Access-Control-Expose-Headers"),
        Some("X-Total-Count")
    );
    // page 0 and garbage are page 1; past the end is an empty list.
    let first = get(&f, &format!("{PULLS}?limit=10&page=1"), None).json();
    assert_eq!(
        get(&f, &format!("{PULLS}?limit=10&page=0"), None).json(),
        first
    );
    assert_eq!(
        get(&f, &format!("{PULLS}?limit=10&page=x"), None).json(),
        first
    );
    let r = get(&f, &format!("{PULLS}?limit=10&page=9"), None);
    assert_eq!(r.body, "[]\n");
    assert_eq!(r.header("X-Total-Count"), Some("35"));
}

#[test]
fn pull_list_filters_and_orders() {
    let f = world();
    let a = pull(&f, "a", "a", 2);
    f.advance_clock(5);
    let b = pull(&f, "b", "b", 3);
    f.set_pull_state("recipes", "demo", a, State::Closed)
        .unwrap();
    let numbers = |q: &str| -> Vec<i64> {
        get(&f, &format!("{PULLS}{q}"), None)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["number"].as_i64().unwrap())
            .collect()
    };
    // No state (or an unknown one) lists open and closed alike.
    assert_eq!(numbers(""), [b, a]);
    assert_eq!(numbers("?state=bogus"), [b, a]);
    assert_eq!(numbers("?state=open"), [b]);
    assert_eq!(numbers("?state=closed"), [a]);
    assert_eq!(numbers("?sort=oldest"), [a, b]);
    assert_eq!(numbers("?poster=alice&state=all"), [b, a]);
    assert_eq!(get(&f, &format!("{PULLS}?poster=nobody"), None).status, 400);
    assert_eq!(numbers("?base_branch=other"), Vec::<i64>::new());
}

#[test]
fn one_pull_request_and_its_head() {
    let f = world();
    let n = pull(&f, "fix", "fix-branch", 2);
    let p = get(&f, &format!("{PULLS}/{n}"), None).json();
    assert_eq!(p["number"], n);
    assert_eq!(p["head"]["ref"], "fix-branch");
    assert_eq!(p["head"]["sha"], sha(2));
    assert_eq!(p["base"]["ref"], "main");
    assert_eq!(p["state"], "open");
    assert_eq!(p["merged"], false);
    assert_eq!(p["closed_at"], serde_json::Value::Null);
    assert_eq!(
        p["html_url"],
        format!("{}recipes/demo/pulls/{n}", f.root_url())
    );
    assert_eq!(p["url"], p["html_url"]);
    assert_eq!(p["created_at"], "2026-07-27T10:00:00Z");
    f.delete_head_branch("recipes", "demo", n).unwrap();
    let p = get(&f, &format!("{PULLS}/{n}"), None).json();
    assert_eq!(p["head"]["ref"], format!("refs/pull/{n}/head"));
    assert_eq!(get(&f, &format!("{PULLS}/999"), None).status, 404);
}

#[test]
fn closing_and_reopening() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let path = format!("{PULLS}/{n}");
    f.advance_clock(60);
    let r = send(
        &f,
        "PATCH",
        &path,
        Some("bot-token"),
        r#"{"state":"closed"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["state"], "closed");
    assert_eq!(r.json()["closed_at"], "2026-07-27T10:01:00Z");
    // Closing a closed pull request is a no-op that still answers 201.
    assert_eq!(
        send(
            &f,
            "PATCH",
            &path,
            Some("bot-token"),
            r#"{"state":"closed"}"#
        )
        .status,
        201
    );
    let r = send(
        &f,
        "PATCH",
        &path,
        Some("bot-token"),
        r#"{"state":"bogus"}"#,
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (412, "unknown state: bogus")
    );
    // Someone with only read access who is not the author: 403 without a body.
    let r = send(
        &f,
        "PATCH",
        &path,
        Some("reader-token"),
        r#"{"state":"open"}"#,
    );
    assert_eq!((r.status, r.body.as_str()), (403, ""));
    // The author may reopen their own.
    let r = send(
        &f,
        "PATCH",
        &path,
        Some("alice-token"),
        r#"{"state":"open"}"#,
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["closed_at"], serde_json::Value::Null);
    assert_eq!(f.pull("recipes", "demo", n).unwrap().state, State::Open);
    // A merged one cannot change state.
    f.merge_pull("recipes", "demo", n, &sha(9), "ci-bot")
        .unwrap();
    let r = send(&f, "PATCH", &path, Some("bot-token"), r#"{"state":"open"}"#);
    assert_eq!(r.status, 412);
    assert_eq!(
        r.json()["message"],
        "cannot change state of this pull request, it was already merged"
    );
    let r = send(&f, "PATCH", &path, Some("bot-token"), "not json");
    assert_eq!(r.status, 422);
}

#[test]
fn comments_on_a_pull_request() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let path = format!("/api/v1/repos/recipes/demo/issues/{n}/comments");
    let r = send(
        &f,
        "POST",
        &path,
        Some("bot-token"),
        r#"{"body":"!testme"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let c = r.json();
    let pr = format!("{}recipes/demo/pulls/{n}", f.root_url());
    assert_eq!(c["pull_request_url"], pr);
    assert_eq!(c["issue_url"], "");
    assert_eq!(c["html_url"], format!("{pr}#issuecomment-{}", c["id"]));
    assert_eq!(c["user"]["login"], "ci-bot");
    // Anyone who can read may comment.
    f.advance_clock(10);
    assert_eq!(
        send(
            &f,
            "POST",
            &path,
            Some("reader-token"),
            r#"{"body":"me too"}"#
        )
        .status,
        201
    );
    let r = send(&f, "POST", &path, Some("bot-token"), r#"{"body":""}"#);
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (422, "[Body]: Required")
    );
    // Gitea does not map a missing issue on this route: 500.
    let r = send(
        &f,
        "POST",
        "/api/v1/repos/recipes/demo/issues/99/comments",
        Some("bot-token"),
        r#"{"body":"x"}"#,
    );
    assert_eq!(r.status, 500);
    assert_eq!(
        get(&f, "/api/v1/repos/recipes/demo/issues/99/comments", None).status,
        500
    );

    // page and limit are ignored here; no Link, but a total.
    let r = get(&f, &format!("{path}?limit=1&page=2"), None);
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    assert_eq!(r.header("X-Total-Count"), Some("2"));
    assert_eq!(r.header("Link"), None);
    let r = get(
        &f,
        &format!("{path}?since=2026-07-27T10%3A00%3A05%2B00%3A00"),
        None,
    );
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["body"], "me too");
    // An unencoded `+` arrives as a space: 422, as on a real server.
    assert_eq!(
        get(&f, &format!("{path}?since=2026-07-27T10:00:05+00:00"), None).status,
        422
    );

    f.set_locked("recipes", "demo", n, true).unwrap();
    assert_eq!(
        send(&f, "POST", &path, Some("reader-token"), r#"{"body":"x"}"#).status,
        403
    );
    assert_eq!(
        send(&f, "POST", &path, Some("bot-token"), r#"{"body":"x"}"#).status,
        201
    );
    f.set_archived("recipes", "demo", true).unwrap();
    let r = send(&f, "POST", &path, Some("bot-token"), r#"{"body":"x"}"#);
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (423, "repo is archived")
    );
    assert_eq!(f.comments("recipes", "demo", n).len(), 3);
}

#[test]
fn comment_ids_are_global() {
    let f = world();
    f.add_repo("recipes", "other").unwrap();
    let a = pull(&f, "x", "x", 2);
    let b = f
        .open_pull(
            "recipes",
            "other",
            ccci_fake_gitea::PullSpec {
                title: "y".into(),
                head_branch: "y".into(),
                head_sha: sha(3),
                base_branch: "main".into(),
                base_sha: sha(1),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((a, b), (1, 1));
    let c1 = f.add_comment("recipes", "demo", a, "alice", "one").unwrap();
    let c2 = f
        .add_comment("recipes", "other", b, "alice", "two")
        .unwrap();
    assert_ne!(c1, c2);
}

#[test]
fn commit_statuses() {
    let f = world();
    let full = "c0ffee".repeat(6) + "c0ff";
    f.add_commit("recipes", "demo", &full).unwrap();
    pull(&f, "x", "x", 2);
    let body = r#"{"state":"pending","target_url":" https://ci.example/run/1 ","description":"Queued","context":"testme/ci"}"#;
    let r = send(
        &f,
        "POST",
        &format!("/api/v1/repos/recipes/demo/statuses/{full}"),
        Some("bot-token"),
        body,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let s = r.json();
    assert_eq!(s["id"], 1);
    assert_eq!(s["status"], "pending");
    assert!(s.get("state").is_none());
    assert_eq!(s["target_url"], "https://ci.example/run/1");
    assert_eq!(s["created_at"], s["updated_at"]);
    // The id is per SHA; a short SHA is resolved.
    let short = &full[..10];
    let r = send(
        &f,
        "POST",
        &format!("/api/v1/repos/recipes/demo/statuses/{short}"),
        Some("bot-token"),
        body,
    );
    assert_eq!(r.json()["id"], 2, "{}", r.body);
    let r = send(
        &f,
        "POST",
        &format!("/api/v1/repos/recipes/demo/statuses/{}", sha(2)),
        Some("bot-token"),
        body,
    );
    assert_eq!(r.json()["id"], 1);
    assert_eq!(
        send(
            &f,
            "POST",
            "/api/v1/repos/recipes/demo/statuses/deadbeef",
            Some("bot-token"),
            body
        )
        .status,
        500
    );
    let r = send(
        &f,
        "POST",
        &format!("/api/v1/repos/recipes/demo/statuses/{full}"),
        Some("reader-token"),
        body,
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (403, "user should have a permission to write to a repo")
    );
    let st = f.statuses("recipes", "demo", &full);
    assert_eq!(st.len(), 2);
    assert_eq!(f.login(st[0].creator_id).as_deref(), Some("ci-bot"));
}

#[test]
fn injected_failures_and_the_request_log() {
    let f = world();
    f.fail(Some("GET"), "/pulls", 503, 2);
    assert_eq!(get(&f, PULLS, None).status, 503);
    assert_eq!(get(&f, "/api/v1/version", None).status, 200);
    assert_eq!(get(&f, PULLS, Some("bot-token")).status, 503);
    assert_eq!(get(&f, PULLS, None).status, 200);
    let log = f.requests();
    assert_eq!(log.len(), 4);
    assert_eq!(log[1].path, "/api/v1/version");
    assert_eq!(log[3].status, 200);
    assert_eq!(log[3].method, "GET");
    let r = get(&f, &format!("{PULLS}?state=open"), Some("bot-token"));
    assert_eq!(r.status, 200);
    let last = f.requests().pop().unwrap();
    assert_eq!(last.user.as_deref(), Some("ci-bot"));
    assert_eq!(last.query, [("state".to_string(), "open".to_string())]);
    f.clear_requests();
    assert!(f.requests().is_empty());
}

#[test]
fn unknown_paths_404_and_unfaked_endpoints_501() {
    let f = world();
    let r = get(&f, "/api/v1/nope", None);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "not found", "url": format!("{}api/swagger", f.root_url())})
    );
    assert_eq!(get(&f, "/api/v1/repos/recipes/demo/tags", None).status, 501);
    assert_eq!(
        get(&f, "/api/v1/repos/recipes/nothing/pulls", None).status,
        404
    );
}
