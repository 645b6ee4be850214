//! RSS and Atom (a Discourse category's feed, a GitHub repository's releases), read by
//! feed-rs: each entry an announcement, its HTML reduced to text for matching and showing.

use crate::incident::Announcement;

/// The most entries read of one feed: its newest.
const MAX_ENTRIES: usize = 200;
/// The longest text kept of one entry.
const MAX_TEXT_CHARS: usize = 20_000;

/// The entries of `bytes`, a feed read from `url`; `security` says the whole feed is about
/// security (a security-announcements category).
pub fn announcements(url: &str, bytes: &[u8], security: bool) -> Result<Vec<Announcement>, String> {
    let mut feed = feed_rs::parser::Builder::new()
        .id_generator(stable_id)
        .build()
        .parse(bytes)
        .map_err(|error| format!("not a feed: {error}"))?;
    // The newest first, whatever order the feed lists them in (undated ones last, in the
    // feed's order).
    feed.entries
        .sort_by_key(|entry| std::cmp::Reverse(entry.published.or(entry.updated)));
    Ok(feed
        .entries
        .into_iter()
        .take(MAX_ENTRIES)
        .map(|entry| {
            let title = entry
                .title
                .map(|title| plain_text(&title.content))
                .unwrap_or_default();
            let body = entry
                .content
                .and_then(|content| content.body)
                .or_else(|| entry.summary.map(|summary| summary.content))
                .unwrap_or_default();
            let about_security = security
                || entry.categories.iter().any(|category| {
                    let label = category.label.as_deref().unwrap_or_default();
                    [category.term.as_str(), label]
                        .iter()
                        .any(|word| word.to_lowercase().contains("security"))
                });
            Announcement {
                source: url.to_owned(),
                item: entry.id,
                title: title.chars().take(500).collect(),
                link: entry.links.first().map(|link| link.href.clone()),
                text: plain_text(&body).chars().take(MAX_TEXT_CHARS).collect(),
                published: entry.published.or(entry.updated),
                about_security,
                ids: Vec::new(),
                cvss: Vec::new(),
                affected: None,
            }
        })
        .collect())
}

/// The id of an entry that gives none (no `guid`, `id` or link of its own): made from its
/// title and links, the same at every reading (feed-rs's default is random, which would
/// make such an entry news at every poll).
fn stable_id(
    links: &[feed_rs::model::Link],
    title: &Option<feed_rs::model::Text>,
    _uri: Option<&str>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(title.as_ref().map_or("", |title| title.content.as_str()));
    for link in links {
        hasher.update(b"\n");
        hasher.update(&link.href);
    }
    format!("herald:{}", hex::encode(&hasher.finalize()[..16]))
}

/// HTML as plain text: tags dropped (a block's end as a line break), the usual entities
/// decoded. Only for matching and for showing as escaped text: never rendered.
fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        // A tag starts with a letter, `/` or `!`; any other `<` is text ("< 11.2.2", a
        // feed that decoded its own entities).
        let opens = rest[start + 1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if !opens {
            text.push_str(&rest[..=start]);
            rest = &rest[start + 1..];
            continue;
        }
        text.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end].to_ascii_lowercase();
        if [
            "p", "/p", "br", "br/", "br /", "li", "/li", "/h1", "/h2", "/h3", "/div",
        ]
        .contains(&tag.trim())
        {
            text.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    text.push_str(rest);
    decode_entities(&text)
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let entity = after
            .find(';')
            .filter(|end| *end <= 8)
            .map(|end| &after[..end]);
        let decoded = entity.and_then(|name| match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => name
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        });
        match (entity, decoded) {
            (Some(name), Some(c)) => {
                out.push(c);
                rest = &after[name.len() + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_without_an_id_has_the_same_one_at_every_reading() {
        let feed = b"<rss version=\"2.0\"><channel><title>t</title><item><title>Security \
            release</title><description>CVE-2026-1111</description></item></channel></rss>";
        let first = announcements("https://x.example/feed", feed, true).expect("read");
        let again = announcements("https://x.example/feed", feed, true).expect("read");
        assert_eq!(first[0].item, again[0].item);
        assert!(first[0].item.starts_with("herald:"), "{}", first[0].item);
    }

    #[test]
    fn a_bare_angle_bracket_is_text() {
        assert_eq!(
            plain_text("Affected: >= 11.0.0, < 11.2.2 <b>now</b> <3"),
            "Affected: >= 11.0.0, < 11.2.2 now <3"
        );
    }

    #[test]
    fn html_becomes_text_once() {
        assert_eq!(
            plain_text(
                "<p>Fixes <b>CVE-2026-1</b> &amp; &lt;script&gt; &amp;lt;</p>x &unknown; &#64;"
            ),
            "\nFixes CVE-2026-1 & <script> &lt;\nx &unknown; @"
        );
    }

    #[test]
    fn the_newest_entries_are_read_whatever_the_feeds_order() {
        let mut feed = String::from("<rss version=\"2.0\"><channel><title>t</title>");
        for day in 0..(MAX_ENTRIES + 50) {
            let date = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(day as i64);
            feed.push_str(&format!(
                "<item><guid>{day}</guid><title>{day}</title><pubDate>{}</pubDate></item>",
                date.to_rfc2822()
            ));
        }
        feed.push_str("</channel></rss>");
        let read = announcements("https://x.example/feed", feed.as_bytes(), false).expect("read");
        assert_eq!(read.len(), MAX_ENTRIES);
        assert_eq!(
            read[0].item,
            (MAX_ENTRIES + 49).to_string(),
            "the newest first"
        );
        assert!(read.iter().all(|item| item.item != "0"), "the oldest left");
    }

    #[test]
    fn a_broken_feed_is_an_error_not_a_panic() {
        for broken in [
            &b"not a feed"[..],
            b"<rss><channel><item>",
            b"<feed><entry><title>x</entry>",
        ] {
            let read = announcements("https://x.example/feed", broken, false);
            assert!(
                read.is_err(),
                "{:?}: {read:?}",
                String::from_utf8_lossy(broken)
            );
        }
    }

    #[test]
    fn a_deeply_nested_feed_does_not_overflow_the_stack() {
        let depth = 200_000;
        let mut feed = String::from("<rss><channel><item><title>x</title><description>");
        feed.push_str(&"<a>".repeat(depth));
        feed.push_str(&"</a>".repeat(depth));
        feed.push_str("</description></item></channel></rss>");
        let _ = announcements("https://x.example/feed", feed.as_bytes(), false);
        let mut elements = String::from("<rss><channel><item>");
        elements.push_str(&"<x:a xmlns:x=\"urn:x\">".repeat(depth));
        let _ = announcements("https://x.example/feed", elements.as_bytes(), false);
    }
}
