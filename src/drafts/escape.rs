//! Untrusted text (advisory fields, comments) made inert for each target.

/// Zero-width space: placed after `@` and `#` so GitHub links no user, team or issue.
const BREAK: char = '\u{200B}';

/// Text for GitHub-flavoured Markdown: inline markup and HTML are escaped, `@mentions`
/// and `#references` are broken so the text pings nobody and links nothing, and line breaks
/// are kept (a line followed by another ends in a hard break, two spaces, as renderers
/// that join soft-wrapped lines, wikis and site generators among them, would otherwise run
/// them together), but no line can start a heading, list, quote or table.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    // Controls go first, so that none hides indentation from what follows.
    let text: String = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    let lines: Vec<&str> = text.split('\n').collect();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        markdown_line_start(line, &mut out);
        if continued(&lines, index) && !line.trim().is_empty() {
            out.truncate(out.trim_end_matches([' ', '\t']).len());
            out.push_str("  ");
        }
    }
    out
}

/// Whether the line at `index` is followed by another line of text in the same paragraph:
/// both targets keep such a line break as a hard break.
fn continued(lines: &[&str], index: usize) -> bool {
    lines
        .get(index + 1)
        .is_some_and(|next| !next.trim().is_empty())
}

/// One line: what only matters at the start of a line (list and heading markers), then
/// what matters anywhere.
fn markdown_line_start(line: &str, out: &mut String) {
    // Indentation is dropped: a renderer drops it from a paragraph's lines anyway, and four
    // spaces would start a code block.
    let rest = line.trim_start_matches([' ', '\t']);
    // A block marker counts only when a blank, the line's end or (for rules) the same
    // character follows it: `1. x`, `- x`, `---`; but not `9.3` or `-fno-strict`.
    let marker_ends = |after: &str, marker: char| {
        after.is_empty() || after.starts_with([' ', '\t']) || after.starts_with(marker)
    };
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = match rest[digits..].chars().next() {
        Some(marker @ ('.' | ')')) if digits > 0 && marker_ends(&rest[digits + 1..], ' ') => {
            out.push_str(&rest[..digits]);
            out.push('\\');
            out.push(marker);
            &rest[digits + 1..]
        }
        Some(marker @ ('-' | '+' | '=')) if digits == 0 && marker_ends(&rest[1..], marker) => {
            out.push('\\');
            out.push(marker);
            &rest[1..]
        }
        _ => rest,
    };
    for c in rest.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' | '#' => {
                out.push('\\');
                out.push(c);
                out.push(BREAK);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

/// Text a reporter wrote, as GitHub keeps a private report: their Markdown as they wrote
/// it, but `@mentions` and `#references` broken, so it pings nobody and links no issue.
/// (herald's drafts escape it in full where they show it.)
pub fn references_broken(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for c in text.chars() {
        out.push(c);
        if matches!(c, '@' | '#') {
            out.push(BREAK);
        }
    }
    out
}

/// Text for Markdown a static site generator builds: [`markdown`], and its braces as
/// character references, so no `{{`, `{%` (Jekyll's Liquid) or `{{<`, `{{%` (Hugo's
/// shortcodes) can open: both evaluate the source before it is Markdown, and the Markdown
/// renderer then shows each reference as the brace it stands for.
pub fn site_markdown(text: &str) -> String {
    braces_as_references(&markdown(text))
}

/// `{` and `}` as HTML character references (also read by YAML-to-HTML front matter).
pub fn braces_as_references(text: &str) -> String {
    text.replace('{', "&#123;").replace('}', "&#125;")
}

/// One line of Markdown (table cells, titles): line breaks become spaces.
pub fn markdown_line(text: &str) -> String {
    markdown(&text.replace(['\r', '\n'], " "))
}

/// Text for a plain single line such as an issue title: control characters dropped,
/// mentions broken (GitHub does not link them in titles, but notifications quote them).
/// Applying it again changes nothing (a subject passes the drafts and then the mail layer,
/// each of which makes sure of it).
pub fn plain_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' | '\t' => out.push(' '),
            c if c.is_control() => {}
            '@' => {
                out.push('@');
                if chars.peek() != Some(&BREAK) {
                    out.push(BREAK);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// One line for Slack's mrkdwn: [`plain_line`], then the three characters Slack asks
/// senders to escape, so no `<!channel>`, `<@U…>` or `<url|link>` can be formed.
pub fn slack_line(text: &str) -> String {
    plain_line(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One line of HTML text content (a Matrix message's `formatted_body`).
pub fn html_line(text: &str) -> String {
    slack_line(text)
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Text for MediaWiki wikitext: HTML metacharacters become entities (so `</nowiki>` cannot
/// be written), and each line sits inside `<nowiki>`, so links, templates (`{{…}}`),
/// signatures (`~~~~`), bold, lists and headings in it are shown, not obeyed.
///
/// A line followed by another ends in `<br />`, so the text's own line breaks survive
/// (wikitext joins consecutive lines into one paragraph); blank lines part paragraphs.
pub fn wikitext(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let raw: Vec<&str> = text.split('\n').collect();
    let lines: Vec<String> = raw
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let mut out = String::with_capacity(line.len() + 20);
            for c in line.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    c if c.is_control() && c != '\t' => {}
                    c => out.push(c),
                }
            }
            match (out.trim().is_empty(), continued(&raw, index)) {
                (true, _) => String::new(),
                (false, true) => format!("<nowiki>{out}</nowiki><br />"),
                (false, false) => format!("<nowiki>{out}</nowiki>"),
            }
        })
        .collect();
    lines.join("\n")
}

/// Text for a plain-text mail body: control characters other than tab and line feed are
/// dropped (a bare CR could end a header or hide text), CRLF becomes LF (the mail layer
/// writes line endings itself).
pub fn plain_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

pub use crate::markers::file_name;

/// Whether a counterpart's `url` is a web address herald may show as a link (not
/// `javascript:` or another scheme).
pub fn web_link(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reporters_markdown_stays_but_pings_and_links_nothing() {
        let text = references_broken("See **parse_header()**, @team and #42.");
        assert_eq!(
            text,
            "See **parse_header()**, @\u{200B}team and #\u{200B}42."
        );
    }

    #[test]
    fn mentions_and_references_are_broken() {
        let escaped = markdown("thanks @octocat and @acme/security, see #12 and GH-1");
        assert!(!escaped.contains("@octocat"));
        assert!(!escaped.contains("@acme"));
        assert!(!escaped.contains("#12"));
        assert!(escaped.contains("octocat"));
    }

    #[test]
    fn markup_and_html_are_data() {
        let escaped =
            markdown("# Title\n<img src=x onerror=alert(1)> [link](http://evil) **bold** | x |");
        assert!(!escaped.contains("<img"));
        assert!(escaped.contains(r"\[link\](http"));
        assert!(escaped.contains(r"\*\*bold\*\*"));
        assert!(escaped.contains(r"\| x \|"));
        assert!(escaped.starts_with("\\#"));
    }

    #[test]
    fn no_line_starts_a_block() {
        assert_eq!(
            markdown("- item\n  1. first\n+ x\n=== \n2) y"),
            "\\- item  \n1\\. first  \n\\+ x  \n\\===  \n2\\) y"
        );
        assert_eq!(markdown("version 1.2.3 (fixed)"), "version 1.2.3 (fixed)");
        assert_eq!(markdown("9.8 critical"), "9.8 critical");
        assert_eq!(markdown("-fno-strict"), "-fno-strict");
    }

    #[test]
    fn wikitext_markup_is_shown_not_obeyed() {
        let escaped = wikitext("[[Main Page]] {{delete}} ~~~~ </nowiki><script>\n* item");
        assert_eq!(
            escaped,
            "<nowiki>[[Main Page]] {{delete}} ~~~~ &lt;/nowiki&gt;&lt;script&gt;</nowiki><br />\n<nowiki>* item</nowiki>"
        );
    }

    #[test]
    fn lines_and_paragraphs_survive_on_both_wikis() {
        let description = "First line.\nSecond line.\r\n\r\nNew paragraph.\n";
        assert_eq!(
            markdown(description),
            "First line.  \nSecond line.\n\nNew paragraph.\n"
        );
        assert_eq!(
            wikitext(description),
            "<nowiki>First line.</nowiki><br />\n<nowiki>Second line.</nowiki>\n\n<nowiki>New paragraph.</nowiki>\n"
        );
    }

    #[test]
    fn plain_text_keeps_lines_and_drops_controls() {
        assert_eq!(plain_text("a\r\nb\rc\u{1b}[2J\td"), "a\nbc[2J\td");
    }

    #[test]
    fn a_plain_line_is_escaped_once_however_often_it_passes() {
        let once = plain_line("[SECURITY] @everyone\r\nBcc: x");
        assert_eq!(once, "[SECURITY] @\u{200B}everyone  Bcc: x");
        assert_eq!(plain_line(&once), once);
    }

    #[test]
    fn lines_stay_lines() {
        assert_eq!(markdown_line("a\nb"), "a b");
        assert_eq!(plain_line("a\r\nb\u{7}"), "a  b");
    }

    mod properties {
        use super::super::*;
        use crate::properties::config;
        use proptest::prelude::*;
        use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

        /// What Markdown, wikitext, site generators and mail headers read as markup.
        const MARKUP: &[&str] = &[
            "*",
            "_",
            "`",
            "```",
            "~~~",
            "[",
            "]",
            "(",
            ")",
            "<",
            ">",
            "&",
            "#",
            "@",
            "!",
            "|",
            "~",
            "\\",
            "-",
            "+",
            "=",
            "1.",
            "2)",
            "\n",
            "\n\n",
            "\r\n",
            "    ",
            "\t",
            "<!--",
            "-->",
            "<b>",
            "&amp;",
            "&#123;",
            "http://x.example",
            "<https://x>",
            "[x](https://evil.example)",
            "![i](https://evil.example/i.png)",
            "[^1]",
            "[ ] ",
            "'''",
            "''",
            "[[",
            "]]",
            "</nowiki>",
            "<nowiki>",
            "</NOWIKI >",
            "~~~~",
            "----",
            "__TOC__",
            ":",
            ";",
            "{|",
            "|}",
            "==",
            "{{",
            "}}",
            "{%",
            "%}",
            "{{<",
            "{{%",
            "Bcc: x@y",
            "\u{85}",
            "\u{2028}",
            "\u{202e}",
            "\u{0}",
        ];

        /// Text rich in markup, or anything at all.
        fn hostile_text() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                prop::collection::vec(
                    prop_oneof![
                        prop::sample::select(MARKUP).prop_map(str::to_owned),
                        "[a-z ]{1,6}",
                        any::<char>().prop_map(String::from),
                    ],
                    0..40,
                )
                .prop_map(|pieces| pieces.concat()),
            ]
        }

        /// What a reader sees of `text` line by line: the escaper drops controls and
        /// breaks mentions; a renderer trims each line and skips blank ones.
        fn seen_lines(text: &str) -> Vec<String> {
            text.split('\n')
                .map(|line| {
                    line.chars()
                        .filter(|c| !c.is_control() || *c == '\t')
                        .flat_map(|c| match c {
                            '@' | '#' => vec![c, BREAK],
                            c => vec![c],
                        })
                        .collect::<String>()
                })
                .map(|line| line.trim_matches([' ', '\t']).to_owned())
                .filter(|line| !line.is_empty())
                .collect()
        }

        /// `markdown` as GitHub's renderer reads it (CommonMark with GFM's extensions):
        /// its text, line by line, or the first markup found.
        fn rendered_lines(markdown: &str) -> Result<Vec<String>, String> {
            let options = Options::ENABLE_TABLES
                | Options::ENABLE_STRIKETHROUGH
                | Options::ENABLE_TASKLISTS
                | Options::ENABLE_FOOTNOTES
                | Options::ENABLE_GFM;
            let mut text = String::new();
            for event in Parser::new_ext(markdown, options) {
                match event {
                    Event::Text(words) => text.push_str(&words),
                    Event::SoftBreak | Event::HardBreak => text.push('\n'),
                    Event::Start(Tag::Paragraph) => {}
                    Event::End(TagEnd::Paragraph) => text.push('\n'),
                    markup => return Err(format!("{markup:?}")),
                }
            }
            Ok(text
                .split('\n')
                .map(|line| line.trim_matches([' ', '\t']).to_owned())
                .filter(|line| !line.is_empty())
                .collect())
        }

        /// What a wiki shows of `wikitext`, line by line; `Err` with a line that is not one
        /// `<nowiki>` only its own closing tag ends (MediaWiki ends one at the first
        /// `</nowiki`, in any case, so no `<` may stand inside).
        fn nowiki_lines(wikitext: &str) -> Result<Vec<String>, String> {
            wikitext
                .lines()
                .filter(|line| !line.is_empty())
                .map(|line| {
                    line.strip_suffix("<br />")
                        .unwrap_or(line)
                        .strip_prefix("<nowiki>")
                        .and_then(|rest| rest.strip_suffix("</nowiki>"))
                        .filter(|inner| !inner.contains(['<', '>']))
                        .map(|inner| {
                            inner
                                .replace("&lt;", "<")
                                .replace("&gt;", ">")
                                .replace("&amp;", "&")
                        })
                        .ok_or_else(|| line.to_owned())
                })
                .collect()
        }

        /// The names of a formatted message's headers, in order.
        fn header_names(message: &[u8]) -> Vec<String> {
            let text = String::from_utf8_lossy(message);
            let head = text.split("\r\n\r\n").next().unwrap_or_default();
            head.split("\r\n")
                .filter(|line| !line.starts_with([' ', '\t']))
                .filter_map(|line| line.split_once(':').map(|(name, _)| name.to_owned()))
                .collect()
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn markdown_renders_as_the_text_and_nothing_else(text in hostile_text()) {
                let escaped = markdown(&text);
                prop_assert_eq!(rendered_lines(&escaped), Ok(seen_lines(&text)), "{:?}", escaped);
            }

            #[test]
            fn site_markdown_opens_no_generator_tag_and_renders_as_the_text(text in hostile_text()) {
                let escaped = site_markdown(&text);
                prop_assert!(!escaped.contains(['{', '}']), "{:?}", escaped);
                prop_assert_eq!(rendered_lines(&escaped), Ok(seen_lines(&text)), "{:?}", escaped);
            }

            #[test]
            fn wikitext_is_nowiki_that_only_its_own_tag_closes(text in hostile_text()) {
                let expected: Vec<String> = text
                    .replace("\r\n", "\n")
                    .split('\n')
                    .map(|line| line.chars().filter(|c| !c.is_control() || *c == '\t').collect::<String>())
                    .filter(|line| !line.trim().is_empty())
                    .collect();
                prop_assert_eq!(nowiki_lines(&wikitext(&text)), Ok(expected));
            }

            #[test]
            fn a_plain_line_cannot_start_a_header(text in hostile_text()) {
                let line = plain_line(&text);
                prop_assert!(!line.chars().any(char::is_control), "{:?}", line);
                prop_assert_eq!(plain_line(&line), line.clone(), "applying it again changes nothing");
                let message = lettre::Message::builder()
                    .from("herald <herald@example.org>".parse().expect("address"))
                    .to("list <list@example.org>".parse().expect("address"))
                    .subject(line)
                    .body(String::from("body"))
                    .expect("message")
                    .formatted();
                prop_assert_eq!(
                    header_names(&message),
                    ["From", "To", "Subject", "Content-Transfer-Encoding", "Date"]
                );
            }
        }
    }
}
