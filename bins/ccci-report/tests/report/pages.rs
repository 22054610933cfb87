//! The pages `ccci-report pages` writes for real-shaped run directories.

use crate::fixtures::{self, green, run_id, write_finished};
use crate::{DEP_SECRET, ENV_SECRET, EVIL_TEST, SECRET, T0, World, assert_links_resolve, mixed};
use ccci_testkit::assert_one_line_error;

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn fixtures_are_results_the_schema_accepts() {
    let w = World::new("report-schema");
    let m = mixed(&w);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ccci_testkit::workspace().join("schemas/results.schema.json"))
            .unwrap(),
    )
    .unwrap();
    for id in [&m.green, &m.red, &m.interrupted, &m.with_dep] {
        let p = w.state.join("runs").join(id).join("results.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let errors = ccci_testkit::schema::validate(&schema, &v);
        assert!(errors.is_empty(), "{id}: {errors:?}");
    }
}

#[test]
fn a_green_run_shows_request_plan_tiers_level_teardown_and_every_log() {
    let w = World::new("report-green");
    let m = mixed(&w);
    w.report(&["pages"]).assert_code(0);
    let rel = format!("runs/{}/index.html", m.green);
    let p = w.read(&rel);
    assert!(
        p.contains(r#"<span class="chip green">L5 green</span>"#),
        "{p}"
    );
    assert!(p.contains(r#"<a href="../../recipes/demo/index.html">demo</a>"#));
    for want in [
        "<code>0.2.0+1.1</code>",
        "<dt>Upgraded from</dt><dd><code>0.1.0+1.0</code>",
        "<dt>Trigger</dt><dd>sweep</dd>",
        "<dt>Mode</dt><dd>cold</dd>",
        "L5: climbed install, upgrade, backup + restore, custom, lint.",
        "<span class=\"chip clean\">clean</span>",
        "7 tests and 0 hooks in 6 tiers",
        "https://git.coopcloud.tech/coop-cloud/demo.git",
    ] {
        assert!(p.contains(want), "{want} not in {p}");
    }
    assert_eq!(count(&p, "<tr class=\"tier\">"), 6);
    assert_eq!(count(&p, "<tr class=\"test\">"), 7);
    assert_eq!(count(&p, "<span class=\"chip pass\">pass</span>"), 13);
    assert!(!p.contains("refresh"), "a finished run does not reload");
    // Every log of the run is published as text and linked, and junit.xml.
    let run_dir = w.state.join("runs").join(&m.green);
    let mut logs = 0;
    for e in walk(&run_dir.join("logs")) {
        let rel_log = e
            .strip_prefix(&run_dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            p.contains(&format!("href=\"{rel_log}.txt\"")),
            "{rel_log} not linked"
        );
        assert!(w.www(&format!("runs/{}/{rel_log}.txt", m.green)).is_file());
        logs += 1;
    }
    assert_eq!(logs, 15, "6 tier logs, 7 test logs, plan and teardown");
    assert!(p.contains(r#"<a href="junit.xml">junit.xml</a>"#));
    assert!(
        w.read(&format!("runs/{}/junit.xml", m.green))
            .contains("<testsuite ")
    );
    assert!(assert_links_resolve(&w, &rel, &p) > 30);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn secrets_appear_in_no_page_and_no_copied_log() {
    let w = World::new("report-secrets");
    let m = mixed(&w);
    w.report(&["pages"]).assert_code(0);
    let red = w.read(&format!("runs/{}/index.html", m.red));
    assert!(
        red.contains(r#"<span class="chip red">L1 red</span>"#),
        "{red}"
    );
    assert!(red.contains("marker [REDACTED] was not found after the upgrade"));
    assert!(red.contains("<dt>Pull request</dt><dd>#42</dd>"));
    // The planted values are in the run's own files...
    let run_dir = w.state.join("runs").join(&m.red);
    let failing =
        std::fs::read_to_string(run_dir.join("logs/upgrade/_generic_upgrade_marker-kept.log"))
            .unwrap();
    assert!(failing.contains(SECRET));
    assert!(
        std::fs::read_to_string(run_dir.join("junit.xml"))
            .unwrap()
            .contains(SECRET)
    );
    // ...and nowhere under www.
    let copied = w.read(&format!(
        "runs/{}/logs/upgrade/_generic_upgrade_marker-kept.log.txt",
        m.red
    ));
    assert_eq!(count(&copied, "[REDACTED]"), 2, "{copied}");
    let files = w.files();
    assert!(files.len() > 60, "{files:?}");
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(w.www(f)).unwrap()).into_owned();
        for s in [
            SECRET,
            ENV_SECRET,
            DEP_SECRET,
            "GreenRunSecret1",
            "NextcloudSecret8",
        ] {
            assert!(!text.contains(s), "{s} is in www/{f}");
        }
    }
    assert!(
        w.read(&format!("runs/{}/junit.xml", m.red))
            .contains("[REDACTED]")
    );
    assert!(
        w.read(&format!("runs/{}/logs/install.log.txt", m.red))
            .contains("ADMIN_PASSWORD=[REDACTED]")
    );
}

#[test]
fn names_from_a_run_show_as_text() {
    let w = World::new("report-escape");
    let m = mixed(&w);
    w.report(&["pages"]).assert_code(0);
    let red = w.read(&format!("runs/{}/index.html", m.red));
    assert!(red.contains("demo/custom/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert!(red.contains("feature/&lt;b&gt;bold&lt;/b&gt;"));
    assert!(!red.contains(EVIL_TEST) && !red.contains("<b>bold"));
    for f in w.files().iter().filter(|f| f.ends_with(".html")) {
        assert!(!w.read(f).contains("<script"), "{f} has a script");
    }
}

#[test]
fn an_interrupted_run_says_so_and_which_tiers_did_not_run() {
    let w = World::new("report-interrupted");
    let m = mixed(&w);
    w.report(&["pages"]).assert_code(0);
    let p = w.read(&format!("runs/{}/index.html", m.interrupted));
    assert!(
        p.contains(r#"<span class="chip interrupted">L2 interrupted</span>"#),
        "{p}"
    );
    assert!(p.contains("interrupted by SIGTERM: the app was torn down"));
    assert!(p.contains("the climb stopped at backup + restore"));
    assert_eq!(count(&p, "<span class=\"chip skip\">skip</span>"), 4);
    assert_eq!(
        count(&p, "<span class=\"chip interrupted\">interrupted</span>"),
        4
    );
}

#[test]
fn a_dependency_app_shows_on_its_parent_and_is_no_run_of_its_own() {
    let w = World::new("report-dep");
    let m = mixed(&w);
    w.report(&["pages"]).assert_code(0);
    let p = w.read(&format!("runs/{}/index.html", m.with_dep));
    assert!(p.contains("<td>dependency</td><td>keycloak</td>"), "{p}");
    assert!(p.contains(&format!("<code>{}</code>", m.dep_dir)));
    assert!(p.contains("href=\"logs/install/dep-keycloak.log.txt\""));
    assert!(
        w.read(&format!(
            "runs/{}/logs/install/dep-keycloak.log.txt",
            m.with_dep
        ))
        .contains("keycloak admin password: [REDACTED]")
    );
    assert!(!w.www(&format!("runs/{}", m.dep_dir)).exists());
    assert!(!w.www("recipes/keycloak").exists());
    assert!(!w.read("index.html").contains("keycloak"));
}

#[test]
fn a_run_in_progress_names_its_tier_and_reloads_until_it_stops() {
    let w = World::new("report-running");
    let m = mixed(&w);
    w.report(&["pages"]).assert_code(0);
    let rel = format!("runs/{}/index.html", m.running);
    let p = w.read(&rel);
    assert!(p.contains(r#"<meta http-equiv="refresh" content="10">"#));
    assert!(p.contains("tier <strong>upgrade</strong>"), "{p}");
    assert!(p.contains("<td>install</td><td><span class=\"chip done\">done</span>"));
    assert!(p.contains("<td>upgrade</td><td><span class=\"chip running\">running</span>"));
    assert!(p.contains("<td>lint</td><td><span class=\"chip waiting\">waiting</span>"));
    assert!(p.contains("href=\"logs/install.log.txt\""));
    assert_links_resolve(&w, &rel, &p);
    let badge = w.read("badges/demo.svg");
    assert!(badge.contains("aria-label=\"ccci: running\""), "{badge}");
    // A run without results whose lock nobody holds has stopped.
    let s = w.read(&format!("runs/{}/index.html", m.stopped));
    assert!(s.contains("<span class=\"chip stopped\">stopped</span> without results"));
    assert!(!s.contains("refresh"));
    assert!(
        w.read("badges/matrix.svg")
            .contains("aria-label=\"ccci: none\"")
    );
    // When the runner dies, the next regeneration says so.
    drop(m.lock);
    w.report(&["pages", "--run", &m.running]).assert_code(0);
    let p = w.read(&rel);
    assert!(p.contains("chip stopped") && !p.contains("refresh"), "{p}");
    assert!(w.read("badges/demo.svg").contains("ccci: interrupted L2"));
}

#[test]
fn the_index_has_every_recipe_and_the_queue() {
    let w = World::new("report-index");
    let m = mixed(&w);
    w.report(&["pages"]).assert_code(0);
    let p = w.read("index.html");
    for recipe in ["demo", "matrix", "nextcloud"] {
        assert!(
            p.contains(&format!(
                "<a href=\"recipes/{recipe}/index.html\">{recipe}</a>"
            )),
            "{recipe}: {p}"
        );
        assert!(p.contains(&format!("src=\"badges/{recipe}.svg\"")));
    }
    // demo: its last finished run, a run in progress, its canonical release.
    assert!(p.contains(&format!(
        "<a href=\"runs/{}/index.html\"><span class=\"chip interrupted\">L2 interrupted</span></a> <span class=\"chip running\">",
        m.interrupted
    )), "{p}");
    assert!(p.contains("<code>0.2.0+1.1</code>"));
    // matrix has no verdict: what became of its run says why.
    assert!(
        p.contains(&format!(
            "<a href=\"runs/{}/index.html\"><span class=\"chip stopped\">stopped</span></a>",
            m.stopped
        )),
        "{p}"
    );
    // The queue: what runs (linked), what waits (no run yet), what finished.
    let running = p.split("<h2>Running</h2>").nth(1).unwrap();
    let running = running.split("<h2>Waiting</h2>").next().unwrap();
    assert!(
        running.contains(&format!("href=\"runs/{}/index.html\"", m.running)),
        "{running}"
    );
    assert!(running.contains("by alice"));
    let waiting = p.split("<h2>Waiting</h2>").nth(1).unwrap();
    let waiting = waiting.split("<h2>Recipes</h2>").next().unwrap();
    assert!(
        waiting.contains("<ol><li>demo #42 <code>bbbbbbbbbb</code>"),
        "{waiting}"
    );
    assert!(waiting.contains("Recently finished (1)"));
    assert!(!p.contains("Could not be read"));
    assert_links_resolve(&w, "index.html", &p);
    // The recipe page: its canonical release links the run it came from.
    let r = w.read("recipes/demo/index.html");
    assert!(r.contains(&format!(
        "<a href=\"../../runs/{}/index.html\"><code>{}</code></a>",
        m.green, m.green
    )));
    assert_eq!(count(&r, "<rect "), 4, "demo has 4 runs");
    assert_links_resolve(&w, "recipes/demo/index.html", &r);
}

#[test]
fn a_long_history_is_drawn_whole_and_tabled_newest_first() {
    let w = World::new("report-history");
    for i in 0..150u32 {
        let started = T0 + u64::from(i) * 3600;
        let mut r = green(
            &run_id(started, i),
            "big",
            started,
            60.0 + f64::from(i % 17),
        );
        if i % 7 == 3 {
            fixtures::red_at_upgrade(&mut r, "the app did not come back");
        }
        write_finished(&w.state, &r, &[], |_| String::new());
    }
    let t = std::time::Instant::now();
    w.report(&["pages"]).assert_code(0);
    eprintln!("150 runs: every page in {:?}", t.elapsed());
    let p = w.read("recipes/big/index.html");
    assert_eq!(count(&p, "<rect "), 150);
    assert_eq!(count(&p, "<rect class=\"m-l1\""), 21, "the red ones, at L1");
    assert!(p.contains("The newest 100 of 150 runs; the picture above shows all of them."));
    let table = p.split("<tbody>").nth(1).unwrap();
    assert_eq!(count(table, "<tr>"), 100);
    // Newest first in the table, oldest first (left) in the picture.
    let newest = run_id(T0 + 149 * 3600, 149);
    let oldest = run_id(T0, 0);
    assert!(table.find(&newest).unwrap() < table.find(&run_id(T0 + 148 * 3600, 148)).unwrap());
    assert!(!table.contains(&oldest));
    let svg = p.split("<svg").nth(1).unwrap();
    assert!(svg.find(&oldest).unwrap() < svg.find(&newest).unwrap());
    assert!(svg.contains("<polyline class=\"duration\""));
    // 150 bars, 100 rows, the badge, the stylesheet, the icon, the index.
    assert_eq!(assert_links_resolve(&w, "recipes/big/index.html", &p), 254);
}

#[test]
fn with_run_only_that_run_its_recipe_the_badge_and_the_index_are_written() {
    let w = World::new("report-one");
    let m = mixed(&w);
    let r = w.report(&["pages", "--run", &m.green, "--json"]);
    r.assert_code(0);
    let v = r.json();
    assert_eq!(v["outcome"], "ok", "{v}");
    assert_eq!(
        v["pages"],
        serde_json::json!([
            format!("runs/{}/index.html", m.green),
            "recipes/demo/index.html",
            "badges/demo.svg",
            "index.html"
        ])
    );
    assert!(!w.www(&format!("runs/{}", m.red)).exists());
    assert!(!w.www("recipes/nextcloud").exists());
    // Only runs with a page are linked.
    let p = w.read("recipes/demo/index.html");
    assert!(p.contains(&format!("href=\"../../runs/{}/index.html\"", m.green)));
    assert!(!p.contains(&format!("href=\"../../runs/{}/index.html\"", m.red)));
    assert_links_resolve(&w, "recipes/demo/index.html", &p);
    assert_links_resolve(&w, "index.html", &w.read("index.html"));
}

#[test]
fn regenerating_unchanged_runs_rewrites_nothing_but_the_index() {
    let w = World::new("report-again");
    for (i, recipe) in ["demo", "matrix"].iter().enumerate() {
        let started = T0 + i as u64 * 60;
        write_finished(
            &w.state,
            &green(&run_id(started, 0), recipe, started, 50.0),
            &[],
            |_| String::new(),
        );
    }
    let first = w.report(&["pages", "--json"]);
    first.assert_code(0);
    assert_eq!(first.json()["changed"], first.json()["files"]);
    let again = w.report(&["pages", "--json"]).json();
    assert!(again["files"].as_u64().unwrap() > 30, "{again}");
    // The index says when it was written; nothing else changes.
    assert!(again["changed"].as_u64().unwrap() <= 1, "{again}");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let w = World::new("report-bad");
    let m = mixed(&w);
    for (args, says) in [
        (vec!["pages", "--run", "../x"], "invalid run id"),
        (
            vec!["pages", "--run", "20990101T000000Z-none"],
            "no such run",
        ),
        (
            vec!["pages", "--run", "20990101T000000Z-none", "--json"],
            "no such run",
        ),
    ] {
        let r = w.report(&args);
        r.assert_code(2);
        assert_one_line_error(&r, "ccci-report");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    assert!(!w.www("index.html").exists(), "nothing was written");
    // A run whose results do not parse: everything else is written, its page
    // and the index say what is wrong, and the exit code asks for a look.
    let results = w.state.join("runs").join(&m.green).join("results.json");
    std::fs::write(&results, "{\"schema\": 1, \"run_id\"").unwrap();
    let r = w.report(&["pages"]);
    r.assert_code(2);
    assert_one_line_error(&r, "ccci-report");
    assert!(
        r.stderr.contains("1 input(s) could not be read"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("results.json is not valid"),
        "{}",
        r.stderr
    );
    let p = w.read(&format!("runs/{}/index.html", m.green));
    assert!(
        p.contains("<span class=\"chip unreadable\">unreadable</span>"),
        "{p}"
    );
    assert!(w.read("index.html").contains("Could not be read"));
    assert!(w.www(&format!("runs/{}/index.html", m.red)).is_file());
}

#[test]
fn a_directory_that_is_no_run_yet_gets_no_page_but_the_index() {
    let w = World::new("report-not-yet");
    let m = mixed(&w);
    for id in [
        m.dep_dir.as_str(),
        "20260101T000001Z-planned",
        "20260101T000000Z-empty",
    ] {
        let r = w.report(&["pages", "--run", id, "--json"]);
        r.assert_code(0);
        let v = r.json();
        assert_eq!(v["pages"], serde_json::json!(["index.html"]), "{v}");
        assert!(
            v["summary"].as_str().unwrap().contains("has no page yet"),
            "{v}"
        );
        assert!(!w.www(&format!("runs/{id}")).exists());
    }
}

#[test]
fn paths_a_run_names_never_leave_its_folder() {
    let w = World::new("report-paths");
    let mut r = green(&run_id(T0, 9), "demo", T0, 10.0);
    let run = write_finished(&w.state, &r, &[("pw", "PathsSecret55")], |_| String::new());
    // Then results.json names paths outside the run (written after the logs,
    // which the fixture writes where results.json says).
    r.tiers[0].log = "../../../../../../etc/passwd".into();
    r.tiers[1].tests[0].log = "/etc/passwd".into();
    r.teardown.log = "logs/../../secrets.json".into();
    ccci_core::state::write_json(&run.file("results.json"), &r).unwrap();
    std::os::unix::fs::symlink(run.secrets_path(), run.file("logs/secrets.log")).unwrap();
    w.report(&["pages"]).assert_code(0);
    let rel = format!("runs/{}/index.html", r.run_id);
    let p = w.read(&rel);
    assert!(
        !p.contains("passwd\"") && !p.contains("secrets.json.txt"),
        "{p}"
    );
    assert!(
        !w.www(&format!("runs/{}/logs/secrets.log.txt", r.run_id))
            .exists()
    );
    assert_links_resolve(&w, &rel, &p);
    for f in w.files() {
        assert!(!f.contains(".."), "{f}");
        assert!(!w.read(&f).contains("PathsSecret55"), "{f}");
    }
    assert!(!w.state.join("etc").exists() && !w.state.join("secrets.json").exists());
}

#[test]
fn regenerations_at_once_take_turns() {
    let w = World::new("report-turns");
    let m = mixed(&w);
    let state = w.state.to_string_lossy().into_owned();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut args = vec!["--state-dir", &state, "pages"];
            if i % 2 == 1 {
                args.extend(["--run", &m.running]);
            }
            std::process::Command::new(env!("CARGO_BIN_EXE_ccci-report"))
                .args(args)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let tmp: Vec<String> = w
        .files()
        .into_iter()
        .filter(|f| f.contains(".tmp."))
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    assert_links_resolve(&w, "index.html", &w.read("index.html"));
}
