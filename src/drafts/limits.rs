//! Fitting a draft into a counterpart's documented limits: a title or a post that is too
//! long is shortened cleanly (at a paragraph or a word) and says where the whole advisory
//! is, so the counterpart never refuses it for its length.

/// GitHub: issue and pull request titles.
pub const GITHUB_TITLE_CHARS: usize = 256;
/// GitHub: issue, pull request, comment and discussion bodies.
pub const GITHUB_BODY_CHARS: usize = 65_536;

/// `text` as one title of at most `max` characters, cut at a word with an ellipsis.
pub fn fit_title(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub(1);
    let head: String = text.chars().take(room).collect();
    let cut = head
        .rfind(char::is_whitespace)
        .filter(|&at| at >= head.len() / 2)
        .unwrap_or(head.len());
    format!("{}…", head[..cut].trim_end())
}

/// Markdown `text` in at most `max` characters: whole when it fits, else cut at the last
/// paragraph (or word) that fits, followed by a line that links the full advisory.
pub fn fit_markdown(text: &str, max: usize, full: &str) -> String {
    let note = format!("\n\n*Shortened to fit here; the full advisory: <{full}>*\n");
    fit_markdown_noting(text, max, &note)
}

/// Markdown `text` in at most `max` characters: whole when it fits, else cut at the last
/// paragraph (or word) that fits, followed by `note`, which says where the rest is.
pub fn fit_markdown_noting(text: &str, max: usize, note: &str) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub(note.chars().count());
    let head: String = text.chars().take(room).collect();
    let cut = head
        .rfind("\n\n")
        .filter(|&at| at >= head.len() / 2)
        .or_else(|| head.rfind(char::is_whitespace))
        .unwrap_or(head.len());
    format!("{}{note}", head[..cut].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_fits_is_left_alone() {
        assert_eq!(fit_title("short", 10), "short");
        assert_eq!(fit_markdown("short", 10, "u"), "short");
    }

    #[test]
    fn titles_are_cut_at_a_word() {
        let title = fit_title(&"word ".repeat(100), 255);
        assert!(title.chars().count() <= 255);
        assert!(title.ends_with("word…"), "{title}");
        let unbroken = fit_title(&"é".repeat(300), 10);
        assert_eq!(unbroken, format!("{}…", "é".repeat(9)));
    }

    #[test]
    fn posts_are_cut_at_a_paragraph_and_link_the_whole() {
        let paragraph = format!("{}\n\n", "text ".repeat(100));
        let post = paragraph.repeat(200);
        let fitted = fit_markdown(&post, 10_000, "https://example.org/a");
        assert!(fitted.chars().count() <= 10_000);
        assert!(fitted.contains(
            "text text\n\n*Shortened to fit here; the full advisory: <https://example.org/a>*"
        ));
        // Without paragraphs, at a word.
        let words = "word ".repeat(5_000);
        let fitted = fit_markdown(&words, 1_000, "u");
        assert!(fitted.chars().count() <= 1_000);
        assert!(fitted.starts_with("word word") && fitted.contains("word\n\n*Shortened"));
    }
}
