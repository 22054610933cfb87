//! Trouble that is not the recipe's fault, on the rig's swarm: a registry
//! that answers 429 is tried again and then exit 75; a missing tag is red at
//! once; a data root with too little free space is exit 75. None of them
//! leaves anything of the deploy behind (docs/infra-trouble.md).

mod common;

use ccci_testkit::{assert_one_line_error, docker_objects, leftovers, run};
use common::World;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The credential the registry below wants, as `docker login` would store it
/// in the docker CLI's config (base64 of `ci-bot:s3cret`).
const USER_PASS: &str = "ci-bot:s3cret";
const AUTH: &str = "Y2ktYm90OnMzY3JldA==";

/// A registry past its rate limit, on a port of its own: it asks for the
/// credential (so a pull proves `DOCKER_CONFIG` reached the docker CLI) and
/// answers everything sent with it 429, as Docker Hub does. Plain HTTP: the
/// engine treats registries on 127.0.0.0/8 as insecure.
struct RateLimitedRegistry {
    port: u16,
    /// The first line of each request, and whether it carried the credential.
    requests: Arc<Mutex<Vec<(String, bool)>>>,
}

impl RateLimitedRegistry {
    fn start() -> RateLimitedRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(vec![]));
        let seen = requests.clone();
        // Lives until the test process ends; the engine's requests come one
        // at a time, each on its own connection.
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let req = answer(conn);
                seen.lock().unwrap().push(req);
            }
        });
        RateLimitedRegistry { port, requests }
    }

    /// Pulls that reached the manifest with the credential.
    fn authorised_pulls(&self) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(line, auth)| *auth && line.starts_with("GET /v2/ccci/busybox/manifests/"))
            .count()
    }
}

fn answer(mut conn: TcpStream) -> (String, bool) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16384];
    let n = conn.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    let line = head.lines().next().unwrap_or_default().to_string();
    let auth = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case(&format!("authorization: basic {AUTH}")));
    let reply = if auth {
        let body = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"the test registry's pull rate limit"}]}"#;
        format!(
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            .to_string()
    };
    let _ = conn.write_all(reply.as_bytes());
    (line, auth)
}

/// A docker CLI config holding the registry's credential, as `docker login`
/// writes it; returns its directory, for `DOCKER_CONFIG`.
fn docker_config_with_login(w: &World, port: u16) -> String {
    let dir = w.scratch.join("docker-config");
    std::fs::create_dir_all(&dir).unwrap();
    let auths = serde_json::json!({"auths": {format!("127.0.0.1:{port}"): {"auth": AUTH}}});
    std::fs::write(dir.join("config.json"), auths.to_string()).unwrap();
    dir.to_string_lossy().into_owned()
}

/// Nothing of a failed deploy is left: the run's objects are those `new`
/// created, no service runs in its stack, and no deploy was started.
fn assert_nothing_deployed(w: &World, id: &str, before: &[String]) {
    assert_eq!(leftovers(id), before, "a failed deploy created objects");
    let stack = w.stack(id);
    assert_eq!(
        docker_objects(&format!("label=com.docker.stack.namespace={stack}")),
        Vec::<String>::new(),
        "objects in the stack's namespace"
    );
    let ledger = std::fs::read_to_string(w.run_dir(id).join("ledger.jsonl")).unwrap();
    assert!(!ledger.contains("\"deploy-start\""), "{ledger}");
}

/// A release of the demo whose images are `image` instead of the rig's busybox.
fn release_with_image(w: &World, image: &str, tag: &str) -> String {
    w.repo
        .edit("compose.yml", "127.0.0.1:5000/ccci/busybox:1.1", image);
    w.repo.release(tag);
    w.new_app(tag, &[])
}

#[test]
fn a_rate_limited_registry_is_tried_again_then_temporary_trouble() {
    let w = World::new("pull429");
    let reg = RateLimitedRegistry::start();
    let image = format!("127.0.0.1:{}/ccci/busybox:1.1", reg.port);
    let id = release_with_image(&w, &image, "0.3.0+1.1");
    let before = leftovers(&id);
    let docker_config = docker_config_with_login(&w, reg.port);

    let r = w.deploy_env(
        &["deploy", &id],
        &[
            ("DOCKER_CONFIG", docker_config.as_str()),
            ("CCCI_PULL_BACKOFF_MS", "50"),
        ],
    );
    r.assert_code(75);
    assert_one_line_error(&r, "ccci-deploy");
    assert!(
        r.stderr
            .contains("the registry answered 429 (too many requests) after 4 attempts")
            && r.stderr.contains(&image)
            && r.stderr.contains("toomanyrequests"),
        "{}",
        r.stderr
    );
    // The credential came from DOCKER_CONFIG (without it the engine says "no
    // basic auth credentials"), and never reached ccci's own output.
    assert!(
        reg.authorised_pulls() >= 4,
        "{:?}",
        reg.requests.lock().unwrap()
    );
    let ledger = std::fs::read_to_string(w.run_dir(&id).join("ledger.jsonl")).unwrap();
    for text in [&r.stdout, &r.stderr, &ledger] {
        assert!(!text.contains(AUTH) && !text.contains(USER_PASS), "{text}");
    }
    assert_nothing_deployed(&w, &id, &before);
    w.teardown_clean(&id);
}

#[test]
fn a_missing_tag_is_red_at_once() {
    let w = World::new("pullmissing");
    let id = release_with_image(&w, "127.0.0.1:5000/ccci/busybox:9.9-missing", "0.3.0+9.9");
    let before = leftovers(&id);

    // The default backoff: retrying would take 14 s of waits alone.
    let start = Instant::now();
    let r = w.deploy(&["deploy", &id]);
    let took = start.elapsed();
    r.assert_code(1);
    assert!(
        r.stdout.contains("9.9-missing") && r.stdout.contains("manifest unknown"),
        "{}",
        r.stdout
    );
    assert!(took < Duration::from_secs(7), "took {took:?}: retried?");
    assert_nothing_deployed(&w, &id, &before);
    w.teardown_clean(&id);
}

#[test]
fn too_little_free_disk_is_temporary_trouble_before_anything_is_created() {
    let w = World::new("diskfull");
    let id = w.new_app("0.2.0+1.1", &[]);
    let before = leftovers(&id);
    let root = run(
        Path::new("docker"),
        &["info", "--format", "{{.DockerRootDir}}"],
        &[],
    );
    let root = root.stdout.trim();

    // 1000000000 MiB (about 954 TiB): more than any rig has free.
    let r = w.deploy_env(&["deploy", &id], &[("CCCI_MIN_FREE_DISK_MB", "1000000000")]);
    r.assert_code(75);
    assert_one_line_error(&r, "ccci-deploy");
    let line = r.stderr.trim();
    assert!(
        line.starts_with("ccci-deploy: only ")
            && line.ends_with(&format!(
                " MiB free on {root}, below the configured minimum of 1000000000 MiB (min_free_disk_mb)"
            )),
        "{line}"
    );
    assert_nothing_deployed(&w, &id, &before);

    // A value that is not a number is bad input, named.
    let r = w.deploy_env(&["deploy", &id], &[("CCCI_MIN_FREE_DISK_MB", "lots")]);
    r.assert_code(2);
    assert_one_line_error(&r, "ccci-deploy");
    assert!(r.stderr.contains("CCCI_MIN_FREE_DISK_MB"), "{}", r.stderr);
    assert_nothing_deployed(&w, &id, &before);
    w.teardown_clean(&id);
}
