//! herald's security entry in a project's `CHANGELOG.md` ([Keep a Changelog] 1.1.0).
//!
//! The file belongs to the project, so herald edits it surgically: it inserts (or, on a
//! re-run, replaces) one marked block and the few headings and blank lines that block needs,
//! and leaves every other byte alone: BOM, line endings, trailing spaces, odd headings and
//! the link reference definitions at the bottom. The marker lines
//! (`<!-- herald:GHSA-… -->` … `<!-- /herald:GHSA-… -->`) render as nothing on GitHub and
//! let a re-run find exactly its own entry wherever a maintainer has since moved it.
//!
//! [Keep a Changelog]: https://keepachangelog.com/en/1.1.0/

/// What the CHANGELOG file is made of, for a fresh file.
pub const STANDARD_HEADER: &str = "# Changelog\n\nAll notable changes to this project will be documented in this file.\n\nThe format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),\nand this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).\n";

/// The release heading herald files unreleased fixes under.
pub const DEFAULT_HEADING: &str = "## [Unreleased]";

/// The subsection herald's entries live in; Keep a Changelog puts it last in a release.
const SECURITY_HEADING: &str = "### Security";

/// Inserts `entry` (Markdown lines, usually one `- ` bullet) for `ghsa_id` at the top of the
/// `### Security` list under `heading` (normally [`DEFAULT_HEADING`]), creating the file
/// (`existing` is `None` or empty), the release heading or the subsection where missing.
/// When a block marked for `ghsa_id` already exists anywhere in the file, only its content
/// is replaced, so re-running with the same entry changes nothing.
///
/// Pure and total: any input gives a text, never a panic. Lines herald writes use the
/// file's majority line ending (CRLF or LF). The id keeps only ASCII letters, digits, `-`,
/// `_` and `.`, so it cannot end the HTML comment it sits in; entry lines that would read as
/// herald markers are escaped, so a block always ends where herald ended it.
pub fn insert_security_entry(
    existing: Option<&str>,
    heading: &str,
    ghsa_id: &str,
    entry: &str,
) -> String {
    // An empty file holds nothing to preserve: start it like a fresh one.
    let text = match existing {
        Some(text) if !text.is_empty() => text,
        _ => STANDARD_HEADER,
    };
    let id = marker_id(ghsa_id);
    let entry = entry_lines(entry);
    let doc = Document::parse(text);

    if let Some(&(open, close, _)) = doc.blocks.iter().find(|(_, _, found)| *found == id) {
        // Line endings are counted outside the block's content, so a re-run sees the same
        // majority as the run that wrote it, whatever the old content's endings were.
        let eol = doc.eol(open + 1..close);
        let mut replacement = String::new();
        for line in &entry {
            push_line(&mut replacement, line, eol);
        }
        return splice(text, doc.start(open + 1), doc.start(close), &replacement);
    }

    let eol = doc.eol(0..0);
    let heading = target_heading(heading);
    let start_marker = format!("<!-- herald:{id} -->");
    let end_marker = format!("<!-- /herald:{id} -->");
    let block = std::iter::once(start_marker.as_str())
        .chain(entry.iter().map(String::as_str))
        .chain(std::iter::once(end_marker.as_str()));

    let n = doc.lines.len();
    let mut new: Vec<&str> = Vec::new();
    let at = match doc.find_heading(heading) {
        Some(h) => {
            let end = doc.section_end(h);
            match (h + 1..end).find(|&i| doc.is_security(i)) {
                // Newest first: right under the subsection heading and its blank line.
                Some(s) => {
                    if s + 1 < n && doc.lines[s + 1].kind == Kind::Blank {
                        s + 2
                    } else {
                        s + 1
                    }
                }
                // Security comes last in a release: after the section's last content.
                None => {
                    let last = (h + 1..end)
                        .rev()
                        .find(|&i| doc.lines[i].kind != Kind::Blank)
                        .unwrap_or(h);
                    new.extend(["", SECURITY_HEADING, ""]);
                    last + 1
                }
            }
        }
        // Unreleased goes on top of the releases, or at the end when there is none yet,
        // but above the link reference definitions that close the file.
        None => {
            let at = doc.first_release().unwrap_or(doc.tail);
            if at > 0 && doc.lines[at - 1].kind != Kind::Blank {
                new.push("");
            }
            new.extend([heading, "", SECURITY_HEADING, ""]);
            at
        }
    };
    new.extend(block);
    if at < n && doc.needs_gap_before(at) {
        new.push("");
    }

    let mut insertion = String::new();
    let offset = if at < n {
        doc.start(at)
    } else {
        // The last line gets its line ending so the insertion starts on a line of its own.
        if !text.ends_with('\n') {
            insertion.push_str(eol);
        }
        text.len()
    };
    for line in new {
        push_line(&mut insertion, line, eol);
    }
    splice(text, offset, offset, &insertion)
}

/// The heading to file under: the caller's, trimmed to one line; empty means the default.
fn target_heading(heading: &str) -> &str {
    let first = heading.split(['\n', '\r']).next().unwrap_or("").trim();
    if first.is_empty() {
        DEFAULT_HEADING
    } else {
        first
    }
}

/// The default heading comes in spellings Keep a Changelog users actually write.
fn is_unreleased(text: &str) -> bool {
    text.eq_ignore_ascii_case("## [Unreleased]") || text.eq_ignore_ascii_case("## Unreleased")
}

/// The id as it appears in markers: characters that could end the comment are dropped.
fn marker_id(ghsa_id: &str) -> String {
    ghsa_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

/// The entry's lines without line endings or surrounding blank lines; a line that would be
/// read as a herald marker is escaped (`&lt;` renders as `<`), so it cannot cut a block.
fn entry_lines(entry: &str) -> Vec<String> {
    let lines: Vec<&str> = entry
        .split('\n')
        .map(|line| line.trim_end_matches('\r'))
        .collect();
    let first = lines.iter().position(|line| !line.trim().is_empty());
    let last = lines.iter().rposition(|line| !line.trim().is_empty());
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    lines[first..=last]
        .iter()
        .map(|line| {
            if parse_marker(line).is_some() {
                line.replacen('<', "&lt;", 1)
            } else {
                (*line).to_owned()
            }
        })
        .collect()
}

fn push_line(out: &mut String, line: &str, eol: &str) {
    out.push_str(line);
    out.push_str(eol);
}

fn splice(text: &str, from: usize, to: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..from]);
    out.push_str(with);
    out.push_str(&text[to..]);
    out
}

/// The text's lines, each with where it starts and how it ends (a byte-order mark at the
/// start is not part of the first line).
fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut offset = 0;
    for piece in text.split_inclusive('\n') {
        let (content, ending) = match piece.strip_suffix('\n') {
            Some(content) => match content.strip_suffix('\r') {
                Some(content) => (content, Ending::CrLf),
                None => (content, Ending::Lf),
            },
            None => (piece, Ending::None),
        };
        let content = content.strip_suffix('\r').unwrap_or(content);
        let (start, content) = match content.strip_prefix('\u{feff}') {
            Some(rest) if offset == 0 => ('\u{feff}'.len_utf8(), rest),
            _ => (offset, content),
        };
        lines.push(Line {
            start,
            text: content,
            ending,
            kind: Kind::Text,
        });
        offset += piece.len();
    }
    lines
}

/// Marks each line's kind (fenced code, headings, link definitions, herald's blocks) and
/// returns herald's blocks as (start line, end line, id).
fn classify<'a>(lines: &mut [Line<'a>]) -> Vec<(usize, usize, &'a str)> {
    // A block is a start marker whose next marker line is its own end marker; entries
    // never contain marker lines, so anything else is a stray marker, kept as text.
    let markers: Vec<Option<(bool, &str)>> =
        lines.iter().map(|line| parse_marker(line.text)).collect();
    let mut next_marker = vec![None; lines.len()];
    let mut next = None;
    for i in (0..lines.len()).rev() {
        next_marker[i] = next;
        if markers[i].is_some() {
            next = Some(i);
        }
    }

    let mut blocks = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    let mut i = 0;
    while i < lines.len() {
        // Blocks are found even inside code, so a block herald wrote into a file whose
        // fence never closes is still found on the next run.
        if let (Some((false, id)), Some(close)) = (markers[i], next_marker[i])
            && markers[close] == Some((true, id))
        {
            lines[i].kind = Kind::BlockStart;
            for line in &mut lines[i + 1..=close] {
                line.kind = Kind::Code;
            }
            blocks.push((i, close, id));
            i = close + 1;
            continue;
        }
        let text = lines[i].text;
        let blank = text.trim().is_empty();
        lines[i].kind = if let Some((ch, len)) = fence {
            if fence_closes(text, ch, len) {
                fence = None;
            }
            if blank { Kind::Blank } else { Kind::Code }
        } else if let Some(open) = fence_open(text) {
            fence = Some(open);
            Kind::Code
        } else if blank {
            Kind::Blank
        } else if let Some((level, title)) = atx_heading(text) {
            Kind::Heading { level, title }
        } else if is_link_definition(text) {
            Kind::LinkDefinition
        } else {
            Kind::Text
        };
        i += 1;
    }
    blocks
}

/// A herald marker line: `(is_end, id)`.
fn parse_marker(text: &str) -> Option<(bool, &str)> {
    let text = text.trim();
    let (is_end, rest) = match text.strip_prefix("<!-- herald:") {
        Some(rest) => (false, rest),
        None => (true, text.strip_prefix("<!-- /herald:")?),
    };
    Some((is_end, rest.strip_suffix(" -->")?))
}

/// Up to three spaces of indentation, as CommonMark allows before a block marker.
fn unindent(text: &str) -> Option<&str> {
    let rest = text.trim_start_matches(' ');
    (text.len() - rest.len() <= 3).then_some(rest)
}

/// An ATX heading: its level and title (closing `#`s removed).
fn atx_heading(text: &str) -> Option<(usize, &str)> {
    let rest = unindent(text)?;
    let after = rest.trim_start_matches('#');
    let level = rest.len() - after.len();
    if !(1..=6).contains(&level) || !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    Some((level, after.trim().trim_end_matches('#').trim_end()))
}

/// A fence opening line: its character and length (CommonMark: 3+ backticks or tildes;
/// a backtick fence's info string has no backtick).
fn fence_open(text: &str) -> Option<(char, usize)> {
    let rest = unindent(text)?;
    let ch = rest.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let after = rest.trim_start_matches(ch);
    let len = rest.len() - after.len();
    (len >= 3 && !(ch == '`' && after.contains('`'))).then_some((ch, len))
}

fn fence_closes(text: &str, ch: char, len: usize) -> bool {
    let Some(rest) = unindent(text) else {
        return false;
    };
    let after = rest.trim_start_matches(ch);
    rest.len() - after.len() >= len && after.trim().is_empty()
}

/// `[label]: destination`, which must stay at the bottom of the file.
fn is_link_definition(text: &str) -> bool {
    let Some(rest) = unindent(text).and_then(|rest| rest.strip_prefix('[')) else {
        return false;
    };
    match rest.find(']') {
        Some(close) => close > 0 && rest[close + 1..].starts_with(':'),
        None => false,
    }
}

fn is_list_item(text: &str) -> bool {
    let rest = text.trim_start();
    if let Some(after) = rest.strip_prefix(['-', '*', '+']) {
        return after.is_empty() || after.starts_with([' ', '\t']);
    }
    let after = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    after.len() < rest.len()
        && after
            .strip_prefix(['.', ')'])
            .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t']))
}

/// What a line is, for placing herald's lines; code and herald blocks are never structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind<'a> {
    Blank,
    Heading {
        level: usize,
        title: &'a str,
    },
    LinkDefinition,
    /// The first line of a complete herald block.
    BlockStart,
    /// Inside a fenced code block (fences included) or a herald block.
    Code,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    None,
    Lf,
    CrLf,
}

struct Line<'a> {
    /// Byte offset of the line's first character (after the BOM on the first line).
    start: usize,
    /// The line without its ending (and without the BOM).
    text: &'a str,
    ending: Ending,
    kind: Kind<'a>,
}

struct Document<'a> {
    lines: Vec<Line<'a>>,
    /// Complete herald blocks: start marker line, end marker line, id.
    blocks: Vec<(usize, usize, &'a str)>,
    /// First line of the trailing run of link reference definitions (and blank lines),
    /// or the line count when the file does not end with one.
    tail: usize,
}

impl<'a> Document<'a> {
    fn parse(text: &'a str) -> Document<'a> {
        let mut lines = split_lines(text);
        let blocks = classify(&mut lines);
        let mut tail = lines.len();
        for (i, line) in lines.iter().enumerate().rev() {
            match line.kind {
                Kind::Blank => {}
                Kind::LinkDefinition => tail = i,
                _ => break,
            }
        }
        Document {
            lines,
            blocks,
            tail,
        }
    }

    fn start(&self, line: usize) -> usize {
        self.lines[line].start
    }

    /// The majority line ending (ties go to LF), not counting the lines in `skip`.
    fn eol(&self, skip: std::ops::Range<usize>) -> &'static str {
        let (mut crlf, mut lf) = (0usize, 0usize);
        for (i, line) in self.lines.iter().enumerate() {
            if skip.contains(&i) {
                continue;
            }
            match line.ending {
                Ending::CrLf => crlf += 1,
                Ending::Lf => lf += 1,
                Ending::None => {}
            }
        }
        if crlf > lf { "\r\n" } else { "\n" }
    }

    /// The first structural line whose trimmed text is `heading`.
    fn find_heading(&self, heading: &str) -> Option<usize> {
        let default = is_unreleased(heading);
        self.lines.iter().position(|line| {
            let text = line.text.trim();
            matches!(
                line.kind,
                Kind::Heading { .. } | Kind::Text | Kind::LinkDefinition
            ) && (text == heading || default && is_unreleased(text))
        })
    }

    /// Where the section under line `heading` ends: the next `#` or `##` heading, or the
    /// trailing link definitions.
    fn section_end(&self, heading: usize) -> usize {
        let next = (heading + 1..self.lines.len())
            .find(|&i| matches!(self.lines[i].kind, Kind::Heading { level, .. } if level <= 2))
            .unwrap_or(self.lines.len());
        if self.tail > heading {
            next.min(self.tail)
        } else {
            next
        }
    }

    fn is_security(&self, line: usize) -> bool {
        matches!(self.lines[line].kind,
            Kind::Heading { level: 3, title } if title.eq_ignore_ascii_case("security"))
    }

    fn first_release(&self) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| matches!(line.kind, Kind::Heading { level: 2, .. }))
    }

    /// Whether inserted lines need a blank line before line `at`: yes before headings,
    /// link definitions and prose; no before a blank line or the rest of the list.
    fn needs_gap_before(&self, at: usize) -> bool {
        let line = &self.lines[at];
        match line.kind {
            Kind::Blank | Kind::BlockStart => false,
            Kind::Text => !is_list_item(line.text),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "GHSA-abcd-1234-efgh";
    const ENTRY: &str = "- Fix path traversal in archive extraction (GHSA-abcd-1234-efgh).";

    fn insert(existing: &str) -> String {
        insert_security_entry(Some(existing), DEFAULT_HEADING, ID, ENTRY)
    }

    #[test]
    fn missing_file_gets_the_standard_header() {
        let expected = format!(
            "{STANDARD_HEADER}\n## [Unreleased]\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n"
        );
        assert_eq!(
            insert_security_entry(None, DEFAULT_HEADING, ID, ENTRY),
            expected
        );
        assert_eq!(insert(""), expected);
        assert_eq!(
            insert_security_entry(None, "", ID, &format!("\n{ENTRY}\n")),
            expected
        );
    }

    #[test]
    fn security_is_created_after_fixed_and_before_the_next_release() {
        let before = "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- a\n\n### Fixed\n\n- f\n\n## [1.0.0] - 2024-01-01\n\n### Added\n\n- first\n";
        let after = format!(
            "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- a\n\n### Fixed\n\n- f\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n\n## [1.0.0] - 2024-01-01\n\n### Added\n\n- first\n"
        );
        assert_eq!(insert(before), after);
    }

    #[test]
    fn new_entry_goes_on_top_of_the_security_list() {
        let before = "## [Unreleased]\n\n### Security\n\n- older advisory\n\n## [1.0.0]\n";
        let after = format!(
            "## [Unreleased]\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n- older advisory\n\n## [1.0.0]\n"
        );
        assert_eq!(insert(before), after);
        // Lower-case subsection, no blank line after it.
        let before = "## [Unreleased]\n### security\n- older\n";
        let after = format!(
            "## [Unreleased]\n### security\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n- older\n"
        );
        assert_eq!(insert(before), after);
    }

    #[test]
    fn an_existing_marked_entry_is_replaced_where_it_is() {
        let other =
            "<!-- herald:GHSA-zzzz-zzzz-zzzz -->\n- other\n<!-- /herald:GHSA-zzzz-zzzz-zzzz -->\n";
        let before = format!(
            "## [Unreleased]\n\n### Security\n\n{other}\n## [1.0.0]  \n\n### Security\n\n<!-- herald:{ID} -->\n- old text\n  second line\n<!-- /herald:{ID} -->\n- kept\n"
        );
        let after = format!(
            "## [Unreleased]\n\n### Security\n\n{other}\n## [1.0.0]  \n\n### Security\n\n<!-- herald:{ID} -->\n- new text\n<!-- /herald:{ID} -->\n- kept\n"
        );
        let updated = insert_security_entry(Some(&before), DEFAULT_HEADING, ID, "- new text");
        assert_eq!(updated, after);
        assert_eq!(
            insert_security_entry(Some(&updated), DEFAULT_HEADING, ID, "- new text"),
            after
        );
    }

    #[test]
    fn crlf_file_stays_crlf() {
        let before = "# Changelog\r\n\r\n## [Unreleased]\r\n\r\n### Fixed\r\n\r\n- f\r\n\r\n## [1.0.0]\r\n\r\n- x";
        let after = insert(before);
        assert_eq!(
            after,
            format!(
                "# Changelog\r\n\r\n## [Unreleased]\r\n\r\n### Fixed\r\n\r\n- f\r\n\r\n### Security\r\n\r\n<!-- herald:{ID} -->\r\n{ENTRY}\r\n<!-- /herald:{ID} -->\r\n\r\n## [1.0.0]\r\n\r\n- x"
            )
        );
        assert_eq!(after.matches('\n').count(), after.matches("\r\n").count());
        // A multi-line LF entry is written with CRLF too.
        let after = insert_security_entry(Some(before), DEFAULT_HEADING, ID, "- a\n  b\n");
        assert_eq!(after.matches('\n').count(), after.matches("\r\n").count());
    }

    #[test]
    fn unreleased_is_created_before_the_first_release() {
        let before =
            "\u{feff}# Changelog\n\nIntro.\n\n## [1.0.0] - 2024-01-01\n\n### Added\n\n- first\n";
        let after = format!(
            "\u{feff}# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n\n## [1.0.0] - 2024-01-01\n\n### Added\n\n- first\n"
        );
        assert_eq!(insert(before), after);
        // A release heading on the very first line goes after the BOM.
        assert_eq!(
            insert("\u{feff}## [1.0.0]\n"),
            format!(
                "\u{feff}## [Unreleased]\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n\n## [1.0.0]\n"
            )
        );
    }

    #[test]
    fn link_definitions_stay_at_the_bottom() {
        let before = "# Changelog\n\nIntro.\n\n[unreleased]: https://example.com/compare/v1.0.0...HEAD\n[1.0.0]: https://example.com/releases/v1.0.0";
        let after = format!(
            "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n\n[unreleased]: https://example.com/compare/v1.0.0...HEAD\n[1.0.0]: https://example.com/releases/v1.0.0"
        );
        assert_eq!(insert(before), after);
        // The last section ends before them too.
        let before = "## [Unreleased]\n\n### Fixed\n\n- f\n\n[unreleased]: https://example.com\n";
        let after = format!(
            "## [Unreleased]\n\n### Fixed\n\n- f\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n\n[unreleased]: https://example.com\n"
        );
        assert_eq!(insert(before), after);
    }

    #[test]
    fn headings_in_fenced_code_are_not_headings() {
        let before = "# Changelog\n\n```markdown\n## [Unreleased]\n\n### Security\n```\n\n## [1.0.0]\n\n- x\n";
        let after = format!(
            "# Changelog\n\n```markdown\n## [Unreleased]\n\n### Security\n```\n\n## [Unreleased]\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n\n## [1.0.0]\n\n- x\n"
        );
        assert_eq!(insert(before), after);
    }

    #[test]
    fn file_without_final_newline_keeps_it_unless_appended_to() {
        let before = "## [Unreleased]\n\n### Security\n\n- old\n\n## [1.0.0]";
        assert!(!insert(before).ends_with('\n'));
        let after = insert("# Changelog");
        assert_eq!(
            after,
            format!(
                "# Changelog\n\n## [Unreleased]\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n"
            )
        );
    }

    #[test]
    fn other_headings_and_spellings() {
        let before =
            "## unreleased\n\n### Added\n\n- a\n\n## [1.0.0] - 2024-01-01\n\n### Fixed\n\n- f\n";
        let got = insert(before);
        assert!(got.starts_with(&format!(
            "## unreleased\n\n### Added\n\n- a\n\n### Security\n\n<!-- herald:{ID} -->"
        )));
        let got = insert_security_entry(Some(before), "## [1.0.0] - 2024-01-01", ID, ENTRY);
        assert!(got.ends_with(&format!(
            "### Fixed\n\n- f\n\n### Security\n\n<!-- herald:{ID} -->\n{ENTRY}\n<!-- /herald:{ID} -->\n"
        )));
    }

    #[test]
    fn hostile_ids_and_entries_cannot_break_the_block() {
        let entry = format!("- a\n<!-- /herald:{ID} -->\n<!-- herald:{ID} -->\n- b");
        let once = insert_security_entry(None, DEFAULT_HEADING, ID, &entry);
        assert!(once.contains(&format!("&lt;!-- /herald:{ID} -->")));
        assert_eq!(
            insert_security_entry(Some(&once), DEFAULT_HEADING, ID, &entry),
            once
        );
        let once = insert_security_entry(None, DEFAULT_HEADING, "GHSA --> <b>\n", ENTRY);
        assert!(once.contains("<!-- herald:GHSA--b -->"));
    }

    #[test]
    fn degenerate_inputs() {
        for input in [
            "\r",
            "\n",
            "\r\n",
            "\u{feff}",
            "```",
            "## [Unreleased]",
            "[x]: y",
            "<!-- herald:GHSA-abcd-1234-efgh -->",
            // Found by the property tests: the BOM stays first; a stray `\r` stays put.
            "\u{feff}## [1.0.0]",
            "### Security\r\n\r\n\r",
        ] {
            for heading in ["", DEFAULT_HEADING, "[x]: y", "\n", "### Security"] {
                let once = insert_security_entry(Some(input), heading, ID, ENTRY);
                assert!(once.contains(&format!("<!-- herald:{ID} -->")));
                if !input.contains("herald:") {
                    assert!(
                        only_herald_lines_added(input, &once, target_heading(heading), ENTRY),
                        "{input:?} {heading:?}"
                    );
                }
                assert_eq!(
                    insert_security_entry(Some(&once), heading, ID, ENTRY),
                    once,
                    "{input:?} {heading:?}"
                );
            }
        }
    }

    // ---- property tests over generated Keep a Changelog files ----

    const SUBSECTIONS: [&str; 6] = [
        "Added",
        "Changed",
        "Deprecated",
        "Removed",
        "Fixed",
        "Security",
    ];

    /// One release section: which subsections (bit mask, conventional order), whether
    /// `Security` is spelled in lower case, and the bullets each subsection lists.
    type Section = (u8, bool, Vec<String>);

    #[derive(Debug, Clone)]
    struct Changelog {
        text: String,
        heading: String,
        crlf: bool,
    }

    fn section() -> impl Strategy<Value = Section> {
        (
            0u8..64,
            any::<bool>(),
            prop::collection::vec("[a-z]{1,6}( [a-z`*]{1,6}){0,2} *", 0..3),
        )
    }

    fn push_section(lines: &mut Vec<String>, heading: String, section: &Section, gap: usize) {
        let (mask, lower, bullets) = section;
        lines.push(heading);
        for (bit, name) in SUBSECTIONS.iter().enumerate() {
            if mask & (1 << bit) == 0 {
                continue;
            }
            lines.extend(std::iter::repeat_n(String::new(), gap));
            let name = if *name == "Security" && *lower {
                "security"
            } else {
                name
            };
            lines.push(format!("### {name}"));
            lines.extend(std::iter::repeat_n(String::new(), gap));
            for bullet in bullets {
                lines.push(format!("- {bullet} ({name})"));
            }
        }
        lines.extend(std::iter::repeat_n(String::new(), gap));
    }

    prop_compose! {
        fn changelog()(
            crlf in any::<bool>(),
            bom in prop::bool::weighted(0.1),
            fenced in any::<bool>(),
            unreleased in prop::option::of((0usize..3, section())),
            releases in prop::collection::vec(section(), 0..4),
            links in any::<bool>(),
            final_newline in any::<bool>(),
            gap in 0usize..3,
            target in prop::option::weighted(0.25, 0usize..4),
        ) -> Changelog {
            let mut lines: Vec<String> = STANDARD_HEADER.lines().map(str::to_owned).collect();
            if bom {
                lines[0].insert(0, '\u{feff}');
            }
            lines.push(String::new());
            if fenced {
                lines.extend(
                    ["```markdown", "## [Unreleased]", "", "### Security", "- example", "```", ""]
                        .map(str::to_owned),
                );
            }
            if let Some((spelling, section)) = &unreleased {
                let heading = ["## [Unreleased]", "## Unreleased", "## [unreleased]"][*spelling];
                push_section(&mut lines, heading.to_owned(), section, gap);
            }
            let count = releases.len();
            let mut release_headings = Vec::new();
            for (k, section) in releases.iter().enumerate() {
                let heading = format!("## [1.{}.0] - 2024-01-{:02}", count - k, 10 + count - k);
                release_headings.push(heading.clone());
                push_section(&mut lines, heading, section, gap.max(1));
            }
            if links {
                lines.push(String::new());
                lines.push("[unreleased]: https://example.com/compare/v1.0.0...HEAD".to_owned());
                for heading in &release_headings {
                    let version = &heading[4..heading.find(']').unwrap_or(4)];
                    lines.push(format!("[{version}]: https://example.com/v{version}"));
                }
            }
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(eol);
            if final_newline {
                text.push_str(eol);
            }
            let heading = target
                .and_then(|k| release_headings.get(k).cloned())
                .unwrap_or_else(|| DEFAULT_HEADING.to_owned());
            Changelog { text, heading, crlf }
        }
    }

    fn entry() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-z]{1,8}( [a-z()]{1,8}){0,3}", 1..4).prop_map(|words| {
            let mut lines = vec![format!("- {}", words[0])];
            lines.extend(words[1..].iter().map(|more| format!("  {more}")));
            lines.join("\n")
        })
    }

    fn split_lines(text: &str) -> Vec<&str> {
        text.split('\n')
            .map(|line| line.trim_end_matches('\r'))
            .collect()
    }

    /// Whether `original`'s lines are a subsequence of `result`'s and every other line of
    /// `result` is one herald writes (a BOM stays first, so it is compared apart).
    fn only_herald_lines_added(original: &str, result: &str, heading: &str, entry: &str) -> bool {
        let bom = original.starts_with('\u{feff}');
        if bom != result.starts_with('\u{feff}') {
            return false;
        }
        let (original, result) = if bom {
            (&original[3..], &result[3..])
        } else {
            (original, result)
        };
        let mut allowed = vec![
            String::new(),
            SECURITY_HEADING.to_owned(),
            heading.to_owned(),
            format!("<!-- herald:{ID} -->"),
            format!("<!-- /herald:{ID} -->"),
        ];
        allowed.extend(entry_lines(entry));
        let mut original = split_lines(original).into_iter().peekable();
        for line in split_lines(result) {
            if original.peek() == Some(&line) {
                original.next();
            } else if !allowed.iter().any(|allowed| allowed == line) {
                return false;
            }
        }
        original.peek().is_none()
    }

    /// Whether the start marker sits under the (first, unfenced) target heading, after a
    /// `### Security` line of that section.
    fn lands_under(result: &str, heading: &str) -> bool {
        let marker = format!("<!-- herald:{ID} -->");
        let default = heading == DEFAULT_HEADING;
        let (mut in_fence, mut found, mut security) = (false, false, false);
        for line in split_lines(result) {
            let text = line.trim_start_matches('\u{feff}').trim();
            if text.starts_with("```") {
                in_fence = !in_fence;
            } else if in_fence {
            } else if text == marker {
                return found && security;
            } else if !found {
                found = text == heading || default && is_unreleased(text);
            } else if text.starts_with("## ") {
                return false;
            } else if text.eq_ignore_ascii_case(SECURITY_HEADING) {
                security = true;
            }
        }
        false
    }

    fn has_bare_lf(text: &str) -> bool {
        text.split('\n')
            .rev()
            .skip(1)
            .any(|before| !before.ends_with('\r'))
    }

    proptest! {
        #![proptest_config(crate::properties::config())]

        #[test]
        fn inserting_twice_is_inserting_once(log in changelog(), entry in entry()) {
            let once = insert_security_entry(Some(&log.text), &log.heading, ID, &entry);
            let twice = insert_security_entry(Some(&once), &log.heading, ID, &entry);
            prop_assert_eq!(twice, once);
        }

        #[test]
        fn updating_is_inserting_the_new_entry(
            log in changelog(), first in entry(), second in entry(),
        ) {
            let updated = insert_security_entry(
                Some(&insert_security_entry(Some(&log.text), &log.heading, ID, &first)),
                &log.heading, ID, &second,
            );
            prop_assert_eq!(
                updated,
                insert_security_entry(Some(&log.text), &log.heading, ID, &second)
            );
        }

        #[test]
        fn everything_else_is_preserved(log in changelog(), entry in entry()) {
            let result = insert_security_entry(Some(&log.text), &log.heading, ID, &entry);
            prop_assert!(only_herald_lines_added(&log.text, &result, &log.heading, &entry));
            if log.text.ends_with('\n') {
                prop_assert!(result.ends_with('\n'));
            }
        }

        #[test]
        fn entry_lands_under_heading_and_security(log in changelog(), entry in entry()) {
            let result = insert_security_entry(Some(&log.text), &log.heading, ID, &entry);
            prop_assert!(lands_under(&result, &log.heading), "{}", result);
        }

        #[test]
        fn crlf_files_stay_crlf(log in changelog(), entry in entry()) {
            let result = insert_security_entry(Some(&log.text), &log.heading, ID, &entry);
            prop_assert_eq!(log.crlf && !has_bare_lf(&log.text), !has_bare_lf(&result));
        }

        /// Any text at all: no panic, and a re-run changes nothing.
        #[test]
        fn any_text_is_handled(
            text in prop_oneof![
                any::<String>(),
                prop::collection::vec(
                    prop::sample::select(vec![
                        "\n", "\r\n", "\r", " ", "\u{feff}", "```", "~~~", "# T", "## [Unreleased]",
                        "## unreleased", "## [1.0.0]", "### Security", "### Fixed", "- x",
                        "[a]: b", "<!-- herald:GHSA-abcd-1234-efgh -->",
                        "<!-- /herald:GHSA-abcd-1234-efgh -->", "<!-- herald:GHSA-o -->",
                        "<!-- /herald:GHSA-o -->", "text",
                    ]),
                    0..40,
                ).prop_map(|parts| parts.concat()),
            ],
            heading in prop_oneof![Just(DEFAULT_HEADING.to_owned()), any::<String>()],
            entry in any::<String>(),
        ) {
            let once = insert_security_entry(Some(&text), &heading, ID, &entry);
            let twice = insert_security_entry(Some(&once), &heading, ID, &entry);
            prop_assert_eq!(&twice, &once);
            if !text.is_empty() && !text.contains("herald:GHSA-abcd") {
                prop_assert!(only_herald_lines_added(
                    &text, &once, target_heading(&heading), &entry
                ));
            }
        }
    }
}
