//! `ccci-discover` end to end: the plan it builds for the demo recipe (tiers,
//! order, hooks, previous release, timeouts, PR-carried tests), `list`, and the
//! bad input it refuses. No Docker needed: discovery reads files and git.

mod common;

use ccci_core::plan::TIERS;
use common::{World, all_ids, hook_ids, ids, lines_with, parse, tier};
use std::os::unix::fs::PermissionsExt;

const SH: &str = "#!/bin/sh\nexit 0\n";

#[test]
fn release_plan_orders_tiers_generic_before_overlays_and_hooks() {
    let w = World::with_real_demo("release");
    w.exec("demo/install/zz-overlay", SH);
    w.exec("demo/hooks/pre-upgrade", SH);
    w.exec("demo/hooks/pre-custom", SH);
    w.exec("_generic/hooks/pre-custom", SH);

    let r = w.plan_run("0.2.0+1.1", &[]);
    r.assert_code(0);
    let p = parse(&r);
    assert_eq!(p.schema, 1);
    assert_eq!(p.recipe, "demo");
    assert_eq!(p.r#ref, "0.2.0+1.1");
    assert_eq!(p.source_repo, w.repo_path());
    assert_eq!(p.head_sha, w.sha("0.2.0+1.1"));
    assert_eq!(p.tested_tag.as_deref(), Some("0.2.0+1.1"));
    assert_eq!(p.previous.as_deref(), Some("0.1.0+1.0"));
    // The real demo settings: enrolled, not approved, tests get 120 s.
    assert!(p.settings.enrolled);
    assert!(!p.approved && !p.settings.approved);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert!(r.stderr.is_empty(), "{}", r.stderr);

    let names: Vec<&str> = p.tiers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, TIERS);
    assert_eq!(
        names,
        ["install", "upgrade", "backup", "restore", "custom", "lint"]
    );

    // Generic tests first (in path order), then the recipe's overlay.
    let install = ids(&p, "install");
    let (overlay, generic) = install.split_last().unwrap();
    assert_eq!(overlay, "demo/install/zz-overlay", "{install:?}");
    assert!(!generic.is_empty(), "{install:?}");
    assert!(
        generic.iter().all(|i| i.starts_with("_generic/install/")),
        "{install:?}"
    );
    assert!(generic.is_sorted(), "{install:?}");
    assert!(generic.iter().any(|i| i == "_generic/install/http-serves"));
    let t = tier(&p, "install");
    assert!(
        t.tests[..generic.len()]
            .iter()
            .all(|s| s.source == "generic")
    );
    let last = t.tests.last().unwrap();
    assert_eq!(last.source, "overlay");
    assert_eq!(last.path, w.recipes.join("demo/install/zz-overlay"));
    assert_eq!(
        t.tests[0].path,
        w.recipes
            .join("_generic")
            .join(&t.tests[0].id["_generic/".len()..])
    );

    // Hooks: the generic one first, then the recipe's; none where none exist.
    assert_eq!(
        hook_ids(&p, "upgrade"),
        ["_generic/hooks/pre-upgrade", "demo/hooks/pre-upgrade"]
    );
    assert_eq!(hook_ids(&p, "backup"), ["_generic/hooks/pre-backup"]);
    assert_eq!(
        hook_ids(&p, "custom"),
        ["_generic/hooks/pre-custom", "demo/hooks/pre-custom"]
    );
    for name in ["install", "restore", "lint"] {
        assert!(
            hook_ids(&p, name).is_empty(),
            "{name}: {:?}",
            hook_ids(&p, name)
        );
    }
    for h in p.tiers.iter().flat_map(|t| &t.hooks) {
        assert_eq!(h.source, "hook", "{h:?}");
        assert_eq!(h.timeout_s, 120, "{h:?}");
    }
    // backup-marker is a marker hook, not a tier hook: it is not in the plan.
    assert!(!all_ids(&p).iter().any(|i| i.contains("backup-marker")));

    // Every generic tier has its tests; the demo's functional test is custom.
    for name in ["upgrade", "backup", "restore", "lint"] {
        let got = ids(&p, name);
        assert!(!got.is_empty(), "{name}");
        assert!(
            got.iter()
                .all(|i| i.starts_with(&format!("_generic/{name}/"))),
            "{name}: {got:?}"
        );
    }
    let custom = tier(&p, "custom");
    assert_eq!(ids(&p, "custom"), ["demo/custom/rows-over-http"]);
    assert_eq!(custom.tests[0].source, "custom");
    for s in p.tiers.iter().flat_map(|t| &t.tests) {
        assert_eq!(s.timeout_s, 120, "{s:?}");
        assert!(s.path.is_file(), "{s:?}");
    }
}

#[test]
fn previous_release_of_a_tag_is_the_newest_lower_one() {
    let w = World::new("prev-tag");
    let p = w.plan("0.1.0+1.0");
    assert_eq!(p.tested_tag.as_deref(), Some("0.1.0+1.0"));
    assert_eq!(p.previous, None, "nothing older: upgrade is na");
    assert_eq!(p.head_sha, w.sha("0.1.0+1.0"));
}

#[test]
fn previous_release_of_a_branch_skips_a_tag_on_its_head() {
    let w = World::new("prev-branch");
    // main is at the 0.2.0+1.1 commit: that release is the head itself, so the
    // branch is an upgrade of 0.1.0+1.0.
    assert_eq!(w.sha("main"), w.sha("0.2.0+1.1"));
    for r in ["main".to_string(), w.sha("main")] {
        let p = w.plan(&r);
        assert_eq!(p.tested_tag, None, "{r}");
        assert_eq!(p.previous.as_deref(), Some("0.1.0+1.0"), "{r}");
        assert_eq!(p.head_sha, w.sha("0.2.0+1.1"));
    }
}

#[test]
fn previous_release_of_an_untagged_commit_is_the_newest_it_descends_from() {
    let w = World::new("prev-commit");
    w.repo.write("NOTES", "unreleased\n");
    let head = w.repo.commit("feat: unreleased change");
    for r in ["main", head.as_str()] {
        let p = w.plan(r);
        assert_eq!(p.tested_tag, None, "{r}");
        assert_eq!(p.previous.as_deref(), Some("0.2.0+1.1"), "{r}");
        assert_eq!(p.head_sha, head);
    }
    // A branch from the first release does not descend from the second.
    w.git(&["checkout", "-q", "-b", "old", "0.1.0+1.0"]);
    w.repo.write("NOTES", "on the old line\n");
    let old = w.repo.commit("fix: on the old line");
    let p = w.plan("old");
    assert_eq!(p.head_sha, old);
    assert_eq!(p.previous.as_deref(), Some("0.1.0+1.0"));
}

#[test]
fn tags_that_are_not_releases_are_ignored() {
    let w = World::new("prev-nonrelease");
    w.repo.write("NOTES", "nightly\n");
    let head = w.repo.commit("feat: nightly build");
    // Lightweight and annotated, and names that look newer than any release.
    w.git(&["tag", "nightly"]);
    w.git(&["tag", "-a", "v1", "-m", "v1"]);
    w.git(&["tag", "-a", "v9.0.0+9.0", "-m", "v9.0.0+9.0"]);
    w.git(&["tag", "latest", "0.1.0+1.0"]);
    for r in ["main", "nightly", "v1", "v9.0.0+9.0"] {
        let p = w.plan(r);
        assert_eq!(p.head_sha, head, "{r}");
        assert_eq!(p.tested_tag, None, "{r} is not a release tag");
        assert_eq!(p.previous.as_deref(), Some("0.2.0+1.1"), "{r}");
    }
    // Testing a release: a non-release tag never becomes its previous.
    let p = w.plan("0.2.0+1.1");
    assert_eq!(p.previous.as_deref(), Some("0.1.0+1.0"));
}

/// Operators run final releases: a final release after its release candidate is
/// tested as an upgrade from the last final release (0.2.0), not from the
/// candidate, and so is a commit after the candidate.
#[test]
fn previous_of_a_final_release_after_its_candidate_is_the_last_final() {
    let w = World::new("prev-rc");
    w.repo.write("NOTES", "rc\n");
    w.repo.release("0.3.0-rc.1+1.2");
    w.repo.write("NOTES", "after the rc\n");
    let between = w.repo.commit("fix: after the rc");
    w.repo.write("NOTES", "final\n");
    w.repo.release("0.3.0+1.2");

    let p = w.plan("0.3.0+1.2");
    assert_eq!(p.tested_tag.as_deref(), Some("0.3.0+1.2"));
    assert_eq!(p.previous.as_deref(), Some("0.2.0+1.1"));

    // The candidate itself is a release, an upgrade of the last final one.
    let p = w.plan("0.3.0-rc.1+1.2");
    assert_eq!(p.tested_tag.as_deref(), Some("0.3.0-rc.1+1.2"));
    assert_eq!(p.previous.as_deref(), Some("0.2.0+1.1"));

    // So does a commit after the candidate.
    let p = w.plan(&between);
    assert_eq!(p.tested_tag, None);
    assert_eq!(p.previous.as_deref(), Some("0.2.0+1.1"));
}

#[test]
fn deprecated_folders_run_as_custom_tests_with_one_warning_each() {
    let w = World::new("deprecated");
    w.exec("demo/custom/test_c", SH);
    w.exec("demo/functional/test_x", SH);
    w.exec("demo/functional/test_x2", SH);
    w.exec("demo/playwright/test_y", SH);

    let r = w.plan_run("0.2.0+1.1", &[]);
    r.assert_code(0);
    let p = parse(&r);
    assert_eq!(
        ids(&p, "custom"),
        [
            "demo/custom/test_c",
            "demo/functional/test_x",
            "demo/functional/test_x2",
            "demo/playwright/test_y",
        ]
    );
    let sources: Vec<&str> = tier(&p, "custom")
        .tests
        .iter()
        .map(|s| s.source.as_str())
        .collect();
    assert_eq!(
        sources,
        ["custom", "deprecated", "deprecated", "deprecated"]
    );
    // Deprecated tests run in the custom tier only.
    for t in p.tiers.iter().filter(|t| t.name != "custom") {
        assert!(
            t.tests.iter().all(|s| s.source != "deprecated"),
            "{}: {:?}",
            t.name,
            t.tests
        );
    }

    // One loud line per folder (not per test, not per tier), on stderr and in the plan.
    let loud = lines_with(&r.stderr, "DEPRECATED");
    assert_eq!(loud.len(), 2, "{}", r.stderr);
    assert_eq!(
        lines_with(&r.stderr, "functional/").len(),
        1,
        "{}",
        r.stderr
    );
    assert_eq!(
        lines_with(&r.stderr, "playwright/").len(),
        1,
        "{}",
        r.stderr
    );
    assert!(
        lines_with(&r.stderr, "functional/")[0].contains("2 tests"),
        "{}",
        r.stderr
    );
    let warned: Vec<&String> = p
        .warnings
        .iter()
        .filter(|m| m.contains("DEPRECATED"))
        .collect();
    assert_eq!(warned.len(), 2, "{:?}", p.warnings);
    assert!(warned[0].contains("functional/"), "{warned:?}");
    assert!(warned[1].contains("playwright/"), "{warned:?}");
    assert!(
        warned.iter().all(|m| m.contains("custom/")),
        "the warning says where to move them: {warned:?}"
    );
}

#[test]
fn helpers_and_non_executables_are_not_tests_and_dirs_are_recursed() {
    let w = World::new("helpers");
    w.exec("demo/custom/a_test", SH);
    w.exec("demo/custom/_lib/helper.sh", SH);
    w.exec("demo/custom/_helper", SH);
    w.exec("demo/custom/.hidden", SH);
    w.exec("demo/custom/.cache/test_cached", SH);
    w.exec("demo/custom/sub/test_z", SH);
    w.exec("demo/custom/sub/deeper/test_deep", SH);
    w.exec("demo/custom/sub/_fixtures/run-me", SH);
    w.exec("demo/custom/z_test", SH);
    w.file("demo/custom/forgot-chmod", "#!/bin/sh\nexit 0\n");
    w.file("demo/custom/README.md", "# Tests\nHow to run them.\n");
    w.file("demo/custom/data.json", "{}\n");
    w.file("demo/install/overlay-no-x", "#!/bin/bash\ntrue\n");
    w.file("demo/hooks/pre-install", SH);

    let r = w.plan_run("0.2.0+1.1", &[]);
    r.assert_code(0);
    let p = parse(&r);
    assert_eq!(
        ids(&p, "custom"),
        [
            "demo/custom/a_test",
            "demo/custom/sub/deeper/test_deep",
            "demo/custom/sub/test_z",
            "demo/custom/z_test",
        ]
    );
    let z = &tier(&p, "custom").tests[2];
    assert_eq!(z.path, w.recipes.join("demo/custom/sub/test_z"));
    assert_eq!(z.source, "custom");
    let all = all_ids(&p);
    for never in [
        "helper",
        "_lib",
        "hidden",
        "cached",
        "run-me",
        "forgot-chmod",
        "README",
        "data.json",
        "overlay-no-x",
        "pre-install",
    ] {
        assert!(!all.iter().any(|i| i.contains(never)), "{never} in {all:?}");
    }

    // A file that looks like a test but cannot run is named; plain files are not.
    let named = |what: &str| p.warnings.iter().filter(|m| m.contains(what)).count();
    assert_eq!(named("demo/custom/forgot-chmod"), 1, "{:?}", p.warnings);
    assert_eq!(named("demo/install/overlay-no-x"), 1, "{:?}", p.warnings);
    assert_eq!(named("demo/hooks/pre-install"), 1, "{:?}", p.warnings);
    assert!(
        p.warnings
            .iter()
            .filter(|m| m.contains("forgot-chmod") || m.contains("overlay-no-x"))
            .all(|m| m.contains("not executable")),
        "{:?}",
        p.warnings
    );
    assert_eq!(named("README"), 0, "{:?}", p.warnings);
    assert_eq!(named("data.json"), 0, "{:?}", p.warnings);
    assert_eq!(named("_lib/"), 0, "{:?}", p.warnings);
    assert_eq!(named("_helper"), 0, "{:?}", p.warnings);
    assert_eq!(named(".hidden"), 0, "{:?}", p.warnings);
    assert_eq!(p.warnings.len(), 3, "{:?}", p.warnings);
}

#[test]
fn declared_timeout_overrides_the_settings_default() {
    let w = World::new("timeouts");
    w.settings(r#"{"schema":1,"timeouts":{"test":77}}"#);
    w.exec(
        "demo/custom/slow",
        "#!/bin/sh\n# A slow one.\n# ccci-timeout: 42\nsleep 30\n",
    );
    w.exec("demo/custom/plain", SH);
    w.exec("demo/custom/zero", "#!/bin/sh\n# ccci-timeout: 0\n");
    w.exec(
        "demo/custom/too-late",
        &format!("#!/bin/sh\n{}# ccci-timeout: 42\n", "#\n".repeat(12)),
    );
    w.exec("demo/hooks/pre-install", "#!/bin/sh\n# ccci-timeout: 9\n");

    let p = w.plan("0.2.0+1.1");
    assert_eq!(p.settings.timeouts.test, 77);
    let custom = tier(&p, "custom");
    let t = |id: &str| {
        custom
            .tests
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no {id} in {:?}", custom.tests))
            .timeout_s
    };
    assert_eq!(t("demo/custom/slow"), 42);
    assert_eq!(t("demo/custom/plain"), 77);
    assert_eq!(t("demo/custom/zero"), 77, "0 s is not a timeout");
    assert_eq!(
        t("demo/custom/too-late"),
        77,
        "only the first ten lines count"
    );
    assert_eq!(tier(&p, "install").hooks[0].id, "demo/hooks/pre-install");
    assert_eq!(tier(&p, "install").hooks[0].timeout_s, 9);
    // Generic tests and hooks take the recipe's default too.
    for s in p.tiers.iter().flat_map(|t| t.hooks.iter().chain(&t.tests)) {
        if s.id.starts_with("_generic/") {
            assert_eq!(s.timeout_s, 77, "{s:?}");
        }
    }

    // Without settings, the default is 300 s.
    std::fs::remove_file(w.recipes.join("demo/recipe.json")).unwrap();
    let p = w.plan("0.2.0+1.1");
    assert_eq!(p.settings.timeouts.test, 300);
    assert_eq!(ids(&p, "custom").len(), 4);
    for s in &tier(&p, "custom").tests {
        let want = if s.id == "demo/custom/slow" { 42 } else { 300 };
        assert_eq!(s.timeout_s, want, "{s:?}");
    }
}

/// The recipe repository's `.ccci/<tier>/` at a new commit on main.
fn pr_world(name: &str) -> World {
    let w = World::new(name);
    w.repo_file(".ccci/custom/smoke", "#!/bin/sh\necho pr smoke\n", 0o755);
    w.repo_file(
        ".ccci/install/check",
        "#!/bin/sh\n# ccci-timeout: 11\n",
        0o755,
    );
    w.repo_file(".ccci/custom/_lib/helper", "#!/bin/sh\n", 0o755);
    w.repo_file(".ccci/custom/README.md", "PR tests\n", 0o644);
    w.repo.commit("test: the recipe's own tests");
    let tree = w.git(&["ls-tree", "-r", "HEAD", "--", ".ccci"]);
    assert!(tree.contains("100755 blob"), "{tree}");
    assert_eq!(tree.matches("100755 ").count(), 3, "{tree}");
    w
}

fn no_pr_tests(p: &ccci_core::plan::Plan) {
    let all = all_ids(p);
    assert!(!all.iter().any(|i| i.starts_with("pr/")), "{all:?}");
    let steps = p.tiers.iter().flat_map(|t| t.hooks.iter().chain(&t.tests));
    assert!(steps.clone().all(|s| s.source != "pr"));
}

#[test]
fn pr_tests_are_denied_unless_the_recipe_is_approved() {
    let w = pr_world("pr-deny");
    for settings in [None, Some(r#"{"schema":1,"approved":false}"#)] {
        if let Some(s) = settings {
            w.settings(s);
        }
        let out = w.scratch.join("out-deny");
        let out_s = out.to_string_lossy().into_owned();
        for extra in [&[][..], &["--out", out_s.as_str()][..]] {
            let r = w.plan_run("main", extra);
            r.assert_code(0);
            let p = parse(&r);
            assert!(!p.approved, "{settings:?}");
            no_pr_tests(&p);
            let denied: Vec<&String> = p
                .warnings
                .iter()
                .filter(|m| m.contains("not on the approved list (default deny)"))
                .collect();
            assert_eq!(denied.len(), 1, "{settings:?}: {:?}", p.warnings);
            // Helpers (`_`) and non-executables are not counted.
            assert!(denied[0].contains("2 tests"), "{}", denied[0]);
            assert!(denied[0].contains(".ccci/"), "{}", denied[0]);
            assert_eq!(
                lines_with(&r.stderr, "default deny").len(),
                1,
                "said loudly: {}",
                r.stderr
            );
        }
        assert!(
            !out.join("pr-tests").exists(),
            "denied tests are not even written out"
        );
    }
    // A ref without .ccci/ says nothing about it.
    let p = w.plan("0.2.0+1.1");
    assert!(
        !p.warnings.iter().any(|m| m.contains(".ccci")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn approved_pr_tests_are_written_out_and_listed() {
    let w = pr_world("pr-approved");
    w.settings(r#"{"schema":1,"approved":true}"#);
    w.exec("demo/custom/own", SH);
    let out = w.scratch.join("out");
    let out_s = out.to_string_lossy().into_owned();

    let r = w.plan_run("main", &["--out", &out_s]);
    r.assert_code(0);
    let p = parse(&r);
    assert!(p.approved);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert!(r.stderr.is_empty(), "{}", r.stderr);

    // Listed after the generic tests and the recipe's own, in their tiers.
    let custom = tier(&p, "custom");
    assert_eq!(ids(&p, "custom"), ["demo/custom/own", "pr/custom/smoke"]);
    let smoke = &custom.tests[1];
    assert_eq!(smoke.source, "pr");
    assert_eq!(smoke.path, out.join("pr-tests/.ccci/custom/smoke"));
    let install = ids(&p, "install");
    assert_eq!(install.last().unwrap(), "pr/install/check", "{install:?}");
    assert!(
        install[..install.len() - 1]
            .iter()
            .all(|i| i.starts_with("_generic/")),
        "{install:?}"
    );
    let check = tier(&p, "install").tests.last().unwrap();
    assert_eq!(check.source, "pr");
    assert_eq!(check.timeout_s, 11);
    assert_eq!(check.path, out.join("pr-tests/.ccci/install/check"));
    assert_eq!(
        all_ids(&p).iter().filter(|i| i.starts_with("pr/")).count(),
        2
    );

    // The files are there, executable, with the content of the ref.
    for s in [smoke, check] {
        let meta = std::fs::metadata(&s.path).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert!(meta.permissions().mode() & 0o111 != 0, "{s:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&smoke.path).unwrap(),
        "#!/bin/sh\necho pr smoke\n"
    );
    // Nothing but .ccci/ of the ref is written out.
    let written: Vec<_> = std::fs::read_dir(out.join("pr-tests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, [".ccci"]);

    // plan.json in --out is what stdout printed.
    let file = std::fs::read_to_string(out.join("plan.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(file, plan_part(&r.json()));
}

#[test]
fn approved_pr_tests_without_out_are_only_counted() {
    let w = pr_world("pr-no-out");
    w.settings(r#"{"schema":1,"approved":true}"#);
    let p = w.plan("main");
    assert!(p.approved);
    no_pr_tests(&p);
    let said: Vec<&String> = p
        .warnings
        .iter()
        .filter(|m| m.contains("listed when the plan is written with --out"))
        .collect();
    assert_eq!(said.len(), 1, "{:?}", p.warnings);
    assert!(said[0].contains("2 tests"), "{}", said[0]);
}

#[test]
fn plan_json_is_written_to_out_for_any_plan() {
    let w = World::with_real_demo("out");
    let out = w.scratch.join("deep/out");
    let out_s = out.to_string_lossy().into_owned();
    let r = w.plan_run("0.2.0+1.1", &["--out", &out_s]);
    r.assert_code(0);
    let file = std::fs::read_to_string(out.join("plan.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(file, plan_part(&r.json()));
    assert!(!out.join("pr-tests").exists());
    assert!(
        !out.join("source.git").exists(),
        "a local repo is used in place"
    );
}

#[test]
fn list_shows_enrolled_recipes_and_all_with_all() {
    let w = World::new("list");
    w.settings(r#"{"schema":1,"enrolled":true,"repo":"https://git.example.org/demo.git"}"#);
    w.file("other/recipe.json", r#"{"schema":1,"approved":true}"#);
    w.exec("bare/custom/t", SH); // a folder, no recipe.json
    std::fs::create_dir_all(w.recipes.join("Not-A-Name")).unwrap();
    std::fs::create_dir_all(w.recipes.join("_shared")).unwrap();
    w.file("stray-file", "");

    let r = w.discover(&["list", "--long"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "demo\thttps://git.example.org/demo.git\t-\t-\n");
    let r = w.discover(&["list"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "demo\n");
    assert!(r.stderr.is_empty(), "{}", r.stderr);

    let r = w.discover(&["list", "--all"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        [
            "bare\tnot-enrolled\tnot-approved",
            "demo\tenrolled\tnot-approved",
            "other\tnot-enrolled\tapproved",
        ]
    );

    let r = w.discover(&["--json", "list"]);
    r.assert_code(0);
    assert_eq!(r.json()["tool"], "ccci-discover");
    assert_eq!(
        r.json()["recipes"],
        serde_json::json!([
            {"recipe": "demo", "enrolled": true, "approved": false,
             "repo": "https://git.example.org/demo.git", "upstream": null, "gitea_repo": null},
        ])
    );

    let r = w.discover(&["list", "--all", "--json"]);
    r.assert_code(0);
    assert_eq!(
        r.json()["recipes"],
        serde_json::json!([
            {"recipe": "bare", "enrolled": false, "approved": false, "repo": null, "upstream": null, "gitea_repo": null},
            {"recipe": "demo", "enrolled": true, "approved": false,
             "repo": "https://git.example.org/demo.git", "upstream": null, "gitea_repo": null},
            {"recipe": "other", "enrolled": false, "approved": true, "repo": null, "upstream": null, "gitea_repo": null},
        ])
    );

    // Nothing enrolled: an empty list, still a success.
    w.settings(r#"{"schema":1}"#);
    let r = w.discover(&["--json", "list"]);
    r.assert_code(0);
    assert_eq!(r.json()["recipes"], serde_json::json!([]));
    let r = w.discover(&["list"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "");
}

/// The plan in a `--json plan` verdict: everything but the shared keys.
fn plan_part(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    let m = v.as_object_mut().unwrap();
    for k in ["tool", "outcome", "summary"] {
        assert!(m.remove(k).is_some(), "the verdict has no {k}");
    }
    v
}

/// Exit 2, one stderr line containing every `needle`, and on stdout nothing,
/// or (with `--json`) the error verdict saying the same.
fn refused(r: &ccci_testkit::Run, needles: &[&str]) {
    r.assert_code(2);
    ccci_testkit::assert_one_line_error(r, "ccci-discover");
    if !r.stdout.is_empty() {
        assert_eq!(r.json()["cause"], "input", "{}", r.stdout);
    }
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", r.stderr);
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {:?}", lines[0]);
    }
    assert!(lines[0].starts_with("ccci-discover: "), "{:?}", lines[0]);
}

#[test]
fn unknown_ref_is_refused() {
    let w = World::new("bad-ref");
    refused(
        &w.plan_run("no-such-ref", &[]),
        &["unknown ref", "no-such-ref"],
    );
    refused(&w.plan_run("9.9.9+9.9", &[]), &["unknown ref", "9.9.9+9.9"]);
    // A ref that would be an option to git is not passed on as one.
    let repo = w.repo_path();
    let r = w.discover(&[
        "plan",
        "--recipe",
        "demo",
        "--repo",
        &repo,
        "--ref=--upload-pack=touch",
    ]);
    refused(&r, &["is not a git ref", "--upload-pack=touch"]);
}

#[test]
fn invalid_recipe_name_is_refused() {
    let w = World::new("bad-name");
    let repo = w.repo_path();
    for name in ["Demo", "../demo", "_generic", "de mo"] {
        let r = w.discover(&["plan", "--recipe", name, "--repo", &repo, "--ref", "main"]);
        refused(&r, &["recipe name", name]);
    }
}

#[test]
fn missing_repo_path_is_refused() {
    let w = World::new("bad-repo");
    let missing = w
        .scratch
        .join("no-such-repo")
        .to_string_lossy()
        .into_owned();
    let r = w.discover(&[
        "--json", "plan", "--recipe", "demo", "--repo", &missing, "--ref", "main",
    ]);
    refused(&r, &[&missing, "does not exist"]);
}

#[test]
fn misspelt_setting_is_refused_naming_recipe_json() {
    let w = World::new("bad-settings");
    w.settings(r#"{"schema":1,"aproved":true}"#);
    refused(&w.plan_run("main", &[]), &["recipe.json", "aproved"]);
    // list reads every recipe's settings, so it refuses too.
    refused(&w.discover(&["list"]), &["recipe.json", "aproved"]);
}

#[test]
fn recipes_dir_without_generic_is_refused() {
    let w = World::new("bad-recipes");
    let empty = w.scratch.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let empty_s = empty.to_string_lossy().into_owned();
    let repo = w.repo_path();
    let env = [("CCCI_RECIPES_DIR", empty_s.as_str())];
    let r = w.discover_env(
        &[
            "--json", "plan", "--recipe", "demo", "--repo", &repo, "--ref", "main",
        ],
        &env,
    );
    refused(&r, &[&empty_s, "_generic/"]);
    refused(&w.discover_env(&["list"], &env), &[&empty_s, "_generic/"]);
}

#[test]
fn a_reader_that_closes_the_pipe_early_is_no_error() {
    let w = World::with_real_demo("pipe");
    let repo = w.repo_path();
    // The reader (`true`) is gone before the plan is printed: every write of
    // the plan meets a closed pipe, as under `| head -1` with a long plan.
    let script = "{ sleep 0.3; \"$0\" --json plan --recipe demo --repo \"$1\" --ref 0.2.0+1.1; echo \"rc=$?\" >&3; } 3>&2 2>\"$2\" | true";
    let err = w.scratch.join("stderr");
    let env = w.env();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(common::bin())
        .arg(&repo)
        .arg(&err)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let rc = String::from_utf8_lossy(&out.stderr);
    assert_eq!(rc.trim(), "rc=0", "{rc}");
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(
        stderr.is_empty(),
        "a closed pipe is not worth a word: {stderr}"
    );
}
