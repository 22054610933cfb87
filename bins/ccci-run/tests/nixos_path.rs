//! The demo lifecycle with only the PATH a NixOS unit gives ccci, in a sandbox as
//! close to the unit's as this machine allows.
//!
//! On NixOS a service's PATH holds the default packages (coreutils, findutils,
//! grep, sed, systemd) and whatever the package's wrapper prefixes; nothing of
//! the operator's shell. `nix/runtime-inputs.txt` lists both (the package builds
//! its wrapper from the same file), and this test links exactly those programs
//! from this machine into one directory, clears the environment (`env -i`, HOME a
//! fresh directory) and runs the demo through `ccci-run` with that directory as
//! the whole PATH. A program ccci, git or a generic test needs and the list lacks
//! fails the run here, as it would on a NixOS host (`ccci-lint --ref`: "cannot run
//! tar" was the first).
//!
//! The sandbox mirrors `ccci-run@.service` (nix/units.nix) with `unshare` and
//! `setpriv`: a private mount namespace where every mount is read-only
//! (`ProtectSystem=strict`, `ProtectHome=read-only`) but the state dir and
//! Docker's volumes (`ReadWritePaths=`), fresh `/tmp` and `/var/tmp`
//! (`PrivateTmp=yes`), no new privileges (`NoNewPrivileges=yes`) and the unit's
//! capability bounding set (`CapabilityBoundingSet=`). What it cannot mirror
//! here: `PrivateDevices=`, `SystemCallFilter=`, `RestrictNamespaces=` and the
//! other seccomp-based settings (no seccomp loader on this machine), and the
//! protected kernel trees (`ProtectKernel*=`, `ProtectControlGroups=`).

use ccci_testkit::{RecipeRepo, leftovers, require_rig, workspace};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the sandbox takes from `systemd/ccci-run@.service` (rendered from the
/// module's units, nix/units.nix): its `ReadWritePaths=`, with the state dir
/// moved to `state`, and its `CapabilityBoundingSet=` as setpriv spells it.
fn unit_sandbox(state: &str) -> (Vec<String>, String) {
    let file = workspace().join("systemd/ccci-run@.service");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let mut rw = vec![];
    let mut caps = vec![];
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("ReadWritePaths=") {
            for p in v.split_whitespace() {
                let p = p.trim_start_matches('-');
                rw.push(if p == "/var/lib/ccci" {
                    state.to_string()
                } else {
                    p.to_string()
                });
            }
        } else if let Some(v) = line.strip_prefix("CapabilityBoundingSet=") {
            for c in v.split_whitespace() {
                caps.push(format!(
                    "+{}",
                    c.trim_start_matches("CAP_").to_ascii_lowercase()
                ));
            }
        }
    }
    assert!(
        rw.contains(&state.to_string()),
        "{}: the state dir is not writable",
        file.display()
    );
    let bounding = std::iter::once("-all".to_string())
        .chain(caps)
        .collect::<Vec<_>>()
        .join(",");
    (rw, bounding)
}

/// The programs of `section` (`service` or `wrapper`) in nix/runtime-inputs.txt.
fn programs(section: &str) -> BTreeSet<String> {
    let file = workspace().join("nix/runtime-inputs.txt");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(sec), Some(_attr)) = (words.next(), words.next()) else {
            panic!("{}: bad line {line:?}", file.display());
        };
        assert!(
            sec == "service" || sec == "wrapper",
            "{}: unknown section {sec:?}",
            file.display()
        );
        if sec == section {
            out.extend(words.map(String::from));
        }
    }
    assert!(!out.is_empty(), "{}: no {section} programs", file.display());
    out
}

/// Where a program is on this machine's PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A directory of symlinks to exactly the listed programs. Every wrapper program
/// must exist here (it is what the package ships); service programs this
/// machine lacks are left out, which only makes the PATH smaller.
fn nixos_path(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let mut linked = vec![];
    for (section, must) in [("wrapper", true), ("service", false)] {
        for name in programs(section) {
            let link = dir.join(&name);
            if link.exists() {
                continue;
            }
            match which(&name) {
                Some(target) => {
                    std::os::unix::fs::symlink(&target, &link).unwrap();
                    linked.push(name);
                }
                None => assert!(
                    !must,
                    "{name} (a runtime input of the package) is not on this machine: run scripts/rig.sh"
                ),
            }
        }
    }
    linked
}

/// A scratch tree outside /tmp (the sandbox gives the run a fresh /tmp, as
/// `PrivateTmp=yes` does), removed unless the test failed.
struct Tree(PathBuf);

impl Drop for Tree {
    fn drop(&mut self) {
        if std::env::var_os("CCCI_KEEP_TEST_DIRS").is_none() && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn docker_volumes_dir() -> String {
    let o = Command::new("docker")
        .args(["info", "--format", "{{.DockerRootDir}}"])
        .output()
        .expect("docker info");
    assert!(o.status.success(), "docker info failed");
    format!("{}/volumes", String::from_utf8_lossy(&o.stdout).trim())
}

/// The shell that sets up the unit's mount namespace, then drops to the unit's
/// privileges and runs `argv` with exactly `env`.
fn sandbox_script(
    rw: &[String],
    bounding: &str,
    env: &[(String, String)],
    argv: &[String],
) -> String {
    fn q(s: &str) -> String {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
    let mut s = String::from("set -eu\nmount --make-rprivate /\n");
    // ReadWritePaths=: bind each onto itself, so it stays writable below.
    for p in rw {
        let p = p.as_str();
        s += &format!("mount --bind {0} {0}\n", q(p));
    }
    // PrivateTmp=yes
    s += "mount -t tmpfs -o mode=1777 ccci-tmp /tmp\nmount -t tmpfs -o mode=1777 ccci-vartmp /var/tmp\n";
    // ProtectSystem=strict, ProtectHome=read-only: every other mount read-only
    // (the API trees /proc, /sys, /dev stay as they are, as under systemd).
    s += &format!("keep={}\n", q(&format!(" {} /tmp /var/tmp ", rw.join(" "))));
    s += r#"awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do
    case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
    case "$keep" in *" $m "*) continue ;; esac
    mount -o remount,bind,ro "$m" 2>/dev/null || true
done
"#;
    // Prove the layout before running anything in it.
    s += "if touch /etc/.ccci-sandbox-probe 2>/dev/null; then echo 'sandbox: / is writable' >&2; exit 97; fi\n";
    for p in rw {
        let p = p.as_str();
        s += &format!(
            "touch {0}/.ccci-sandbox-probe && rm {0}/.ccci-sandbox-probe\n",
            q(p)
        );
    }
    s += &format!("exec setpriv --no-new-privs --bounding-set {bounding} -- env -i");
    for (k, v) in env {
        s += &format!(" {}", q(&format!("{k}={v}")));
    }
    for a in argv {
        s += &format!(" {}", q(a));
    }
    s.push('\n');
    s
}

#[test]
fn demo_goes_green_with_only_the_path_a_nixos_unit_gets() {
    require_rig();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ccci-run"));
    let bins = bin.parent().unwrap().to_path_buf();
    for t in [
        "ccci-deploy",
        "ccci-discover",
        "ccci-verify-backup",
        "ccci-lint",
        "ccci-report",
    ] {
        assert!(
            bins.join(t).is_file(),
            "{t} is not built next to ccci-run: run `cargo build --workspace --bins` first"
        );
    }
    for tool in ["unshare", "setpriv", "mount", "awk"] {
        assert!(
            which(tool).is_some(),
            "{tool} is needed to build the unit's sandbox and is not on PATH"
        );
    }
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("nixos-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let tree = Tree(root.clone());

    let path_dir = root.join("path");
    let linked = nixos_path(&path_dir);
    let home = root.join("home");
    let state = root.join("state");
    let recipes = root.join("recipes");
    for d in [&home, &state, &recipes] {
        std::fs::create_dir_all(d).unwrap();
    }
    for d in ["_generic", "demo"] {
        let st = Command::new("cp")
            .arg("-a")
            .arg(workspace().join("recipes").join(d))
            .arg(&recipes)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let repo = RecipeRepo::from_demo(&root.join("recipe"));

    let id = format!("nixos-path-{}", std::process::id());
    let volumes = docker_volumes_dir();
    let state_s = state.to_string_lossy().into_owned();
    let env: Vec<(String, String)> = vec![
        ("PATH".into(), path_dir.to_string_lossy().into_owned()),
        ("HOME".into(), home.to_string_lossy().into_owned()),
        ("CCCI_STATE_DIR".into(), state_s.clone()),
        (
            "CCCI_RECIPES_DIR".into(),
            recipes.to_string_lossy().into_owned(),
        ),
    ];
    let argv: Vec<String> = [
        bin.to_string_lossy().as_ref(),
        "--recipe",
        "demo",
        "--repo",
        repo.path.to_string_lossy().as_ref(),
        "--ref",
        "0.2.0+1.1",
        "--run-id",
        &id,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (rw, bounding) = unit_sandbox(&state_s);
    assert!(
        rw.iter().any(|p| volumes.starts_with(p.as_str())),
        "Docker's volumes ({volumes}) are not writable under ccci-run@.service: {rw:?}"
    );
    let script = sandbox_script(&rw, &bounding, &env, &argv);
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    // The logs of every test that did not pass say which program was missing.
    let mut failing = String::new();
    if let Ok(text) = std::fs::read_to_string(state.join("runs").join(&id).join("results.json"))
        && let Ok(res) = serde_json::from_str::<serde_json::Value>(&text)
    {
        for t in res["tiers"].as_array().into_iter().flatten() {
            for test in t["tests"].as_array().into_iter().flatten() {
                if test["outcome"] != "pass" {
                    failing += &format!("  {}: {}\n", test["id"], test["summary"]);
                }
            }
        }
    }
    assert_eq!(
        code,
        0,
        "the demo is not green with only the PATH a NixOS unit gets ({} programs: {})\n\
         failing tests:\n{failing}stdout:\n{stdout}\nstderr:\n{stderr}",
        linked.len(),
        path_dir.display()
    );
    assert!(stdout.contains("level L5 (green)"), "{stdout}");
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    drop(tree);
}
