//! Fixes and releases: the pull requests that fix an incident (found by the GHSA id they
//! mention, by the temporary private fork they are in, or linked by a maintainer) and the
//! releases that ship the patched version. What they say ticks the tracking issue's
//! checklist: "Fix and test" once a fix is merged into the default branch, "Backport"
//! once one is merged into another branch, "Publish a patch release" once a release's tag
//! names a patched version.

use super::{GhsaId, Incident, RepoName, TimelineEntry, TimelineKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a pull request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullState {
    Open,
    Closed,
    Merged,
    /// Linked by a maintainer; GitHub has not been asked yet.
    Unknown,
}

impl fmt::Display for PullState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PullState::Open => "open",
            PullState::Closed => "closed without merging",
            PullState::Merged => "merged",
            PullState::Unknown => "state not known yet",
        })
    }
}

/// A pull request as GitHub describes it (a webhook, or the pulls API).
#[derive(Debug, Clone, PartialEq)]
pub struct PullSnapshot {
    pub repository: RepoName,
    pub number: u64,
    pub url: String,
    /// The branch it goes into, and the repository's default branch.
    pub base: String,
    pub default_branch: String,
    pub state: PullState,
}

/// A pull request herald tracks as a fix of the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixPull {
    pub repository: RepoName,
    pub number: u64,
    pub url: String,
    pub base: String,
    pub state: PullState,
    /// Into a branch other than the default: a backport.
    pub backport: bool,
    /// The maintainer who linked it (`/herald fix`), if it was not found by its mention.
    pub linked_by: Option<String>,
    /// When herald learned it was merged.
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
}

/// A published release whose tag names a patched version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchRelease {
    pub tag: String,
    pub url: String,
    pub published_at: DateTime<Utc>,
}

/// What the fixes and releases tick on the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixProgress {
    pub fix_merged: bool,
    pub backport_merged: bool,
    pub released: bool,
}

impl Incident {
    pub fn fix_progress(&self) -> FixProgress {
        let merged = |backport: bool| {
            self.fixes
                .iter()
                .any(|fix| fix.state == PullState::Merged && fix.backport == backport)
        };
        FixProgress {
            fix_merged: merged(false),
            backport_merged: merged(true),
            released: !self.releases.is_empty(),
        }
    }

    /// Records what GitHub says of a pull request that fixes the incident (`linked_by`:
    /// the maintainer who linked it); returns what the timeline records.
    pub fn track_pull(
        &mut self,
        pull: &PullSnapshot,
        linked_by: Option<&str>,
        at: DateTime<Utc>,
    ) -> Vec<TimelineEntry> {
        let name = format!("{}#{}", pull.repository, pull.number);
        let backport = pull.base != pull.default_branch;
        let detail = match self
            .fixes
            .iter_mut()
            .find(|fix| fix.repository == pull.repository && fix.number == pull.number)
        {
            Some(fix) if fix.state == pull.state && fix.base == pull.base => return Vec::new(),
            Some(fix) => {
                if pull.state == PullState::Merged && fix.state != PullState::Merged {
                    fix.merged_at = Some(at);
                }
                fix.state = pull.state;
                fix.base = pull.base.clone();
                fix.backport = backport;
                fix.url = pull.url.clone();
                format!("fix {name} is {}", pull.state)
            }
            None => {
                self.fixes.push(FixPull {
                    repository: pull.repository.clone(),
                    number: pull.number,
                    url: pull.url.clone(),
                    base: pull.base.clone(),
                    state: pull.state,
                    backport,
                    linked_by: linked_by.map(str::to_owned),
                    merged_at: (pull.state == PullState::Merged).then_some(at),
                });
                format!(
                    "{} {name} into {} tracked ({})",
                    if backport { "backport" } else { "fix" },
                    pull.base,
                    pull.state
                )
            }
        };
        vec![TimelineEntry {
            at,
            actor: linked_by.map(str::to_owned),
            kind: TimelineKind::Updated,
            detail,
        }]
    }

    /// Records a published release if its tag names a patched version of the advisory;
    /// returns what the timeline records (nothing for any other release).
    pub fn note_release(&mut self, tag: &str, url: &str, at: DateTime<Utc>) -> Vec<TimelineEntry> {
        if !self.patched_by(tag) || self.releases.iter().any(|release| release.tag == tag) {
            return Vec::new();
        }
        self.releases.push(PatchRelease {
            tag: tag.to_owned(),
            url: url.to_owned(),
            published_at: at,
        });
        vec![TimelineEntry {
            at,
            actor: None,
            kind: TimelineKind::Updated,
            detail: format!("patch release {tag} published"),
        }]
    }

    /// Whether a release tag names one of the advisory's patched versions: `1.0.1`,
    /// `v1.0.1`, `pkg-1.0.1`, `pkg@1.0.1` and `pkg/v1.0.1` all name 1.0.1.
    fn patched_by(&self, tag: &str) -> bool {
        self.packages
            .iter()
            .filter_map(|package| package.patched_versions.as_deref())
            .flat_map(|versions| versions.split([',', ' ', '|']))
            .map(|version| version.trim_start_matches(['>', '<', '=', '~', '^', 'v']))
            .filter(|version| !version.is_empty())
            .any(|version| {
                tag.strip_suffix(version).is_some_and(|prefix| {
                    prefix.is_empty()
                        || prefix.ends_with(['v', '-', '@', '/'])
                            && !prefix.ends_with(|c: char| c.is_ascii_digit())
                })
            })
    }
}

/// The GHSA ids a text mentions (a pull request's title and body).
pub fn mentioned_ghsa_ids(text: &str) -> Vec<GhsaId> {
    let mut ids: Vec<GhsaId> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter_map(|word| {
            let start = word.find("GHSA-")?;
            GhsaId::parse(word.get(start..start + 19)?).ok()
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::testing::reported;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    fn pull(number: u64, base: &str, state: PullState) -> PullSnapshot {
        PullSnapshot {
            repository: RepoName::parse("octo/widget").expect("name"),
            number,
            url: format!("https://github.com/octo/widget/pull/{number}"),
            base: base.to_owned(),
            default_branch: "main".to_owned(),
            state,
        }
    }

    #[test]
    fn merged_fixes_and_backports_tick_their_items_once() {
        let mut incident = reported("high", at());
        assert_eq!(incident.fix_progress(), FixProgress::default());
        assert_eq!(
            incident.track_pull(&pull(7, "main", PullState::Open), None, at())[0].detail,
            "fix octo/widget#7 into main tracked (open)"
        );
        assert!(
            incident
                .track_pull(&pull(7, "main", PullState::Open), None, at())
                .is_empty()
        );
        incident.track_pull(&pull(7, "main", PullState::Merged), None, at());
        incident.track_pull(
            &pull(8, "release-1.x", PullState::Open),
            Some("alice"),
            at(),
        );
        let progress = incident.fix_progress();
        assert!(progress.fix_merged && !progress.backport_merged && !progress.released);
        incident.track_pull(&pull(8, "release-1.x", PullState::Merged), None, at());
        assert!(incident.fix_progress().backport_merged);
        assert_eq!(incident.fixes[1].linked_by.as_deref(), Some("alice"));
    }

    #[test]
    fn a_release_counts_when_its_tag_names_a_patched_version() {
        let mut incident = reported("high", at());
        incident.packages = vec![crate::incident::AffectedPackage {
            ecosystem: Some("pip".to_owned()),
            name: Some("a-package".to_owned()),
            vulnerable_version_range: Some(">= 1.0.0, < 1.0.1".to_owned()),
            patched_versions: Some("1.0.1".to_owned()),
            vulnerable_functions: Vec::new(),
        }];
        for tag in ["2.0.0", "v1.0.10", "11.0.1", "a-package-1.0.0"] {
            assert!(incident.note_release(tag, "u", at()).is_empty(), "{tag}");
        }
        assert_eq!(
            incident.note_release("v1.0.1", "https://example.org/r", at())[0].detail,
            "patch release v1.0.1 published"
        );
        assert!(
            incident.note_release("v1.0.1", "u", at()).is_empty(),
            "once"
        );
        for tag in ["1.0.1", "a-package-1.0.1", "pkg@1.0.1", "pkg/v1.0.1"] {
            assert!(incident.patched_by(tag), "{tag}");
        }
        assert!(incident.fix_progress().released);
    }

    #[test]
    fn ghsa_ids_are_found_where_they_are_mentioned() {
        let ids = mentioned_ghsa_ids(
            "Fix GHSA-abcd-1234-efgh (see https://github.com/advisories/GHSA-wxyz-5678-abcd).\nGHSA-x",
        );
        let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        assert_eq!(ids, ["GHSA-abcd-1234-efgh", "GHSA-wxyz-5678-abcd"]);
    }
}
