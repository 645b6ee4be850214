//! The private issue of a product incident: which deployed versions an upstream's
//! announcement affects and how sure herald is, the severity and its vector, every id, and
//! each source that announced it. Announcements are untrusted text: escaped for Markdown
//! once, links shown as links only when they are plain `https://` addresses.

use super::escape::{markdown, markdown_line, plain_line};
use super::limits::{GITHUB_BODY_CHARS, GITHUB_TITLE_CHARS, fit_markdown_noting, fit_title};
use crate::incident::{Certainty, ProductIncident, ProductIncidentId, Sighting, SlaPolicy};

/// The longest title, id or address shown of one source, and the most of each listed.
const SHOWN_CHARS: usize = 300;
const SHOWN_ITEMS: usize = 50;

/// The issue's title and body; `marker` finds it again.
pub fn product_issue(
    id: ProductIncidentId,
    incident: &ProductIncident,
    marker: &str,
) -> (String, String) {
    let title = fit_title(
        &plain_line(&format!(
            "Upstream: {} {} ({})",
            incident.product,
            incident.key,
            incident.severity.as_str()
        )),
        GITHUB_TITLE_CHARS,
    );
    let mut head = format!(
        "An announcement about **{}**, which the project runs (product incident {id}).\n\n",
        markdown_line(&incident.product)
    );
    head.push_str(&facts(incident));
    head.push_str("\n**Announced by**\n\n");
    head.push_str(&sources(&incident.sightings));
    head.push_str("\n### What the first announcement says\n\n");
    let foot = format!(
        "\n\n---\n\nherald opened this from the operator's `[[upstream]]` sources. A further \
         source naming any of these ids is added here. Upgrade the versions above, then close \
         this issue.\n\n{marker}\n"
    );
    let room = GITHUB_BODY_CHARS
        .saturating_sub(head.chars().count() + foot.chars().count())
        .saturating_sub(200);
    let note = format!("\n\n*Shortened to fit a GitHub issue: `herald upstream show {id}`.*");
    let summary = fit_markdown_noting(&markdown(&incident.summary), room, &note);
    (title, format!("{head}{summary}{foot}"))
}

/// The comment that adds `new` sources to an incident's issue.
pub fn product_sources_comment(incident: &ProductIncident, new: &[Sighting]) -> String {
    format!(
        "Also announced by:\n\n{}\n{}",
        sources(new),
        facts(incident)
    )
}

/// The table of what is known: versions, severity, ids.
fn facts(incident: &ProductIncident) -> String {
    let exposures: Vec<String> = incident
        .exposures
        .iter()
        .map(|exposure| {
            let how = match exposure.certainty {
                Certainty::Confirmed => "affected (the source matched this version)",
                Certainty::FixNamed => "affected (a later version of its major is named)",
                Certainty::Unstated => {
                    "may be affected (the text names it, or no version of its major: check)"
                }
            };
            format!("{}: {how}", exposure.version)
        })
        .collect();
    let severity = match &incident.cvss {
        Some(cvss) => format!("{} ({})", incident.severity.as_str(), cvss.describe()),
        None => format!(
            "{} (no source gave a CVSS vector)",
            incident.severity.as_str()
        ),
    };
    let ids: Vec<String> = incident.ids.iter().take(SHOWN_ITEMS).cloned().collect();
    // The response plans' default reaction times, from when herald learned of it.
    let react_by = SlaPolicy::default()
        .deadline(incident.opened_at, incident.severity, false)
        .map_or_else(
            || "no deadline for this severity".to_owned(),
            |due| due.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
    let rows = [
        ("Deployed", exposures.join("; ")),
        ("Severity", severity),
        ("React by", react_by),
        ("Ids", ids.join(", ")),
    ];
    let mut text = String::from("| | |\n|---|---|\n");
    for (name, value) in rows {
        let value = markdown_line(&fit_title(&value, SHOWN_CHARS * 4));
        text.push_str(&format!("| {name} | {value} |\n"));
    }
    text
}

/// One line per source: where, what it called it, and its link.
fn sources(sightings: &[Sighting]) -> String {
    let mut text = String::new();
    for sighting in sightings.iter().take(SHOWN_ITEMS) {
        text.push_str(&format!(
            "- {}: {}{}\n",
            markdown_line(&fit_title(&sighting.source, SHOWN_CHARS)),
            markdown_line(&fit_title(&sighting.title, SHOWN_CHARS)),
            sighting
                .link
                .as_deref()
                .and_then(plain_link)
                .map(|link| format!(" <{link}>"))
                .unwrap_or_default()
        ));
    }
    text
}

/// `link` as a Markdown autolink, when it is a plain `https://` address that cannot close
/// the link or start anything else.
fn plain_link(link: &str) -> Option<String> {
    let url = reqwest::Url::parse(link).ok()?;
    let plain = url.scheme() == "https"
        && url.as_str().len() <= SHOWN_CHARS
        && !url
            .as_str()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '`'));
    plain.then(|| url.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Exposure, Severity};
    use chrono::DateTime;

    fn incident(summary: &str, link: &str) -> ProductIncident {
        ProductIncident {
            product: "Grafana".to_owned(),
            key: "CVE-2026-1234".to_owned(),
            ids: vec!["CVE-2026-1234".to_owned()],
            title: "Grafana 11.2.2 @security-team release".to_owned(),
            summary: summary.to_owned(),
            severity: Severity::Unknown,
            cvss: None,
            exposures: vec![Exposure {
                version: "11.2.1".to_owned(),
                certainty: Certainty::FixNamed,
            }],
            sightings: vec![Sighting {
                source: "https://grafana.example/feed".to_owned(),
                item: "1".to_owned(),
                title: "Grafana 11.2.2 @security-team release".to_owned(),
                link: Some(link.to_owned()),
                seen_at: DateTime::UNIX_EPOCH,
            }],
            opened_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn announcement_text_is_inert_and_links_are_plain() {
        let (title, body) = product_issue(
            ProductIncidentId(3),
            &incident(
                "@admins see [x](javascript:y) {{secret}}",
                "https://g.example/a b",
            ),
            "<!-- herald:product 3 -->",
        );
        assert!(
            title.starts_with("Upstream: Grafana CVE-2026-1234 (unknown)"),
            "{title}"
        );
        assert!(
            !body.contains(" @admins") && !body.contains(" @security-team"),
            "{body}"
        );
        assert!(body.contains("\\[x\\](javascript:y)"), "{body}");
        // An address is shown as the URL parser writes it: one link, nothing else.
        assert!(body.contains(" <https://g.example/a%20b>\n"), "{body}");
        assert!(
            body.contains("11.2.1: affected (a later version of its major"),
            "{body}"
        );
        assert!(body.ends_with("<!-- herald:product 3 -->\n"), "{body}");
        let (_, body) = product_issue(
            ProductIncidentId(3),
            &incident("x", "https://grafana.example/security/CVE-2026-1234"),
            "m",
        );
        assert!(
            body.contains(" <https://grafana.example/security/CVE-2026-1234>"),
            "{body}"
        );
    }

    #[test]
    fn a_long_announcement_is_cut_to_fit_an_issue() {
        let long = "word ".repeat(30_000);
        let (_, body) = product_issue(ProductIncidentId(3), &incident(&long, "x"), "m");
        assert!(body.chars().count() <= GITHUB_BODY_CHARS);
        assert!(body.contains("herald upstream show 3"));
    }
}
