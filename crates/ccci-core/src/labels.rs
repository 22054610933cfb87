//! The Docker labels ccci sets and reads, named once.
//!
//! ccci's own labels mark ownership: an object is ccci's to change or remove
//! only when it carries both [`RUN`] and [`INSTANCE`] of the run at hand. The
//! stack namespace label is Docker's; the `coop-cloud.<stack>.*` labels are
//! abra's, which ccci writes as abra does and reads back to prove an upgrade.
//! The rules: docs/contracts.md (Docker labels and ownership) and docs/abra.md.

/// The run that created the object.
pub const RUN: &str = "ccci.run";
/// The ccci state directory (its `instance-id`) that created the object.
pub const INSTANCE: &str = "ccci.instance";
/// Set by `docker stack deploy` on everything it creates.
pub const NAMESPACE: &str = "com.docker.stack.namespace";

/// abra's per-stack label on the `app` service: `coop-cloud.<stack>.<key>`.
pub fn coop_cloud(stack: &str, key: &str) -> String {
    format!("coop-cloud.{stack}.{key}")
}

/// The keys of abra's labels ccci sets or reads.
pub mod coop {
    /// The release tag deployed.
    pub const VERSION: &str = "version";
    /// The commit deployed when it is not a release tag (abra's chaos mode).
    pub const CHAOS_VERSION: &str = "chaos-version";
    /// `true` for a chaos deploy.
    pub const CHAOS: &str = "chaos";
    /// The recipe's name.
    pub const RECIPE: &str = "recipe";
    /// Seconds a deploy may take to converge.
    pub const TIMEOUT: &str = "timeout";
    /// Whether an auto-updater may upgrade the app: the app env's
    /// `ENABLE_AUTO_UPDATE`, else `false`, as abra sets it.
    pub const AUTOUPDATE: &str = "autoupdate";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abra_label_names() {
        assert_eq!(
            coop_cloud("demo_ci_localhost", coop::VERSION),
            "coop-cloud.demo_ci_localhost.version"
        );
    }
}
