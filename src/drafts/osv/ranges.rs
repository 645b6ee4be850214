//! GitHub's `vulnerable_version_range` syntax as OSV range events.
//!
//! GitHub writes a range as comma-separated constraints that all hold at once: `>= 1.0, <
//! 1.2.3`, `<= 2.0`, `= 1.0`, `< 4.17.21`. OSV writes it as events on the version line:
//! `introduced` (inclusive), then `fixed` (exclusive) or `last_affected` (inclusive). A
//! range OSV cannot say exactly is refused here and kept verbatim by the caller, rather
//! than guessed.

use serde::Serialize;

/// One OSV event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
}

/// How an ecosystem's versions compare, which decides the OSV range type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// SemVer 2.0 (OSV `SEMVER` ranges, no leading `v`), when every version of the range
    /// is one; `strip_v` for Go, whose tags carry a `v` OSV leaves out.
    SemVer { strip_v: bool },
    /// The ecosystem's own ordering (OSV `ECOSYSTEM` ranges).
    Ecosystem,
}

/// The OSV range type of a converted range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RangeType {
    Semver,
    Ecosystem,
}

/// A range in OSV terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsvRange {
    pub range_type: RangeType,
    pub events: Vec<Event>,
    /// The single affected version of an `= x` range, which OSV also lists as such.
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("the range is empty")]
    Empty,
    #[error("`{0}` is not a constraint (an operator `=`, `<`, `<=`, `>`, `>=` and a version)")]
    Constraint(String),
    #[error("the range has more than one lower or upper bound")]
    Bounds,
    #[error("the range combines `=` with other constraints")]
    Exact,
    #[error("`> {0}` has no exact OSV form outside SemVer (OSV's `introduced` is inclusive)")]
    Exclusive(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Converts GitHub's `range` for an ecosystem with `versioning` into OSV events.
pub fn osv_range(range: &str, versioning: Versioning) -> Result<OsvRange, RangeError> {
    let constraints = constraints(range)?;
    let semver = match versioning {
        Versioning::SemVer { strip_v } => constraints
            .iter()
            .map(|(op, version)| Some((*op, semver_version(version, strip_v)?)))
            .collect::<Option<Vec<_>>>(),
        Versioning::Ecosystem => None,
    };
    match semver {
        Some(constraints) => events(&constraints, RangeType::Semver),
        None => {
            let constraints: Vec<(Op, Version)> = constraints
                .into_iter()
                .map(|(op, version)| (op, Version::Opaque(version.to_owned())))
                .collect();
            events(&constraints, RangeType::Ecosystem)
        }
    }
}

/// A version as the range type knows it: SemVer can name its successor, others cannot.
#[derive(Debug, Clone)]
enum Version {
    SemVer(semver::Version),
    Opaque(String),
}

impl Version {
    fn text(&self) -> String {
        match self {
            Version::SemVer(version) => version.to_string(),
            Version::Opaque(version) => version.clone(),
        }
    }

    /// The smallest version above this one, so that `> v` is `>= successor`: for SemVer,
    /// `1.2.3` is followed by `1.2.4-0` and `1.2.3-rc.1` by `1.2.3-rc.1.0`.
    fn successor(&self) -> Option<String> {
        let Version::SemVer(version) = self else {
            return None;
        };
        let mut next = version.clone();
        next.build = semver::BuildMetadata::EMPTY;
        next.pre = if version.pre.is_empty() {
            // The largest patch number has no successor: the range is kept verbatim.
            next.patch = next.patch.checked_add(1)?;
            semver::Prerelease::new("0").ok()?
        } else {
            semver::Prerelease::new(&format!("{}.0", version.pre)).ok()?
        };
        Some(next.to_string())
    }
}

fn semver_version(text: &str, strip_v: bool) -> Option<Version> {
    let text = if strip_v {
        text.strip_prefix('v').unwrap_or(text)
    } else {
        text
    };
    semver::Version::parse(text).ok().map(Version::SemVer)
}

fn constraints(range: &str) -> Result<Vec<(Op, &str)>, RangeError> {
    let parts: Vec<&str> = range
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(RangeError::Empty);
    }
    parts
        .into_iter()
        .map(|part| {
            let (op, rest) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("==", Op::Eq),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Eq),
            ]
            .into_iter()
            .find_map(|(symbol, op)| part.strip_prefix(symbol).map(|rest| (op, rest)))
            // A bare version is that version alone, as GitHub reads it.
            .unwrap_or((Op::Eq, part));
            let version = rest.trim();
            if version.is_empty() || version.contains(char::is_whitespace) {
                return Err(RangeError::Constraint(part.to_owned()));
            }
            Ok((op, version))
        })
        .collect()
}

fn events(constraints: &[(Op, Version)], range_type: RangeType) -> Result<OsvRange, RangeError> {
    let of = |wanted: &[Op]| -> Vec<&(Op, Version)> {
        constraints
            .iter()
            .filter(|(op, _)| wanted.contains(op))
            .collect()
    };
    let (exact, lower, upper) = (of(&[Op::Eq]), of(&[Op::Ge, Op::Gt]), of(&[Op::Lt, Op::Le]));
    if let [(_, version)] = exact[..] {
        if constraints.len() > 1 {
            return Err(RangeError::Exact);
        }
        let version = version.text();
        return Ok(OsvRange {
            range_type,
            events: vec![
                Event::Introduced(version.clone()),
                Event::LastAffected(version.clone()),
            ],
            versions: vec![version],
        });
    }
    if exact.len() > 1 || lower.len() > 1 || upper.len() > 1 {
        return Err(RangeError::Bounds);
    }
    let introduced = match lower.first() {
        None => "0".to_owned(),
        Some((Op::Gt, version)) => version
            .successor()
            .ok_or_else(|| RangeError::Exclusive(version.text()))?,
        Some((_, version)) => version.text(),
    };
    let mut events = vec![Event::Introduced(introduced)];
    match upper.first() {
        Some((Op::Lt, version)) => events.push(Event::Fixed(version.text())),
        Some((_, version)) => events.push(Event::LastAffected(version.text())),
        None => {}
    }
    Ok(OsvRange {
        range_type,
        events,
        versions: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEMVER: Versioning = Versioning::SemVer { strip_v: false };
    const GO: Versioning = Versioning::SemVer { strip_v: true };

    fn introduced(v: &str) -> Event {
        Event::Introduced(v.into())
    }
    fn fixed(v: &str) -> Event {
        Event::Fixed(v.into())
    }
    fn last(v: &str) -> Event {
        Event::LastAffected(v.into())
    }

    fn range(text: &str, versioning: Versioning) -> (RangeType, Vec<Event>, Vec<String>) {
        let range = osv_range(text, versioning).expect(text);
        (range.range_type, range.events, range.versions)
    }

    #[test]
    fn ranges_as_github_advisories_write_them() {
        use RangeType::{Ecosystem, Semver};
        let cases: &[(&str, Versioning, RangeType, Vec<Event>)] = &[
            // From GitHub's own webhook examples (shared/fixtures/webhooks).
            (
                ">= 2.0.0, < 2.0.2",
                SEMVER,
                Semver,
                vec![introduced("2.0.0"), fixed("2.0.2")],
            ),
            (
                ">= 1.11.8, < 1.11.10",
                Versioning::Ecosystem,
                Ecosystem,
                vec![introduced("1.11.8"), fixed("1.11.10")],
            ),
            (
                "<= 2.1.0",
                Versioning::Ecosystem,
                Ecosystem,
                vec![introduced("0"), last("2.1.0")],
            ),
            (
                "<= 0.29.0",
                SEMVER,
                Semver,
                vec![introduced("0"), last("0.29.0")],
            ),
            // The shapes the issue names, and others found in the Advisory Database.
            (
                ">= 1.0, < 1.2.3",
                Versioning::Ecosystem,
                Ecosystem,
                vec![introduced("1.0"), fixed("1.2.3")],
            ),
            (
                "< 4.17.21",
                SEMVER,
                Semver,
                vec![introduced("0"), fixed("4.17.21")],
            ),
            (
                ">= 2.0-beta9, < 2.12.2",
                Versioning::Ecosystem,
                Ecosystem,
                vec![introduced("2.0-beta9"), fixed("2.12.2")],
            ),
            (
                ">= 4.0.0-alpha.1, < 4.0.0",
                SEMVER,
                Semver,
                vec![introduced("4.0.0-alpha.1"), fixed("4.0.0")],
            ),
            (">= 1.5.0", SEMVER, Semver, vec![introduced("1.5.0")]),
            // Go tags carry a `v`; OSV's Go versions do not.
            (
                ">= v1.2.0, < v1.4.1",
                GO,
                Semver,
                vec![introduced("1.2.0"), fixed("1.4.1")],
            ),
            // Not SemVer (two parts): the ecosystem's own order, verbatim.
            (
                "< 1.2",
                SEMVER,
                Ecosystem,
                vec![introduced("0"), fixed("1.2")],
            ),
            // `>` has an exact SemVer successor.
            (
                "> 1.2.3, < 1.3.0",
                SEMVER,
                Semver,
                vec![introduced("1.2.4-0"), fixed("1.3.0")],
            ),
            (
                "> 2.0.0-rc.1",
                SEMVER,
                Semver,
                vec![introduced("2.0.0-rc.1.0")],
            ),
        ];
        for (text, versioning, range_type, events) in cases {
            let (got_type, got_events, versions) = range(text, *versioning);
            assert_eq!((got_type, &got_events), (*range_type, events), "{text}");
            assert!(versions.is_empty(), "{text}");
        }
    }

    #[test]
    fn an_exact_version_is_listed_and_bounded_on_both_sides() {
        for text in ["= 1.0", "1.0", "== 1.0"] {
            let (range_type, events, versions) = range(text, Versioning::Ecosystem);
            assert_eq!(range_type, RangeType::Ecosystem);
            assert_eq!(events, vec![introduced("1.0"), last("1.0")], "{text}");
            assert_eq!(versions, vec!["1.0".to_owned()], "{text}");
        }
        let (range_type, events, _) = range("= 3.1.4", SEMVER);
        assert_eq!(range_type, RangeType::Semver);
        assert_eq!(events, vec![introduced("3.1.4"), last("3.1.4")]);
    }

    #[test]
    fn ranges_osv_cannot_say_exactly_are_refused() {
        let refused = [
            ("", Versioning::Ecosystem, RangeError::Empty),
            (" , ", SEMVER, RangeError::Empty),
            (">= 1.0, >= 1.1", Versioning::Ecosystem, RangeError::Bounds),
            ("< 1.0, <= 2.0", SEMVER, RangeError::Bounds),
            ("= 1.0, < 2.0", Versioning::Ecosystem, RangeError::Exact),
            (
                "> 1.0",
                Versioning::Ecosystem,
                RangeError::Exclusive("1.0".into()),
            ),
            (
                ">= 1.0 < 2.0",
                Versioning::Ecosystem,
                RangeError::Constraint(">= 1.0 < 2.0".into()),
            ),
            ("<", SEMVER, RangeError::Constraint("<".into())),
        ];
        for (text, versioning, error) in refused {
            assert_eq!(osv_range(text, versioning), Err(error), "{text:?}");
        }
    }

    mod properties {
        use super::*;
        use crate::properties::config;
        use proptest::prelude::*;

        fn version() -> impl Strategy<Value = String> {
            prop_oneof![
                (0u64..5, 0u64..5, 0u64..5).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
                Just(format!("1.2.{}", u64::MAX)),
                "v?[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-[a-z0-9.]{1,6})?(\\+[a-z0-9]{1,4})?",
                any::<String>(),
            ]
        }

        fn constraint() -> impl Strategy<Value = String> {
            (
                prop::sample::select(vec!["", "=", "==", "<", "<=", ">", ">=", "> =", "~"]),
                prop::sample::select(vec!["", " "]),
                version(),
            )
                .prop_map(|(op, space, version)| format!("{op}{space}{version}"))
        }

        fn range_text() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::collection::vec(constraint(), 0..4).prop_map(|parts| parts.join(", ")),
                any::<String>(),
            ]
        }

        fn versioning() -> impl Strategy<Value = Versioning> {
            prop::sample::select(vec![SEMVER, GO, Versioning::Ecosystem])
        }

        #[test]
        fn the_largest_patch_has_no_successor() {
            let largest = format!("1.2.{}", u64::MAX);
            assert_eq!(
                osv_range(&format!("> {largest}"), SEMVER),
                Err(RangeError::Exclusive(largest))
            );
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn any_range_is_converted_or_refused(text in range_text(), versioning in versioning()) {
                if let Ok(range) = osv_range(&text, versioning) {
                    prop_assert!(!range.events.is_empty());
                    prop_assert!(matches!(range.events[0], Event::Introduced(_)), "{:?}", range);
                }
            }

            #[test]
            fn a_semver_interval_is_its_two_bounds(
                low in (0u64..50, 0u64..50, 0u64..50),
                high in (0u64..50, 0u64..50, 0u64..50),
            ) {
                let (low, high) = (
                    format!("{}.{}.{}", low.0, low.1, low.2),
                    format!("{}.{}.{}", high.0, high.1, high.2),
                );
                let range = osv_range(&format!(">= {low}, < {high}"), SEMVER);
                prop_assert_eq!(
                    range.map(|range| (range.range_type, range.events)),
                    Ok((RangeType::Semver, vec![introduced(&low), fixed(&high)]))
                );
            }
        }
    }
}
