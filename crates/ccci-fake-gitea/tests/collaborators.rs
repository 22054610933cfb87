//! Who may trigger: the collaborator checks (docs/gitea.md, the fake).

mod common;

use ccci_fake_gitea::Perm;
use common::*;

fn permission(f: &ccci_fake_gitea::FakeGitea, user: &str, tok: Option<&str>) -> Resp {
    get(
        f,
        &repo_path(&format!("/collaborators/{user}/permission")),
        tok,
    )
}

/// `world()` plus the owner's token, a site admin and a repository admin.
fn people() -> ccci_fake_gitea::FakeGitea {
    let f = world();
    f.add_token("recipes", "owner-token", None);
    f.add_admin("root");
    f.add_token("root", "root-token", None);
    f.add_collaborator("recipes", "demo", "maintainer", Perm::Admin)
        .unwrap();
    f.add_token("maintainer", "maintainer-token", None);
    f.add_collaborator("recipes", "demo", "looker", Perm::Read)
        .unwrap();
    f
}

#[test]
fn the_effective_permission_of_each_kind_of_user() {
    let f = people();
    for (user, want) in [
        ("recipes", "owner"),
        ("root", "owner"),
        ("maintainer", "admin"),
        ("ci-bot", "write"),
        ("looker", "read"),
        ("alice", "read"),
    ] {
        let r = permission(&f, user, Some("owner-token"));
        assert_eq!(r.status, 200, "{user}: {}", r.body);
        let j = r.json();
        assert_eq!(j["permission"], want, "{user}");
        assert_eq!(j["role_name"], want, "{user}");
        assert_eq!(j["user"]["login"], user);
    }
    // A private repository gives a stranger nothing.
    f.set_private("recipes", "demo", true).unwrap();
    assert_eq!(
        permission(&f, "alice", Some("owner-token")).json()["permission"],
        "none"
    );
    // Names match in any case.
    assert_eq!(
        permission(&f, "CI-Bot", Some("owner-token")).json()["permission"],
        "write"
    );
}

#[test]
fn only_admins_and_the_user_themself_may_ask() {
    let f = people();
    // Oneself: fine, whatever one's permission.
    for (tok, user) in [("bot-token", "ci-bot"), ("alice-token", "alice")] {
        assert_eq!(permission(&f, user, Some(tok)).status, 200, "{user}");
    }
    // Site admins, the owner and repository admins may ask about anyone.
    for tok in ["root-token", "owner-token", "maintainer-token"] {
        assert_eq!(permission(&f, "alice", Some(tok)).status, 200, "{tok}");
    }
    // Anyone else: 403 with Gitea's message, before the user is looked up.
    for user in ["alice", "nobody"] {
        let r = permission(&f, user, Some("bot-token"));
        assert_eq!(r.status, 403, "{user}");
        assert_eq!(
            r.json()["message"],
            "Only admins can query all permissions, repo admins can query all repo permissions, collaborators can query only their own"
        );
    }
    let r = permission(&f, "nobody", Some("owner-token"));
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (404, "user does not exist [uid: 0, name: nobody]")
    );
    // A token is required even on a public repository.
    let r = permission(&f, "alice", None);
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (401, "token is required")
    );
    // The user is rendered as the repository's owner would see them, whoever
    // asks: a site admin's flag does not show to an owner who is no admin.
    assert_eq!(
        permission(&f, "root", Some("root-token")).json()["user"]["is_admin"],
        false
    );
    // An unknown repository is 404 first.
    let r = get(
        &f,
        "/api/v1/repos/recipes/none/collaborators/alice/permission",
        Some("owner-token"),
    );
    assert_eq!(r.status, 404);
}

#[test]
fn is_collaborator_means_explicit_collaborator() {
    let f = people();
    let check =
        |user: &str, tok: Option<&str>| get(&f, &repo_path(&format!("/collaborators/{user}")), tok);
    for user in ["ci-bot", "maintainer", "looker"] {
        let r = check(user, Some("alice-token"));
        assert_eq!((r.status, r.body.as_str()), (204, ""), "{user}");
    }
    // The owner and a site admin are not collaborators.
    for user in ["recipes", "root", "alice"] {
        let r = check(user, Some("alice-token"));
        assert_eq!(
            (r.status, r.json()["message"].as_str()),
            (404, Some("not found")),
            "{user}"
        );
    }
    let r = check("nobody", Some("alice-token"));
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (422, "user does not exist [uid: 0, name: nobody]")
    );
    assert_eq!(check("ci-bot", None).status, 401);
    // The list of collaborators is not faked.
    assert_eq!(
        get(&f, &repo_path("/collaborators"), Some("alice-token")).status,
        501
    );
}
