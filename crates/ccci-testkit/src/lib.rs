//! Test support for ccci's integration tests, which run against the real rig
//! (Docker Engine in swarm mode, the registry on 127.0.0.1:5000, real git).
//!
//! Nothing here mocks Docker: a test that needs the rig fails loudly when the rig
//! is missing, pointing at `scripts/rig.sh`, rather than passing by skipping.

pub mod schema;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The workspace root (this crate lives at `crates/ccci-testkit`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// Panic unless the rig is up: swarm manager and registry answering.
pub fn require_rig() {
    let ok = Command::new("docker")
        .args([
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "active true")
        .unwrap_or(false);
    assert!(
        ok,
        "Docker swarm is not available: run scripts/rig.sh first"
    );
    let reg = Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", "http://127.0.0.1:5000/v2/"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        reg,
        "the registry on 127.0.0.1:5000 is not answering: run scripts/rig.sh first"
    );
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A scratch directory unique to one test, removed on drop unless the test failed
/// (kept for post-mortem when `CCCI_KEEP_TEST_DIRS` is set).
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("ccci-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch dir");
        Scratch { path }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("CCCI_KEEP_TEST_DIRS").is_none() && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What a finished command printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Run a program with extra env and capture everything.
pub fn run(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    Run::from(out)
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "ccci-test")
        .env("GIT_AUTHOR_EMAIL", "test@localhost")
        .env("GIT_COMMITTER_NAME", "ccci-test")
        .env("GIT_COMMITTER_EMAIL", "test@localhost")
        .output()?;
    if !out.status.success() {
        bail!("git {:?}: {}", args, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The bundled demo recipe, built by `scripts/demo-recipe.sh` into `dest`.
pub fn demo_repo(dest: &Path) -> PathBuf {
    let st = Command::new(workspace().join("scripts/demo-recipe.sh"))
        .arg(dest)
        .stdout(Stdio::null())
        .status()
        .expect("run demo-recipe.sh");
    assert!(st.success(), "demo-recipe.sh failed");
    dest.to_path_buf()
}

/// A recipe repository under construction: start from the demo recipe's newest
/// release and commit changed versions of it, tagged or not.
pub struct RecipeRepo {
    pub path: PathBuf,
}

impl RecipeRepo {
    /// A copy of the demo recipe (both its releases) to build fixtures on.
    pub fn from_demo(dest: &Path) -> RecipeRepo {
        RecipeRepo {
            path: demo_repo(dest),
        }
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
    }

    pub fn write(&self, file: &str, text: &str) -> &Self {
        std::fs::write(self.path.join(file), text).unwrap_or_else(|e| panic!("write {file}: {e}"));
        self
    }

    /// Replace `from` by `to` in `file`; panics when `from` is absent, so a fixture
    /// can never silently stop exercising what it claims to.
    pub fn edit(&self, file: &str, from: &str, to: &str) -> &Self {
        let text = self.read(file);
        assert!(text.contains(from), "{file} does not contain {from:?}");
        self.write(file, &text.replace(from, to))
    }

    /// Change a file mounted as a swarm config and bump its version in `abra.sh`
    /// (`<FILE>_VERSION`), as a recipe must: configs are immutable in swarm.
    pub fn edit_config(&self, file: &str, from: &str, to: &str) -> &Self {
        self.edit(file, from, to);
        let var = format!("{}_VERSION=", file.replace('.', "_").to_ascii_uppercase());
        let abra = self.read("abra.sh");
        let start = abra
            .find(&var)
            .unwrap_or_else(|| panic!("abra.sh has no {var}"))
            + var.len();
        let end = start + abra[start..].find('\n').unwrap_or(abra.len() - start);
        let n: u32 = abra[start..end]
            .trim_start_matches('v')
            .parse()
            .expect("version vN");
        self.write(
            "abra.sh",
            &format!("{}v{}{}", &abra[..start], n + 1, &abra[end..]),
        )
    }

    pub fn remove(&self, file: &str) -> &Self {
        std::fs::remove_file(self.path.join(file)).unwrap_or_else(|e| panic!("rm {file}: {e}"));
        self
    }

    /// Commit everything; returns the commit SHA.
    pub fn commit(&self, msg: &str) -> String {
        (|| -> Result<String> {
            git(&self.path, &["add", "-A"])?;
            git(&self.path, &["commit", "-q", "--allow-empty", "-m", msg])?;
            git(&self.path, &["rev-parse", "HEAD"])
        })()
        .expect("commit")
    }

    /// Commit and create an annotated release tag, bumping the version label.
    pub fn release(&self, tag: &str) -> String {
        let compose = self.read("compose.yml");
        let re_start = compose.find(".version=").expect("version label") + ".version=".len();
        let re_end = re_start + compose[re_start..].find('"').expect("label end");
        let updated = format!("{}{tag}{}", &compose[..re_start], &compose[re_end..]);
        self.write("compose.yml", &updated);
        let sha = self.commit(&format!("chore: publish {tag} release"));
        git(&self.path, &["tag", "-a", tag, "-m", tag]).expect("tag");
        sha
    }
}

/// Docker objects (any kind) still carrying `ccci.run=<run_id>`.
pub fn leftovers(run_id: &str) -> Vec<String> {
    let label = format!("label=ccci.run={run_id}");
    docker_objects(&label)
}

/// Docker objects carrying a label filter, as `kind id` strings.
pub fn docker_objects(filter: &str) -> Vec<String> {
    let kinds: [(&str, &[&str]); 6] = [
        ("service", &["service", "ls", "-q"]),
        ("container", &["ps", "-aq"]),
        ("network", &["network", "ls", "-q"]),
        ("volume", &["volume", "ls", "-q"]),
        ("secret", &["secret", "ls", "-q"]),
        ("config", &["config", "ls", "-q"]),
    ];
    let mut out = vec![];
    for (kind, args) in kinds {
        let o = Command::new("docker")
            .args(args)
            .args(["--filter", filter])
            .output()
            .expect("docker");
        assert!(
            o.status.success(),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
            out.push(format!("{kind} {id}"));
        }
    }
    out
}

/// `docker exec` in the first running container whose name starts with `prefix`.
pub fn exec_in(prefix: &str, cmd: &[&str]) -> Result<String> {
    let ids = Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("name={prefix}")])
        .output()?;
    let id = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .next()
        .map(String::from)
        .with_context(|| format!("no running container named {prefix}*"))?;
    let out = Command::new("docker")
        .arg("exec")
        .arg(&id)
        .args(cmd)
        .output()?;
    if !out.status.success() {
        bail!(
            "exec {cmd:?} in {prefix}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A tool failed with one line on stderr, `<tool>: why`; on stdout nothing, or
/// (when it was asked for `--json`) the error verdict saying the same.
pub fn assert_one_line_error(r: &Run, tool: &str) {
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {:?}", r.stderr);
    let prefix = format!("{tool}: ");
    assert!(lines[0].starts_with(&prefix), "{:?}", lines[0]);
    if !r.stdout.is_empty() {
        let v = r.json();
        assert_eq!(v["outcome"], "error", "{v}");
        assert_eq!(v["tool"], tool, "{v}");
        assert_eq!(v["code"], r.code, "{v}");
        assert_eq!(
            Some(v["summary"].as_str().unwrap_or_default()),
            lines[0].strip_prefix(&prefix),
            "{v}"
        );
    }
}

/// One of the bundled recipes (`demo/<recipe>/`; `demo` is `demo/recipe/`),
/// built by `scripts/demo-recipe.sh RECIPE DEST` into `dest`: a git repository
/// with one annotated release tag per line of its `releases` file.
pub fn recipe_repo(recipe: &str, dest: &Path) -> PathBuf {
    let st = Command::new(workspace().join("scripts/demo-recipe.sh"))
        .arg(recipe)
        .arg(dest)
        .stdout(Stdio::null())
        .status()
        .expect("run demo-recipe.sh");
    assert!(st.success(), "demo-recipe.sh {recipe} failed");
    dest.to_path_buf()
}

impl RecipeRepo {
    /// A copy of a bundled recipe (all its releases) to build fixtures on.
    pub fn from_recipe(recipe: &str, dest: &Path) -> RecipeRepo {
        RecipeRepo {
            path: recipe_repo(recipe, dest),
        }
    }

    /// Delete release tags, e.g. to make a fixture the recipe's first release.
    pub fn untag(&self, tags: &[&str]) -> &Self {
        for t in tags {
            git(&self.path, &["tag", "-d", t]).expect("git tag -d");
        }
        self
    }
}

/// A bundled recipe driven through `ccci-run` the way CI runs it: a state dir,
/// a recipes dir with copies of `recipes/_generic` and `recipes/<recipe>` (the
/// recipe's own suite, which a test may change), and the recipe's repository.
pub struct RecipeWorld {
    pub scratch: Scratch,
    pub recipe: String,
    pub state: PathBuf,
    pub recipes: PathBuf,
    pub repo: RecipeRepo,
}

impl RecipeWorld {
    pub fn new(name: &str, recipe: &str) -> RecipeWorld {
        require_rig();
        let scratch = Scratch::new(name);
        let recipes = scratch.join("recipes");
        std::fs::create_dir_all(&recipes).unwrap();
        for d in ["_generic", recipe] {
            let st = Command::new("cp")
                .arg("-a")
                .arg(workspace().join("recipes").join(d))
                .arg(&recipes)
                .status()
                .unwrap();
            assert!(st.success(), "copy recipes/{d}");
        }
        let repo = RecipeRepo::from_recipe(recipe, &scratch.join("recipe"));
        RecipeWorld {
            state: scratch.join("state"),
            recipe: recipe.to_string(),
            recipes,
            repo,
            scratch,
        }
    }

    /// `ccci-run` (the binary at `runner`) on the recipe at `r#ref` as run `id`.
    pub fn run(&self, runner: &Path, id: &str, r#ref: &str, extra: &[&str]) -> Run {
        // The runner calls its siblings; a stale or missing one tests nothing.
        let dir = runner.parent().expect("runner's directory");
        for t in [
            "ccci-deploy",
            "ccci-discover",
            "ccci-verify-backup",
            "ccci-lint",
        ] {
            assert!(
                dir.join(t).is_file(),
                "{t} is not built next to ccci-run: run `cargo build --workspace --bins` first"
            );
        }
        let repo = self.repo.path.to_string_lossy().into_owned();
        let mut args = vec![
            "--recipe",
            &self.recipe,
            "--repo",
            &repo,
            "--ref",
            r#ref,
            "--run-id",
            id,
        ];
        args.extend(extra);
        let (state, recipes) = (
            self.state.to_string_lossy().into_owned(),
            self.recipes.to_string_lossy().into_owned(),
        );
        run(
            runner,
            &args,
            &[("CCCI_STATE_DIR", &state), ("CCCI_RECIPES_DIR", &recipes)],
        )
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.state.join("runs").join(id)
    }

    pub fn results(&self, id: &str) -> serde_json::Value {
        let p = self.run_dir(id).join("results.json");
        serde_json::from_str(
            &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap()
    }

    /// A file of the run directory (a log), as text.
    pub fn read_run_file(&self, id: &str, rel: &str) -> String {
        let p = self.run_dir(id).join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
}
