//! Routing, authentication and the handlers, following Gitea's middleware order
//! (docs/gitea.md, tokens): credentials (a bad token is 401 before
//! routing), token scope (403), repository resolution (404, also for a private
//! repository the caller cannot see), `reqToken` (401), permissions, handler.

use crate::hooks;
use crate::http::{Request, Response, encode_query, percent_decode};
use crate::state::{Comment, Perm, Pull, Repo, State, Status, Thread, User, World};
use crate::time;
use serde_json::{Value, json};

/// Gitea's default and maximum page sizes (`[api] DEFAULT_PAGING_NUM`, `MAX_RESPONSE_ITEMS`).
const DEFAULT_LIMIT: usize = 30;
const MAX_LIMIT: usize = 50;
pub const VERSION: &str = "1.27.1";

/// Who is asking: the user the credentials resolved to and the token's scopes.
struct Caller {
    user: Option<i64>,
    scopes: Option<Vec<String>>,
}

struct Cx<'a> {
    w: &'a mut World,
    /// `ROOT_URL`, ending in `/`.
    root: &'a str,
    req: &'a Request,
    caller: Caller,
}

pub(crate) fn api_error(root: &str, status: u16, msg: &str) -> Response {
    Response::json(
        status,
        &json!({"message": msg, "url": format!("{root}api/swagger")}),
    )
}

/// Gitea ≥ 1.27's 404 body.
fn not_found(root: &str) -> Response {
    api_error(root, 404, "not found")
}

/// Answer one request; also returns the login the credentials resolved to.
pub fn handle(w: &mut World, root: &str, req: &Request) -> (Response, Option<String>) {
    let caller = match authenticate(w, req) {
        Ok(c) => c,
        Err(()) => {
            return (
                api_error(root, 401, "invalid username, password or token"),
                None,
            );
        }
    };
    let login = caller
        .user
        .and_then(|id| w.user(id))
        .map(|u| u.login.clone());
    let mut cx = Cx {
        w,
        root,
        req,
        caller,
    };
    (route(&mut cx), login)
}

/// The token the request carries, by Gitea's rules: `Authorization: token|Bearer
/// X` (scheme case-insensitive, exactly two fields), Basic with the token as
/// user (empty or `x-oauth-basic` password) or as password, or the deprecated
/// `?token=` / `?access_token=`. `Err` when credentials were given but are bad.
fn authenticate(w: &World, req: &Request) -> Result<Caller, ()> {
    let mut candidate = None;
    if let Some(h) = req.header("authorization") {
        let f: Vec<&str> = h.split_whitespace().collect();
        if f.len() == 2 {
            let scheme = f[0].to_ascii_lowercase();
            if scheme == "token" || scheme == "bearer" {
                candidate = Some(f[1].to_string());
            } else if scheme == "basic" {
                let decoded = base64_decode(f[1]).ok_or(())?;
                let (user, pass) = decoded.split_once(':').unwrap_or((&decoded, ""));
                candidate = Some(if pass.is_empty() || pass == "x-oauth-basic" {
                    user.to_string()
                } else {
                    // No passwords here: the password must be a token.
                    pass.to_string()
                });
            }
        }
    }
    if candidate.is_none() {
        candidate = req
            .param("token")
            .or_else(|| req.param("access_token"))
            .map(str::to_string);
    }
    let Some(tok) = candidate else {
        return Ok(Caller {
            user: None,
            scopes: None,
        });
    };
    let t = w.tokens.iter().find(|t| t.token == tok).ok_or(())?;
    Ok(Caller {
        user: Some(t.user_id),
        scopes: t.scopes.clone(),
    })
}

fn base64_decode(s: &str) -> Option<String> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = vec![];
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let k = chunk.len().saturating_sub(1);
        out.extend_from_slice(&n.to_be_bytes()[1..1 + k]);
    }
    String::from_utf8(out).ok()
}

/// What an operation needs: its scope category, and whether it writes.
#[derive(Clone, Copy)]
enum Op {
    Version,
    GetUser,
    GetRepo,
    ListPulls,
    GetPull(i64),
    EditPull(i64),
    ListComments(i64),
    CreateComment(i64),
    ListRepoComments,
    GetComment(i64),
    EditComment(i64),
    DeleteComment(i64),
    CreateStatus,
    IsCollaborator,
    CollaboratorPermission,
}

impl Op {
    fn scope(self) -> Option<&'static str> {
        Some(match self {
            Op::Version => return None,
            Op::GetUser => "user",
            Op::ListComments(_)
            | Op::CreateComment(_)
            | Op::ListRepoComments
            | Op::GetComment(_)
            | Op::EditComment(_)
            | Op::DeleteComment(_) => "issue",
            _ => "repository",
        })
    }

    fn writes(self) -> bool {
        matches!(
            self,
            Op::EditPull(_)
                | Op::CreateComment(_)
                | Op::EditComment(_)
                | Op::DeleteComment(_)
                | Op::CreateStatus
        )
    }

    /// Wrapped in Gitea's `reqToken()` although it only reads.
    fn needs_token(self) -> bool {
        self.writes()
            || matches!(
                self,
                Op::GetUser | Op::IsCollaborator | Op::CollaboratorPermission
            )
    }
}

fn route(cx: &mut Cx) -> Response {
    let root = cx.root;
    let Some(rest) = cx.req.path.strip_prefix("/api/v1/") else {
        return not_found(root);
    };
    let seg: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect();
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let m = cx.req.method.as_str();
    let index = |i: &str| i.parse::<i64>().ok();
    let op = match (m, s.as_slice()) {
        ("GET", ["version"]) => Op::Version,
        ("GET", ["user"]) => Op::GetUser,
        ("GET", ["repos", _, _]) => Op::GetRepo,
        ("GET", ["repos", _, _, "pulls"]) => Op::ListPulls,
        ("GET", ["repos", _, _, "pulls", n]) => match index(n) {
            Some(n) => Op::GetPull(n),
            None => return not_found(root),
        },
        ("PATCH", ["repos", _, _, "pulls", n]) => match index(n) {
            Some(n) => Op::EditPull(n),
            None => return not_found(root),
        },
        ("GET", ["repos", _, _, "issues", "comments"]) => Op::ListRepoComments,
        ("GET" | "PATCH" | "DELETE", ["repos", _, _, "issues", "comments", id]) => {
            match (m, index(id)) {
                ("GET", Some(id)) => Op::GetComment(id),
                ("PATCH", Some(id)) => Op::EditComment(id),
                (_, Some(id)) => Op::DeleteComment(id),
                // Gitea reads a bad id as 0, which no comment has.
                (_, None) => return not_found(root),
            }
        }
        ("GET", ["repos", _, _, "collaborators", _]) => Op::IsCollaborator,
        ("GET", ["repos", _, _, "collaborators", _, "permission"]) => Op::CollaboratorPermission,
        ("GET", ["repos", _, _, "issues", n, "comments"]) => match index(n) {
            Some(n) => Op::ListComments(n),
            None => return not_found(root),
        },
        ("POST", ["repos", _, _, "issues", n, "comments"]) => match index(n) {
            Some(n) => Op::CreateComment(n),
            None => return not_found(root),
        },
        ("POST", ["repos", _, _, "statuses", _]) => Op::CreateStatus,
        _ if known_but_not_faked(m, &s) => {
            return api_error(
                root,
                501,
                "ccci-fake-gitea does not implement this endpoint yet",
            );
        }
        _ => return not_found(root),
    };
    // 1. scope
    if let (Some(cat), Some(scopes)) = (op.scope(), &cx.caller.scopes) {
        let need = format!("{}:{cat}", if op.writes() { "write" } else { "read" });
        let ok = scopes.iter().any(|have| {
            have == "all" || *have == need || (!op.writes() && *have == format!("write:{cat}"))
        });
        if !ok {
            return api_error(
                root,
                403,
                &format!(
                    "token does not have at least one of required scope(s), required=[{need}], token scope={}",
                    scopes.join(",")
                ),
            );
        }
    }
    // 2. repository
    let repo = if s.first() == Some(&"repos") {
        match cx.w.repo_index(s[1], s[2]) {
            Some(i) if cx.w.perm(&cx.w.repos[i], cx.caller.user) > Perm::None => Some(i),
            _ => return not_found(root),
        }
    } else {
        None
    };
    // On this route `mustNotBeArchived` comes before `reqToken`.
    if let (Op::EditComment(_), Some(r)) = (op, repo)
        && cx.w.repos[r].archived
    {
        return api_error(root, 423, "repo is archived");
    }
    // 3. reqToken
    if op.needs_token() && cx.caller.user.is_none() {
        return api_error(root, 401, "token is required");
    }
    match (op, repo) {
        (Op::Version, _) => Response::json(200, &json!({"version": VERSION})),
        (Op::GetUser, _) => {
            let u = cx.caller.user.and_then(|id| cx.w.user(id));
            match u {
                Some(u) => Response::json(200, &user_json(cx.w, root, u, cx.caller.user)),
                None => api_error(root, 401, "token is required"),
            }
        }
        (Op::GetRepo, Some(r)) => {
            let perm = cx.w.perm(&cx.w.repos[r], cx.caller.user);
            Response::json(200, &repo_json(cx.w, root, &cx.w.repos[r], perm))
        }
        (Op::ListPulls, Some(r)) => list_pulls(cx, r),
        (Op::GetPull(n), Some(r)) => match pull_index(cx.w, r, n) {
            Some(p) => Response::json(200, &pull_json(cx.w, root, &cx.w.pulls[p], cx.caller.user)),
            None => not_found(root),
        },
        (Op::EditPull(n), Some(r)) => edit_pull(cx, r, n),
        (Op::ListComments(n), Some(r)) => list_comments(cx, r, n),
        (Op::CreateComment(n), Some(r)) => create_comment(cx, r, n),
        (Op::ListRepoComments, Some(r)) => list_repo_comments(cx, r),
        (Op::GetComment(id), Some(r)) => get_comment(cx, r, id),
        (Op::EditComment(id), Some(r)) => edit_comment(cx, r, id),
        (Op::DeleteComment(id), Some(r)) => delete_comment(cx, r, id),
        (Op::CreateStatus, Some(r)) => create_status(cx, r, s[4]),
        (Op::IsCollaborator, Some(r)) => is_collaborator(cx, r, s[4]),
        (Op::CollaboratorPermission, Some(r)) => collaborator_permission(cx, r, s[4]),
        _ => not_found(root),
    }
}

/// Real Gitea endpoints this fake does not serve yet: answered 501 so a test
/// that reaches one fails loudly instead of seeing a plausible 404.
fn known_but_not_faked(m: &str, s: &[&str]) -> bool {
    matches!(
        (m, s),
        ("GET", ["repos", _, _, "statuses", _])
            | ("GET", ["repos", _, _, "commits", _, "status" | "statuses"])
            | ("GET", ["repos", _, _, "tags" | "branches", ..])
            | ("GET", ["repos", _, _, "collaborators"])
            | (
                "PATCH" | "DELETE",
                ["repos", _, _, "issues", _, "comments", _]
            )
            | ("GET", ["orgs", ..])
    )
}

fn pull_index(w: &World, repo: usize, number: i64) -> Option<usize> {
    let rid = w.repos[repo].id;
    w.pulls
        .iter()
        .position(|p| p.repo_id == rid && p.number == number)
}

/// `page` and `limit` as Gitea reads them: page < 1 or unparsable is 1; limit
/// missing or < 1 is 30, more than 50 is silently 50.
fn paging(req: &Request) -> (usize, usize) {
    let page = req
        .param("page")
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|&p| p > 0)
        .unwrap_or(1) as usize;
    let limit = req
        .param("limit")
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|&l| l > 0)
        .map(|l| (l as usize).min(MAX_LIMIT))
        .unwrap_or(DEFAULT_LIMIT);
    (page, limit)
}

/// `services/context/api.go: genAPILinks`: next, last, first, prev, each when it
/// applies, joined by `,` without a space; the request URI with `page` replaced
/// and the query re-encoded in sorted key order.
fn link_header(
    root: &str,
    req: &Request,
    page: usize,
    limit: usize,
    total: usize,
) -> Option<String> {
    let pages = total.div_ceil(limit).max(1);
    let cur = page.min(pages);
    let url = |p: usize| {
        let mut q: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| k != "page")
            .cloned()
            .collect();
        q.push(("page".into(), p.to_string()));
        format!(
            "{root}{}?{}",
            req.path.trim_start_matches('/'),
            encode_query(&q)
        )
    };
    let mut links = vec![];
    if cur < pages {
        links.push(format!("<{}>; rel=\"next\"", url(cur + 1)));
        links.push(format!("<{}>; rel=\"last\"", url(pages)));
    }
    if cur > 1 {
        links.push(format!("<{}>; rel=\"first\"", url(1)));
        links.push(format!("<{}>; rel=\"prev\"", url(cur - 1)));
    }
    (!links.is_empty()).then(|| links.join(","))
}

fn paged(resp: Response, link: Option<String>, total: usize) -> Response {
    let expose = if link.is_some() {
        "Link, X-Total-Count"
    } else {
        "X-Total-Count"
    };
    let resp = match link {
        Some(l) => resp.with_header("Link", &l),
        None => resp,
    };
    resp.with_header("X-Total-Count", &total.to_string())
        .with_header("Access-Control-Expose-Headers", expose)
}

fn list_pulls(cx: &mut Cx, r: usize) -> Response {
    let (w, root, req) = (&*cx.w, cx.root, cx.req);
    if !w.repos[r].has_pull_requests {
        return not_found(root);
    }
    let rid = w.repos[r].id;
    let poster = match req.param("poster").filter(|p| !p.is_empty()) {
        Some(p) => match w.user_by_login(p) {
            Some(u) => Some(u.id),
            None => return api_error(root, 400, &format!("user does not exist [name: {p}]")),
        },
        None => None,
    };
    // Only exactly `open` or `closed` filters; anything else lists both.
    let state = match req.param("state") {
        Some("open") => Some(State::Open),
        Some("closed") => Some(State::Closed),
        _ => None,
    };
    let base = req.param("base_branch").filter(|b| !b.is_empty());
    let mut list: Vec<&Pull> = w
        .pulls
        .iter()
        .filter(|p| p.repo_id == rid)
        .filter(|p| state.is_none_or(|s| p.state == s))
        .filter(|p| poster.is_none_or(|u| p.poster_id == u))
        .filter(|p| base.is_none_or(|b| p.base_branch == b))
        .collect();
    match req.param("sort") {
        Some("oldest") => list.sort_by_key(|p| (p.created, p.id)),
        Some("recentupdate") => list.sort_by_key(|p| std::cmp::Reverse((p.updated, p.id))),
        Some("leastupdate") => list.sort_by_key(|p| (p.updated, p.id)),
        _ => list.sort_by_key(|p| std::cmp::Reverse((p.created, p.id))),
    }
    let total = list.len();
    let (page, limit) = paging(req);
    let items: Vec<Value> = list
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|p| pull_json(w, root, p, cx.caller.user))
        .collect();
    let link = link_header(root, req, page, limit, total);
    paged(Response::json(200, &Value::Array(items)), link, total)
}

/// The request body as a JSON object; Gitea's binding answers 422 otherwise.
fn body_object(cx: &Cx) -> Result<serde_json::Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(&cx.req.body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(api_error(cx.root, 422, "[Body]: must be a JSON object")),
        Err(e) => Err(api_error(cx.root, 422, &format!("[Body]: {e}"))),
    }
}

fn edit_pull(cx: &mut Cx, r: usize, n: i64) -> Response {
    let root = cx.root;
    if !cx.w.repos[r].has_pull_requests {
        return not_found(root);
    }
    let Some(pi) = pull_index(cx.w, r, n) else {
        return not_found(root);
    };
    let body = match body_object(cx) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let perm = cx.w.perm(&cx.w.repos[r], cx.caller.user);
    let is_poster = cx.caller.user == Some(cx.w.pulls[pi].poster_id);
    if !is_poster && perm < Perm::Write {
        return Response::empty(403);
    }
    let now = cx.w.now();
    let p = &mut cx.w.pulls[pi];
    let mut changed = false;
    for key in ["title", "body"] {
        if let Some(v) = body.get(key).and_then(Value::as_str) {
            let field = if key == "title" {
                &mut p.title
            } else {
                &mut p.body
            };
            if field != v {
                *field = v.to_string();
                changed = true;
            }
        }
    }
    let mut state_change = None;
    if let Some(state) = body.get("state").filter(|v| !v.is_null()) {
        if p.merged {
            return api_error(
                root,
                412,
                "cannot change state of this pull request, it was already merged",
            );
        }
        let new = match state.as_str() {
            Some("open") => State::Open,
            Some("closed") => State::Closed,
            other => {
                return api_error(
                    root,
                    412,
                    &format!("unknown state: {}", other.unwrap_or_default()),
                );
            }
        };
        if new != p.state {
            p.state = new;
            p.closed_at = (new == State::Closed).then_some(now);
            changed = true;
            state_change = Some(if new == State::Closed {
                "closed"
            } else {
                "reopened"
            });
        }
    }
    if changed {
        p.updated = now;
    }
    let (w, doer) = (&*cx.w, cx.caller.user.unwrap_or_default());
    if let Some(action) = state_change {
        hooks::pull_event(w, root, &w.pulls[pi], action, doer);
    }
    Response::json(201, &pull_json(w, root, &w.pulls[pi], cx.caller.user))
}

fn time_param(cx: &Cx, name: &str) -> Result<Option<i64>, Response> {
    match cx.req.param(name).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => time::parse(s).map(Some).ok_or_else(|| {
            api_error(
                cx.root,
                422,
                &format!("parsing time {s:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse"),
            )
        }),
    }
}

/// `since` and `before` (both inclusive, whole seconds), or the 422.
fn time_window(cx: &Cx) -> Result<impl Fn(&Comment) -> bool + use<>, Response> {
    let since = time_param(cx, "since")?;
    let before = time_param(cx, "before")?;
    Ok(move |c: &Comment| {
        since.is_none_or(|s| c.updated >= s) && before.is_none_or(|b| c.updated <= b)
    })
}

fn list_comments(cx: &mut Cx, r: usize, n: i64) -> Response {
    let in_window = match time_window(cx) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let w = &*cx.w;
    let rid = w.repos[r].id;
    // Gitea does not map a missing issue here: 500 (docs/gitea.md, errors).
    let Some(thread) = w.thread(rid, n) else {
        return api_error(cx.root, 500, "");
    };
    if thread.pull.is_some() && !w.repos[r].has_pull_requests {
        return not_found(cx.root);
    }
    let mut list: Vec<&Comment> = w
        .comments
        .iter()
        .filter(|c| c.repo_id == rid && c.issue_index == n && in_window(c))
        .collect();
    list.sort_by_key(|c| (c.created, c.id));
    // page and limit are ignored: all comments, with only X-Total-Count.
    let total = list.len();
    let items: Vec<Value> = list
        .iter()
        .map(|c| comment_json(w, cx.root, &w.repos[r], c))
        .collect();
    paged(Response::json(200, &Value::Array(items)), None, total)
}

/// Every plain comment of the repository, on issues and pull requests alike,
/// oldest first, paged, with `X-Total-Count` but no `Link`.
fn list_repo_comments(cx: &mut Cx, r: usize) -> Response {
    let in_window = match time_window(cx) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let w = &*cx.w;
    let repo = &w.repos[r];
    // Without read access to pull requests, only issues' comments.
    let pulls_visible = repo.has_pull_requests;
    let mut list: Vec<&Comment> = w
        .comments
        .iter()
        .filter(|c| c.repo_id == repo.id && in_window(c))
        .filter(|c| pulls_visible || !w.is_pull(repo.id, c.issue_index))
        .collect();
    list.sort_by_key(|c| (c.created, c.id));
    let total = list.len();
    let (page, limit) = paging(cx.req);
    let items: Vec<Value> = list
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|c| comment_json(w, cx.root, repo, c))
        .collect();
    paged(Response::json(200, &Value::Array(items)), None, total)
}

fn create_comment(cx: &mut Cx, r: usize, n: i64) -> Response {
    let root = cx.root;
    // Route order: reqToken, mustNotBeArchived, the body binding, the handler.
    if cx.w.repos[r].archived {
        return api_error(root, 423, "repo is archived");
    }
    let body = match body_object(cx) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let text = body.get("body").and_then(Value::as_str).unwrap_or("");
    if text.is_empty() {
        return api_error(root, 422, "[Body]: Required");
    }
    let rid = cx.w.repos[r].id;
    let Some(thread) = cx.w.thread(rid, n) else {
        // Gitea: ErrIssueNotExist is not mapped on this route (Forgejo: 404).
        return api_error(root, 500, "");
    };
    if thread.pull.is_some() && !cx.w.repos[r].has_pull_requests {
        return not_found(root);
    }
    let perm = cx.w.perm(&cx.w.repos[r], cx.caller.user);
    if thread.is_locked && perm < Perm::Write {
        return api_error(root, 403, "You cannot comment on a locked issue.");
    }
    let now = cx.w.now();
    let id = cx.w.id();
    let doer = cx.caller.user.unwrap_or_default();
    let c = Comment {
        id,
        repo_id: rid,
        issue_index: n,
        user_id: doer,
        body: text.to_string(),
        created: now,
        updated: now,
    };
    cx.w.touch(rid, n, now);
    cx.w.comments.push(c.clone());
    hooks::comment_event(cx.w, root, r, &c, "created", doer, None);
    Response::json(201, &comment_json(cx.w, root, &cx.w.repos[r], &c))
}

/// The comment with this id in repository `r`: Gitea answers an unknown id with
/// its JSON 404, and an id from another repository with an empty 404.
fn find_comment(cx: &Cx, r: usize, id: i64) -> Result<usize, Response> {
    let i =
        cx.w.comments
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| not_found(cx.root))?;
    if cx.w.comments[i].repo_id != cx.w.repos[r].id {
        return Err(Response::empty(404));
    }
    Ok(i)
}

/// A comment the caller may edit or delete: its author, or anyone who may
/// write to issues and pull requests; others get an empty 403.
fn changeable_comment(cx: &Cx, r: usize, id: i64) -> Result<usize, Response> {
    let i = find_comment(cx, r, id)?;
    let author = cx.caller.user == Some(cx.w.comments[i].user_id);
    if author || cx.w.perm(&cx.w.repos[r], cx.caller.user) >= Perm::Write {
        Ok(i)
    } else {
        Err(Response::empty(403))
    }
}

fn get_comment(cx: &mut Cx, r: usize, id: i64) -> Response {
    let i = match find_comment(cx, r, id) {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    let (w, c) = (&*cx.w, &cx.w.comments[i]);
    if w.is_pull(c.repo_id, c.issue_index) && !w.repos[r].has_pull_requests {
        return not_found(cx.root);
    }
    // Only plain comments exist here, so never Gitea's 204 for other types.
    Response::json(200, &comment_json(w, cx.root, &w.repos[r], c))
}

fn edit_comment(cx: &mut Cx, r: usize, id: i64) -> Response {
    let root = cx.root;
    let body = match body_object(cx) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let text = body.get("body").and_then(Value::as_str).unwrap_or("");
    if text.is_empty() {
        return api_error(root, 422, "[Body]: Required");
    }
    let i = match changeable_comment(cx, r, id) {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    let doer = cx.caller.user.unwrap_or_default();
    // Only a real change is saved, bumps `updated_at` and fires the webhook.
    if cx.w.comments[i].body != text {
        let now = cx.w.now();
        let c = &mut cx.w.comments[i];
        let old = std::mem::replace(&mut c.body, text.to_string());
        c.updated = now;
        let c = c.clone();
        hooks::comment_event(cx.w, root, r, &c, "edited", doer, Some(&old));
    }
    Response::json(
        200,
        &comment_json(cx.w, root, &cx.w.repos[r], &cx.w.comments[i]),
    )
}

fn delete_comment(cx: &mut Cx, r: usize, id: i64) -> Response {
    let i = match changeable_comment(cx, r, id) {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    let c = cx.w.comments.remove(i);
    let doer = cx.caller.user.unwrap_or_default();
    hooks::comment_event(cx.w, cx.root, r, &c, "deleted", doer, None);
    Response::empty(204)
}

/// Gitea's `ErrUserNotExist` text for a name looked up.
fn no_such_user(name: &str) -> String {
    format!("user does not exist [uid: 0, name: {name}]")
}

/// 204 for an explicit collaborator only: the owner is not one.
fn is_collaborator(cx: &mut Cx, r: usize, name: &str) -> Response {
    let Some(u) = cx.w.user_by_login(name) else {
        return api_error(cx.root, 422, &no_such_user(name));
    };
    if cx.w.repos[r].collaborators.contains_key(&u.id) {
        Response::empty(204)
    } else {
        not_found(cx.root)
    }
}

/// The effective permission of `name` on the repository. Only site admins, the
/// repository's admins and the user themself may ask.
fn collaborator_permission(cx: &mut Cx, r: usize, name: &str) -> Response {
    let (w, root) = (&*cx.w, cx.root);
    let repo = &w.repos[r];
    let caller = cx.caller.user.and_then(|id| w.user(id));
    let allowed = caller.is_some_and(|c| c.is_admin || c.login.eq_ignore_ascii_case(name))
        || w.perm(repo, cx.caller.user) >= Perm::Admin;
    if !allowed {
        return api_error(
            root,
            403,
            "Only admins can query all permissions, repo admins can query all repo permissions, collaborators can query only their own",
        );
    }
    let Some(u) = w.user_by_login(name) else {
        return api_error(root, 404, &no_such_user(name));
    };
    let perm = w.perm(repo, Some(u.id)).as_str();
    Response::json(
        200,
        &json!({
            "permission": perm,
            "role_name": perm,
            // Gitea renders the user as seen by the repository's owner (its
            // `ContextUser`), not by the caller.
            "user": user_json(w, root, u, Some(repo.owner_id)),
        }),
    )
}

fn create_status(cx: &mut Cx, r: usize, sha: &str) -> Response {
    let root = cx.root;
    let body = match body_object(cx) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    if cx.w.perm(&cx.w.repos[r], cx.caller.user) < Perm::Write {
        return api_error(
            root,
            403,
            "user should have a permission to write to a repo",
        );
    }
    // A short SHA is resolved (as git would); an unknown one is Gitea's 500.
    let matches: Vec<&String> = cx.w.repos[r]
        .commits
        .iter()
        .filter(|c| sha.len() >= 4 && c.starts_with(&sha.to_ascii_lowercase()))
        .collect();
    let [full] = matches.as_slice() else {
        return api_error(root, 500, "");
    };
    let full = full.to_string();
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let rid = cx.w.repos[r].id;
    let id =
        cx.w.statuses
            .iter()
            .filter(|s| s.repo_id == rid && s.sha == full)
            .count() as i64
            + 1;
    let st = Status {
        id,
        repo_id: rid,
        sha: full,
        // Gitea stores whatever it is given.
        state: body
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        target_url: text("target_url"),
        description: text("description"),
        context: text("context"),
        creator_id: cx.caller.user.unwrap_or_default(),
        created: cx.w.now(),
    };
    cx.w.statuses.push(st.clone());
    Response::json(
        201,
        &status_json(cx.w, root, &cx.w.repos[r], &st, cx.caller.user),
    )
}

// ---- JSON as Gitea's `services/convert` renders it ----

fn user_json(w: &World, root: &str, u: &User, doer: Option<i64>) -> Value {
    // Gitea shows is_admin and login_name only to the user and to admins.
    let privileged = doer.is_some_and(|d| d == u.id || w.user(d).is_some_and(|x| x.is_admin));
    json!({
        "id": u.id,
        "login": u.login,
        "login_name": "",
        "source_id": 0,
        "full_name": u.full_name,
        "email": format!("{}@noreply.localhost", u.login),
        "avatar_url": format!("{root}avatars/{}", u.id),
        "html_url": format!("{root}{}", u.login),
        "language": "",
        "is_admin": privileged && u.is_admin,
        "last_login": "0001-01-01T00:00:00Z",
        "created": time::format(u.created),
        "restricted": false,
        "active": true,
        "prohibit_login": false,
        "location": "",
        "website": "",
        "description": "",
        "visibility": "public",
        "followers_count": 0,
        "following_count": 0,
        "starred_repos_count": 0,
        "username": u.login,
    })
}

fn ghost() -> User {
    User {
        id: -1,
        login: "Ghost".into(),
        full_name: String::new(),
        is_admin: false,
        created: 0,
    }
}

pub(crate) fn user_or_ghost(w: &World, root: &str, id: i64, doer: Option<i64>) -> Value {
    match w.user(id) {
        Some(u) => user_json(w, root, u, doer),
        None => user_json(w, root, &ghost(), doer),
    }
}

pub(crate) fn repo_json(w: &World, root: &str, r: &Repo, perm: Perm) -> Value {
    let owner = w.user(r.owner_id).cloned().unwrap_or_else(ghost);
    let full = format!("{}/{}", owner.login, r.name);
    let rid = r.id;
    let open_pulls = w
        .pulls
        .iter()
        .filter(|p| p.repo_id == rid && p.state == State::Open)
        .count();
    let host = root
        .trim_end_matches('/')
        .rsplit("://")
        .next()
        .unwrap_or("localhost")
        .split(['/', ':'])
        .next()
        .unwrap_or("localhost")
        .to_string();
    json!({
        "id": r.id,
        "owner": user_json(w, root, &owner, None),
        "name": r.name,
        "full_name": full,
        "description": "",
        "empty": r.commits.is_empty(),
        "private": r.private,
        "fork": false,
        "template": false,
        "parent": null,
        "mirror": false,
        "size": 0,
        "language": "",
        "languages_url": format!("{root}api/v1/repos/{full}/languages"),
        "html_url": format!("{root}{full}"),
        "url": format!("{root}api/v1/repos/{full}"),
        "link": "",
        "ssh_url": format!("git@{host}:{full}.git"),
        "clone_url": r.clone_url.clone().unwrap_or_else(|| format!("{root}{full}.git")),
        "original_url": "",
        "website": "",
        "stars_count": 0,
        "forks_count": 0,
        "watchers_count": 0,
        "open_issues_count": 0,
        "open_pr_counter": open_pulls,
        "release_counter": 0,
        "default_branch": r.default_branch,
        "archived": r.archived,
        "created_at": time::format(r.created),
        "updated_at": time::format(r.created),
        "archived_at": time::format(0),
        "permissions": {
            "admin": perm >= Perm::Admin,
            "push": perm >= Perm::Write,
            "pull": perm >= Perm::Read,
        },
        "has_code": true,
        "has_issues": true,
        "internal_tracker": {
            "enable_time_tracker": false,
            "allow_only_contributors_to_track_time": true,
            "enable_issue_dependencies": true,
        },
        "has_wiki": false,
        "has_pull_requests": r.has_pull_requests,
        "has_projects": false,
        "projects_mode": "all",
        "has_releases": true,
        "has_packages": false,
        "has_actions": false,
        "ignore_whitespace_conflicts": false,
        "allow_merge_commits": true,
        "allow_rebase": true,
        "allow_rebase_explicit": true,
        "allow_squash_merge": true,
        "allow_fast_forward_only_merge": true,
        "allow_rebase_update": true,
        "allow_manual_merge": false,
        "autodetect_manual_merge": false,
        "allow_merge_update": true,
        "default_delete_branch_after_merge": false,
        "default_merge_style": "merge",
        "default_update_style": "merge",
        "default_allow_maintainer_edit": false,
        "default_target_branch": r.default_branch,
        "avatar_url": "",
        "internal": false,
        "mirror_interval": "",
        "object_format_name": "sha1",
        "mirror_updated": "0001-01-01T00:00:00Z",
        "mirror_last_sync_at": "0001-01-01T00:00:00Z",
        "repo_transfer": null,
        "topics": [],
        "licenses": [],
        "branch_count": 0,
    })
}

pub(crate) fn pull_json(w: &World, root: &str, p: &Pull, doer: Option<i64>) -> Value {
    let r = w.repos.iter().find(|r| r.id == p.repo_id);
    let Some(r) = r else { return Value::Null };
    let owner = w
        .user(r.owner_id)
        .map(|u| u.login.clone())
        .unwrap_or_default();
    let html = format!("{root}{owner}/{}/pulls/{}", r.name, p.number);
    let repo = repo_json(w, root, r, w.perm(r, doer));
    let comments = w
        .comments
        .iter()
        .filter(|c| c.repo_id == r.id && c.issue_index == p.number)
        .count();
    let head_ref = if p.head_branch_exists {
        p.head_branch.clone()
    } else {
        format!("refs/pull/{}/head", p.number)
    };
    let t = |x: Option<i64>| x.map(time::format);
    json!({
        "id": p.id,
        "url": html,
        "number": p.number,
        "user": user_or_ghost(w, root, p.poster_id, doer),
        "title": p.title,
        "body": p.body,
        "labels": [],
        "milestone": null,
        "assignee": null,
        "assignees": null,
        "requested_reviewers": [],
        "requested_reviewers_teams": [],
        "state": p.state.as_str(),
        "draft": p.draft,
        "is_locked": p.is_locked,
        "comments": comments,
        "review_comments": 0,
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "mergeable": p.state == State::Open,
        "merged": p.merged,
        "merged_at": t(p.merged_at),
        "merge_commit_sha": p.merge_commit_sha,
        "merged_by": p.merged_by.map(|u| user_or_ghost(w, root, u, doer)),
        "allow_maintainer_edit": false,
        "base": {
            "label": p.base_branch,
            "ref": p.base_branch,
            "sha": p.base_sha,
            "repo_id": r.id,
            "repo": repo,
        },
        "head": {
            "label": p.head_branch,
            "ref": head_ref,
            "sha": p.head_sha,
            "repo_id": r.id,
            "repo": repo,
        },
        "merge_base": p.base_sha,
        "due_date": null,
        "created_at": time::format(p.created),
        "updated_at": time::format(p.updated),
        "closed_at": t(p.closed_at),
        "pin_order": 0,
        "content_version": 0,
    })
}

fn owner_login(w: &World, r: &Repo) -> String {
    w.user(r.owner_id)
        .map(|u| u.login.clone())
        .unwrap_or_default()
}

/// `{ROOT}{o}/{r}/pulls/{n}` for a pull request, `…/issues/{n}` for an issue.
fn thread_html_url(w: &World, root: &str, r: &Repo, number: i64) -> String {
    let kind = if w.is_pull(r.id, number) {
        "pulls"
    } else {
        "issues"
    };
    format!("{root}{}/{}/{kind}/{number}", owner_login(w, r), r.name)
}

/// `convert.ToAPIComment`: the poster is rendered for nobody (`is_admin` never
/// shows), and exactly one of `pull_request_url` and `issue_url` is set.
pub(crate) fn comment_json(w: &World, root: &str, r: &Repo, c: &Comment) -> Value {
    let html = thread_html_url(w, root, r, c.issue_index);
    let is_pull = w.is_pull(r.id, c.issue_index);
    let (pr_url, issue_url) = if is_pull {
        (html.clone(), String::new())
    } else {
        (String::new(), html.clone())
    };
    json!({
        "id": c.id,
        "html_url": format!("{html}#issuecomment-{}", c.id),
        "pull_request_url": pr_url,
        "issue_url": issue_url,
        "user": user_or_ghost(w, root, c.user_id, None),
        "original_author": "",
        "original_author_id": 0,
        "body": c.body,
        "assets": [],
        "created_at": time::format(c.created),
        "updated_at": time::format(c.updated),
    })
}

/// `convert.ToAPIIssue`, as webhook payloads carry it (for a pull request too).
pub(crate) fn issue_json(w: &World, root: &str, r: &Repo, t: &Thread, doer: Option<i64>) -> Value {
    let owner = owner_login(w, r);
    let full = format!("{owner}/{}", r.name);
    let html = thread_html_url(w, root, r, t.number);
    let comments = w
        .comments
        .iter()
        .filter(|c| c.repo_id == r.id && c.issue_index == t.number)
        .count();
    let time = |x: Option<i64>| x.map(time::format);
    json!({
        "id": t.id,
        "url": format!("{root}api/v1/repos/{full}/issues/{}", t.number),
        "html_url": html,
        "number": t.number,
        "user": user_or_ghost(w, root, t.poster_id, doer),
        "original_author": "",
        "original_author_id": 0,
        "title": t.title,
        "body": t.body,
        "ref": "",
        "assets": [],
        "labels": [],
        "milestone": null,
        "assignee": null,
        "assignees": null,
        "state": t.state.as_str(),
        "is_locked": t.is_locked,
        "comments": comments,
        "created_at": time::format(t.created),
        "updated_at": time::format(t.updated),
        "closed_at": time(t.closed_at),
        "due_date": null,
        "time_estimate": 0,
        "pull_request": t.pull.map(|p| json!({
            "merged": p.merged,
            "merged_at": time(p.merged_at),
            "draft": p.draft,
            "html_url": html,
        })),
        "repository": {"id": r.id, "name": r.name, "owner": owner, "full_name": full},
        "pin_order": 0,
        "content_version": 0,
    })
}

fn status_json(w: &World, root: &str, r: &Repo, s: &Status, doer: Option<i64>) -> Value {
    let owner = w
        .user(r.owner_id)
        .map(|u| u.login.clone())
        .unwrap_or_default();
    json!({
        "id": s.id,
        "status": s.state,
        "target_url": s.target_url,
        "description": s.description,
        "url": format!("{root}api/v1/repos/{owner}/{}/statuses/{}", r.name, s.sha),
        "context": s.context,
        "creator": user_or_ghost(w, root, s.creator_id, doer),
        "created_at": time::format(s.created),
        "updated_at": time::format(s.created),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_forms() {
        assert_eq!(base64_decode("dXNlcjpwYXNz").as_deref(), Some("user:pass"));
        assert_eq!(base64_decode("YWJjOg==").as_deref(), Some("abc:"));
        assert_eq!(base64_decode("!!"), None);
    }
}
