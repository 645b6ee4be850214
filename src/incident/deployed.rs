//! Product incidents: an announcement about software the project runs (a database, a
//! monitoring server), from a feed, a mailing list, OSV or NVD, that is about security and
//! affects a deployed version. One incident per product and vulnerability, whichever
//! sources announce it: an announcement naming an id the incident knows joins it.

use super::upstream::compare_versions;
use super::{CvssAssessment, CvssSlot, Severity, mentioned_ghsa_ids};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// The most ids herald takes from one announcement's text (a stable kernel's release note
/// names dozens).
const MAX_MENTIONED_IDS: usize = 50;

/// Words that make an announcement about security when its source does not say so.
pub const DEFAULT_WORDS: [&str; 4] = ["security", "vulnerability", "vulnerabilities", "exploit"];

/// A piece of software the project runs, as the operator listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// How the operator and the issues name it; also a name announcements use.
    pub name: String,
    /// Other names announcements use for it (`PostgreSQL` and `Postgres`).
    pub aliases: Vec<String>,
    /// The versions deployed.
    pub versions: Vec<String>,
    /// Words that make an announcement about security (besides a CVE or GHSA id).
    pub words: Vec<String>,
}

/// One item from a source: a feed entry, a list message, an OSV record, an NVD CVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// Where it came from, as people read it: `https://…/releases.atom`, `OSV`, `NVD`,
    /// `list announce.example.org`.
    pub source: String,
    /// Its own key in that source (an entry's id, an OSV or CVE id, a Message-ID).
    pub item: String,
    pub title: String,
    pub link: Option<String>,
    pub text: String,
    pub published: Option<DateTime<Utc>>,
    /// The source or the item's category is about security (a security-announcements
    /// category, an advisory database).
    pub about_security: bool,
    /// The vulnerability ids the source itself gives (an OSV record's id and aliases).
    pub ids: Vec<String>,
    /// CVSS vectors (3.x or 4.0) the source gives.
    pub cvss: Vec<String>,
    /// The deployed versions the source itself found affected (OSV and NVD are asked per
    /// version); `None` when only its text says.
    pub affected: Option<Vec<String>>,
}

/// How sure herald is that a deployed version is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Certainty {
    /// The announcement names no version of this version's line: someone must check.
    Unstated,
    /// The announcement names a later version of the same line (a fix this one lacks).
    FixNamed,
    /// The source itself matched this version (OSV, NVD).
    Confirmed,
}

/// A deployed version an announcement affects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    pub version: String,
    pub certainty: Certainty,
}

/// What an announcement is to a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not about security: no id, no security source, none of the words.
    NotSecurity,
    /// About security, but not about this product.
    NotThisProduct,
    /// About the product's security, but every deployed version has the fix it names (or
    /// the source matched none of them).
    NotDeployed,
    Affects(Vec<Exposure>),
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::NotSecurity => "not_security",
            Verdict::NotThisProduct => "not_this_product",
            Verdict::NotDeployed => "not_deployed",
            Verdict::Affects(_) => "affects",
        }
    }
}

impl Announcement {
    /// Every vulnerability id it names: the source's own, then CVE and GHSA ids in its
    /// title and text; CVE ids first (the key most sources share).
    pub fn vulnerability_ids(&self) -> Vec<String> {
        let text = format!("{}\n{}", self.title, self.text);
        let mentioned = mentioned_cve_ids(&text).into_iter().chain(
            mentioned_ghsa_ids(&text)
                .into_iter()
                .map(|id| id.as_str().to_owned()),
        );
        let mut seen = std::collections::HashSet::new();
        let mut ids: Vec<String> = self
            .ids
            .iter()
            .map(|id| normal_id(id))
            .filter(|id| seen.insert(id.clone()))
            .collect();
        // An item naming hundreds of ids claims none of the rest: it could otherwise
        // squat on a CVE that a later, genuine announcement would join.
        ids.extend(
            mentioned
                .filter(|id| seen.insert(id.clone()))
                .take(MAX_MENTIONED_IDS),
        );
        ids.sort_by_key(|id| !id.starts_with("CVE-"));
        ids
    }

    /// The incident's key for this announcement: its first id, else its own place.
    fn key(&self) -> String {
        self.vulnerability_ids()
            .into_iter()
            .next()
            .unwrap_or_else(|| format!("{} {}", self.source, self.item))
    }
}

/// CVE ids as the program writes them (`CVE-2024-12345`), upper case.
fn mentioned_cve_ids(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter_map(|word| {
            let upper = word.to_ascii_uppercase();
            let start = upper.find("CVE-")?;
            let rest = &upper[start + 4..];
            let (year, number) = rest.split_once('-')?;
            let number: String = number.chars().take_while(char::is_ascii_digit).collect();
            let well_formed = year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && (4..=19).contains(&number.len());
            well_formed.then(|| format!("CVE-{year}-{number}"))
        })
        .collect()
}

/// A source's id as herald compares it: CVE ids upper case, GHSA ids lower case after the
/// prefix, others as given.
fn normal_id(id: &str) -> String {
    let id = id.trim();
    if id.len() > 5 && id[..4].eq_ignore_ascii_case("cve-") {
        id.to_ascii_uppercase()
    } else if id.len() > 5 && id[..5].eq_ignore_ascii_case("ghsa-") {
        format!("GHSA-{}", id[5..].to_ascii_lowercase())
    } else {
        id.to_owned()
    }
}

/// Whether `lower` (a text in lower case) holds `word` as a whole word, in any case.
fn has_word(lower: &str, word: &str) -> bool {
    let word = word.trim().to_lowercase();
    if word.is_empty() {
        return false;
    }
    lower.match_indices(&word).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Words that make a text's versions a range or a score rather than a list of fixed
/// releases: with any of them, a text naming only earlier versions still may affect.
const HEDGES: [&str; 14] = [
    ">",
    "<",
    "since",
    "introduced",
    "from",
    "starting",
    "earlier",
    "before",
    "prior",
    "through",
    "up to",
    "older",
    "cvss",
    "score",
];

/// Version-like words of `text` (`11.2.2`, `v10.4.9`): two or more numeric parts.
fn named_versions(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .map(|word| word.trim_matches('.'))
        .map(|word| word.strip_prefix(['v', 'V']).unwrap_or(word))
        .filter(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() >= 2
                && parts
                    .iter()
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
        .collect()
}

/// A version's major version, its first part (`11` of `11.2.1`, `16` of PostgreSQL's
/// `16.2`): announcements name the fixed release of each major they fix.
fn major_of(version: &str) -> &str {
    let version = version.trim().trim_start_matches(['v', 'V']);
    version.split('.').next().unwrap_or_default()
}

impl Product {
    /// What `announcement` is to this product. `own_source` says the source is this
    /// product's alone (its releases feed), so the announcement need not name it.
    pub fn judge(&self, announcement: &Announcement, own_source: bool) -> Verdict {
        // Lower case once, for every word and name looked for.
        let text = format!("{}\n{}", announcement.title, announcement.text).to_lowercase();
        let about_security = announcement.about_security
            || !announcement.vulnerability_ids().is_empty()
            || self.words.iter().any(|word| has_word(&text, word));
        if !about_security {
            return Verdict::NotSecurity;
        }
        let named = std::iter::once(&self.name)
            .chain(&self.aliases)
            .any(|name| has_word(&text, name));
        if !(own_source || named) {
            return Verdict::NotThisProduct;
        }
        let exposures = match &announcement.affected {
            Some(affected) => self.confirmed(affected),
            None => self.exposed_by_text(&text),
        };
        match exposures.is_empty() {
            true => Verdict::NotDeployed,
            false => Verdict::Affects(exposures),
        }
    }

    fn confirmed(&self, affected: &[String]) -> Vec<Exposure> {
        self.versions
            .iter()
            .filter(|version| affected.contains(version))
            .map(|version| Exposure {
                version: version.clone(),
                certainty: Certainty::Confirmed,
            })
            .collect()
    }

    /// From the text alone, among the versions it names in the deployed version's major,
    /// written as precisely as it: it is affected when a later one is named (the fix it
    /// lacks); it may be when the text names it itself ("affects 11.2.1") or none; it is
    /// not only when every one named is earlier and nothing makes them a range or a score
    /// (">= 11.0.0", "introduced in", "and earlier", "CVSS 10.0"): a fix it has.
    fn exposed_by_text(&self, lower: &str) -> Vec<Exposure> {
        let named = named_versions(lower);
        let hedged = HEDGES.iter().any(|hedge| lower.contains(hedge));
        self.versions
            .iter()
            .filter_map(|deployed| {
                // Releases of its major written as precisely as it (`11.2` is no release
                // of `11.2.1`'s kind, but may be its line).
                let parts = deployed.split('.').count();
                let orders: Vec<Ordering> = named
                    .iter()
                    .filter(|name| major_of(name) == major_of(deployed))
                    .filter(|name| name.split('.').count() == parts)
                    .map(|name| compare_versions(name, deployed))
                    .collect();
                let certainty = if orders.contains(&Ordering::Greater) {
                    Certainty::FixNamed
                } else if orders.is_empty() || orders.contains(&Ordering::Equal) || hedged {
                    Certainty::Unstated
                } else {
                    return None;
                };
                Some(Exposure {
                    version: deployed.clone(),
                    certainty,
                })
            })
            .collect()
    }
}

/// Where an incident's product was announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    pub source: String,
    pub item: String,
    pub title: String,
    pub link: Option<String>,
    pub seen_at: DateTime<Utc>,
}

/// A vulnerability of a product the project runs, from every source that announced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductIncident {
    pub product: String,
    /// Its key among the product's incidents: the first id it was announced with.
    pub key: String,
    /// Every id the sources named: an announcement naming one joins this incident.
    pub ids: Vec<String>,
    pub title: String,
    pub summary: String,
    pub severity: Severity,
    /// The vector the severity was computed from.
    pub cvss: Option<CvssAssessment>,
    pub exposures: Vec<Exposure>,
    pub sightings: Vec<Sighting>,
    pub opened_at: DateTime<Utc>,
}

/// What an announcement did to a product's incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Opened,
    /// A further source for a known incident.
    Joined,
    /// The same item again: nothing new.
    Known,
}

/// The longest summary kept of an announcement's text.
const SUMMARY_CHARS: usize = 4_000;

/// The incident `announcement` opens for `product`, or `existing` with it joined.
pub fn apply_announcement(
    existing: Option<ProductIncident>,
    product: &Product,
    announcement: &Announcement,
    exposures: &[Exposure],
    at: DateTime<Utc>,
) -> (ProductIncident, Change) {
    let sighting = Sighting {
        source: announcement.source.clone(),
        item: announcement.item.clone(),
        title: announcement.title.clone(),
        link: announcement.link.clone(),
        seen_at: at,
    };
    let (mut incident, change) = match existing {
        Some(incident)
            if incident
                .sightings
                .iter()
                .any(|seen| seen.source == sighting.source && seen.item == sighting.item) =>
        {
            return (incident, Change::Known);
        }
        Some(incident) => (incident, Change::Joined),
        None => (
            ProductIncident {
                product: product.name.clone(),
                key: announcement.key(),
                ids: Vec::new(),
                title: announcement.title.clone(),
                summary: announcement.text.chars().take(SUMMARY_CHARS).collect(),
                severity: Severity::Unknown,
                cvss: None,
                exposures: Vec::new(),
                sightings: Vec::new(),
                opened_at: at,
            },
            Change::Opened,
        ),
    };
    for id in announcement.vulnerability_ids() {
        if !incident.ids.contains(&id) {
            incident.ids.push(id);
        }
    }
    for exposure in exposures {
        match incident
            .exposures
            .iter_mut()
            .find(|known| known.version == exposure.version)
        {
            Some(known) => known.certainty = known.certainty.max(exposure.certainty),
            None => incident.exposures.push(exposure.clone()),
        }
    }
    if let Some(assessment) = gravest(&announcement.cvss)
        && assessment.computed_severity()
            > incident.cvss.as_ref().and_then(|c| c.computed_severity())
    {
        incident.severity = assessment.computed_severity().unwrap_or(Severity::Unknown);
        incident.cvss = Some(assessment);
    }
    incident.sightings.push(sighting);
    (incident, change)
}

/// The vector among `vectors` with the gravest computed severity (4.0 read as 4.0, others
/// as 3.x); unreadable vectors count for nothing.
fn gravest(vectors: &[String]) -> Option<CvssAssessment> {
    vectors
        .iter()
        .map(|vector| {
            let slot = match vector.starts_with("CVSS:4") {
                true => CvssSlot::V4,
                false => CvssSlot::V3,
            };
            CvssAssessment::assess(slot, vector, None)
        })
        .filter(|assessment| assessment.computed_severity().is_some())
        .max_by_key(CvssAssessment::computed_severity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grafana() -> Product {
        Product {
            name: "Grafana".to_owned(),
            aliases: vec![],
            versions: vec!["11.2.1".to_owned(), "10.4.3".to_owned()],
            words: DEFAULT_WORDS.map(str::to_owned).to_vec(),
        }
    }

    fn announced(title: &str, text: &str) -> Announcement {
        Announcement {
            source: "https://grafana.example/security.rss".to_owned(),
            item: title.to_owned(),
            title: title.to_owned(),
            link: None,
            text: text.to_owned(),
            published: None,
            about_security: false,
            ids: vec![],
            cvss: vec![],
            affected: None,
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn ids_are_found_in_any_case_cve_first_and_once() {
        let mut announcement = announced(
            "Fixes ghsa-abcd-efgh-ijkl? No: GHSA-abcd-efgh-2345 and cve-2026-1234",
            "CVE-2026-1234 again; CVE-26-1 is not one",
        );
        announcement.ids = vec!["GO-2026-0001".to_owned()];
        assert_eq!(
            announcement.vulnerability_ids(),
            ["CVE-2026-1234", "GO-2026-0001", "GHSA-abcd-efgh-2345"]
        );
    }

    #[test]
    fn an_item_naming_hundreds_of_ids_claims_fifty() {
        let text: Vec<String> = (1000..1300).map(|n| format!("CVE-2026-{n}")).collect();
        let mut announcement = announced("Everything", &text.join(" "));
        announcement.ids = vec!["GHSA-abcd-efgh-2345".to_owned()];
        let ids = announcement.vulnerability_ids();
        assert_eq!(ids.len(), 1 + MAX_MENTIONED_IDS);
        assert_eq!(ids[0], "CVE-2026-1000");
        assert!(ids.contains(&"GHSA-abcd-efgh-2345".to_owned()));
    }

    #[test]
    fn a_later_version_of_a_deployed_line_is_a_fix_it_lacks() {
        let announcement = announced(
            "Grafana 11.2.2 security release",
            "Fixes CVE-2026-1234 in 11.2.x (and 10.4.2).",
        );
        let Verdict::Affects(exposures) = grafana().judge(&announcement, true) else {
            panic!("affects");
        };
        // 10.4.3 already has 10.4.2's fix.
        assert_eq!(
            exposures,
            [Exposure {
                version: "11.2.1".to_owned(),
                certainty: Certainty::FixNamed
            }]
        );
    }

    #[test]
    fn an_announcement_is_judged_by_security_product_and_version() {
        let product = grafana();
        let release = announced("Grafana 11.3.0", "New dashboards.");
        assert_eq!(product.judge(&release, true), Verdict::NotSecurity);
        let other = announced("Kibana 8.1.1 security release", "CVE-2026-9");
        assert_eq!(product.judge(&other, false), Verdict::NotThisProduct);
        let range = announced("Grafana CVE-2026-7777", "Affected: >= 11.0.0, < 11.2.2");
        let Verdict::Affects(exposures) = product.judge(&range, false) else {
            panic!("a range's upper bound is the fix it lacks");
        };
        assert_eq!(exposures[0].certainty, Certainty::FixNamed);
        let fixed = announced("Grafana 11.1.5 and 10.4.2 security releases", "CVE-2026-7");
        assert_eq!(product.judge(&fixed, false), Verdict::NotDeployed);
        // Naming the deployed version itself is no fix: it may be the one affected.
        for text in [
            "CVE-2026-8888 affects Grafana 11.2.1 and 10.4.3; no fix yet.",
            "Grafana 11.2.1 and earlier, 10.4.3 and earlier are vulnerable (CVE-2026-8888).",
            "Grafana 11.2.1+security-01 and 10.4.3+security-01 fix CVE-2026-8888.",
            // Lower bounds, a shorter line and CVSS numbers are no fix.
            "CVE-2026-8888: affected versions >= 11.0.0 and >= 10.0.0.",
            "CVE-2026-8888 was introduced in Grafana 11.1.0 and 10.1.0. Fixed in 12.0.1.",
            "Grafana 11.2 and 10.4 and earlier (CVE-2026-8888). CVSS score: 10.0, 11.9.",
            "CVE-2026-8888, CVSS:3.1/AV:N/AC:L. Since Grafana 10.0.0 and 11.0.0.",
        ] {
            let Verdict::Affects(exposures) = product.judge(&announced("Grafana", text), false)
            else {
                panic!("{text}: affects");
            };
            assert!(
                exposures.iter().all(|e| e.certainty == Certainty::Unstated),
                "{text}"
            );
        }
        // A word inside another is not the word.
        let insecure = announced("Grafana insecurely notes", "nothing");
        assert_eq!(product.judge(&insecure, true), Verdict::NotSecurity);
        let vague = announced("Security advisory for Grafana", "Upgrade to 12.0.1.");
        let Verdict::Affects(exposures) = product.judge(&vague, false) else {
            panic!("affects");
        };
        assert!(exposures.iter().all(|e| e.certainty == Certainty::Unstated));
        let mut osv = announced("GHSA-abcd-efgh-2345", "");
        osv.affected = Some(vec!["10.4.3".to_owned()]);
        assert_eq!(
            product.judge(&osv, true),
            Verdict::Affects(vec![Exposure {
                version: "10.4.3".to_owned(),
                certainty: Certainty::Confirmed
            }])
        );
        osv.affected = Some(vec![]);
        assert_eq!(product.judge(&osv, true), Verdict::NotDeployed);
    }

    #[test]
    fn the_same_id_from_two_sources_is_one_incident_with_the_gravest_severity() {
        let product = grafana();
        let feed = announced("Grafana 11.2.2 security release", "Fixes CVE-2026-1234.");
        let exposures = [Exposure {
            version: "11.2.1".to_owned(),
            certainty: Certainty::FixNamed,
        }];
        let (incident, change) = apply_announcement(None, &product, &feed, &exposures, at());
        assert_eq!(
            (change, incident.key.as_str()),
            (Change::Opened, "CVE-2026-1234")
        );
        assert_eq!(incident.severity, Severity::Unknown);

        let mut nvd = announced("CVE-2026-1234", "An SSRF in Grafana.");
        nvd.source = "NVD".to_owned();
        nvd.item = "CVE-2026-1234".to_owned();
        nvd.cvss = vec!["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".to_owned()];
        let confirmed = [Exposure {
            version: "11.2.1".to_owned(),
            certainty: Certainty::Confirmed,
        }];
        let (incident, change) =
            apply_announcement(Some(incident), &product, &nvd, &confirmed, at());
        assert_eq!(change, Change::Joined);
        assert_eq!(incident.severity, Severity::Critical);
        assert_eq!(incident.sightings.len(), 2);
        assert_eq!(incident.exposures.len(), 1);
        assert_eq!(incident.exposures[0].certainty, Certainty::Confirmed);

        let (again, change) = apply_announcement(Some(incident.clone()), &product, &nvd, &[], at());
        assert_eq!((change, again), (Change::Known, incident));
    }
}
