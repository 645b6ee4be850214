//! The reaction SLA: how long the team has to react to an incident of each severity,
//! counted in the project's business time (its time zone, business hours, working days and
//! holidays), or in wall-clock time when the threat is active (an emergency does not wait
//! for Monday).

use super::{Incident, Phase, Severity};
use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How long the team has to react to one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "count")]
pub enum Reaction {
    /// This many hours of business time.
    BusinessHours(u32),
    /// By the end of the business day of the n-th working day after the report's day
    /// (1: the next working day).
    WorkingDays(u32),
    /// No deadline.
    None,
}

impl Reaction {
    /// The same allowance in wall-clock time, for an active threat.
    fn wall_clock(self) -> Option<Duration> {
        match self {
            Reaction::BusinessHours(hours) => Some(Duration::hours(i64::from(hours))),
            Reaction::WorkingDays(days) => Some(Duration::days(i64::from(days))),
            Reaction::None => None,
        }
    }
}

/// When the project works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    pub time_zone: Tz,
    /// Start and end of the business day, local time; `start < end`.
    pub opens: NaiveTime,
    pub closes: NaiveTime,
    pub working_days: Vec<Weekday>,
    pub holidays: Vec<NaiveDate>,
}

impl Default for BusinessCalendar {
    fn default() -> Self {
        BusinessCalendar {
            time_zone: Tz::UTC,
            opens: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            closes: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default(),
            working_days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            holidays: Vec::new(),
        }
    }
}

/// The reaction SLA of a project: its calendar and an allowance per severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaPolicy {
    pub calendar: BusinessCalendar,
    pub critical: Reaction,
    pub high: Reaction,
    pub medium: Reaction,
    pub low: Reaction,
    /// The review's target for a fix to be out, in calendar days from the report.
    pub fix_within_days: u32,
    /// The review's target for disclosure, in calendar days from the report.
    pub disclose_within_days: u32,
}

impl Default for SlaPolicy {
    /// The response plans' defaults: critical 4 business hours, high the next working day,
    /// medium two working days, low none; a fix within 30 days and disclosure within 90
    /// (the common coordinated-disclosure window).
    fn default() -> Self {
        SlaPolicy {
            calendar: BusinessCalendar::default(),
            critical: Reaction::BusinessHours(4),
            high: Reaction::WorkingDays(1),
            medium: Reaction::WorkingDays(2),
            low: Reaction::None,
            fix_within_days: 30,
            disclose_within_days: 90,
        }
    }
}

/// A working day never ends: a calendar with no working days at all is refused when the
/// configuration is read, and this bounds the search anyway.
const MAX_DAYS_SEARCHED: i64 = 3 * 366;

impl BusinessCalendar {
    fn is_working_day(&self, day: NaiveDate) -> bool {
        self.working_days.contains(&day.weekday()) && !self.holidays.contains(&day)
    }

    /// The instant a local time happens; in a DST gap, the first instant after it.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let mut probe = local;
        loop {
            if let Some(at) = self.time_zone.from_local_datetime(&probe).earliest() {
                return at.with_timezone(&Utc);
            }
            // Gaps are at most a few hours; step through them a minute at a time.
            probe += Duration::minutes(1);
        }
    }

    /// The business hours of `day`, as instants, or `None` when it is not a working day.
    fn business_hours(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.is_working_day(day).then(|| {
            (
                self.instant(day.and_time(self.opens)),
                self.instant(day.and_time(self.closes)),
            )
        })
    }

    fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    /// The instant `hours` of business time after `from`.
    pub fn add_business_hours(&self, from: DateTime<Utc>, hours: u32) -> Option<DateTime<Utc>> {
        self.add_business_time(from, Duration::hours(i64::from(hours)))
    }

    /// The instant `allowance` of business time after `from`.
    pub fn add_business_time(
        &self,
        from: DateTime<Utc>,
        allowance: Duration,
    ) -> Option<DateTime<Utc>> {
        let mut left = allowance;
        let mut day = self.local_day(from);
        for _ in 0..MAX_DAYS_SEARCHED {
            if let Some((opens, closes)) = self.business_hours(day) {
                let start = opens.max(from);
                if start < closes {
                    let available = closes - start;
                    if left <= available {
                        return Some(start + left);
                    }
                    left -= available;
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// How much business time lies between `from` and `to`.
    pub fn business_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        let mut day = self.local_day(from);
        for _ in 0..MAX_DAYS_SEARCHED {
            if let Some((opens, closes)) = self.business_hours(day) {
                if opens >= to {
                    break;
                }
                let (start, end) = (opens.max(from), closes.min(to));
                if start < end {
                    total += end - start;
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }

    /// The close of business of the `n`-th working day after the day of `from`.
    pub fn close_of_working_day(&self, from: DateTime<Utc>, n: u32) -> Option<DateTime<Utc>> {
        let mut day = self.local_day(from);
        let mut counted = 0;
        for _ in 0..MAX_DAYS_SEARCHED {
            day = day.succ_opt()?;
            if self.is_working_day(day) {
                counted += 1;
                if counted >= n {
                    return self.business_hours(day).map(|(_, closes)| closes);
                }
            }
        }
        None
    }
}

impl SlaPolicy {
    /// The instant `share` of the way from `from` to `due`, counted as the deadline is:
    /// in business time, or in wall-clock time for an active threat (75% of four business
    /// hours from Friday 16:00 is Monday 11:00, not Sunday evening).
    pub fn share_of_allowance(
        &self,
        from: DateTime<Utc>,
        due: DateTime<Utc>,
        active_threat: bool,
        share: f64,
    ) -> DateTime<Utc> {
        let part = |span: Duration| {
            Duration::milliseconds((span.num_milliseconds() as f64 * share).round() as i64)
        };
        if active_threat {
            return from + part(due - from);
        }
        let business = self.calendar.business_time_between(from, due);
        self.calendar
            .add_business_time(from, part(business))
            .unwrap_or(due)
    }

    pub fn reaction(&self, severity: Severity) -> Reaction {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::None | Severity::Unknown => Reaction::None,
        }
    }

    /// When the reaction is due for an incident of `severity` that herald learned of at
    /// `from`; `None` when there is no deadline. An active threat counts wall-clock time.
    pub fn deadline(
        &self,
        from: DateTime<Utc>,
        severity: Severity,
        active_threat: bool,
    ) -> Option<DateTime<Utc>> {
        let reaction = self.reaction(severity);
        if active_threat {
            return reaction.wall_clock().map(|allowance| from + allowance);
        }
        match reaction {
            Reaction::BusinessHours(hours) => self.calendar.add_business_hours(from, hours),
            Reaction::WorkingDays(days) => self.calendar.close_of_working_day(from, days),
            Reaction::None => None,
        }
    }
}

/// Where an incident's reaction clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactionClock {
    /// Its severity has no reaction deadline.
    NoDeadline,
    /// Running: the team must react by `due`.
    Running { due: DateTime<Utc> },
    /// A maintainer acknowledged at `at`; `due` was the deadline then.
    Acknowledged {
        due: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    /// The incident reached remediation without an acknowledgement: the clock stopped.
    InRemediation { due: Option<DateTime<Utc>> },
}

impl Incident {
    /// The reaction clock under `policy`: counted from when herald learned of the report,
    /// for the severity in force (so it moves when the severity changes), in wall-clock
    /// time for an active threat; stopped by an acknowledgement or by remediation.
    pub fn reaction_clock(&self, policy: &SlaPolicy) -> ReactionClock {
        let active = self.active_threat();
        let due = policy.deadline(self.learned_at, self.severity, active);
        match (self.decisions.acknowledged_at, due) {
            (Some(at), due) => ReactionClock::Acknowledged { due, at },
            (None, due) if self.phase >= Phase::Remediation => ReactionClock::InRemediation { due },
            (None, Some(due)) => ReactionClock::Running { due },
            (None, None) => ReactionClock::NoDeadline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Threat;

    fn local(tz: Tz, text: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("time");
        tz.from_local_datetime(&naive)
            .single()
            .expect("an unambiguous local time")
            .with_timezone(&Utc)
    }

    fn policy(tz: Tz, holidays: &[&str]) -> SlaPolicy {
        SlaPolicy {
            calendar: BusinessCalendar {
                time_zone: tz,
                holidays: holidays
                    .iter()
                    .map(|day| day.parse().expect("date"))
                    .collect(),
                ..BusinessCalendar::default()
            },
            ..SlaPolicy::default()
        }
    }

    #[test]
    fn a_friday_afternoon_critical_report_is_due_monday_noon() {
        let tz = chrono_tz::Europe::Berlin;
        // 2026-11-27 is a Friday.
        let due =
            policy(tz, &[]).deadline(local(tz, "2026-11-27 16:00"), Severity::Critical, false);
        assert_eq!(due, Some(local(tz, "2026-11-30 12:00")));
    }

    #[test]
    fn a_holiday_in_between_moves_the_deadline_a_day() {
        let tz = chrono_tz::Europe::Berlin;
        let sla = policy(tz, &["2026-11-30"]);
        let due = sla.deadline(local(tz, "2026-11-27 16:00"), Severity::Critical, false);
        assert_eq!(due, Some(local(tz, "2026-12-01 12:00")));
        // High: by the close of the next working day, skipping the weekend and the holiday.
        let due = sla.deadline(local(tz, "2026-11-27 10:00"), Severity::High, false);
        assert_eq!(due, Some(local(tz, "2026-12-01 17:00")));
        // Medium: two working days.
        let due = sla.deadline(local(tz, "2026-11-27 10:00"), Severity::Medium, false);
        assert_eq!(due, Some(local(tz, "2026-12-02 17:00")));
        assert_eq!(
            sla.deadline(local(tz, "2026-11-27 10:00"), Severity::Low, false),
            None
        );
    }

    #[test]
    fn reports_outside_business_hours_start_counting_at_the_next_opening() {
        let tz = chrono_tz::America::New_York;
        let sla = policy(tz, &[]);
        // Saturday night → Monday 09:00 + 4 h.
        let due = sla.deadline(local(tz, "2026-11-28 23:00"), Severity::Critical, false);
        assert_eq!(due, Some(local(tz, "2026-11-30 13:00")));
        // Tuesday 07:00 → the same day 13:00.
        let due = sla.deadline(local(tz, "2026-12-01 07:00"), Severity::Critical, false);
        assert_eq!(due, Some(local(tz, "2026-12-01 13:00")));
        // Exactly at closing: nothing left that day.
        let due = sla.deadline(local(tz, "2026-12-01 17:00"), Severity::Critical, false);
        assert_eq!(due, Some(local(tz, "2026-12-02 13:00")));
    }

    #[test]
    fn daylight_saving_changes_keep_business_hours_local() {
        // Europe/Prague springs forward on Sunday 2026-03-29 (UTC+1 → UTC+2).
        let prague = chrono_tz::Europe::Prague;
        let sla = policy(prague, &[]);
        let due = sla
            .deadline(local(prague, "2026-03-27 16:00"), Severity::Critical, false)
            .expect("due");
        assert_eq!(due, local(prague, "2026-03-30 12:00"));
        assert_eq!(due.to_rfc3339(), "2026-03-30T10:00:00+00:00", "noon CEST");
        // …and falls back on Sunday 2026-10-25.
        let due = sla
            .deadline(local(prague, "2026-10-23 16:00"), Severity::Critical, false)
            .expect("due");
        assert_eq!(due.to_rfc3339(), "2026-10-26T11:00:00+00:00", "noon CET");

        // America/New_York springs forward on Sunday 2026-03-08 and falls back 2026-11-01.
        let new_york = chrono_tz::America::New_York;
        let sla = policy(new_york, &[]);
        let due = sla
            .deadline(
                local(new_york, "2026-03-06 16:00"),
                Severity::Critical,
                false,
            )
            .expect("due");
        assert_eq!(due.to_rfc3339(), "2026-03-09T16:00:00+00:00", "noon EDT");
        let due = sla
            .deadline(local(new_york, "2026-10-30 15:00"), Severity::High, false)
            .expect("due");
        assert_eq!(due.to_rfc3339(), "2026-11-02T22:00:00+00:00", "17:00 EST");
    }

    #[test]
    fn the_warning_point_is_counted_like_the_deadline() {
        let tz = chrono_tz::Europe::Berlin;
        let sla = policy(tz, &[]);
        let friday = local(tz, "2026-11-27 16:00");
        let due = local(tz, "2026-11-30 12:00");
        assert_eq!(
            sla.share_of_allowance(friday, due, false, 0.75),
            local(tz, "2026-11-30 11:00"),
            "75% of four business hours"
        );
        assert_eq!(
            sla.calendar.business_time_between(friday, due),
            Duration::hours(4)
        );
        // High from Friday 10:00: due Monday 17:00, 15 business hours (7 on Friday); 75% is
        // 11h15 of them: Monday 13:15.
        let due = sla
            .deadline(local(tz, "2026-11-27 10:00"), Severity::High, false)
            .expect("due");
        assert_eq!(
            sla.share_of_allowance(local(tz, "2026-11-27 10:00"), due, false, 0.75),
            local(tz, "2026-11-30 13:15")
        );
        // An active threat: wall clock.
        let due = friday + Duration::hours(4);
        assert_eq!(
            sla.share_of_allowance(friday, due, true, 0.75),
            friday + Duration::hours(3)
        );
    }

    #[test]
    fn an_active_threat_counts_wall_clock_hours() {
        let prague = chrono_tz::Europe::Prague;
        let sla = policy(prague, &[]);
        let friday = local(prague, "2026-11-27 16:00");
        assert_eq!(
            sla.deadline(friday, Severity::Critical, true),
            Some(friday + Duration::hours(4))
        );
        assert_eq!(
            sla.deadline(friday, Severity::High, true),
            Some(friday + Duration::days(1))
        );
        // Across the spring-forward night: four real hours, not four on the wall clock.
        let night = local(prague, "2026-03-29 00:30");
        let due = sla.deadline(night, Severity::Critical, true).expect("due");
        assert_eq!(due - night, Duration::hours(4));
        assert_eq!(
            due.with_timezone(&prague).format("%H:%M").to_string(),
            "05:30"
        );
        assert_eq!(sla.deadline(friday, Severity::Low, true), None);
    }

    #[test]
    fn an_opening_inside_a_dst_gap_starts_after_the_gap() {
        // A (strange) business day opening at 02:30 on the night Prague skips 02:00–03:00.
        let prague = chrono_tz::Europe::Prague;
        let calendar = BusinessCalendar {
            time_zone: prague,
            opens: NaiveTime::from_hms_opt(2, 30, 0).expect("time"),
            closes: NaiveTime::from_hms_opt(4, 0, 0).expect("time"),
            working_days: vec![Weekday::Sun],
            holidays: Vec::new(),
        };
        let from = local(prague, "2026-03-29 00:00");
        let due = calendar.add_business_hours(from, 1).expect("due");
        assert_eq!(
            due.with_timezone(&prague).format("%H:%M").to_string(),
            "04:00"
        );
    }

    /// A critical incident herald learned of at `at`.
    fn incident_learned_at(at: DateTime<Utc>) -> Incident {
        let incident = crate::incident::testing::reported("critical", at);
        assert_eq!(incident.severity, Severity::Critical);
        incident
    }

    #[test]
    fn the_clock_follows_severity_and_threat_and_stops_on_ack_or_remediation() {
        let tz = chrono_tz::Europe::Berlin;
        let sla = policy(tz, &[]);
        let friday = local(tz, "2026-11-27 16:00");
        let mut incident = incident_learned_at(friday);
        assert_eq!(
            incident.reaction_clock(&sla),
            ReactionClock::Running {
                due: local(tz, "2026-11-30 12:00")
            }
        );
        incident.severity = Severity::Medium;
        assert_eq!(
            incident.reaction_clock(&sla),
            ReactionClock::Running {
                due: local(tz, "2026-12-01 17:00")
            },
            "a new severity moves the deadline"
        );
        incident.decisions.threat = Some(Threat::Active);
        assert_eq!(
            incident.reaction_clock(&sla),
            ReactionClock::Running {
                due: friday + Duration::days(2)
            },
            "an active threat counts wall-clock time"
        );
        incident.severity = Severity::Low;
        assert_eq!(incident.reaction_clock(&sla), ReactionClock::NoDeadline);
        incident.severity = Severity::Critical;
        incident.phase = Phase::Remediation;
        assert!(matches!(
            incident.reaction_clock(&sla),
            ReactionClock::InRemediation { .. }
        ));
        let acked = friday + Duration::hours(1);
        incident.decisions.acknowledged_at = Some(acked);
        assert_eq!(
            incident.reaction_clock(&sla),
            ReactionClock::Acknowledged {
                due: Some(friday + Duration::hours(4)),
                at: acked
            }
        );
    }
}
