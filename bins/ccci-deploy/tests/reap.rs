//! Kill ccci-deploy at random points and check the reaper leaves nothing behind,
//! while never touching a live run or a canonical app.

use ccci_testkit::{RecipeRepo, Scratch, docker_objects, leftovers, require_rig, run};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ccci-deploy"))
}

fn random_below(n: u64) -> u64 {
    let b = ccci_core::ids::random_bytes(8).unwrap();
    u64::from_le_bytes(b.try_into().unwrap()) % n
}

/// Start a command in its own process group and SIGKILL the whole group after
/// `after`: what systemd (KillMode=control-group) and a terminal's ^C\ do.
fn kill_after(state: &str, args: &[&str], after: Duration) {
    let mut child = Command::new(bin())
        .args(args)
        .env("CCCI_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
}

#[test]
fn sigkill_anywhere_then_reap_leaves_nothing_but_live_and_canonical() {
    require_rig();
    let scratch = Scratch::new("reap");
    let state = scratch.join("state").to_string_lossy().into_owned();
    let repo = RecipeRepo::from_demo(&scratch.join("recipe"));
    let repo_s = repo.path.to_string_lossy().into_owned();
    let env = [("CCCI_STATE_DIR", state.as_str())];
    let new = |id: &str| {
        run(
            &bin(),
            &[
                "new",
                "--recipe",
                "demo",
                "--repo",
                &repo_s,
                "--ref",
                "0.1.0+1.0",
                "--run-id",
                id,
            ],
            &env,
        )
        .assert_code(0);
    };
    let deployed = |id: &str| {
        new(id);
        run(&bin(), &["deploy", "--wait", id], &env).assert_code(0);
    };

    let mut killed = vec![];
    for i in 0..20 {
        let id = format!("kill-{i}");
        let stage = random_below(4);
        let delay = Duration::from_millis(random_below(3000));
        match stage {
            0 => {
                // during `new`: clone, env, secret creation
                let args = [
                    "new",
                    "--recipe",
                    "demo",
                    "--repo",
                    &repo_s,
                    "--ref",
                    "0.1.0+1.0",
                    "--run-id",
                    &id,
                ];
                kill_after(&state, &args, Duration::from_millis(random_below(600)));
            }
            1 => {
                new(&id);
                kill_after(&state, &["deploy", "--wait", &id], delay);
            }
            2 => {
                deployed(&id);
                kill_after(&state, &["upgrade", &id, "--ref", "0.2.0+1.1"], delay);
            }
            _ => {
                deployed(&id);
                kill_after(
                    &state,
                    &["teardown", &id],
                    Duration::from_millis(random_below(1200)),
                );
            }
        }
        eprintln!("iteration {i}: stage {stage} killed after up to {delay:?}");
        killed.push(id);
    }

    // The kills must really have left debris, or this test proves nothing.
    let dirty = killed.iter().filter(|id| !leftovers(id).is_empty()).count();
    eprintln!(
        "{dirty} of {} killed runs left objects behind",
        killed.len()
    );
    assert!(
        dirty >= 8,
        "only {dirty} killed runs left anything: the kills came too late"
    );

    // A live run: deployed, its lock held by "its runner" (this test).
    deployed("live");
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(scratch.join("state/runs/live/run.lock"))
        .unwrap();
    lock.lock().unwrap();

    // A canonical app's volume of this instance: its run is named by the
    // recipe's canonical.json, and its run directory is gone.
    let instance = std::fs::read_to_string(scratch.join("state/instance-id")).unwrap();
    let canon = ccci_core::canonical::Canonical::new(
        "demo",
        ccci_core::version::Version::parse("0.1.0+1.0").unwrap(),
        &"a".repeat(40),
        "canonical-demo",
        vec![],
    );
    ccci_core::canonical::write(&scratch.join("state"), &canon).unwrap();
    let canon_vol = format!("ccci-test-canonical-{}", std::process::id());
    run(
        std::path::Path::new("docker"),
        &[
            "volume",
            "create",
            "--label",
            &format!("ccci.instance={}", instance.trim()),
            "--label",
            "ccci.run=canonical-demo",
            &canon_vol,
        ],
        &[],
    )
    .assert_code(0);

    // With the default grace, freshly killed runs are still kept.
    let r = run(&bin(), &["--json", "reap"], &env);
    r.assert_code(0);
    let kept_recent = r.json()["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["verdict"].as_str().unwrap().starts_with("kept: active"))
        .count();
    assert!(kept_recent > 0, "{}", r.stdout);

    let r = run(&bin(), &["--json", "reap", "--grace", "0"], &env);
    r.assert_code(0);
    let v = r.json();
    for id in &killed {
        assert_eq!(
            leftovers(id),
            Vec::<String>::new(),
            "run {id} left objects after reap: {v}"
        );
    }
    assert!(
        !leftovers("live").is_empty(),
        "the live run was reaped: {v}"
    );
    assert_eq!(
        docker_objects("label=ccci.run=canonical-demo")
            .iter()
            .filter(|o| o.contains("volume"))
            .count(),
        1,
        "the canonical volume was reaped: {v}"
    );
    let verdict = |id: &str| {
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == id)
            .map(|r| r["verdict"].as_str().unwrap().to_string())
    };
    assert_eq!(verdict("live").as_deref(), Some("kept: run is alive"));
    assert_eq!(
        verdict("canonical-demo").as_deref(),
        Some("kept: canonical app of demo")
    );
    // A canonical file that cannot be read stops the reaper: reaping without
    // knowing which app is canonical could delete its data.
    let cpath = scratch.join("state/canonical/demo/canonical.json");
    let good = std::fs::read(&cpath).unwrap();
    std::fs::write(&cpath, "{not json").unwrap();
    let r = run(&bin(), &["reap", "--grace", "0"], &env);
    r.assert_code(2);
    assert!(r.stderr.contains("canonical.json"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    std::fs::write(&cpath, good).unwrap();

    // Once its runner is gone, the live run is reapable too.
    drop(lock);
    run(&bin(), &["reap", "--grace", "0"], &env).assert_code(0);
    assert_eq!(leftovers("live"), Vec::<String>::new());
    run(
        std::path::Path::new("docker"),
        &["volume", "rm", &canon_vol],
        &[],
    )
    .assert_code(0);
}
