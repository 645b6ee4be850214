//! The checks the sections' values go through. Each runs inside the value's own
//! deserializer, so a rejected value carries its own line and key, not its section's. The
//! rules more than one section uses are here; a rule of one section is in its file.

use crate::incident::RepoName;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// A string value that parses into a typed one; parsed inside the value's own deserializer
/// so a rejection carries that value's line and key.
pub(super) trait ParseRule {
    type Output;
    const EXPECTED: &'static str;
    fn parse(value: &str) -> Result<Self::Output, String>;
}

struct Typed<R: ParseRule>(R::Output);

impl<'de, R: ParseRule> Deserialize<'de> for Typed<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Parse<R>(PhantomData<R>);
        impl<R: ParseRule> Visitor<'_> for Parse<R> {
            type Value = R::Output;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(R::EXPECTED)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<R::Output, E> {
                R::parse(value).map_err(E::custom)
            }
        }
        Ok(Typed(d.deserialize_str(Parse::<R>(PhantomData))?))
    }
}

pub(super) fn typed<'de, R: ParseRule, D: Deserializer<'de>>(d: D) -> Result<R::Output, D::Error> {
    Ok(Typed::<R>::deserialize(d)?.0)
}

pub(super) fn typed_opt<'de, R: ParseRule, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<R::Output>, D::Error> {
    Ok(Option::<Typed<R>>::deserialize(d)?.map(|typed| typed.0))
}

pub(super) fn typed_many<'de, R: ParseRule, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<R::Output>, D::Error> {
    Ok(Vec::<Typed<R>>::deserialize(d)?
        .into_iter()
        .map(|typed| typed.0)
        .collect())
}

/// What a string value must satisfy. It is checked inside the value's own deserializer so a
/// rejection carries that value's line and key.
pub(super) trait Rule {
    /// For "expected …" in type errors.
    const EXPECTED: &'static str;
    fn check(value: &str) -> Result<(), String>;
}

struct Valid<R>(String, PhantomData<R>);

impl<'de, R: Rule> Deserialize<'de> for Valid<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Check<R>(PhantomData<R>);
        impl<R: Rule> Visitor<'_> for Check<R> {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(R::EXPECTED)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
                R::check(value).map_err(E::custom)?;
                Ok(value.to_owned())
            }
        }
        let value = d.deserialize_str(Check::<R>(PhantomData))?;
        Ok(Valid(value, PhantomData))
    }
}

pub(super) fn one<'de, R: Rule, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Valid::<R>::deserialize(d)?.0)
}

pub(super) fn opt<'de, R: Rule, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Valid<R>>::deserialize(d)?.map(|v| v.0))
}

pub(super) fn many<'de, R: Rule, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Valid<R>>::deserialize(d)?
        .into_iter()
        .map(|v| v.0)
        .collect())
}

/// GitHub's rules for user and organization names.
pub(super) fn login_problem(login: &str) -> Option<&'static str> {
    if login.is_empty() || login.len() > 39 {
        Some("must be 1 to 39 characters")
    } else if !login
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Some("may only contain letters, digits and `-`")
    } else if login.starts_with('-') {
        Some("must not start with `-`")
    } else {
        None
    }
}

pub(super) fn single_line(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("{what} must not be empty"))
    } else if value.chars().any(char::is_control) {
        Err(format!(
            "{value:?}: {what} must be a single line without control characters"
        ))
    } else {
        Ok(())
    }
}

pub(super) struct RepoRule;
impl ParseRule for RepoRule {
    type Output = RepoName;
    const EXPECTED: &'static str = "a repository `owner/name`";
    fn parse(value: &str) -> Result<RepoName, String> {
        RepoName::parse(value).map_err(|error| error.to_string())
    }
}

/// A path inside the repository; never one that could leave it.
pub(super) struct FilePath;
impl Rule for FilePath {
    const EXPECTED: &'static str = "a path relative to the repository root";
    fn check(value: &str) -> Result<(), String> {
        single_line(value, "a path")?;
        if value.starts_with('/') || value.contains('\\') {
            Err(format!(
                "{value:?}: the path must be relative to the repository root, with `/` separators"
            ))
        } else if value
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            Err(format!(
                "{value:?}: the path must not contain `..`, `.` or empty parts"
            ))
        } else {
            Ok(())
        }
    }
}

/// A subset of `git check-ref-format`, enough to keep branch names plain in API calls.
pub(super) struct Branch;
impl Rule for Branch {
    const EXPECTED: &'static str = "a branch name";
    fn check(value: &str) -> Result<(), String> {
        let bad = value.is_empty()
            || value.starts_with(['-', '/'])
            || value.ends_with(['/', '.'])
            || value.ends_with(".lock")
            || ["..", "//", "@{"].iter().any(|s| value.contains(s))
            || value
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
        if bad {
            Err(format!("{value:?} is not a valid git branch name"))
        } else {
            Ok(())
        }
    }
}

/// One bare `local@domain`: no display name, no list, nothing that could add a header.
pub(super) struct Address;
impl Rule for Address {
    const EXPECTED: &'static str = "an email address";
    fn check(value: &str) -> Result<(), String> {
        if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;:\"()[]\\".contains(c))
        {
            return Err(format!(
                "{value:?} is not a plain email address: it must not contain spaces, \
                 line breaks or any of < > , ; : \" ( ) [ ] \\"
            ));
        }
        match value.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.') =>
            {
                Ok(())
            }
            _ => Err(format!(
                "{value:?} is not an email address of the form local@domain"
            )),
        }
    }
}

pub(super) struct DisplayName;
impl Rule for DisplayName {
    const EXPECTED: &'static str = "a display name";
    fn check(value: &str) -> Result<(), String> {
        single_line(value, "the display name")
    }
}
