//! Which lines of a comment are `/herald` commands, read as GitHub renders the comment:
//! only what readers see as a line of their own may command.

use super::Command;
use super::parse::parse_line;
use pulldown_cmark::{Event, Options, Parser, Tag};

/// A `/herald` line and what herald understood of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandLine {
    pub text: String,
    pub command: Result<Command, String>,
}

/// The `/herald` lines of a comment, read as GitHub renders it (CommonMark with GitHub's
/// extensions: tables, strikethrough, task lists, footnotes, math, alerts): a command is a
/// line of paragraph text, at the top level or in a list item, that starts with `/herald`
/// as written. Code blocks, HTML (comments included), block quotes (someone else's
/// words), tables, headings, footnotes and math never command, nor does a line that starts
/// inside a link, an image's hidden alt text, emphasis, strikethrough or an inline HTML
/// element (`<span hidden>`, `<del>`).
pub fn parse_comment(body: &str) -> Vec<CommandLine> {
    // Per open element, whether text directly inside it may command.
    let mut open: Vec<bool> = Vec::new();
    // Inline HTML elements open in the current paragraph, and HTML blocks' elements open
    // anywhere (a `<details>` folds away the paragraphs up to its `</details>`).
    let mut inline_html = 0usize;
    let mut block_html = 0usize;
    let mut line_starts = false;
    let mut lines = Vec::new();
    for (event, range) in Parser::new_ext(body, github_flavour()).into_offset_iter() {
        let at_line_start = line_starts;
        line_starts = starts_a_line(&event);
        match event {
            Event::Start(tag) => {
                if matches!(tag, Tag::Paragraph) {
                    inline_html = 0;
                }
                open.push(holds_commands(&tag));
            }
            Event::End(_) => {
                open.pop();
            }
            Event::InlineHtml(html) => inline_html = html_depth(inline_html, &html),
            Event::Html(html) => block_html = html_depth(block_html, &html),
            Event::Text(_)
                if at_line_start
                    && inline_html + block_html == 0
                    && open.iter().all(|holds| *holds) =>
            {
                lines.extend(command_line(body, range.start));
            }
            _ => {}
        }
    }
    lines
}

/// The Markdown GitHub renders comments as.
fn github_flavour() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_MATH
        | Options::ENABLE_GFM
}

/// How many HTML elements are open after `html` (tags, text, comments) when `depth` were
/// before it: each opening tag opens one (unless it closes itself or is a void element
/// such as `<br>`), each closing tag closes one. It errs towards open: a visible command
/// inside an element not closed is not taken, rather than a hidden one taken.
fn html_depth(depth: usize, html: &str) -> usize {
    const VOID: [&str; 13] = [
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    ];
    let mut depth = depth;
    for (at, _) in html.match_indices('<') {
        let tag = &html[at + 1..];
        let (closing, tag) = match tag.strip_prefix('/') {
            Some(tag) => (true, tag),
            None => (false, tag),
        };
        let name: String = tag
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) || VOID.contains(&name.as_str()) {
            continue;
        }
        let closes_itself = tag
            .split('>')
            .next()
            .is_some_and(|inside| inside.trim_end().ends_with('/'));
        if closing {
            depth = depth.saturating_sub(1);
        } else if !closes_itself {
            depth += 1;
        }
    }
    depth
}

/// Paragraphs and list items (a tight list's items hold their text directly) hold
/// commands; every other block and every inline element does not.
fn holds_commands(tag: &Tag<'_>) -> bool {
    matches!(tag, Tag::Paragraph | Tag::List(_) | Tag::Item)
}

/// Whether the next event is the first of a line of text.
fn starts_a_line(event: &Event<'_>) -> bool {
    matches!(
        event,
        Event::SoftBreak | Event::HardBreak | Event::Start(Tag::Paragraph | Tag::Item)
    )
}

/// The command on the source line whose text starts at byte `start`, if it starts with
/// `/herald`. The line is taken as written (inline code, mentions and all), not as
/// rendered: maintainers quote it back as they typed it.
fn command_line(body: &str, start: usize) -> Option<CommandLine> {
    let (before, from) = body.split_at_checked(start)?;
    // `\/herald` renders as `/herald`, but the line does not start with it as written.
    if before.ends_with('\\') {
        return None;
    }
    let line = from.split(['\r', '\n']).next()?.trim_end();
    let rest = line
        .strip_prefix("/herald")
        .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))?;
    Some(CommandLine {
        text: line.chars().take(200).collect(),
        command: parse_line(rest.trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Command, Severity, Threat};

    fn found(body: &str) -> Vec<String> {
        parse_comment(body)
            .into_iter()
            .map(|line| line.text)
            .collect()
    }

    #[test]
    fn commands_are_read_from_their_own_lines_only() {
        let lines = parse_comment(
            "Looks bad.\n/herald severity high\n> /herald publish\n```\n/herald close\n```\n/herald threat active\n/herald frobnicate now\n/herald",
        );
        let commands: Vec<_> = lines.iter().map(|line| line.command.clone()).collect();
        assert_eq!(commands.len(), 4);
        assert_eq!(commands[0], Ok(Command::Severity(Severity::High)));
        assert_eq!(commands[1], Ok(Command::Threat(Some(Threat::Active))));
        assert!(commands[2].is_err());
        assert_eq!(commands[3], Ok(Command::Help));
    }

    #[test]
    fn an_indented_code_block_is_not_a_command() {
        assert_eq!(found("    /herald publish"), Vec::<String>::new());
        assert_eq!(found("Log:\n\n    /herald publish\n"), Vec::<String>::new());
    }

    #[test]
    fn an_html_comment_is_not_a_command() {
        assert_eq!(found("<!-- /herald publish -->"), Vec::<String>::new());
        assert_eq!(
            found("Thanks <!-- /herald publish -->"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_multi_line_html_comment_is_not_a_command() {
        assert_eq!(
            found("<!--\n/herald publish\n\n/herald close\n-->"),
            Vec::<String>::new()
        );
        assert_eq!(
            found("Thanks <!--\n/herald publish\n-->\n/herald ack"),
            vec!["/herald ack"]
        );
    }

    #[test]
    fn a_fence_closes_only_with_its_own_kind() {
        assert_eq!(
            found("```\n/herald close\n~~~\n/herald publish\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            found("~~~\n/herald close\n```\n/herald publish\n~~~\n/herald ack"),
            vec!["/herald ack"]
        );
    }

    #[test]
    fn a_quote_is_not_a_command_nor_its_lazy_continuation() {
        assert_eq!(found("> /herald publish"), Vec::<String>::new());
        assert_eq!(
            found("> Shall we?\n/herald publish\n\n/herald ack"),
            vec!["/herald ack"]
        );
    }

    #[test]
    fn a_table_is_not_a_command() {
        // A table goes on until a blank line: its last row is `/herald close`.
        assert_eq!(
            found("| step |\n| --- |\n| /herald publish |\n/herald close"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn hidden_or_styled_text_is_not_a_command() {
        assert_eq!(
            found("![x\n/herald publish\n](x.png)"),
            Vec::<String>::new()
        );
        assert_eq!(found("*a\n/herald publish*"), Vec::<String>::new());
        assert_eq!(found("# /herald publish"), Vec::<String>::new());
        assert_eq!(found("\\/herald publish"), Vec::<String>::new());
        assert_eq!(found("`/herald publish`"), Vec::<String>::new());
    }

    #[test]
    fn list_items_and_their_continuations_are_commands() {
        assert_eq!(
            found("Fixed in:\n- 1.2.3\n/herald ack\n\n1. /herald severity high\n   /herald fork"),
            vec!["/herald ack", "/herald severity high", "/herald fork"]
        );
    }

    #[test]
    fn what_github_shows_struck_hidden_or_as_math_or_a_footnote_is_not_a_command() {
        for body in [
            "~~x\n/herald publish~~",
            "~x\n/herald publish~",
            "x <a href=\"https://x.example\">y\n/herald publish</a>",
            "x <del>y\n/herald publish</del>",
            "x <span hidden>y\n/herald publish</span>",
            "x <sub>y\n/herald publish</sub>",
            "$$\n/herald publish\n$$",
            "x $y\n/herald publish$",
            "t[^1]\n\n[^1]: x\n    /herald publish",
            "<details>\n\n/herald publish\n\n</details>",
            "<details><summary>Log</summary>\n\n/herald publish\n\n</details>",
        ] {
            assert_eq!(found(body), Vec::<String>::new(), "{body:?}");
        }
        // A closed element, or a void one, hides nothing after it.
        assert_eq!(
            found("see <b>this</b><br>\n/herald ack"),
            vec!["/herald ack"]
        );
        assert_eq!(
            found("<details>\n\nlog\n\n</details>\n\n/herald ack"),
            vec!["/herald ack"]
        );
    }

    #[test]
    fn a_deep_nest_of_quotes_or_lists_is_read_without_exhausting_the_stack() {
        // Shown inside quotes: not a command; shown as a list item: one.
        for (opener, commands) in [("> ", 0), ("* > ", 0), ("- ", 1), ("1. ", 1)] {
            let deep = format!("{}/herald publish", opener.repeat(50_000));
            assert_eq!(found(&deep).len(), commands, "{opener}");
        }
        let brackets = format!("{}/herald publish", "[".repeat(100_000));
        assert!(found(&brackets).is_empty());
    }

    #[test]
    fn a_command_line_is_kept_as_written() {
        let lines = parse_comment(
            "Done.  \n  /herald contain disabled `upload` for @bob, see <https://x.example> \r\n/herald coordinator @alice",
        );
        assert_eq!(
            lines[0].text,
            "/herald contain disabled `upload` for @bob, see <https://x.example>"
        );
        assert_eq!(
            lines[0].command,
            Ok(Command::Contain(
                "disabled `upload` for @bob, see <https://x.example>".into()
            ))
        );
        assert_eq!(lines[1].command, Ok(Command::Coordinator("alice".into())));
        assert_eq!(
            parse_comment(&format!("/herald {}", "x".repeat(300)))[0]
                .text
                .len(),
            200
        );
    }

    mod properties {
        use super::*;
        use crate::properties::config;
        use proptest::prelude::*;

        /// The markup that matters to a comment's commands.
        const MARKUP: &[&str] = &[
            "\n",
            "\r\n",
            "\r",
            " ",
            "    ",
            "\t",
            "/herald publish",
            "/herald ",
            "```",
            "~~~",
            "<!--",
            "-->",
            "> ",
            "- ",
            "1. ",
            "| a |",
            "|---|",
            "`",
            "*",
            "[",
            "](x)",
            "![",
            "\\",
            "<b>",
            "# ",
            "text",
        ];

        /// Text with the markup that matters here, or anything at all.
        fn comment_text() -> impl Strategy<Value = String> {
            crate::properties::text_of(MARKUP, 40)
        }

        fn source_lines(text: &str) -> Vec<String> {
            text.replace("\r\n", "\n")
                .split(['\r', '\n'])
                .map(str::to_owned)
                .collect()
        }

        /// `text` in a fenced code block no line of it can close.
        fn fenced(text: &str) -> String {
            let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            format!("{}\n{text}", "`".repeat(longest.max(2) + 1))
        }

        fn indented(text: &str) -> String {
            source_lines(text)
                .iter()
                .map(|line| format!("    {line}"))
                .collect::<Vec<_>>()
                .join("\n")
        }

        /// `text` in an HTML comment it cannot end (without `>`).
        fn html_comment(text: &str) -> String {
            format!("<!--{}-->", text.replace('>', ""))
        }

        fn quoted(text: &str) -> String {
            source_lines(text)
                .iter()
                .map(|line| format!("> {line}"))
                .collect::<Vec<_>>()
                .join("\n")
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn any_comment_is_parsed_without_panic(text in comment_text()) {
                for line in parse_comment(&text) {
                    prop_assert!(line.text.starts_with("/herald"));
                    prop_assert!(line.text.chars().count() <= 200);
                }
            }

            #[test]
            fn code_html_and_quotes_never_command(
                text in comment_text(),
                wrap in prop::sample::select(vec![fenced as fn(&str) -> String, indented, html_comment, quoted]),
            ) {
                let body = wrap(&text);
                prop_assert_eq!(parse_comment(&body), Vec::new(), "{:?}", body);
            }

            #[test]
            fn a_paragraph_line_commands(
                before in "[a-zA-Z ,.]{0,40}",
                word in "[a-z-]{1,12}",
            ) {
                let body = format!("{before}\n/herald {word}\n");
                let lines = parse_comment(&body);
                prop_assert_eq!(lines.len(), 1, "{:?}", body);
                prop_assert_eq!(&lines[0].text, &format!("/herald {word}"));
            }
        }
    }
}
