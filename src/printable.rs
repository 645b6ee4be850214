//! What herald prints for people (terminal text, JSON) carries untrusted advisory text,
//! which must not hide or reorder itself on screen: control characters (C0 and C1, terminal
//! escape sequences among them), Unicode format characters (bidirectional overrides and
//! isolates, zero-width characters, tags) and line or paragraph separators are written
//! escaped, never raw.

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter, Serializer};
use std::io;
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

/// One line of untrusted text, safe for a terminal or a log line.
pub fn safe_line(text: &str) -> String {
    escape_unprintable(text, |_| false)
}

/// Untrusted text of several lines, safe for a terminal: its line breaks and tabs kept.
pub fn safe_text(text: &str) -> String {
    escape_unprintable(text, |c| c == '\n' || c == '\t')
}

/// `text` with its unprintable characters (terminal escape sequences, bidirectional
/// controls) escaped, except those `kept`.
fn escape_unprintable(text: &str, kept: fn(char) -> bool) -> String {
    text.chars()
        .map(|c| {
            if is_unprintable(c) && !kept(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `value` as pretty JSON (as `serde_json::to_string_pretty` writes it), with every
/// unprintable character written as a `\uXXXX` escape: the same value once parsed.
pub fn to_json_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let formatter = EscapingFormatter(PrettyFormatter::new());
    value.serialize(&mut Serializer::with_formatter(&mut out, formatter))?;
    String::from_utf8(out).map_err(<serde_json::Error as serde::ser::Error>::custom)
}

/// serde_json's pretty formatter; the string fragments it leaves unescaped are escaped
/// here where unprintable (serde_json itself escapes only C0 controls, `"` and `\`).
struct EscapingFormatter(PrettyFormatter<'static>);

impl Formatter for EscapingFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut printable = 0;
        for (at, c) in fragment.char_indices().filter(|(_, c)| is_unprintable(*c)) {
            writer.write_all(&fragment.as_bytes()[printable..at])?;
            write_unicode_escape(writer, c)?;
            printable = at + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[printable..])
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

/// `c` as JSON's `\uXXXX`: one escape in the Basic Multilingual Plane, a surrogate pair
/// beyond it (tag characters are format characters there).
fn write_unicode_escape<W: ?Sized + io::Write>(writer: &mut W, c: char) -> io::Result<()> {
    let mut units = [0; 2];
    for unit in c.encode_utf16(&mut units) {
        write!(writer, "\\u{unit:04x}")?;
    }
    Ok(())
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
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// Whether pretty JSON holds a bidirectional control, or an unprintable character
    /// beyond its own line breaks.
    fn holds_unprintable(printed: &str) -> bool {
        printed.contains(BIDI_CONTROLS) || printed.chars().any(|c| c != '\n' && is_unprintable(c))
    }

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

    #[test]
    fn json_output_escapes_what_is_unprintable_and_parses_back_the_same() {
        let value = json!({
            "summary": "Overflow\u{202e}fdp.exe\u{9b}31m\u{1b}[0m\u{e0041}\"\\\n",
            "key\u{2028}": ["naïve — ok 中 😀", 1, null, {}],
        });
        let printed = to_json_pretty(&value).expect("JSON");
        assert!(printed.contains(r"Overflow\u202efdp.exe\u009b31m\u001b[0m\udb40\udc41"));
        assert!(printed.contains(r#""key\u2028""#), "{printed}");
        assert!(printed.contains("naïve — ok 中 😀"), "{printed}");
        assert!(!holds_unprintable(&printed), "{printed:?}");
        assert_eq!(
            serde_json::from_str::<Value>(&printed).expect("JSON"),
            value
        );
    }

    #[test]
    fn printable_json_is_what_serde_json_writes() {
        let value = json!({"a": [1, "b", {"c": []}], "d": {}, "e": "naïve — ok"});
        assert_eq!(
            to_json_pretty(&value).expect("JSON"),
            serde_json::to_string_pretty(&value).expect("JSON")
        );
    }

    proptest! {
        #![proptest_config(crate::properties::config())]

        #[test]
        fn any_string_round_trips_through_json_with_nothing_unprintable(
            text in prop_oneof![
                any::<String>(),
                prop::collection::vec(
                    prop_oneof![prop::sample::select(BIDI_CONTROLS.to_vec()), any::<char>()],
                    0..40,
                ).prop_map(String::from_iter),
            ],
        ) {
            let value = json!({ &text: [&text] });
            let printed = to_json_pretty(&value).expect("JSON");
            prop_assert!(!holds_unprintable(&printed), "{:?}", printed);
            prop_assert_eq!(serde_json::from_str::<Value>(&printed).expect("JSON"), value);
        }
    }
}
