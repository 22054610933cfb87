//! Every rule of `ccci-lint`, in one table: its id, short name, level, one-line
//! summary and the text `--explain` prints. The JSON output, `--explain` and the
//! test that compares this table with docs/lint.md and the README all read it.
//!
//! `R001`..`R016` are abra's rule ids (`abra recipe lint`), kept so that a
//! maintainer who knows abra's output recognises a finding; `C001`.. are ccci's
//! own rules.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// Whether a rule can be checked from the recipe's files at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read from the recipe at the ref (and its tags, for R014).
    Static,
    /// Needs the network (the catalogue, git.coopcloud.tech): never checked.
    Network,
}

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub level: Level,
    pub scope: Scope,
    /// One line: what the rule wants.
    pub summary: &'static str,
    /// What it checks, why, and how to fix a finding.
    pub explain: &'static str,
}

use Level::{Error, Warning};
use Scope::{Network, Static};

pub const RULES: &[Rule] = &[
    Rule {
        id: "R001",
        name: "compose-version",
        level: Warning,
        scope: Static,
        summary: "every compose file in COMPOSE_FILE declares version \"3.8\"",
        explain: "Each compose file that COMPOSE_FILE names starts with `version: \"3.8\"`, the \
compose format abra's recipes are written for. A file without a version, or with another one, \
is read by whatever rules the loader applies to it, which is not what the recipe was tested \
with.\nFix: put `version: \"3.8\"` at the top of the file.",
    },
    Rule {
        id: "R002",
        name: "healthcheck",
        level: Warning,
        scope: Static,
        summary: "every service has a healthcheck, not disabled",
        explain: "Every service has a `healthcheck:` that is not `disable: true`. Without one, \
swarm counts a task as running the moment its process starts: a deploy converges onto an app \
that does not serve yet, and an update cannot roll back a release that never comes up.\nFix: \
add a healthcheck whose test command exists in the image (wget, curl, pg_isready, ...).",
    },
    Rule {
        id: "R003",
        name: "image-tagged",
        level: Warning,
        scope: Static,
        summary: "every image names a tag or a digest",
        explain: "Every service's image names a tag (`nginx:1.22`) or a digest \
(`nginx@sha256:...`). An image without either is `latest`, whatever that is on the day of \
the deploy.\nFix: add the tag of the version the recipe was tested with.",
    },
    Rule {
        id: "R004",
        name: "no-unstable-tag",
        level: Warning,
        scope: Static,
        summary: "no image uses a moving tag such as latest",
        explain: "No image uses a tag that moves by design: latest, stable, edge, nightly, \
main, master, dev, develop, unstable, rolling, mainline. The same recipe version then runs \
different software from one deploy to the next, and an upgrade cannot be told from a \
restart.\nFix: pin a release tag of the image.",
    },
    Rule {
        id: "R005",
        name: "semver-tag",
        level: Warning,
        scope: Static,
        summary: "image tags look like versions (1, 1.22, 15-bookworm, v2.3.4-alpine)",
        explain: "Every image tag looks like a version: an optional `v`, one to three numbers \
separated by dots, and an optional `-suffix` (`1`, `1.22`, `1.22.1`, `15-bookworm`, \
`v2.3.4-alpine`). abra orders such tags to offer image upgrades; it cannot order the others. \
Images pinned by digest only are not checked.\nFix: use the image's version tag rather than \
a name or a date.",
    },
    Rule {
        id: "R006",
        name: "published-version",
        level: Warning,
        scope: Network,
        summary: "the recipe has a version in the catalogue (not checked: needs the catalogue)",
        explain: "abra warns when the recipe has no version published in the recipe \
catalogue. That needs the catalogue, fetched over the network; ccci-lint reads only the \
recipe and never checks it (the rule is always reported as not checked).\nFix: publish a \
release with `abra recipe release`.",
    },
    Rule {
        id: "R007",
        name: "readme-metadata",
        level: Warning,
        scope: Static,
        summary: "README.md has a filled-in <!-- metadata --> block",
        explain: "README.md holds a block between `<!-- metadata -->` and `<!-- endmetadata -->` \
whose lines `* **Category**:`, `* **Image**:`, `* **Healthcheck**:`, `* **Backups**:`, \
`* **Email**:` and `* **SSO**:` each have a value. The recipe catalogue is built from this \
block.\nFix: copy the block from the recipe template and fill in every line (`No` is a \
value).",
    },
    Rule {
        id: "R008",
        name: "env-sample",
        level: Error,
        scope: Static,
        summary: ".env.sample exists and parses",
        explain: "The recipe has a `.env.sample` in abra's dotenv dialect (`KEY=value`, quotes, \
`#` comments, trailing `# length=32` modifiers). Every new app's env is copied from it; \
without it no app can be created.\nFix: add the file, or correct the line the message names.",
    },
    Rule {
        id: "R009",
        name: "app-service",
        level: Error,
        scope: Static,
        summary: "one service is named app",
        explain: "One service is named `app`. abra writes the recipe's version labels on it and \
operators' commands default to it; ccci probes it and reads an upgrade back from it.\nFix: \
rename the main service to `app`.",
    },
    Rule {
        id: "R010",
        name: "traefik-enabled",
        level: Error,
        scope: Static,
        summary: "a service has the deploy label traefik.enable=true (skipped without DOMAIN)",
        explain: "Some service has the deploy label `traefik.enable=true`, so that the proxy \
routes the app's domain to it. Skipped when `.env.sample` has no DOMAIN: such a recipe has no \
web route to enable.\nFix: add `traefik.enable=true` to the deploy labels of the service that \
serves the domain, with its router and service labels.",
    },
    Rule {
        id: "R011",
        name: "image-present",
        level: Error,
        scope: Static,
        summary: "every service has an image",
        explain: "Every service names an `image:`. Swarm does not build images: a service \
without one cannot be deployed.\nFix: publish the image to a registry and name it.",
    },
    Rule {
        id: "R012",
        name: "abra-sh-vendors",
        level: Error,
        scope: Static,
        summary: "every swarm config's name uses a version variable that abra.sh exports",
        explain: "Every swarm config the compose files declare (not external) has a `name:` \
that uses a variable exported by `abra.sh` (`name: ${STACK_NAME}_nginx_conf_${NGINX_CONF_VERSION}` \
with `export NGINX_CONF_VERSION=v1` in abra.sh). Swarm configs are immutable: a redeploy that \
changes a config's content under the same name is refused, so each change of the file must \
come with a new name. The version lives in abra.sh, which ships with the recipe, and not in \
the app env, which an upgrade keeps.\nFix: add `export <FILE>_VERSION=v1` to abra.sh, use it \
in the config's name, and bump it whenever the file changes.",
    },
    Rule {
        id: "R013",
        name: "recipe-repo",
        level: Warning,
        scope: Network,
        summary: "the recipe has a repository on git.coopcloud.tech (not checked: needs the network)",
        explain: "abra warns when the recipe has no repository on git.coopcloud.tech. That is a \
question to a server, not to the recipe's files; ccci-lint never checks it (the rule is always \
reported as not checked).\nFix: publish the recipe there.",
    },
    Rule {
        id: "R014",
        name: "annotated-tags",
        level: Error,
        scope: Static,
        summary: "every tag of the recipe's repository is annotated",
        explain: "Every tag of the recipe's repository is an annotated tag (`git tag -a`), as \
`abra recipe release` makes them; a lightweight tag has no tag object, so no tagger, date or \
message for tools that read releases. Checked when the recipe is a git repository (always \
with --ref); skipped for a plain directory.\nFix: `git tag -f -a TAG -m TAG TAG^{}` and push \
the tag again with --force.",
    },
    Rule {
        id: "R015",
        name: "secret-length",
        level: Warning,
        scope: Static,
        summary: "secret names stay within Docker's 64 characters with a 45-character stack name",
        explain: "Every secret's name, as deployed, fits in Docker's limit of 64 characters. \
Names are `<stack>_<secret>_<version>` and abra's stack names are the app's domain with dots \
turned into underscores, cut to 45 characters; ccci-lint assumes that longest stack name, so a \
secret `db_password` at `v1` needs 45 + 1 + 11 + 3 = 60. A name that is too long is refused \
when the app is created, on the operator's server, not in review.\nFix: shorten the secret's \
key (keep it at 12 characters or fewer to leave room for versions like v10).",
    },
    Rule {
        id: "R016",
        name: "deploy-labels",
        level: Error,
        scope: Static,
        summary: "the app service has a deploy: labels: stanza",
        explain: "The `app` service has labels under `deploy:` (service labels, not container \
`labels:`). abra reads and writes the recipe's version and timeout there and Traefik finds its \
routes there.\nFix: add `deploy: labels:` to app with at least the \
`coop-cloud.${STACK_NAME}.version` label.",
    },
    Rule {
        id: "C001",
        name: "compose-render",
        level: Error,
        scope: Static,
        summary: "the COMPOSE_FILE files render with the sample env and abra.sh exports",
        explain: "Docker's own loader (`docker stack config`, which needs no daemon) merges and \
interpolates the files COMPOSE_FILE names with the sample env, the `export` lines of abra.sh \
and STACK_NAME, as a deploy does. A recipe that does not render cannot be deployed; the rules \
that read the rendered config are then not checked.\nFix: the message is Docker's.",
    },
    Rule {
        id: "C002",
        name: "version-label",
        level: Error,
        scope: Static,
        summary: "app's coop-cloud.${STACK_NAME}.version label equals --tag",
        explain: "When a release tag is under test (--tag), app's deploy label \
`coop-cloud.${STACK_NAME}.version` equals it: abra and ccci read the deployed version from \
it, and a release whose label names another version reports the wrong version forever. \
Skipped without --tag.\nFix: set the label to the tag in the release commit (`abra recipe \
release` does).",
    },
    Rule {
        id: "C003",
        name: "secrets-declared",
        level: Error,
        scope: Static,
        summary: "each secret used has SECRET_<NAME>_VERSION in .env.sample, and the other way round",
        explain: "Every secret the compose files declare has its `SECRET_<NAME>_VERSION` line in \
`.env.sample` (abra generates secrets from those lines, with their `length=`/`charset=` \
modifiers), and every such line names a secret that is used.\nFix: add the missing line, or \
remove the stale one.",
    },
    Rule {
        id: "C004",
        name: "backup-labels",
        level: Error,
        scope: Static,
        summary: "backupbot.* labels are well formed",
        explain: "backup-bot-two's labels are known keys; `backupbot.backup`, \
`backupbot.restore` and `backupbot.backup.volumes.<vol>` are `true` or `false`; a volume a \
label names is mounted by that service; relative paths stay inside their volume; legacy \
`backupbot.backup.path` paths are absolute and under a volume mount; hooks are not empty; a \
service with `backupbot.backup=true` mounts a volume. A malformed label backs up less than it \
says, silently.\nFix: the message names the label.",
    },
    Rule {
        id: "C005",
        name: "backup-coverage",
        level: Warning,
        scope: Static,
        summary: "some service has backupbot.backup=true",
        explain: "At least one service has `backupbot.backup=true`. Without one nothing of the \
app is backed up, and ccci's backup and restore tiers have nothing to prove.\nFix: label the \
services whose volumes hold data (with a pre-hook dump for a database).",
    },
    Rule {
        id: "C006",
        name: "backup-path-unwritten",
        level: Warning,
        scope: Static,
        summary: "a backup path that looks like a dump is written by a pre-hook at that place",
        explain: "A path a backup label names (`backupbot.backup.volumes.<vol>.path`, or the \
legacy `backupbot.backup.path`) that looks like a dump (`.sql`, `.dump`, `.tar`, `.gz`, \
`.bak`, ...) is written by a `backupbot.backup.pre-hook` of a service sharing the volume: \
the hook, or a recipe file the hook runs (a swarm config), mentions the file. When a hook \
writes the file under an absolute path, that path is the label's path inside the volume. \
Otherwise the backup holds an old dump or nothing, and the restore has nothing to load. A \
path that is not dump-like is taken as data the app keeps in its volume, and so is a path the \
recipe refers to elsewhere (environment, command, config files).\nFix: make the pre-hook \
write the dump where the label says (inside the volume), or correct the label.",
    },
    Rule {
        id: "C007",
        name: "hook-pipefail",
        level: Warning,
        scope: Static,
        summary: "a backup pre-hook or restore hook with a pipe sets pipefail",
        explain: "A `backupbot.backup.pre-hook`, `backupbot.restore.pre-hook` or \
`backupbot.restore.post-hook` that pipes one command into another (`gunzip -c dump.gz | psql`, \
`pg_dump | gzip > dump.gz`) sets `pipefail` when the first command can fail. A shell's \
pipeline exits with its last command's status: a missing dump or a failed pg_dump leaves psql \
or gzip succeeding on empty input, and the hook reports success for a backup or restore that \
did nothing. `set -e` alone does not help, for the same reason. First commands that cannot \
fail (echo, printf, true, yes, :) are not flagged.\nFix: run the hook with bash \
(`bash -o pipefail -c '...'`) or `set -o pipefail` where the image's sh has it (busybox ash \
does; Debian's dash does not), or avoid the pipe (`psql -f dump.sql`, `pg_dump -f dump.sql`).",
    },
    Rule {
        id: "C008",
        name: "shared-net-collision",
        level: Error,
        scope: Static,
        summary: "no service on a shared external network reaches a sibling on it by its bare name",
        explain: "A service attached to an external network (the proxy network every stack \
joins) reaches a sibling service that is on that network too by its bare service name (`db`, \
`app`, `tasks.app`) in its environment, command, healthcheck or config files. Swarm gives \
each service its short name as an alias on every network it joins, so on the shared network \
the name also answers for the same-named service of every other stack there, including a \
second app of the same recipe: requests go to another app at random.\nFix: use the \
stack-qualified name (`${STACK_NAME}_app`, `tasks.${STACK_NAME}_app`), or take the sibling off \
the shared network.",
    },
    Rule {
        id: "C009",
        name: "shared-net-bare-name",
        level: Warning,
        scope: Static,
        summary: "no service on a shared external network reaches a sibling by its bare name",
        explain: "As C008, for a sibling that is not itself on the shared network: the bare \
name resolves on the stack's own network as meant, unless another stack puts a service of \
the same name on the shared network, and then it may resolve there instead.\nFix: use the \
stack-qualified name (`${STACK_NAME}_db`).",
    },
    Rule {
        id: "C010",
        name: "start-period",
        level: Warning,
        scope: Static,
        summary: "healthcheck grace (start_period + retries x interval) is at least a tenth of the deploy timeout",
        explain: "When the recipe sets a deploy timeout (recipe.json's `timeouts.deploy` in \
ccci's recipes tree, else app's `coop-cloud.${STACK_NAME}.timeout` label), every \
healthcheck gives a starting task at least a tenth of it before swarm calls the task \
unhealthy and replaces it: start_period + retries x interval (Docker's defaults: 0 s, 3, \
30 s). A long timeout says the app can take long to start; a healthcheck that gives up far \
sooner kills it mid-start, again and again. A tenth leaves room for image pulls and the other \
services, which the timeout also covers. Skipped when no timeout is set.\nFix: raise the \
healthcheck's start_period.",
    },
    Rule {
        id: "C011",
        name: "overlay-scope",
        level: Error,
        scope: Static,
        summary: "a CI compose overlay touches only healthcheck, image and deploy.resources of existing services",
        explain: "A compose overlay of ccci's recipes tree (`recipes/<recipe>/compose/*.yml`, or \
--overlay FILE), which CI layers over the recipe's own files, changes only `healthcheck`, \
`image` and `deploy.resources` of services the recipe has (and may say `version`). Anything \
else would make CI test another app than the one operators deploy.\nFix: move the change into \
the recipe, or drop it from the overlay.",
    },
    Rule {
        id: "C012",
        name: "flaky-expiry",
        level: Warning,
        scope: Static,
        summary: "a known-flaky test of recipe.json expires within 14 days, or has expired",
        explain: "recipe.json may mark a test known-flaky (`flaky`: `<tier>/<name>` with a \
`reason` and an `until` date): until that date its failures are reported but do not make its \
tier red. Lint warns 14 days before the date and after it, when the failures count again, so \
the entry ends on purpose and not by surprise.\nFix: fix the test and drop the entry, or \
renew `until` with a reason that still holds.",
    },
];

/// A rule by id (`R012`) or name (`abra-sh-vendors`), case-insensitive.
pub fn find(key: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(key) || r.name.eq_ignore_ascii_case(key))
}

/// A rule by id; panics on an id not in the table (a bug in a check).
pub fn get(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no rule {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        let mut names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
        ids.sort();
        names.sort();
        ids.dedup();
        names.dedup();
        assert_eq!(ids.len(), RULES.len());
        assert_eq!(names.len(), RULES.len());
        for r in RULES {
            assert!(
                r.id.len() == 4
                    && (r.id.starts_with('R') || r.id.starts_with('C'))
                    && r.id[1..].bytes().all(|b| b.is_ascii_digit()),
                "{}",
                r.id
            );
            assert!(
                r.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                r.name
            );
            assert!(r.explain.contains("\nFix: "), "{} explains a fix", r.id);
            assert!(!r.summary.contains('\n'));
        }
        // abra's sixteen, in order.
        let abra: Vec<&str> = RULES
            .iter()
            .filter(|r| r.id.starts_with('R'))
            .map(|r| r.id)
            .collect();
        let want: Vec<String> = (1..=16).map(|n| format!("R{n:03}")).collect();
        assert_eq!(abra, want);
    }

    #[test]
    fn find_by_id_or_name() {
        assert_eq!(find("r012").unwrap().name, "abra-sh-vendors");
        assert_eq!(find("abra-sh-vendors").unwrap().id, "R012");
        assert!(find("R099").is_none());
    }
}
