//! OSV (osv.dev): which known vulnerabilities affect each deployed version of a product
//! with an ecosystem and a package name, asked in one `POST /v1/querybatch`, then each
//! vulnerability's record (`GET /v1/vulns/{id}`) for its summary, aliases and CVSS.

use super::Package;
use crate::incident::Announcement;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The most vulnerabilities herald reads per query (OSV pages past 1,000).
const MAX_PER_QUERY: usize = 1_000;

#[derive(Deserialize)]
struct Batch {
    #[serde(default)]
    results: Vec<BatchResult>,
}

#[derive(Deserialize)]
struct BatchResult {
    #[serde(default)]
    vulns: Vec<Listed>,
}

#[derive(Deserialize)]
struct Listed {
    id: String,
}

/// An OSV record, as much of it as herald uses (OSV schema 1.x).
#[derive(Deserialize)]
pub struct Record {
    id: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    severity: Vec<RecordSeverity>,
    #[serde(default)]
    published: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    withdrawn: Option<String>,
}

#[derive(Deserialize)]
struct RecordSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

/// The body of the batch query: one query per deployed version of each package.
pub fn query(packages: &[(&Package, &str)]) -> serde_json::Value {
    let queries: Vec<serde_json::Value> = packages
        .iter()
        .map(|(package, version)| {
            serde_json::json!({
                "package": { "ecosystem": package.ecosystem, "name": package.name },
                "version": version,
            })
        })
        .collect();
    serde_json::json!({ "queries": queries })
}

/// The ids the batch answer names for each query, in the queries' order.
pub fn listed(bytes: &[u8], queries: usize) -> Result<Vec<Vec<String>>, String> {
    let batch: Batch = serde_json::from_slice(bytes)
        .map_err(|error| format!("not an OSV batch answer: {error}"))?;
    if batch.results.len() != queries {
        return Err(format!(
            "OSV answered {} results to {queries} queries",
            batch.results.len()
        ));
    }
    let listed: Vec<Vec<String>> = batch
        .results
        .into_iter()
        .map(|result| {
            result
                .vulns
                .into_iter()
                .take(MAX_PER_QUERY)
                .map(|listed| listed.id)
                .collect()
        })
        .collect();
    Ok(listed)
}

/// Whether `id` is shaped as OSV's ids are (it becomes a path of OSV's API) (`GHSA-…`, `PYSEC-2024-1`, `GO-2024-1234`,
/// `RUSTSEC-2024-0001`): letters, digits and `-`, `_`, `.`, `:`, and no `..`.
pub fn is_osv_id(id: &str) -> bool {
    (1..=100).contains(&id.len())
        && !id.contains("..")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Which of `versions` each id affects, from the answers to their queries.
pub fn affected_versions(
    versions: &[&str],
    answers: &[Vec<String>],
) -> BTreeMap<String, Vec<String>> {
    let mut affected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (version, ids) in versions.iter().zip(answers) {
        for id in ids {
            affected
                .entry(id.clone())
                .or_default()
                .push((*version).to_owned());
        }
    }
    affected
}

/// An OSV record, read.
pub fn record(bytes: &[u8]) -> Result<Record, String> {
    serde_json::from_slice(bytes).map_err(|error| format!("not an OSV record: {error}"))
}

impl Record {
    /// The record as an announcement about the deployed `versions` it affects; `None`
    /// when it was withdrawn.
    pub fn announcement(self, versions: Vec<String>, link_base: &str) -> Option<Announcement> {
        if self.withdrawn.is_some() {
            return None;
        }
        let mut ids = vec![self.id.clone()];
        ids.extend(self.aliases);
        let title = match self.summary.trim() {
            "" => self.id.clone(),
            summary => format!("{}: {summary}", self.id),
        };
        Some(Announcement {
            source: "OSV".to_owned(),
            item: super::item_for(&self.id, &versions),
            title,
            link: Some(format!("{link_base}/vulnerability/{}", self.id)),
            text: self.details.chars().take(20_000).collect(),
            published: self.published,
            about_security: true,
            ids,
            cvss: self
                .severity
                .into_iter()
                .filter(|severity| severity.kind.starts_with("CVSS_V"))
                .map(|severity| severity.score)
                .collect(),
            affected: Some(versions),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_naming_a_path_is_no_osv_id() {
        assert!(is_osv_id("GHSA-q53q-gxq9-mgrj") && is_osv_id("openSUSE-SU-2024:14086-1"));
        assert!(!is_osv_id("../../feed") && !is_osv_id("GHSA-a/b") && !is_osv_id(""));
        let answer = br#"{"results":[{"vulns":[{"id":"PYSEC-2024-1"}]},{}]}"#;
        assert_eq!(
            listed(answer, 2),
            Ok(vec![vec!["PYSEC-2024-1".to_owned()], vec![]])
        );
        assert!(listed(answer, 3).is_err(), "one result per query");
    }
}
