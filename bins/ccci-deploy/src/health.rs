//! Health probes. HTTP (path + accepted codes) or TCP, from a probe container
//! attached to the app's network: swarm VIPs need IPVS, so the probe asks for
//! `tasks.<service>` (the tasks' own addresses) rather than the service name.

use crate::app::{App, Health, HealthKind, LABEL_INSTANCE, LABEL_RUN};
use crate::converge::Snapshot;
use anyhow::{Context, Result};
use ccci_core::docker::Docker;
use ccci_core::exit;
use serde_json::Value;

pub struct Probe {
    pub health: Health,
    pub image: String,
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
                "service {} has no traefik port label; give the health port (--health-port)",
                h.service
            ))
        })
}

impl Probe {
    /// Start (once) a long-lived probe container on the service's first network.
    fn ensure_container(&self, docker: &Docker, app: &App, svc: &Value) -> Result<String> {
        let name = app.probe_name();
        let existing = docker.lines(&["ps", "-q", "--filter", &format!("name=^/{name}$")])?;
        if let Some(id) = existing.into_iter().next() {
            return Ok(id);
        }
        // Remove a stopped one with our name before starting afresh.
        let _ = docker.run(&["rm", "-f", &name]);
        let net = svc["Spec"]["TaskTemplate"]["Networks"][0]["Target"]
            .as_str()
            .context("the health service is on no network")?
            .to_string();
        let run_label = format!("{LABEL_RUN}={}", app.run_id);
        let inst_label = format!("{LABEL_INSTANCE}={}", app.instance);
        let id = docker.run(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &run_label,
            "--label",
            &inst_label,
            "--network",
            &net,
            &self.image,
            "sleep",
            "2147483647",
        ])?;
        Ok(id.trim().to_string())
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
        let Some(svc) = service(snap, app, &h.service) else {
            return Err(exit::usage(format!(
                "health service {:?} is not in the stack",
                h.service
            )));
        };
        let port = port(h, svc)?;
        let probe = self.ensure_container(docker, app, svc)?;
        let host = format!("tasks.{}", h.service);
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
                // busybox nc has no -z: connect with empty stdin; success is a connect.
                let out = docker.run_combined(&[
                    "exec",
                    &probe,
                    "sh",
                    "-c",
                    &format!("timeout 3 nc {host} {port} </dev/null >/dev/null 2>&1; echo rc=$?"),
                ])?;
                // 0: connected and closed; 143: connected, server kept it open until timeout.
                if out.contains("rc=0") || out.contains("rc=143") {
                    Ok(Ok(format!("TCP connect to {host}:{port}")))
                } else {
                    Ok(Err(format!("no TCP connect to {host}:{port}")))
                }
            }
            HealthKind::None => unreachable!(),
        }
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
