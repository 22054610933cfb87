//! Never alone (docs/decoys.md): on a real Co-op Cloud server every app shares
//! the `proxy` network with other stacks, and a recipe that asks for a bare
//! service name (`app`) from a service on that network may reach another
//! stack's `app`. Docker's DNS decides by network name: when the stack's own
//! network sorts after the shared one, the shared network's service answers.
//!
//! So a run's app is deployed under the worst order (its own networks are
//! named to sort after every shared one, `recipe::label`), and before its
//! deploy a decoy joins each shared network the recipe uses, once per service
//! name of the recipe, answering to that name. Nothing of a correct recipe
//! ever reaches a decoy; a connection to one is the defect, and the verdict
//! names the service that made it, the name it resolved and the network.

use crate::app::App;
use anyhow::Result;
use ccci_core::compose;
use ccci_core::docker::Docker;
use serde_json::Value;

/// Label on a decoy: `<name>@<network>`, the name it answers to.
pub const LABEL: &str = "ccci.decoy";

/// Ports a decoy listens on: the usual ones of web apps and databases.
const PORTS: &[u16] = &[
    80, 443, 1883, 2368, 3000, 3001, 3306, 4000, 5000, 5432, 6379, 8000, 8008, 8080, 8081, 8443,
    9000, 27017, 64738,
];

/// The shared (external) networks the recipe's services join, by name.
pub fn shared_networks(config: &Value) -> Vec<String> {
    let mut out: Vec<String> = compose::section(config, "networks")
        .filter(|(_, def)| compose::is_external(def))
        .map(|(key, def)| {
            def.get("name")
                .and_then(Value::as_str)
                .unwrap_or(key)
                .to_string()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn decoy_name(app: &App, network: &str, alias: &str) -> String {
    let run = ccci_core::classify::short_hash(&app.run_id);
    let mut n = format!("ccci-decoy-{}-{network}-{alias}", &run[..8]);
    n.truncate(63);
    n
}

/// Put a decoy on each shared network for each service name of the recipe,
/// unless there already is one. Returns the decoys created. A shared network
/// that does not exist is left to the deploy, which says so in its own words.
pub fn place(docker: &Docker, app: &App, config: &Value, image: &str) -> Result<Vec<String>> {
    let nets = shared_networks(config);
    if nets.is_empty() {
        return Ok(vec![]);
    }
    let aliases: Vec<String> = compose::section(config, "services")
        .map(|(name, _)| name.clone())
        .filter(|n| n != crate::health::PROBE_SERVICE)
        .collect();
    let existing = docker.lines(&[
        "service",
        "ls",
        "--format",
        "{{.Name}}",
        "--filter",
        &format!("label={}={}", ccci_core::labels::RUN, app.run_id),
    ])?;
    let networks = docker.lines(&["network", "ls", "--format", "{{.Name}}"])?;
    let mut created = vec![];
    for net in nets.iter().filter(|n| networks.contains(n)) {
        for alias in &aliases {
            let name = decoy_name(app, net, alias);
            if existing.contains(&name) {
                continue;
            }
            let script = decoy_script();
            let mut args: Vec<String> = vec![
                "service".into(),
                "create".into(),
                "--detach".into(),
                "--quiet".into(),
                "--name".into(),
                name.clone(),
                "--network".into(),
                format!("name={net},alias={alias}"),
                "--endpoint-mode".into(),
                "dnsrr".into(),
                "--label".into(),
                format!("{LABEL}={alias}@{net}"),
            ];
            for (k, v) in app.labels() {
                args.extend([
                    "--label".into(),
                    format!("{k}={v}"),
                    "--container-label".into(),
                    format!("{k}={v}"),
                ]);
            }
            if let Some(node) = &app.node {
                args.extend(["--constraint".into(), format!("node.id=={node}")]);
            }
            args.extend([image.into(), "sh".into(), "-c".into(), script]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            docker.run(&args)?;
            created.push(name);
        }
    }
    Ok(created)
}

/// Every port answers HTTP with 404 from an empty directory and logs the
/// peer of every connection (`[::ffff:10.0.3.7]:40312: url:/`).
fn decoy_script() -> String {
    let ports: Vec<String> = PORTS.iter().map(u16::to_string).collect();
    format!(
        "mkdir -p /ccci-decoy; for p in {}; do httpd -f -vv -p $p -h /ccci-decoy & done; wait",
        ports.join(" ")
    )
}

/// One connection a decoy received.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The name the caller resolved.
    pub alias: String,
    pub network: String,
    /// The caller's address on that network.
    pub peer: String,
}

/// `[::ffff:10.0.3.7]:40312: url:/` → `10.0.3.7`.
pub fn peer_of(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?.split(']').next()?;
    let ip = inner.strip_prefix("::ffff:").unwrap_or(inner);
    (!ip.is_empty()).then(|| ip.to_string())
}

/// The connections decoys received, from anyone.
pub fn hits(docker: &Docker) -> Result<Vec<Hit>> {
    // Every decoy on the engine, not only this run's: with runs side by side,
    // a bare name may reach another run's decoy. Whose call it was is told
    // by the caller's address (`explain`), not by which decoy took it.
    let names = docker.lines(&[
        "service",
        "ls",
        "--format",
        "{{.Name}}",
        "--filter",
        &format!("label={LABEL}"),
    ])?;
    let mut out = vec![];
    for name in names {
        let spec = docker.inspect("service", std::slice::from_ref(&name))?;
        let label = spec
            .first()
            .and_then(|s| s["Spec"]["Labels"][LABEL].as_str())
            .unwrap_or("")
            .to_string();
        let Some((alias, network)) = label.split_once('@') else {
            continue;
        };
        let logs = docker.run_combined(&["service", "logs", "--raw", &name])?;
        let mut seen: Vec<String> = vec![];
        for peer in logs
            .lines()
            .filter(|l| l.contains(": url:"))
            .filter_map(peer_of)
        {
            if !seen.contains(&peer) {
                seen.push(peer.clone());
                out.push(Hit {
                    alias: alias.into(),
                    network: network.into(),
                    peer,
                });
            }
        }
    }
    Ok(out)
}

/// Which service of the stack holds `ip` on `network`.
fn service_at(docker: &Docker, network: &str, ip: &str) -> Option<String> {
    let v = docker
        .run(&["network", "inspect", "--verbose", network])
        .ok()?;
    let v: Value = serde_json::from_str(&v).ok()?;
    let services: &serde_json::Map<String, Value> = v.get(0)?.get("Services")?.as_object()?;
    services.iter().find_map(|(name, s)| {
        s["Tasks"]
            .as_array()?
            .iter()
            .any(|t| t["EndpointIP"].as_str() == Some(ip))
            .then(|| name.clone())
    })
}

/// As [`explain`], for a run whose last deploy put decoys up at all (its
/// rendered config has a shared network): most recipes' waits ask nothing.
pub fn explain_for(
    docker: &Docker,
    app: &App,
    run: &ccci_core::rundir::RunDir,
) -> Result<Option<String>> {
    let shared = std::fs::read_to_string(run.rendered_path())
        .ok()
        .and_then(|t| serde_norway::from_str::<Value>(&t).ok())
        .map(|c| !shared_networks(&c).is_empty())
        .unwrap_or(true);
    if !shared {
        return Ok(None);
    }
    explain(docker, app)
}

/// The verdict's words when a decoy was reached, one phrase per caller:
/// "service caddy reached another stack's `app` on network proxy".
pub fn explain(docker: &Docker, app: &App) -> Result<Option<String>> {
    let hits = hits(docker)?;
    if hits.is_empty() {
        return Ok(None);
    }
    let own = format!("{}_", app.stack);
    let mut said: Vec<String> = vec![];
    for h in hits {
        // Only this run's services' calls are this run's defect.
        let Some(service) = service_at(docker, &h.network, &h.peer) else {
            continue;
        };
        let Some(short) = service.strip_prefix(&own) else {
            continue;
        };
        let line = format!(
            "service {short} reached another stack's `{}` on network {} (ccci's decoy answered: ask for `${{STACK_NAME}}_{}` instead)",
            h.alias, h.network, h.alias
        );
        if !said.contains(&line) {
            said.push(line);
        }
    }
    Ok((!said.is_empty()).then(|| said.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_read_from_httpd_log_lines() {
        assert_eq!(
            peer_of("[::ffff:10.0.3.7]:40312: url:/").as_deref(),
            Some("10.0.3.7")
        );
        assert_eq!(peer_of("[10.0.3.8]:1: url:/x").as_deref(), Some("10.0.3.8"));
        assert_eq!(peer_of("garbage"), None);
    }

    #[test]
    fn shared_networks_are_the_external_ones() {
        let c: Value = serde_json::json!({
            "networks": {
                "internal": {},
                "proxy": {"external": true},
                "edge": {"external": true, "name": "traefik_public"}
            }
        });
        assert_eq!(shared_networks(&c), ["proxy", "traefik_public"]);
    }
}
