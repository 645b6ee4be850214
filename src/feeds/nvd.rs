//! NVD's CVE API 2.0, for products without an ecosystem: the CVEs whose vulnerable
//! configurations match each deployed version's CPE name
//! (`GET /rest/json/cves/2.0?cpeName=…&isVulnerable&noRejected`), a page at a time.

use crate::incident::Announcement;
use serde::Deserialize;

/// CVEs asked for per page (a few megabytes), and the most pages read for one version:
/// 20,000 CVEs, far more than any one version of a server has.
pub const PAGE: usize = 500;
pub const MAX_PAGES: usize = 40;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[serde(default)]
    pub total_results: usize,
    #[serde(default)]
    vulnerabilities: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    cve: Cve,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cve {
    id: String,
    #[serde(default)]
    vuln_status: String,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    descriptions: Vec<Description>,
    #[serde(default)]
    metrics: Metrics,
}

#[derive(Deserialize)]
struct Description {
    lang: String,
    value: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    #[serde(default)]
    cvss_metric_v40: Vec<Metric>,
    #[serde(default)]
    cvss_metric_v31: Vec<Metric>,
    #[serde(default)]
    cvss_metric_v30: Vec<Metric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    cvss_data: CvssData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CvssData {
    vector_string: String,
}

/// The CPE name of `version` of the product `cpe` names (`cpe:2.3:a:vendor:product`).
pub fn cpe_name(cpe: &str, version: &str) -> String {
    format!("{cpe}:{version}:*:*:*:*:*:*:*")
}

/// The query of one page for `cpe_name`, from `start`.
pub fn query(api_url: &str, cpe_name: &str, start: usize) -> String {
    let mut url = format!("{api_url}?cpeName=");
    url.extend(form_urlencoded_component(cpe_name));
    url.push_str(&format!(
        "&isVulnerable&noRejected&resultsPerPage={PAGE}&startIndex={start}"
    ));
    url
}

/// A query component, percent-encoded (`:` and `*` included, as NVD's examples show them).
fn form_urlencoded_component(text: &str) -> impl Iterator<Item = String> + '_ {
    text.bytes().map(|byte| match byte {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'*' => {
            char::from(byte).to_string()
        }
        other => format!("%{other:02X}"),
    })
}

pub fn page(bytes: &[u8]) -> Result<Page, String> {
    serde_json::from_slice(bytes).map_err(|error| format!("not an NVD CVE API 2.0 answer: {error}"))
}

impl Page {
    /// How many CVEs this page lists, rejected ones included.
    pub fn listed(&self) -> usize {
        self.vulnerabilities.len()
    }

    /// Its CVEs' ids and announcements (rejected ones left out), not yet knowing which
    /// deployed versions each affects.
    pub fn cves(self, web_base: &str) -> Vec<(String, Announcement)> {
        self.vulnerabilities
            .into_iter()
            .filter(|item| item.cve.vuln_status != "Rejected")
            .map(|item| {
                let cve = item.cve;
                let text = cve
                    .descriptions
                    .iter()
                    .find(|description| description.lang == "en")
                    .or(cve.descriptions.first())
                    .map(|description| description.value.chars().take(20_000).collect())
                    .unwrap_or_default();
                let metrics = cve.metrics;
                let cvss = [
                    metrics.cvss_metric_v40,
                    metrics.cvss_metric_v31,
                    metrics.cvss_metric_v30,
                ]
                .into_iter()
                .flatten()
                .map(|metric| metric.cvss_data.vector_string)
                .collect();
                let announcement = Announcement {
                    source: "NVD".to_owned(),
                    item: cve.id.clone(),
                    title: cve.id.clone(),
                    link: Some(format!("{web_base}/vuln/detail/{}", cve.id)),
                    text,
                    published: cve
                        .published
                        .and_then(|at| {
                            chrono::NaiveDateTime::parse_from_str(&at, "%Y-%m-%dT%H:%M:%S%.f").ok()
                        })
                        .map(|at| at.and_utc()),
                    about_security: true,
                    ids: vec![cve.id.clone()],
                    cvss,
                    affected: None,
                };
                (cve.id, announcement)
            })
            .collect()
    }
}
