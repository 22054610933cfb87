//! The bridge's benchmark (run by scripts/bench-bridge.sh; ignored in the
//! normal test run): 25 watched repositories with nothing new, the requests
//! each poll cycle costs, the daemon's resident memory, and the time from a
//! comment (delivered as a signed webhook) to its queued run request, against
//! a bare HTTP round trip to the same server measured in the same run.

use ccci_fake_gitea::{FakeGitea, Perm, PullSpec};
use ccci_testkit::Scratch;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPOS: usize = 25;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One bare HTTP/1.1 GET on a fresh connection, as the baseline.
fn bare_get(addr: std::net::SocketAddr, path: &str) -> Duration {
    let t0 = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    t0.elapsed()
}

#[test]
#[ignore = "a benchmark: scripts/bench-bridge.sh runs it"]
fn bench_bridge() {
    let fake = FakeGitea::start().unwrap();
    fake.add_token("ccci-bot", "tok", None);
    let dir = Scratch::new("bench-bridge");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut repos = vec![];
    for i in 0..REPOS {
        let name = format!("recipe{i}");
        fake.add_repo("coop", &name).unwrap();
        fake.add_collaborator("coop", &name, "ccci-bot", Perm::Admin)
            .unwrap();
        fake.add_collaborator("coop", &name, "writer", Perm::Write)
            .unwrap();
        fake.add_webhook(
            "coop",
            &name,
            &format!("http://127.0.0.1:{port}/hooks/gitea"),
            Some("s"),
            false,
        )
        .unwrap();
        repos.push(format!("coop/{name}"));
    }
    let pr = fake
        .open_pull(
            "coop",
            "recipe0",
            PullSpec {
                title: "t".into(),
                poster: "writer".into(),
                head_branch: "b".into(),
                head_sha: format!("{:040x}", 1),
                base_branch: "main".into(),
                base_sha: format!("{:040x}", 2),
                ..PullSpec::default()
            },
        )
        .unwrap();
    let state = dir.join("state");
    std::fs::write(dir.join("token"), "tok").unwrap();
    std::fs::write(dir.join("secret"), "s").unwrap();
    std::fs::write(
        dir.join("config.json"),
        json!({
            "state_dir": state,
            "recipes_dir": ccci_testkit::workspace().join("recipes"),
            "gitea_url": fake.root_url(),
            "bridge": {
                "repos": repos, "poll_interval_s": 1, "launcher": "direct",
                "listen": format!("127.0.0.1:{port}"),
                "webhook_secret_file": dir.join("secret"),
            },
        })
        .to_string(),
    )
    .unwrap();
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_ccci-bridge")))
        .arg("serve")
        .env("CCCI_CONFIG", dir.join("config.json"))
        .env("CCCI_GITEA_TOKEN_FILE", dir.join("token"))
        .env("NOTIFY_SOCKET", &sock_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Count cycles by the STATUS lines' "last poll" stamps.
    let mut buf = [0u8; 4096];
    let mut polls = vec![];
    let mut cleared = false;
    while polls.len() < 6 {
        let n = sock.recv(&mut buf).expect("the bridge went quiet");
        let m = String::from_utf8_lossy(&buf[..n]).to_string();
        if let Some(i) = m.find("last poll ") {
            let stamp: String = m[i + 10..].chars().take(20).collect();
            if polls.last() != Some(&stamp) {
                if !cleared {
                    // The first cycle starts watching; count from the next.
                    fake.clear_requests();
                    cleared = true;
                } else {
                    polls.push(stamp);
                }
            }
        }
    }
    // Requests between the first counted stamp and the last: cycles - 1 of them.
    let cycles = polls.len();
    let requests = fake.requests().len();
    let per_cycle = requests as f64 / cycles as f64;
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    // Webhook to queued: ten comments, each on a new head so none is a duplicate.
    let mut lat = vec![];
    for i in 0..10u32 {
        fake.push_pull("coop", "recipe0", pr, &format!("{:040x}", 100 + i))
            .unwrap();
        let before = ccci_core::queue::load_all(&state).unwrap().len();
        let t0 = Instant::now();
        fake.add_comment("coop", "recipe0", pr, "writer", "!testme")
            .unwrap();
        loop {
            if ccci_core::queue::load_all(&state).unwrap().len() > before {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "no run request");
            std::thread::sleep(Duration::from_micros(500));
        }
        lat.push(t0.elapsed());
    }
    let baseline = median(
        (0..10)
            .map(|_| bare_get(fake.addr(), "/api/v1/version"))
            .collect(),
    );
    let hook = median(lat);
    let _ = child.kill();
    let _ = child.wait();
    println!("BENCH repositories watched: {REPOS}");
    println!(
        "BENCH requests per idle poll cycle: {per_cycle:.1} (goal: at most {REPOS}; {requests} requests over {cycles} cycles)"
    );
    println!(
        "BENCH resident memory of ccci-bridge serve: {:.1} MB (goal: under 20 MB)",
        rss_kb as f64 / 1024.0
    );
    println!(
        "BENCH webhook to queued run request, median of 10: {:.1} ms (goal: under 100 ms); bare HTTP round trip to the same server: {:.2} ms; ratio {:.0}x",
        hook.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
        hook.as_secs_f64() / baseline.as_secs_f64()
    );
    assert!(
        per_cycle <= REPOS as f64 + 0.5,
        "{per_cycle} requests per cycle"
    );
}
