//! Access to the Docker Engine through the `docker` CLI.
//!
//! Going through the CLI (rather than the socket) means ccci honours Docker contexts
//! (`ssh://` servers, as abra does), uses the reference compose loader of
//! `docker stack deploy`, and needs no HTTP client for a unix socket. Every call is
//! one short process; an unreachable daemon always maps to exit 75.

use crate::exit;
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Default)]
pub struct Docker {
    context: Option<String>,
}

/// What `docker` printed when it failed.
#[derive(Debug)]
pub struct DockerError {
    pub args: String,
    pub stderr: String,
}

impl std::fmt::Display for DockerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let msg = self.stderr.trim().replace('\n', " ");
        write!(f, "docker {} failed: {}", self.args, msg)
    }
}
impl std::error::Error for DockerError {}

/// The docker CLI's own words for "the engine is not there". Safe to look for
/// in output mixed with a program's own (`docker exec` of a hook): no program
/// says these but the CLI.
pub fn engine_unreachable(text: &str) -> bool {
    [
        "Cannot connect to the Docker daemon",
        "error during connect",
        "Is the docker daemon running",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// Markers of "the engine is not there" in the stderr of a docker command of
/// ccci's own: the CLI's words, and the transport's when it gives up.
fn unreachable(stderr: &str) -> bool {
    engine_unreachable(stderr)
        || ["connection refused", "context deadline exceeded"]
            .iter()
            .any(|m| stderr.contains(m))
}

impl Docker {
    pub fn new(context: &str) -> Docker {
        Docker {
            context: (!context.is_empty()).then(|| context.to_string()),
        }
    }

    /// Where a volume's data lives on the host (its `_data` directory): what
    /// backups snapshot and warm starts copy.
    pub fn volume_mountpoint(&self, volume: &str) -> Result<std::path::PathBuf> {
        let p = self.run(&["volume", "inspect", "--format", "{{.Mountpoint}}", volume])?;
        Ok(std::path::PathBuf::from(p.trim()))
    }

    /// The Engine API on the local socket, when this CLI would use it.
    pub fn api(&self) -> Option<crate::docker_api::Api> {
        crate::docker_api::Api::local(self.context.as_deref().unwrap_or(""))
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new("docker");
        if let Some(ctx) = &self.context {
            c.arg("--context").arg(ctx);
        }
        c
    }

    fn finish(&self, args: &[&str], out: std::process::Output) -> Result<String> {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let err = DockerError {
            args: args.first().copied().unwrap_or("").to_string()
                + &args
                    .get(1)
                    .filter(|a| !a.starts_with('-'))
                    .map(|a| format!(" {a}"))
                    .unwrap_or_default(),
            stderr: crate::redact::global().apply(&stderr),
        };
        if unreachable(&stderr) {
            return Err(exit::wrap(err.into(), exit::TEMPFAIL));
        }
        Err(err.into())
    }

    fn spawn_err(e: std::io::Error) -> anyhow::Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            exit::usage("the docker CLI is not installed (not found on PATH)")
        } else {
            anyhow::Error::new(e).context("cannot run docker")
        }
    }

    /// Run `docker args...` and return stdout.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        crate::log::debug(&format!("docker {}", args.join(" ")));
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(Self::spawn_err)?;
        self.finish(args, out)
    }

    /// Run and return stdout and stderr through one pipe, so lines keep the order
    /// the command wrote them in (`docker logs` replays a container's two streams
    /// on ours). The exit status is not judged: callers read the text.
    pub fn run_combined(&self, args: &[&str]) -> Result<String> {
        use std::io::Read;
        crate::log::debug(&format!("docker {}", args.join(" ")));
        let (mut reader, writer) = std::io::pipe()?;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .spawn()
            .map_err(Self::spawn_err)?;
        // Drop our copies of the write end (moved into the command) before
        // reading, or the read would never see end of file.
        let mut text = Vec::new();
        let read = reader.read_to_end(&mut text);
        child.wait()?;
        read?;
        Ok(crate::redact::global().apply(&String::from_utf8_lossy(&text)))
    }

    /// Run with `input` on stdin (used for secret values, which never touch argv).
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Result<String> {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(Self::spawn_err)?;
        child
            .stdin
            .take()
            .context("no stdin")?
            .write_all(input)
            .context("cannot write to docker")?;
        let out = child.wait_with_output()?;
        self.finish(args, out)
    }

    /// Run and parse JSON from stdout.
    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let out = self.run(args)?;
        serde_json::from_str(&out).with_context(|| format!("docker {} printed no JSON", args[0]))
    }

    /// Non-empty output lines (ids, names).
    pub fn lines(&self, args: &[&str]) -> Result<Vec<String>> {
        Ok(self
            .run(args)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    /// Ids of a stack's services (by the namespace label `docker stack
    /// deploy` sets).
    pub fn stack_service_ids(&self, stack: &str) -> Result<Vec<String>> {
        self.lines(&[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("label={}={stack}", crate::labels::NAMESPACE),
        ])
    }

    /// `docker inspect` many objects at once; an empty list asks nothing.
    pub fn inspect(&self, kind: &str, ids: &[String]) -> Result<Vec<Value>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut args: Vec<&str> = vec![kind, "inspect"];
        args.extend(ids.iter().map(String::as_str));
        match self.json(&args)? {
            Value::Array(v) => Ok(v),
            _ => Ok(vec![]),
        }
    }

    /// The running container of one service of a stack (the first, if scaled).
    pub fn running_container(&self, stack: &str, service: &str) -> Result<String> {
        let filter = format!("label=com.docker.swarm.service.name={stack}_{service}");
        self.lines(&["ps", "-q", "--filter", &filter])?
            .into_iter()
            .next()
            .ok_or_else(|| exit::no(format!("service {service} has no running container")))
    }

    /// Check the engine answers and is a swarm manager.
    /// This engine's swarm node id: where a run's services are pinned and
    /// where its volumes live.
    pub fn node_id(&self) -> Result<String> {
        let id = self.run(&["info", "--format", "{{.Swarm.NodeID}}"])?;
        let id = id.trim().to_string();
        if id.is_empty() {
            return Err(exit::usage("this Docker engine is not in a swarm"));
        }
        Ok(id)
    }

    pub fn check_swarm_manager(&self) -> Result<()> {
        let info = self
            .run(&[
                "info",
                "--format",
                "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
            ])
            .map_err(|e| {
                if exit::code_of(&e) == exit::TEMPFAIL {
                    exit::tempfail(format!("Docker is unreachable: {}", exit::one_line(&e)))
                } else {
                    e
                }
            })?;
        // `docker info` prints server errors on stderr but still exits 0 when the
        // daemon is down on some versions; the format then renders empty.
        let info = info.trim();
        if info.is_empty() {
            return Err(exit::tempfail(
                "Docker is unreachable (docker info printed nothing)",
            ));
        }
        if info != "active true" {
            return Err(exit::usage(format!(
                "this Docker engine is not a swarm manager (swarm state: {info}); run `docker swarm init`"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_unreachable() {
        assert!(unreachable(
            "Cannot connect to the Docker daemon at unix:///nope.sock. Is the docker daemon running?"
        ));
        assert!(!unreachable(
            "Error response from daemon: no such service: x"
        ));
    }
}
