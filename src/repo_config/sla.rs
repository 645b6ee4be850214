//! `sla:`: the business calendar and the reaction time per severity, which the incident
//! domain computes deadlines with.

use super::check::{ParseRule, typed, typed_many};
use crate::incident::{BusinessCalendar, Reaction, SlaPolicy};
use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use serde::de::{self, Deserializer};

/// The `sla:` section. Every key is optional; the defaults are the response plans' (UTC,
/// 09:00–17:00, Monday to Friday, critical 4 business hours, high the next working day,
/// medium two working days, low none).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `time_zone`, `business_hours`, `working_days`, \
                 `holidays`, `reaction`, `fix_within_days`, `disclose_within_days`"
)]
pub struct SlaConfig {
    #[serde(deserialize_with = "typed::<TimeZoneRule, _>")]
    pub time_zone: Tz,
    /// Opening and closing time, local.
    #[serde(deserialize_with = "typed::<BusinessHoursRule, _>")]
    pub business_hours: (NaiveTime, NaiveTime),
    #[serde(deserialize_with = "working_days")]
    pub working_days: Vec<Weekday>,
    #[serde(deserialize_with = "typed_many::<DateRule, _>")]
    pub holidays: Vec<NaiveDate>,
    pub reaction: ReactionConfig,
    /// Targets the post-incident review measures against, in calendar days.
    pub fix_within_days: u32,
    pub disclose_within_days: u32,
}

/// `critical: 4h` (business hours), `high: 1d` (by the close of the n-th next working
/// day), `none`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `critical`, `high`, `medium`, `low`"
)]
pub struct ReactionConfig {
    #[serde(deserialize_with = "typed::<ReactionRule, _>")]
    pub critical: Reaction,
    #[serde(deserialize_with = "typed::<ReactionRule, _>")]
    pub high: Reaction,
    #[serde(deserialize_with = "typed::<ReactionRule, _>")]
    pub medium: Reaction,
    #[serde(deserialize_with = "typed::<ReactionRule, _>")]
    pub low: Reaction,
}

impl Default for SlaConfig {
    fn default() -> Self {
        let policy = SlaPolicy::default();
        SlaConfig {
            time_zone: policy.calendar.time_zone,
            business_hours: (policy.calendar.opens, policy.calendar.closes),
            working_days: policy.calendar.working_days,
            holidays: policy.calendar.holidays,
            reaction: ReactionConfig {
                critical: policy.critical,
                high: policy.high,
                medium: policy.medium,
                low: policy.low,
            },
            fix_within_days: policy.fix_within_days,
            disclose_within_days: policy.disclose_within_days,
        }
    }
}

impl Default for ReactionConfig {
    fn default() -> Self {
        SlaConfig::default().reaction
    }
}

impl SlaConfig {
    /// The policy the incident domain computes deadlines with.
    pub fn policy(&self) -> SlaPolicy {
        SlaPolicy {
            calendar: BusinessCalendar {
                time_zone: self.time_zone,
                opens: self.business_hours.0,
                closes: self.business_hours.1,
                working_days: self.working_days.clone(),
                holidays: self.holidays.clone(),
            },
            critical: self.reaction.critical,
            high: self.reaction.high,
            medium: self.reaction.medium,
            low: self.reaction.low,
            fix_within_days: self.fix_within_days,
            disclose_within_days: self.disclose_within_days,
        }
    }
}

/// At least one working day, or no deadline could ever fall.
fn working_days<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
    let days = typed_many::<WeekdayRule, D>(d)?;
    if days.is_empty() {
        return Err(de::Error::custom("at least one working day is needed"));
    }
    Ok(days)
}

struct TimeZoneRule;
impl ParseRule for TimeZoneRule {
    type Output = Tz;
    const EXPECTED: &'static str = "an IANA time zone such as Europe/Prague";
    fn parse(value: &str) -> Result<Tz, String> {
        value.parse::<Tz>().map_err(|_| {
            format!("{value:?} is not an IANA time zone (such as Europe/Prague or UTC)")
        })
    }
}

struct BusinessHoursRule;
impl ParseRule for BusinessHoursRule {
    type Output = (NaiveTime, NaiveTime);
    const EXPECTED: &'static str = "business hours such as \"09:00-17:00\"";
    fn parse(value: &str) -> Result<(NaiveTime, NaiveTime), String> {
        let fail = || format!("{value:?} is not business hours of the form \"09:00-17:00\"");
        let (opens, closes) = value.split_once('-').ok_or_else(fail)?;
        let time = |text: &str| NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| fail());
        let (opens, closes) = (time(opens)?, time(closes)?);
        if opens >= closes {
            return Err(format!(
                "{value:?}: business hours must open before they close"
            ));
        }
        Ok((opens, closes))
    }
}

struct WeekdayRule;
impl ParseRule for WeekdayRule {
    type Output = Weekday;
    const EXPECTED: &'static str = "a weekday (mon, tue, … sun)";
    fn parse(value: &str) -> Result<Weekday, String> {
        value
            .parse::<Weekday>()
            .map_err(|_| format!("{value:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"))
    }
}

struct DateRule;
impl ParseRule for DateRule {
    type Output = NaiveDate;
    const EXPECTED: &'static str = "a date YYYY-MM-DD";
    fn parse(value: &str) -> Result<NaiveDate, String> {
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map_err(|_| format!("{value:?} is not a date of the form YYYY-MM-DD"))
    }
}

struct ReactionRule;
impl ParseRule for ReactionRule {
    type Output = Reaction;
    const EXPECTED: &'static str =
        "a reaction time: `4h` (business hours), `1d` (working days) or `none`";
    fn parse(value: &str) -> Result<Reaction, String> {
        let fail = || {
            format!(
                "{value:?} is not a reaction time: write `4h` for business hours, `1d` for \
                 the close of the next working day (`2d`: the one after), or `none`"
            )
        };
        let value = value.trim();
        if value == "none" {
            return Ok(Reaction::None);
        }
        let (number, unit) = value.split_at(value.len().saturating_sub(1));
        let number: u32 = number.parse().map_err(|_| fail())?;
        match unit {
            "h" if (1..=1000).contains(&number) => Ok(Reaction::BusinessHours(number)),
            "d" if (1..=100).contains(&number) => Ok(Reaction::WorkingDays(number)),
            _ => Err(fail()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo_config::{RepoConfig, tests::error};

    #[test]
    fn the_sla_section_becomes_the_policy() {
        let config = RepoConfig::parse(
            "sla:\n  time_zone: Europe/Prague\n  business_hours: \"08:30-16:30\"\n  working_days: [mon, tue, wed, thu]\n  holidays: [2026-12-24, 2026-12-25]\n  reaction:\n    critical: 2h\n    high: 1d\n    medium: 3d\n    low: 5d\n",
        )
        .expect("valid");
        let policy = config.sla.policy();
        assert_eq!(policy.calendar.time_zone, chrono_tz::Europe::Prague);
        assert_eq!(
            policy.calendar.opens,
            NaiveTime::from_hms_opt(8, 30, 0).expect("time")
        );
        assert_eq!(
            policy.calendar.closes,
            NaiveTime::from_hms_opt(16, 30, 0).expect("time")
        );
        assert_eq!(policy.calendar.working_days.len(), 4);
        assert_eq!(policy.calendar.holidays.len(), 2);
        assert_eq!(policy.critical, Reaction::BusinessHours(2));
        assert_eq!(policy.medium, Reaction::WorkingDays(3));
        assert_eq!(policy.low, Reaction::WorkingDays(5));
        // Only some keys: the rest are the defaults.
        let config = RepoConfig::parse("sla:\n  reaction:\n    low: 10d\n").expect("valid");
        let defaults = SlaPolicy::default();
        assert_eq!(
            config.sla.policy(),
            SlaPolicy {
                low: Reaction::WorkingDays(10),
                ..defaults
            }
        );
    }

    #[test]
    fn bad_sla_values_name_their_line_and_key() {
        for (text, line, key, words) in [
            (
                "sla:\n  time_zone: Mars/Olympus\n",
                2,
                "sla.time_zone",
                "not an IANA time zone",
            ),
            (
                "sla:\n  business_hours: \"17:00-09:00\"\n",
                2,
                "sla.business_hours",
                "open before",
            ),
            (
                "sla:\n  business_hours: nine to five\n",
                2,
                "sla.business_hours",
                "09:00-17:00",
            ),
            (
                "sla:\n  working_days: [mon, funday]\n",
                2,
                "sla.working_days[1]",
                "not a weekday",
            ),
            (
                "sla:\n  working_days: []\n",
                2,
                "sla.working_days",
                "at least one working day",
            ),
            (
                "sla:\n  holidays:\n    - 2026-02-30\n",
                3,
                "sla.holidays[0]",
                "not a date",
            ),
            (
                "sla:\n  reaction:\n    critical: 4 hours\n",
                3,
                "sla.reaction.critical",
                "not a reaction time",
            ),
            (
                "sla:\n  reaction:\n    urgent: 1h\n",
                3,
                "sla.reaction.urgent",
                "unknown field",
            ),
        ] {
            let e = error(text);
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(line), Some(key)),
                "{text}: {e}"
            );
            assert!(e.message.contains(words), "{text}: {e}");
        }
    }
}
