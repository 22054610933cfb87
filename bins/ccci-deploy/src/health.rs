//! Health probes. HTTP (path + accepted codes) or TCP, from a probe container
//! attached to the app's network: swarm VIPs need IPVS, so the probe asks for
//! `tasks.<service>` (the tasks' own addresses) rather than the service name.
//!
//! The probe runs as one more service of the stack, `ccci-probe`, on the health
//! service's networks: swarm starts it alongside the app's tasks (a `docker run`
//! onto an attachable overlay after convergence cost ~0.4 s per deploy), and it
//! is removed, and reaped, with the stack.

/// Name of the probe service ccci adds to every stack it deploys.
pub const PROBE_SERVICE: &str = "ccci-probe";

use crate::app::{App, Health, HealthKind};
use crate::snapshot::Snapshot;
use anyhow::Result;
use ccci_core::docker::Docker;
use ccci_core::exit;
use serde_json::Value;

#[derive(Clone)]
pub struct Probe {
    pub health: Health,
}

/// Add the probe service to a rendered config, on the networks of the service
/// it probes. A config without that service gets no probe (the check says so).
pub fn inject(config: &mut Value, health: &Health, image: &str, labels: &[(String, String)]) {
    if health.kind == HealthKind::None || health.url.is_some() {
        return;
    }
    let Some(target) = config["services"].get(&health.service) else {
        return;
    };
    let networks: Vec<Value> = match &target["networks"] {
        Value::Object(m) => m.keys().map(|k| Value::String(k.clone())).collect(),
        Value::Array(a) => a.clone(),
        _ => vec![],
    };
    let label_map: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut svc = serde_json::json!({
        "image": image,
        "command": ["sleep", "2147483647"],
        "init": true,
        "labels": label_map,
        "deploy": {"labels": label_map, "restart_policy": {"condition": "any", "delay": "1s"}},
    });
    if !networks.is_empty() {
        svc["networks"] = Value::Array(networks);
    }
    if let Some(services) = config["services"].as_object_mut() {
        services.insert(PROBE_SERVICE.into(), svc);
    }
}

/// The first HTTP status line busybox `wget -S` printed.
pub fn status_code(wget_output: &str) -> Option<u16> {
    wget_output.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("HTTP/")?;
        rest.split_whitespace().nth(1)?.parse().ok()
    })
}

fn service<'a>(snap: &'a Snapshot, app: &App, name: &str) -> Option<&'a Value> {
    let full = app.service_name(name);
    snap.services
        .iter()
        .find(|s| s["Spec"]["Name"].as_str() == Some(full.as_str()))
}

/// The port to probe: configured, else the service's Traefik port label.
fn port(h: &Health, svc: &Value) -> Result<u16> {
    if let Some(p) = h.port {
        return Ok(p);
    }
    let labels = svc["Spec"]["Labels"].as_object();
    labels
        .into_iter()
        .flatten()
        .find(|(k, _)| {
            k.starts_with("traefik.http.services.") && k.ends_with(".loadbalancer.server.port")
        })
        .and_then(|(_, v)| v.as_str()?.parse().ok())
        .ok_or_else(|| {
            exit::usage(format!(
                "service {} has no traefik port label; create the run with `ccci-deploy new --health-port PORT`",
                h.service
            ))
        })
}

impl Probe {
    /// The running probe task's container, as the snapshot's tasks name it.
    fn container(&self, app: &App, snap: &Snapshot) -> Option<String> {
        let probe = service(snap, app, PROBE_SERVICE)?;
        snap.tasks
            .iter()
            .filter(|t| t["ServiceID"] == probe["ID"] && t["Status"]["State"] == "running")
            .find_map(|t| t["Status"]["ContainerStatus"]["ContainerID"].as_str())
            .map(String::from)
    }

    /// `Ok(Ok(what))` healthy, `Ok(Err(why))` not (yet), `Err` cannot probe at all.
    pub fn check(
        &self,
        docker: &Docker,
        app: &App,
        snap: &Snapshot,
    ) -> Result<Result<String, String>> {
        let h = &self.health;
        if h.kind == HealthKind::None {
            return Ok(Ok("no probe".into()));
        }
        if let Some(url) = &h.url {
            return Ok(from_host(&url.replace("{domain}", &app.domain), &h.codes));
        }
        let Some(svc) = service(snap, app, &h.service) else {
            return Err(exit::usage(format!(
                "health service {:?} is not in the stack",
                h.service
            )));
        };
        let port = port(h, svc)?;
        // Say so plainly rather than as a name that does not resolve.
        if !snap
            .tasks
            .iter()
            .any(|t| t["ServiceID"] == svc["ID"] && t["Status"]["State"] == "running")
        {
            return Ok(Err(format!("no task of {} is running", h.service)));
        }
        let Some(probe) = self.container(app, snap) else {
            return Ok(Err("the probe service has no running container yet".into()));
        };
        // The full service name: a bare `tasks.<service>` can resolve to
        // another stack's service on a shared network (crate::decoy).
        let host = format!("tasks.{}", app.service_name(&h.service));
        match h.kind {
            HealthKind::Http => {
                let url = format!("http://{host}:{port}{}", h.path);
                // Debian's static busybox wget segfaults with -T; `timeout` bounds it.
                let out = docker.run_combined(&[
                    "exec",
                    &probe,
                    "timeout",
                    "5",
                    "wget",
                    "-S",
                    "-O",
                    "/dev/null",
                    &url,
                ])?;
                match status_code(&out) {
                    Some(code) if h.codes.contains(&code) => {
                        Ok(Ok(format!("HTTP {code} from {url}")))
                    }
                    Some(code) => Ok(Err(format!("HTTP {code} from {url}, want {:?}", h.codes))),
                    None => Ok(Err(format!(
                        "no HTTP answer from {url}: {}",
                        out.lines().last().unwrap_or("").trim()
                    ))),
                }
            }
            HealthKind::Tcp => {
                // busybox nc has no -z, and a killed nc cannot tell "connected and
                // waiting" from "stuck connecting". So: connect in the background
                // and look for the ESTABLISHED socket; nc exiting 0 (the server
                // closed) also means it connected.
                let script = format!(
                    "nc {host} {port} </dev/null >/dev/null 2>&1 & p=$!; i=0; \
                     while [ $i -lt 30 ]; do \
                       if netstat -tn 2>/dev/null | grep -q ':{port} *ESTABLISHED'; then kill $p 2>/dev/null; echo connected; exit 0; fi; \
                       kill -0 $p 2>/dev/null || break; sleep 0.1; i=$((i+1)); \
                     done; \
                     kill $p 2>/dev/null && exit 1; wait $p && echo connected"
                );
                let out = docker.run_combined(&["exec", &probe, "sh", "-c", &script])?;
                if out.lines().any(|l| l.trim() == "connected") {
                    Ok(Ok(format!("TCP connect to {host}:{port}")))
                } else {
                    Ok(Err(format!("no TCP connect to {host}:{port}")))
                }
            }
            HealthKind::None => unreachable!(),
        }
    }
}

/// Probe from the host: the public route in production, a published port here.
/// Certificates are not verified: throwaway domains often carry staging certs,
/// and whether the app answers is the question here, not its certificate.
fn from_host(url: &str, codes: &[u16]) -> Result<String, String> {
    use std::time::Duration;
    if let Some(addr) = url.strip_prefix("tcp://") {
        use std::net::ToSocketAddrs;
        let addrs = addr
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {addr}: {e}"))?;
        for a in addrs {
            if std::net::TcpStream::connect_timeout(&a, Duration::from_secs(3)).is_ok() {
                return Ok(format!("TCP connect to {addr}"));
            }
        }
        return Err(format!("no TCP connect to {addr}"));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
        .build()
        .into();
    match agent.get(url).call() {
        Ok(resp) => {
            let code = resp.status().as_u16();
            if codes.contains(&code) {
                Ok(format!("HTTP {code} from {url}"))
            } else {
                Err(format!("HTTP {code} from {url}, want {codes:?}"))
            }
        }
        Err(e) => Err(format!("no HTTP answer from {url}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_first_status_line() {
        let out = "Connecting to x\n  HTTP/1.1 302 Found\n  Location: /a\n  HTTP/1.1 200 OK\n";
        assert_eq!(status_code(out), Some(302));
        assert_eq!(
            status_code("wget: server returned error: HTTP/1.1 404 Not Found"),
            None
        );
        assert_eq!(
            status_code("  HTTP/1.0 404 Not Found\nwget: server returned error"),
            Some(404)
        );
    }
}
