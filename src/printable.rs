//! What herald prints for people (terminal text) carries untrusted advisory text,
//! which must not hide or reorder itself on screen: control characters (C0 and C1, terminal
//! escape sequences among them), Unicode format characters (bidirectional overrides and
//! isolates, zero-width characters, tags) and line or paragraph separators are written
//! escaped, never raw.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Whether `c` is shown escaped rather than written raw.
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// The bidirectional controls (marks, embeddings, overrides, isolates), as tests name them.
#[cfg(test)]
pub(crate) const BIDI_CONTROLS: [char; 12] = [
    '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_and_format_characters_are_unprintable() {
        for c in BIDI_CONTROLS.into_iter().chain([
            '\u{0}',
            '\u{1b}',
            '\u{7f}',
            '\u{9b}',
            '\u{200b}',
            '\u{feff}',
            '\u{2028}',
            '\u{2029}',
            '\u{e0041}',
        ]) {
            assert!(is_unprintable(c), "{c:?}");
        }
        for c in ['a', ' ', 'é', '—', '…', '中', '😀'] {
            assert!(!is_unprintable(c), "{c:?}");
        }
    }
}
