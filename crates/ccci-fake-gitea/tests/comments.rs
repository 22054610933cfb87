//! Comments across a repository and one by one: the repository-wide list
//! (docs/gitea.md, paging), and reading, editing and deleting a comment.

mod common;

use common::*;

const REPO_COMMENTS: &str = "/api/v1/repos/recipes/demo/issues/comments";

fn ids(r: &Resp) -> Vec<i64> {
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn the_repository_list_mixes_issues_and_pull_requests_oldest_first() {
    let f = world();
    let pr = pull(&f, "fix", "fix", 2);
    let issue = f
        .open_issue("recipes", "demo", "alice", "It breaks")
        .unwrap();
    assert_eq!(issue, pr + 1, "issues and pull requests share the index");
    let a = f
        .add_comment("recipes", "demo", pr, "alice", "!testme")
        .unwrap();
    // Same second: the id breaks the tie.
    let b = f
        .add_comment("recipes", "demo", issue, "reader", "+1")
        .unwrap();
    f.advance_clock(5);
    let c = f
        .add_comment("recipes", "demo", pr, "reader", "me too")
        .unwrap();
    // Editing the first one moves its updated_at, not its place.
    f.advance_clock(5);
    f.edit_comment(a, "alice", "!testme please").unwrap();

    let r = get(&f, REPO_COMMENTS, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r), [a, b, c]);
    assert_eq!(r.header("X-Total-Count"), Some("3"));
    assert_eq!(r.header("Link"), None);
    assert_eq!(
        r.header("Access-Control-Expose-Headers"),
        Some("X-Total-Count")
    );
    let root = f.root_url();
    let list = r.json();
    let on_pr = &list[0];
    let pr_url = format!("{root}recipes/demo/pulls/{pr}");
    assert_eq!(on_pr["pull_request_url"], pr_url);
    assert_eq!(on_pr["issue_url"], "");
    assert_eq!(on_pr["html_url"], format!("{pr_url}#issuecomment-{a}"));
    assert_eq!(on_pr["body"], "!testme please");
    assert_eq!(on_pr["created_at"], "2026-07-27T10:00:00Z");
    assert_eq!(on_pr["updated_at"], "2026-07-27T10:00:10Z");
    let on_issue = &list[1];
    let issue_url = format!("{root}recipes/demo/issues/{issue}");
    assert_eq!(on_issue["pull_request_url"], "");
    assert_eq!(on_issue["issue_url"], issue_url);
    assert_eq!(
        on_issue["html_url"],
        format!("{issue_url}#issuecomment-{b}")
    );
    assert_eq!(on_issue["user"]["login"], "reader");
    let keys: Vec<&str> = on_issue
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = [
        "id",
        "html_url",
        "pull_request_url",
        "issue_url",
        "user",
        "original_author",
        "original_author_id",
        "body",
        "assets",
        "created_at",
        "updated_at",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    // The per-issue list renders the very same objects.
    let one = get(&f, &repo_path(&format!("/issues/{pr}/comments")), None).json();
    assert_eq!(one[0], list[0]);
    assert_eq!(one[1], list[2]);
    // A comment's author's admin flag never shows, even to themself.
    f.add_admin("alice");
    let seen = get(&f, REPO_COMMENTS, Some("alice-token")).json();
    assert_eq!(seen[0]["user"]["is_admin"], false);
}

#[test]
fn the_repository_list_pages_without_a_link_header() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let all: Vec<i64> = (0..55)
        .map(|i| {
            f.advance_clock(1);
            f.add_comment("recipes", "demo", n, "alice", &format!("c{i}"))
                .unwrap()
        })
        .collect();
    let page = |q: &str| get(&f, &format!("{REPO_COMMENTS}{q}"), None);
    let r = page("");
    assert_eq!(ids(&r), all[..30]);
    assert_eq!(r.header("X-Total-Count"), Some("55"));
    assert_eq!(r.header("Link"), None);
    assert_eq!(ids(&page("?limit=100")), all[..50], "clamped to 50");
    assert_eq!(ids(&page("?limit=50&page=2")), all[50..]);
    assert_eq!(ids(&page("?limit=10&page=0")), all[..10]);
    assert_eq!(ids(&page("?limit=10&page=-3")), all[..10]);
    assert_eq!(ids(&page("?limit=0")), all[..30]);
    let past = page("?limit=50&page=3");
    assert_eq!(past.body, "[]\n");
    assert_eq!(past.header("X-Total-Count"), Some("55"));
}

#[test]
fn since_and_before_are_inclusive_on_updated_at() {
    let f = world();
    let n = pull(&f, "x", "x", 2);
    let a = f.add_comment("recipes", "demo", n, "alice", "a").unwrap(); // 10:00:00
    f.advance_clock(10);
    let b = f.add_comment("recipes", "demo", n, "alice", "b").unwrap(); // 10:00:10
    f.advance_clock(10);
    let c = f.add_comment("recipes", "demo", n, "alice", "c").unwrap(); // 10:00:20
    let q = |query: &str| get(&f, &format!("{REPO_COMMENTS}?{query}"), None);
    assert_eq!(ids(&q("since=2026-07-27T10%3A00%3A10Z")), [b, c]);
    assert_eq!(ids(&q("before=2026-07-27T10%3A00%3A10Z")), [a, b]);
    // Fractional seconds are accepted and dropped; offsets are honoured.
    assert_eq!(ids(&q("since=2026-07-27T10%3A00%3A10.999Z")), [b, c]);
    assert_eq!(ids(&q("since=2026-07-27T12%3A00%3A11%2B02%3A00")), [c]);
    let r = q("since=2026-07-27T10%3A00%3A05Z&before=2026-07-27T10%3A00%3A15Z");
    assert_eq!(ids(&r), [b]);
    assert_eq!(r.header("X-Total-Count"), Some("1"));
    // An edit brings an old comment back into a `since` window, in its place.
    f.advance_clock(10);
    f.edit_comment(a, "alice", "a, edited").unwrap(); // 10:00:30
    assert_eq!(ids(&q("since=2026-07-27T10%3A00%3A20Z")), [a, c]);
    // A `+` sent unencoded arrives as a space; no offset; garbage: all 422.
    for bad in [
        "since=2026-07-27T12:00:00+02:00",
        "since=2026-07-27T10%3A00%3A00",
        "before=yesterday",
    ] {
        let r = q(bad);
        assert_eq!(r.status, 422, "{bad}");
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .starts_with("parsing time"),
            "{bad}"
        );
    }
}

#[test]
fn one_comment_by_id() {
    let f = world();
    f.add_repo("recipes", "other").unwrap();
    let n = pull(&f, "x", "x", 2);
    let id = f
        .add_comment("recipes", "demo", n, "alice", "hello")
        .unwrap();
    let path = |id: i64| format!("{REPO_COMMENTS}/{id}");
    let r = get(&f, &path(id), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), get(&f, REPO_COMMENTS, None).json()[0]);
    // Unknown: Gitea's JSON 404. Another repository's: 404 without a body.
    let r = get(&f, &path(999), None);
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some("not found"))
    );
    let r = get(
        &f,
        &format!("/api/v1/repos/recipes/other/issues/comments/{id}"),
        None,
    );
    assert_eq!((r.status, r.body.as_str()), (404, ""));
    assert_eq!(get(&f, &format!("{REPO_COMMENTS}/x"), None).status, 404);
}

#[test]
fn editing_a_comment() {
    let f = world();
    f.add_repo("recipes", "other").unwrap();
    let n = pull(&f, "x", "x", 2);
    let id = f
        .add_comment("recipes", "demo", n, "alice", "!testme")
        .unwrap();
    let path = format!("{REPO_COMMENTS}/{id}");
    let edit = |tok: Option<&str>, body: &str| send(&f, "PATCH", &path, tok, body);
    f.advance_clock(60);
    // The author may edit: 200, and updated_at moves.
    let r = edit(Some("alice-token"), r#"{"body":"!testme now"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.json();
    assert_eq!(c["body"], "!testme now");
    assert_eq!(c["created_at"], "2026-07-27T10:00:00Z");
    assert_eq!(c["updated_at"], "2026-07-27T10:01:00Z");
    // The same text again changes nothing, not even updated_at.
    f.advance_clock(60);
    let r = edit(Some("alice-token"), r#"{"body":"!testme now"}"#);
    assert_eq!(r.json()["updated_at"], "2026-07-27T10:01:00Z");
    // Anyone with write access may edit; a mere reader may not (no body).
    let r = edit(Some("bot-token"), r#"{"body":"edited by the bot"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["updated_at"], "2026-07-27T10:02:00Z");
    let r = edit(Some("reader-token"), r#"{"body":"mine now"}"#);
    assert_eq!((r.status, r.body.as_str()), (403, ""));
    assert_eq!(f.comment(id).unwrap().body, "edited by the bot");
    let r = edit(Some("alice-token"), r#"{"body":""}"#);
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (422, "[Body]: Required")
    );
    assert_eq!(edit(None, r#"{"body":"x"}"#).status, 401);
    let r = edit(Some("alice-token"), r#"{"body":"x"}"#);
    assert_eq!(r.status, 200);
    let r = send(
        &f,
        "PATCH",
        &format!("/api/v1/repos/recipes/other/issues/comments/{id}"),
        Some("bot-token"),
        r#"{"body":"x"}"#,
    );
    assert_eq!((r.status, r.body.as_str()), (404, ""));
    let r = send(
        &f,
        "PATCH",
        &format!("{REPO_COMMENTS}/999"),
        Some("bot-token"),
        r#"{"body":"x"}"#,
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some("not found"))
    );
    // Archived: 423, checked even before the token.
    f.set_archived("recipes", "demo", true).unwrap();
    for tok in [Some("alice-token"), None] {
        let r = edit(tok, r#"{"body":"late"}"#);
        assert_eq!(
            (r.status, r.json()["message"].as_str().unwrap()),
            (423, "repo is archived"),
            "{tok:?}"
        );
    }
}

#[test]
fn deleting_a_comment() {
    let f = world();
    f.add_repo("recipes", "other").unwrap();
    let n = pull(&f, "x", "x", 2);
    let id = f
        .add_comment("recipes", "demo", n, "alice", "oops")
        .unwrap();
    let keep = f
        .add_comment("recipes", "demo", n, "reader", "keep")
        .unwrap();
    let path = format!("{REPO_COMMENTS}/{id}");
    let del = |p: &str, tok: Option<&str>| call_auth(&f, "DELETE", p, tok);
    assert_eq!(del(&path, None).status, 401);
    let r = del(&path, Some("reader-token"));
    assert_eq!((r.status, r.body.as_str()), (403, ""));
    let other = format!("/api/v1/repos/recipes/other/issues/comments/{id}");
    let r = del(&other, Some("alice-token"));
    assert_eq!((r.status, r.body.as_str()), (404, ""));
    let r = del(&path, Some("alice-token"));
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert_eq!(get(&f, &path, None).status, 404);
    let r = del(&path, Some("alice-token"));
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some("not found"))
    );
    assert_eq!(ids(&get(&f, REPO_COMMENTS, None)), [keep]);
    // A writer may delete someone else's; so may the web UI helper.
    assert_eq!(
        del(&format!("{REPO_COMMENTS}/{keep}"), Some("bot-token")).status,
        204
    );
    let last = f
        .add_comment("recipes", "demo", n, "alice", "last")
        .unwrap();
    f.delete_comment(last).unwrap();
    assert!(f.comments("recipes", "demo", n).is_empty());
    assert!(f.delete_comment(last).is_err());
}

#[test]
fn comments_on_a_plain_issue_through_the_api() {
    let f = world();
    let issue = f.open_issue("recipes", "demo", "alice", "Bug").unwrap();
    let path = repo_path(&format!("/issues/{issue}/comments"));
    let r = send(
        &f,
        "POST",
        &path,
        Some("reader-token"),
        r#"{"body":"same here"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let c = r.json();
    assert_eq!(c["pull_request_url"], "");
    assert_eq!(
        c["issue_url"],
        format!("{}recipes/demo/issues/{issue}", f.root_url())
    );
    let list = get(&f, &path, None);
    assert_eq!(list.json().as_array().map(Vec::len), Some(1));
    // An issue is not a pull request.
    assert_eq!(
        get(&f, &repo_path(&format!("/pulls/{issue}")), None).status,
        404
    );
    assert_eq!(f.comments("recipes", "demo", issue)[0].body, "same here");
}
