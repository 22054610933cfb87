//! ccci-report on real-shaped state dirs: the pages and what they link, the
//! masking of secrets, the command line, and the pages in headless Chromium.

mod browser;
mod fixtures;
mod pages;

use ccci_core::canonical::{self, Canonical};
use ccci_core::queue::{self, Entry, QueueState};
use ccci_core::results::Trigger;
use ccci_core::version::Version;
use ccci_testkit::{Run, Scratch, run};
use std::path::PathBuf;

/// A throwaway state dir and `ccci-report` working on it.
pub struct World {
    _scratch: Scratch,
    pub state: PathBuf,
}

impl World {
    pub fn new(name: &str) -> World {
        let scratch = Scratch::new(name);
        let state = scratch.join("state");
        std::fs::create_dir_all(&state).unwrap();
        World {
            state,
            _scratch: scratch,
        }
    }

    /// `ccci-report --state-dir <state> ARGS`.
    pub fn report(&self, args: &[&str]) -> Run {
        let state = self.state.to_string_lossy();
        let mut all = vec!["--state-dir", &state];
        all.extend(args);
        run(
            std::path::Path::new(env!("CARGO_BIN_EXE_ccci-report")),
            &all,
            &[],
        )
    }

    pub fn www(&self, rel: &str) -> PathBuf {
        self.state.join("www").join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.www(rel)).unwrap_or_else(|e| panic!("www/{rel}: {e}"))
    }

    /// Every file under www, relative to it.
    pub fn files(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, rel: &str, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                let r = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), &r, out);
                } else {
                    out.push(r);
                }
            }
        }
        let mut out = vec![];
        walk(&self.www(""), "", &mut out);
        out.sort();
        out
    }
}

/// A generated secret of the red run, planted in a failing test's log and
/// last line (so in results.json and junit.xml too).
pub const SECRET: &str = "Plant3dS3cretValue9x";
/// A secret of the red run's app.env, under a key that names a secret.
pub const ENV_SECRET: &str = "EnvPassw0rdValue77";
/// A generated secret of a dependency app, which its parent's install log shows.
pub const DEP_SECRET: &str = "DepS3cretValue42q";
/// A test name that would be a script if it were not escaped.
pub const EVIL_TEST: &str = "demo/custom/<script>alert(\"x\")</script>";

/// The runs of one state dir, by kind.
pub struct Mixed {
    pub green: String,
    pub red: String,
    pub interrupted: String,
    pub with_dep: String,
    pub dep_dir: String,
    pub running: String,
    pub stopped: String,
    /// The running run's lock, held as the runner holds it.
    pub lock: ccci_core::state::Lock,
}

/// 2026-11-22T00:00:00Z.
pub const T0: u64 = 1_795_305_600;

/// A state dir with a run of every kind, a leftover, a queue and a
/// canonical release.
pub fn mixed(w: &World) -> Mixed {
    use fixtures::*;
    let st = &w.state;
    let g = green(&run_id(T0, 1), "demo", T0, 161.0);
    write_finished(st, &g, &[("db_password", "GreenRunSecret1")], |_| {
        String::new()
    });

    let mut r = green(&run_id(T0 + 3600, 2), "demo", T0 + 3600, 95.0);
    r.pr = Some(42);
    r.trigger = Trigger::Testme;
    r.r#ref = "feature/<b>bold</b>".into();
    r.tested_tag = None;
    red_at_upgrade(
        &mut r,
        &format!("marker {SECRET} was not found after the upgrade"),
    );
    let custom = r.tiers.iter_mut().find(|t| t.name == "custom").unwrap();
    let mut evil = custom.tests[0].clone();
    evil.id = EVIL_TEST.into();
    evil.log = log_rel("custom", EVIL_TEST);
    custom.tests.push(evil);
    let failing_log = r.tiers[1].tests[0].log.clone();
    let red = write_finished(st, &r, &[("db_password", SECRET)], |rel| {
        if rel == failing_log {
            format!("connecting with password {SECRET}\nERROR: marker {SECRET} missing\n")
        } else {
            String::new()
        }
    });
    std::fs::write(
        red.env_path(),
        format!("DOMAIN=demo.ci.localhost\nADMIN_PASSWORD={ENV_SECRET}\n"),
    )
    .unwrap();
    std::fs::write(
        red.file("logs/install.log"),
        format!("deploying with ADMIN_PASSWORD={ENV_SECRET}\n"),
    )
    .unwrap();

    let mut i = green(&run_id(T0 + 7200, 3), "demo", T0 + 7200, 40.0);
    interrupted_at(&mut i, "backup");
    write_finished(st, &i, &[], |_| String::new());

    let mut d = green(&run_id(T0 + 1800, 4), "nextcloud", T0 + 1800, 300.0);
    let dep_dir = with_dependency(&mut d, "keycloak");
    write_finished(st, &d, &[("nc_admin", "NextcloudSecret8")], |rel| {
        if rel == "logs/install/dep-keycloak.log" {
            format!("keycloak admin password: {DEP_SECRET}\n")
        } else {
            String::new()
        }
    });
    write_dependency(st, &dep_dir, "keycloak", DEP_SECRET);

    let running = run_id(T0 + 9000, 5);
    let (_, lock) = write_running(st, &running, "demo", T0 + 9000, Some("upgrade"));
    let stopped = run_id(T0 + 5000, 6);
    // A run whose runner died: no results, and nobody holds its lock.
    drop(write_running(
        st,
        &stopped,
        "matrix",
        T0 + 5000,
        Some("install"),
    ));

    // Leftovers: an empty dir, and a run that never got past planning.
    std::fs::create_dir_all(st.join("runs/20260101T000000Z-empty")).unwrap();
    std::fs::create_dir_all(st.join("runs/20260101T000001Z-planned")).unwrap();
    std::fs::write(st.join("runs/20260101T000001Z-planned/plan.json"), "{}").unwrap();

    let commit = g.head_sha.clone();
    canonical::write(
        st,
        &Canonical::new(
            "demo",
            Version::parse("0.2.0+1.1").unwrap(),
            &commit,
            &g.run_id,
            vec![],
        ),
    )
    .unwrap();
    let entry = |id: &str, state: QueueState, at: u64| Entry {
        schema: queue::SCHEMA,
        seq: at,
        run_id: id.into(),
        recipe: "demo".into(),
        repo: "/srv/mirrors/demo.git".into(),
        gitea_repo: Some("coop-cloud/demo".into()),
        pr: Some(42),
        head_sha: "b".repeat(40),
        comment_id: Some(7),
        author: Some("alice".into()),
        trigger: Trigger::Testme,
        quick: false,
        state,
        queued_at: ccci_core::ids::utc_rfc3339(at),
        started_at: (state != QueueState::Queued).then(|| ccci_core::ids::utc_rfc3339(at + 5)),
        finished_at: (state == QueueState::Finished).then(|| ccci_core::ids::utc_rfc3339(at + 100)),
        exit_code: (state == QueueState::Finished).then_some(1),
        launched: None,
    };
    queue::save(st, &entry(&r.run_id, QueueState::Finished, T0 + 3590)).unwrap();
    queue::save(st, &entry(&running, QueueState::Started, T0 + 8990)).unwrap();
    queue::save(
        st,
        &entry("20261122T031000Z-queued", QueueState::Queued, T0 + 9100),
    )
    .unwrap();
    Mixed {
        green: g.run_id,
        red: r.run_id,
        interrupted: i.run_id,
        with_dep: d.run_id,
        dep_dir,
        running,
        stopped,
        lock,
    }
}

/// `%XX` escapes decoded (what a server does with a link's path).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Check every `href` and `src` of `html`, the page (or its DOM) at `page`
/// under www: relative, inside www, and naming a file that exists. Returns
/// how many links were checked.
pub fn assert_links_resolve(w: &World, page: &str, html: &str) -> usize {
    let mut n = 0;
    for attr in ["href=\"", "src=\""] {
        for piece in html.split(attr).skip(1) {
            let link = &piece[..piece.find('"').expect("closing quote")];
            assert!(
                !link.contains(':') && !link.starts_with('/') && !link.starts_with("//"),
                "{page}: link {link:?} is not relative"
            );
            let mut parts: Vec<String> = page.split('/').map(String::from).collect();
            parts.pop();
            for c in percent_decode(link).split('/') {
                match c {
                    ".." => assert!(parts.pop().is_some(), "{page}: {link:?} leaves www"),
                    "." | "" => {}
                    c => parts.push(c.to_string()),
                }
            }
            let target = parts.join("/");
            assert!(
                w.www(&target).is_file(),
                "{page}: {link:?} names {target}, which does not exist"
            );
            n += 1;
        }
    }
    n
}
