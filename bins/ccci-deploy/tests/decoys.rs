//! Never alone: a recipe whose front service, on the shared `proxy` network,
//! asks for its app by the bare name reaches ccci's decoy, and the verdict
//! names it; the same recipe asking for `${STACK_NAME}_app` is green.

mod common;

use common::World;

/// A front service on the stack's network and on `proxy`, relaying `/` of
/// the app, which it asks for by the name in its source (a CGI script of
/// busybox httpd; `@STACK@` becomes the stack's name when it starts).
const FRONT: &str = r#"#!/bin/sh
body=$(timeout 5 wget -q -O - "http://@UPSTREAM@:8080/" 2>&1) || {
    printf 'Status: 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\nupstream failed: %s\n' "$body"
    exit 0
}
printf 'Content-Type: text/html\r\n\r\n%s\n' "$body"
"#;

const WEB: &str = r#"
  web:
    image: 127.0.0.1:5000/ccci/busybox:1.1
    command: ["/bin/sh", "-c", "mkdir -p /www/cgi-bin && sed 's/@STACK@/${STACK_NAME}/' /srv/front > /www/cgi-bin/front && chmod 555 /www/cgi-bin/front && exec httpd -f -p 8081 -h /www"]
    init: true
    configs:
      - source: front
        target: /srv/front
        mode: 0555
    networks:
      - internal
      - proxy
    deploy:
      endpoint_mode: dnsrr
"#;

/// Release the demo with the front service asking for `upstream`.
fn with_front(w: &World, upstream: &str, tag: &str) {
    w.repo
        .write("front", &FRONT.replace("@UPSTREAM@", upstream));
    w.repo.edit(
        "compose.yml",
        "\n  db:\n    image:",
        &format!("{WEB}\n  db:\n    image:"),
    );
    w.repo.edit(
        "compose.yml",
        "\nvolumes:\n",
        "  front:\n    name: ${STACK_NAME}_front_${FRONT_VERSION}\n    file: front\n\nvolumes:\n",
    );
    w.repo.edit(
        "compose.yml",
        "networks:\n  internal:\n",
        "networks:\n  internal:\n  proxy:\n    external: true\n",
    );
    w.repo.edit(
        "abra.sh",
        "export DB_SH_VERSION",
        "export FRONT_VERSION=v1\nexport DB_SH_VERSION",
    );
    w.repo.release(tag);
}

const HEALTH: &str =
    r#"{"kind": "http", "service": "web", "port": 8081, "path": "/cgi-bin/front", "codes": [200]}"#;

#[test]
fn a_bare_name_across_the_shared_network_reaches_the_decoy_and_is_named() {
    let w = World::new("decoy-bare");
    with_front(&w, "app", "0.3.0+1.1");
    let id = w.new_app("0.3.0+1.1", &["--health", HEALTH, "--timeout", "45"]);
    let reason = w.deploy_wait(&id, 1);
    assert!(
        reason.starts_with("service web reached another stack's `app` on network proxy"),
        "{reason}"
    );
    assert!(reason.contains("${STACK_NAME}_app"), "{reason}");
    // The decoys are the run's: teardown takes them too.
    let ledger = std::fs::read_to_string(w.run_dir(&id).join("ledger.jsonl")).unwrap();
    assert!(ledger.contains("\"decoys\""), "{ledger}");
    w.teardown_clean(&id);
}

#[test]
fn the_stack_qualified_name_is_unaffected() {
    let w = World::new("decoy-qualified");
    // tasks.: this kernel has no IPVS, so a service's VIP does not route.
    with_front(&w, "tasks.@STACK@_app", "0.3.0+1.1");
    let id = w.new_app("0.3.0+1.1", &["--health", HEALTH]);
    let reason = w.deploy_wait(&id, 0);
    assert!(reason.contains("HTTP 200"), "{reason}");
    w.teardown_clean(&id);
}
