//! The fake's responses checked against Gitea's own Swagger data for these
//! endpoints (docs/gitea.md, the Swagger check). That data is Gitea's published
//! API description, a third-party document kept outside this repository: it is
//! read from `shared/reference/gitea-swagger-subset.json` in the `shared/`
//! directory beside the workspace and never copied into it.
//!
//! Stricter than Swagger itself: every field the fake sends must be documented
//! (bar User's `username`, which Gitea adds outside the spec), every documented
//! field must be sent (bar the ones Gitea omits when empty), and `null` is only
//! accepted where Gitea's Go struct field is a pointer or a slice.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;

/// Gitea's Swagger data for these endpoints: `$CCCI_GITEA_SWAGGER`, else Gitea's
/// published description kept outside the repository, in the `shared/` directory
/// beside the workspace. Missing data fails the test: a fidelity check that
/// cannot run must not pass.
fn spec() -> Value {
    let p = std::env::var_os("CCCI_GITEA_SWAGGER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/reference/gitea-swagger-subset.json")
        });
    let t = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "cannot read Gitea's Swagger data at {} ({e}): set CCCI_GITEA_SWAGGER to its path",
            p.display()
        )
    });
    serde_json::from_str(&t).expect("swagger subset is JSON")
}

/// Fields that are Go pointers or slices in Gitea's structs: `null` when unset.
const NULLABLE: &[(&str, &str)] = &[
    ("PullRequest", "milestone"),
    ("PullRequest", "assignee"),
    ("PullRequest", "assignees"),
    ("PullRequest", "merged_at"),
    ("PullRequest", "merge_commit_sha"),
    ("PullRequest", "merged_by"),
    ("PullRequest", "due_date"),
    ("PullRequest", "closed_at"),
    ("PRBranchInfo", "repo"),
    ("Repository", "parent"),
    ("Repository", "repo_transfer"),
    ("Issue", "milestone"),
    ("Issue", "assignee"),
    ("Issue", "assignees"),
    ("Issue", "closed_at"),
    ("Issue", "due_date"),
    ("Issue", "pull_request"),
    ("PullRequestMeta", "merged_at"),
];

/// Fields Gitea leaves out when empty (`omitempty`).
const OMITTED: &[(&str, &str)] = &[
    ("PullRequest", "additions"),
    ("PullRequest", "deletions"),
    ("PullRequest", "changed_files"),
    ("Repository", "external_tracker"),
    ("Repository", "external_wiki"),
    // Not Gitea's omitempty: the fake has no projects, and leaves the field
    // out rather than guess its empty form (docs/gitea.md, the fake).
    ("Issue", "projects"),
];

/// Sent by Gitea but absent from its Swagger data (a custom MarshalJSON).
const UNDOCUMENTED: &[(&str, &str)] = &[("User", "username")];

const KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "items",
    "enum",
    "format",
    "description",
    "title",
    "example",
    "default",
    "x-go-name",
    "x-go-package",
    "x-go-enum-desc",
];

struct Checker<'a> {
    spec: &'a Value,
    errors: Vec<String>,
}

impl<'a> Checker<'a> {
    fn def<'b>(&self, r: &'b str) -> Option<(&'b str, &'a Value)> {
        let name = r.strip_prefix("#/definitions/")?;
        Some((name, self.spec["definitions"].get(name)?))
    }

    fn check(&mut self, def: &str, schema: &'a Value, v: &Value, path: &str) {
        let Some(obj) = schema.as_object() else {
            self.errors.push(format!("{path}: schema is not an object"));
            return;
        };
        for k in obj.keys() {
            if !KEYWORDS.contains(&k.as_str()) {
                self.errors
                    .push(format!("{path}: schema keyword {k} is not checked"));
            }
        }
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            match self.def(r) {
                Some((name, s)) => self.check(name, s, v, path),
                None => self.errors.push(format!("{path}: unresolvable {r}")),
            }
            return;
        }
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
        let ok = match ty {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64(),
            "boolean" => v.is_boolean(),
            "number" => v.is_number(),
            _ => {
                self.errors
                    .push(format!("{path}: schema type {ty:?} not handled"));
                return;
            }
        };
        if !ok {
            self.errors.push(format!("{path}: {v} is not {ty}"));
            return;
        }
        if let Some(e) = obj.get("enum").and_then(Value::as_array)
            && !e.contains(v)
        {
            self.errors.push(format!("{path}: {v} not in {e:?}"));
        }
        if obj.get("format").and_then(Value::as_str) == Some("date-time") {
            let s = v.as_str().unwrap_or("");
            let whole = s.len() >= 20 && !s.contains('.');
            if ccci_fake_gitea::time::parse(s).is_none() || !whole {
                self.errors
                    .push(format!("{path}: {s:?} is not RFC 3339 in whole seconds"));
            }
        }
        if let (Some(items), Some(a)) = (obj.get("items"), v.as_array()) {
            for (i, item) in a.iter().enumerate() {
                self.check(def, items, item, &format!("{path}[{i}]"));
            }
        }
        if let (Some(props), Some(o)) = (
            obj.get("properties").and_then(Value::as_object),
            v.as_object(),
        ) {
            for (k, val) in o {
                let here = format!("{path}.{k}");
                match props.get(k) {
                    None if UNDOCUMENTED.contains(&(def, k.as_str())) => {}
                    None => self.errors.push(format!("{here}: not in {def}'s schema")),
                    Some(_) if val.is_null() => {
                        if !NULLABLE.contains(&(def, k.as_str())) {
                            self.errors
                                .push(format!("{here}: null, but never null in Gitea"));
                        }
                    }
                    Some(ps) => self.check(def, ps, val, &here),
                }
            }
            for k in props.keys() {
                if !o.contains_key(k) && !OMITTED.contains(&(def, k.as_str())) {
                    self.errors.push(format!("{path}: {def}.{k} is missing"));
                }
            }
        }
    }
}

/// Check a value against one of the spec's definitions (webhook payloads have
/// no operation of their own).
fn matches_definition(spec: &Value, def: &str, v: &Value, path: &str) -> Vec<String> {
    let mut c = Checker {
        spec,
        errors: vec![],
    };
    c.check(def, &spec["definitions"][def], v, path);
    c.errors
}

/// Check one response against the operation `method template` of the spec.
fn conforms(spec: &Value, method: &str, template: &str, r: &Resp) -> Vec<String> {
    let op = &spec["paths"][template][method.to_ascii_lowercase()];
    assert!(
        op.is_object(),
        "no operation {method} {template} in the spec"
    );
    let code = r.status.to_string();
    let Some(resp) = op["responses"].get(&code) else {
        return vec![format!(
            "{method} {template}: status {code} is not documented"
        )];
    };
    let resp = match resp.get("$ref").and_then(Value::as_str) {
        Some(rr) => &spec["responses"][rr.trim_start_matches("#/responses/")],
        None => resp,
    };
    let mut c = Checker {
        spec,
        errors: vec![],
    };
    match resp.get("schema") {
        Some(schema) => c.check("", schema, &r.json(), "$"),
        // Error responses: Swagger models the APIError fields as headers; the
        // body, when there is one, is an APIError.
        None if r.body.is_empty() => {}
        None => {
            c.check("APIError", &spec["definitions"]["APIError"], &r.json(), "$");
        }
    }
    c.errors
        .into_iter()
        .map(|e| format!("{method} {template} {code}: {e}"))
        .collect()
}

#[test]
fn responses_match_giteas_swagger() {
    let spec = spec();
    let f = world();
    let n = pull(&f, "fix", "fix", 2);
    let merged = pull(&f, "merged", "merged", 3);
    f.merge_pull("recipes", "demo", merged, &sha(4), "ci-bot")
        .unwrap();
    f.add_comment("recipes", "demo", n, "alice", "!testme")
        .unwrap();
    let tok = Some("bot-token");
    let pulls = "/repos/{owner}/{repo}/pulls";
    let pull_t = "/repos/{owner}/{repo}/pulls/{index}";
    let comments = "/repos/{owner}/{repo}/issues/{index}/comments";
    let statuses = "/repos/{owner}/{repo}/statuses/{sha}";
    let p = |s: &str| format!("/api/v1{s}");
    let cases: Vec<(&str, &str, Resp)> = vec![
        ("GET", "/version", get(&f, &p("/version"), None)),
        ("GET", "/user", get(&f, &p("/user"), tok)),
        (
            "GET",
            "/repos/{owner}/{repo}",
            get(&f, &p("/repos/recipes/demo"), tok),
        ),
        (
            "GET",
            "/repos/{owner}/{repo}",
            get(&f, &p("/repos/recipes/none"), tok),
        ),
        (
            "GET",
            pulls,
            get(&f, &p("/repos/recipes/demo/pulls?state=all"), tok),
        ),
        ("GET", pulls, get(&f, &p("/repos/recipes/none/pulls"), tok)),
        (
            "GET",
            pull_t,
            get(&f, &p(&format!("/repos/recipes/demo/pulls/{merged}")), None),
        ),
        (
            "GET",
            pull_t,
            get(&f, &p("/repos/recipes/demo/pulls/77"), None),
        ),
        (
            "PATCH",
            pull_t,
            send(
                &f,
                "PATCH",
                &p(&format!("/repos/recipes/demo/pulls/{n}")),
                tok,
                r#"{"state":"closed"}"#,
            ),
        ),
        (
            "PATCH",
            pull_t,
            send(
                &f,
                "PATCH",
                &p(&format!("/repos/recipes/demo/pulls/{n}")),
                Some("reader-token"),
                r#"{"state":"open"}"#,
            ),
        ),
        (
            "PATCH",
            pull_t,
            send(
                &f,
                "PATCH",
                &p(&format!("/repos/recipes/demo/pulls/{merged}")),
                tok,
                r#"{"state":"open"}"#,
            ),
        ),
        (
            "PATCH",
            pull_t,
            send(
                &f,
                "PATCH",
                &p(&format!("/repos/recipes/demo/pulls/{n}")),
                tok,
                "{",
            ),
        ),
        (
            "GET",
            comments,
            get(
                &f,
                &p(&format!("/repos/recipes/demo/issues/{n}/comments")),
                None,
            ),
        ),
        (
            "POST",
            comments,
            send(
                &f,
                "POST",
                &p(&format!("/repos/recipes/demo/issues/{n}/comments")),
                tok,
                r#"{"body":"closed"}"#,
            ),
        ),
        (
            "POST",
            statuses,
            send(
                &f,
                "POST",
                &p(&format!("/repos/recipes/demo/statuses/{}", sha(2))),
                tok,
                r#"{"state":"success","context":"ci"}"#,
            ),
        ),
    ];
    let mut errors = vec![];
    for (m, t, r) in &cases {
        errors.extend(conforms(&spec, m, t, r));
    }
    errors.extend(newer_endpoints(&spec, &f, n));
    f.set_archived("recipes", "demo", true).unwrap();
    let r = send(
        &f,
        "POST",
        &p(&format!("/repos/recipes/demo/issues/{n}/comments")),
        tok,
        r#"{"body":"x"}"#,
    );
    assert_eq!(r.status, 423);
    errors.extend(conforms(&spec, "POST", comments, &r));
    let id = f.add_comment("recipes", "demo", n, "alice", "x").unwrap();
    let r = send(
        &f,
        "PATCH",
        &p(&format!("/repos/recipes/demo/issues/comments/{id}")),
        tok,
        r#"{"body":"y"}"#,
    );
    assert_eq!(r.status, 423);
    errors.extend(conforms(
        &spec,
        "PATCH",
        "/repos/{owner}/{repo}/issues/comments/{id}",
        &r,
    ));
    assert!(
        errors.is_empty(),
        "{} deviations:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn the_checker_catches_deviations() {
    let spec = spec();
    let f = world();
    let n = pull(&f, "fix", "fix", 2);
    let good = get(&f, &format!("/api/v1/repos/recipes/demo/pulls/{n}"), None);
    let t = "/repos/{owner}/{repo}/pulls/{index}";
    assert!(conforms(&spec, "GET", t, &good).is_empty());
    let mut v = good.json();
    v["extra"] = Value::from(1);
    v["number"] = Value::from("1");
    v["created_at"] = Value::from("2026-07-27T10:00:00.5Z");
    v["title"] = Value::Null;
    v["state"] = Value::from("merged");
    v.as_object_mut().unwrap().remove("body");
    let bad = Resp {
        status: 200,
        headers: vec![],
        body: v.to_string(),
    };
    let errors = conforms(&spec, "GET", t, &bad);
    assert_eq!(errors.len(), 6, "{errors:#?}");
    let wrong_code = Resp { status: 418, ..bad };
    assert_eq!(conforms(&spec, "GET", t, &wrong_code).len(), 1);
}

/// The repository-wide comment list, one comment, and the collaborator checks,
/// in every status the fake answers them with.
fn newer_endpoints(spec: &Value, f: &ccci_fake_gitea::FakeGitea, n: i64) -> Vec<String> {
    f.add_repo("recipes", "other").unwrap();
    f.add_token("recipes", "owner-token", None);
    f.add_token("ci-bot", "repo-only", Some(&["read:repository"]));
    let issue = f.open_issue("recipes", "demo", "alice", "Bug").unwrap();
    f.add_comment("recipes", "demo", issue, "reader", "on an issue")
        .unwrap();
    let mine = f
        .add_comment("recipes", "demo", n, "alice", "mine")
        .unwrap();
    let elsewhere_pr = f
        .open_pull(
            "recipes",
            "other",
            ccci_fake_gitea::PullSpec {
                title: "y".into(),
                head_branch: "y".into(),
                head_sha: sha(7),
                base_branch: "main".into(),
                base_sha: sha(1),
                ..Default::default()
            },
        )
        .unwrap();
    let elsewhere = f
        .add_comment("recipes", "other", elsewhere_pr, "alice", "there")
        .unwrap();
    let list = "/repos/{owner}/{repo}/issues/comments";
    let one = "/repos/{owner}/{repo}/issues/comments/{id}";
    let collab = "/repos/{owner}/{repo}/collaborators/{collaborator}";
    let perm = "/repos/{owner}/{repo}/collaborators/{collaborator}/permission";
    let c = |id: i64| format!("/api/v1/repos/recipes/demo/issues/comments/{id}");
    let (bot, alice) = (Some("bot-token"), Some("alice-token"));
    let cases: Vec<(&str, &str, Resp)> = vec![
        (
            "GET",
            list,
            get(
                f,
                "/api/v1/repos/recipes/demo/issues/comments?limit=50",
                None,
            ),
        ),
        (
            "GET",
            list,
            get(f, "/api/v1/repos/recipes/none/issues/comments", None),
        ),
        ("GET", one, get(f, &c(mine), None)),
        ("GET", one, get(f, &c(999), None)),
        ("GET", one, get(f, &c(elsewhere), None)),
        // Its only 403: a token without the issue scope.
        ("GET", one, get(f, &c(mine), Some("repo-only"))),
        (
            "PATCH",
            one,
            send(f, "PATCH", &c(mine), alice, r#"{"body":"edited"}"#),
        ),
        (
            "PATCH",
            one,
            send(
                f,
                "PATCH",
                &c(mine),
                Some("reader-token"),
                r#"{"body":"no"}"#,
            ),
        ),
        (
            "PATCH",
            one,
            send(f, "PATCH", &c(999), bot, r#"{"body":"no"}"#),
        ),
        (
            "DELETE",
            one,
            call_auth(f, "DELETE", &c(mine), Some("reader-token")),
        ),
        ("DELETE", one, call_auth(f, "DELETE", &c(999), bot)),
        ("DELETE", one, call_auth(f, "DELETE", &c(mine), bot)),
        (
            "GET",
            collab,
            get(f, &repo_path("/collaborators/ci-bot"), bot),
        ),
        (
            "GET",
            collab,
            get(f, &repo_path("/collaborators/alice"), bot),
        ),
        (
            "GET",
            collab,
            get(f, &repo_path("/collaborators/nobody"), bot),
        ),
        (
            "GET",
            perm,
            get(f, &repo_path("/collaborators/ci-bot/permission"), bot),
        ),
        (
            "GET",
            perm,
            get(f, &repo_path("/collaborators/alice/permission"), bot),
        ),
        (
            "GET",
            perm,
            get(
                f,
                &repo_path("/collaborators/nobody/permission"),
                Some("owner-token"),
            ),
        ),
    ];
    let mut errors = vec![];
    let mut seen = std::collections::BTreeSet::new();
    for (m, t, r) in &cases {
        seen.insert((*m, *t, r.status));
        errors.extend(conforms(spec, m, t, r));
    }
    // Every status each operation documents is exercised (bar the 204 for
    // comment types the fake does not have, and the archived 423 tested by the
    // caller).
    for (m, t) in [
        ("GET", list),
        ("GET", one),
        ("PATCH", one),
        ("DELETE", one),
        ("GET", collab),
        ("GET", perm),
    ] {
        let op = &spec["paths"][t][m.to_ascii_lowercase()]["responses"];
        for code in op.as_object().unwrap().keys() {
            let code: u16 = code.parse().unwrap();
            let skip = (t == one && code == 204 && m != "DELETE") || (m == "PATCH" && code == 423);
            if !skip && !seen.contains(&(m, t, code)) {
                errors.push(format!("{m} {t}: documented status {code} never exercised"));
            }
        }
    }
    errors
}

#[test]
fn webhook_payloads_match_giteas_swagger() {
    let spec = spec();
    let f = world();
    let n = pull(&f, "fix", "fix", 2);
    let issue = f.open_issue("recipes", "demo", "alice", "Bug").unwrap();
    let rx = Receiver::start(200, std::time::Duration::ZERO);
    f.add_webhook("recipes", "demo", &rx.url, Some("k"), false)
        .unwrap();
    let id = f
        .add_comment("recipes", "demo", n, "alice", "!testme")
        .unwrap();
    f.edit_comment(id, "ci-bot", "!testme again").unwrap();
    f.add_comment("recipes", "demo", issue, "reader", "me too")
        .unwrap();
    f.merge_pull("recipes", "demo", n, &sha(3), "ci-bot")
        .unwrap();
    let sent = f
        .wait_deliveries(4, std::time::Duration::from_secs(5))
        .unwrap();
    let mut errors = vec![];
    for (i, d) in sent.iter().enumerate() {
        let p = d.json();
        for (key, def) in [
            ("issue", "Issue"),
            ("comment", "Comment"),
            ("pull_request", "PullRequest"),
            ("repository", "Repository"),
            ("sender", "User"),
        ] {
            if let Some(v) = p.get(key) {
                errors.extend(matches_definition(
                    &spec,
                    def,
                    v,
                    &format!("delivery {i}: {key}"),
                ));
            }
        }
    }
    assert!(sent[0].json()["issue"]["pull_request"].is_object());
    assert!(sent[3].json()["pull_request"]["merged_at"].is_string());
    assert!(
        errors.is_empty(),
        "{} deviations:\n{}",
        errors.len(),
        errors.join("\n")
    );
}
