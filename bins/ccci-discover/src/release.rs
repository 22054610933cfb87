//! Which release a run installs first, and whether it tests a release tag.

use anyhow::Result;
use ccci_core::git;
use ccci_core::version::Version;
use std::path::Path;

/// A release tag and the commit it names.
#[derive(Debug, Clone)]
pub struct Release {
    pub tag: String,
    pub version: Version,
    pub commit: String,
}

/// Every release tag of the repository (tags that are not releases are ignored).
pub fn releases(repo: &Path) -> Result<Vec<Release>> {
    let out = git::git(
        repo,
        &[
            "for-each-ref",
            "--format=%(refname:strip=2)%09%(objectname)%09%(*objectname)",
            "refs/tags",
        ],
    )?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let tag = f.next()?.to_string();
            let obj = f.next()?;
            // Annotated tags peel to their commit.
            let commit = f
                .next()
                .filter(|c| !c.is_empty())
                .unwrap_or(obj)
                .to_string();
            let version = Version::parse(&tag).ok()?;
            Some(Release {
                tag,
                version,
                commit,
            })
        })
        .collect())
}

/// The release under test (when `ref` is a release tag) and the release to
/// install before upgrading to it.
///
/// For a release tag, the previous release is the newest one with a lower
/// version. For any other ref (a PR head, a branch, a SHA), it is the newest
/// release the head descends from, not counting a tag on the head itself: the
/// release this code would be an upgrade of. Final releases win over release
/// candidates: a pre-release is the previous release only when no final one is.
pub fn previous(
    repo: &Path,
    r#ref: &str,
    head: &str,
) -> Result<(Option<Release>, Option<Release>)> {
    let all = releases(repo)?;
    let tested = all.iter().find(|r| r.tag == r#ref).cloned();
    let candidates: Vec<&Release> = match &tested {
        Some(t) => all.iter().filter(|r| r.version < t.version).collect(),
        None => {
            let merged = git::git(repo, &["tag", "--merged", head])?;
            let merged: std::collections::HashSet<&str> = merged.lines().collect();
            all.iter()
                .filter(|r| merged.contains(r.tag.as_str()) && r.commit != head)
                .collect()
        }
    };
    // Operators run final releases: upgrade from the newest final one, and from
    // a release candidate only when no final release is older.
    let finals: Vec<&Release> = candidates
        .iter()
        .copied()
        .filter(|r| !r.version.is_prerelease())
        .collect();
    let pool = if finals.is_empty() {
        candidates
    } else {
        finals
    };
    let prev = pool
        .into_iter()
        .max_by(|a, b| a.version.cmp(&b.version))
        .cloned();
    Ok((tested, prev))
}
