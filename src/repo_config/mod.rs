//! The per-repository configuration file `.github/herald.yml`: where tracking issues go,
//! label names, the changelog, and the mailing lists that get the announcement.
//!
//! Parsing is strict (unknown keys are errors) because a typo silently ignored could send
//! an embargoed report somewhere the maintainers did not intend. Every error names the line
//! and the dotted key, since maintainers read it on the tracking issue. Values are checked
//! inside their own deserializer, so a rejected value carries its own line, not its
//! section's. Reading the file from GitHub is someone else's job: this module is pure.

use crate::incident::{BusinessCalendar, Reaction, RepoName, Severity, SlaPolicy};
use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

pub const REPO_CONFIG_PATH: &str = ".github/herald.yml";

/// The whole file. Every section is optional; later sections (`sla:`, `escalation:`,
/// `channels:`) are added as further structs alongside these.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping of sections (`tracking`, `labels`, `changelog`, `advisory_issue`, \
                 `blog`, `mailing_lists`, `sla`, `escalation`, `notify`, `channels`, `osv`, \
                 `prenotify`, `disclosure`, `locked`)"
)]
pub struct RepoConfig {
    pub tracking: TrackingConfig,
    pub labels: LabelConfig,
    pub changelog: ChangelogConfig,
    pub advisory_issue: AdvisoryIssueConfig,
    /// Where the blog post of a critical incident is offered; `None`: nowhere.
    pub blog: Option<BlogConfig>,
    pub mailing_lists: Vec<MailingList>,
    /// The reaction SLA: business calendar and allowance per severity.
    pub sla: SlaConfig,
    /// Who hears of an incident whose reaction is running late, per severity.
    pub escalation: EscalationConfig,
    /// The security leads (the response plans' "Trust and Safety" and engineering manager):
    /// `@login`, `@org/team` or an email address, told when someone takes a temporary action
    /// under an active threat.
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub notify: Vec<EscalationTarget>,
    /// Where disclosed advisories are announced besides GitHub and the mailing lists.
    pub channels: ChannelsConfig,
    /// The OSV record committed with the CHANGELOG entry on disclosure.
    pub osv: OsvConfig,
    /// Downstreams (distributions, vendors) told before disclosure, under embargo.
    pub prenotify: PrenotifyConfig,
    /// What publishing an advisory asks beyond GitHub's roles.
    pub disclosure: DisclosureConfig,
    /// In an organisation's `.github` repository: the sections its repositories' own files
    /// may not change (the organisation's apply to them). Elsewhere it has no effect.
    #[serde(deserialize_with = "many::<SectionName, _>")]
    pub locked: Vec<String>,
}

/// Takes the organisation's value of one section; whether the repository's differed.
type TakeSection = fn(&mut RepoConfig, &RepoConfig) -> bool;

/// The sections of the file, as `locked:` names them, each with how it is taken from the
/// organisation's policy.
const SECTIONS: [(&str, TakeSection); 13] = [
    ("tracking", |own, policy| {
        take(&mut own.tracking, &policy.tracking)
    }),
    ("labels", |own, policy| {
        take(&mut own.labels, &policy.labels)
    }),
    ("changelog", |own, policy| {
        take(&mut own.changelog, &policy.changelog)
    }),
    ("advisory_issue", |own, policy| {
        take(&mut own.advisory_issue, &policy.advisory_issue)
    }),
    ("blog", |own, policy| take(&mut own.blog, &policy.blog)),
    ("mailing_lists", |own, policy| {
        take(&mut own.mailing_lists, &policy.mailing_lists)
    }),
    ("sla", |own, policy| take(&mut own.sla, &policy.sla)),
    ("escalation", |own, policy| {
        take(&mut own.escalation, &policy.escalation)
    }),
    ("notify", |own, policy| {
        take(&mut own.notify, &policy.notify)
    }),
    ("channels", |own, policy| {
        take(&mut own.channels, &policy.channels)
    }),
    ("osv", |own, policy| take(&mut own.osv, &policy.osv)),
    ("prenotify", |own, policy| {
        take(&mut own.prenotify, &policy.prenotify)
    }),
    ("disclosure", |own, policy| {
        take(&mut own.disclosure, &policy.disclosure)
    }),
];

/// `own` becomes `policy`; whether it differed.
fn take<T: Clone + PartialEq>(own: &mut T, policy: &T) -> bool {
    let differs = own != policy;
    own.clone_from(policy);
    differs
}

/// The `disclosure:` section: an organisation may ask more than GitHub does, never less.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the key `second_person`"
)]
pub struct DisclosureConfig {
    /// The admin or security manager who approved disclosure may not also publish it.
    pub second_person: bool,
}

impl RepoConfig {
    /// A repository's own configuration under its organisation's `policy`: each section the
    /// policy locks is the policy's. Returns the locked sections the repository's file set
    /// otherwise, which are overridden.
    pub fn under(mut self, policy: &RepoConfig) -> (RepoConfig, Vec<&'static str>) {
        let mut overridden = Vec::new();
        for (section, take_section) in SECTIONS {
            if policy.locked.iter().any(|locked| locked == section)
                && take_section(&mut self, policy)
            {
                overridden.push(section);
            }
        }
        self.locked.clone_from(&policy.locked);
        (self, overridden)
    }
}

/// The `osv:` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the keys `enabled`, `path`"
)]
pub struct OsvConfig {
    pub enabled: bool,
    /// The folder the record goes to, as `<path>/<GHSA id>.json`.
    #[serde(deserialize_with = "one::<FilePath, _>")]
    pub path: String,
}

impl Default for OsvConfig {
    fn default() -> Self {
        OsvConfig {
            enabled: true,
            path: "advisories".into(),
        }
    }
}

impl OsvConfig {
    /// Where the record of `ghsa_id` goes in the repository.
    pub fn file(&self, ghsa_id: &str) -> String {
        format!("{}/{}.json", self.path, crate::markers::file_name(ghsa_id))
    }
}

/// The `prenotify:` section: who hears of an incident before disclosure, and the embargo
/// rules they accept (the Openwall `distros` list: at most 14 days, under 7 preferred).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    try_from = "PrenotifyFile",
    expecting = "a mapping with the keys `recipients`, `days_before`, `max_days`, `contact`"
)]
pub struct PrenotifyConfig {
    pub recipients: Vec<PrenotifyRecipient>,
    /// How many days before the embargo ends the notice goes out.
    pub days_before: u32,
    /// The furthest an embargo may end after the notice goes out, in days.
    pub max_days: u32,
    /// Where recipients write back (default: the address herald sends from).
    pub contact: Option<String>,
}

impl Default for PrenotifyConfig {
    fn default() -> Self {
        PrenotifyConfig {
            recipients: Vec::new(),
            days_before: 7,
            max_days: 14,
            contact: None,
        }
    }
}

/// `prenotify:` as written, before its values are checked against each other.
#[derive(Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the keys `recipients`, `days_before`, `max_days`, `contact`"
)]
struct PrenotifyFile {
    recipients: Vec<PrenotifyRecipient>,
    days_before: u32,
    max_days: u32,
    #[serde(deserialize_with = "opt::<Address, _>")]
    contact: Option<String>,
}

impl Default for PrenotifyFile {
    fn default() -> Self {
        let defaults = PrenotifyConfig::default();
        PrenotifyFile {
            recipients: Vec::new(),
            days_before: defaults.days_before,
            max_days: defaults.max_days,
            contact: None,
        }
    }
}

impl PrenotifyConfig {
    /// The rules the domain checks an approval against, with the `recipients` as read
    /// (their keys, or why one cannot be used).
    pub fn terms(
        &self,
        recipients: Vec<crate::incident::Downstream>,
        problem: Option<String>,
    ) -> crate::incident::PrenotifyTerms {
        crate::incident::PrenotifyTerms {
            days_before: self.days_before,
            max_days: self.max_days,
            recipients,
            problem,
            contact: self.contact.clone(),
        }
    }
}

impl TryFrom<PrenotifyFile> for PrenotifyConfig {
    type Error = String;
    fn try_from(file: PrenotifyFile) -> Result<Self, String> {
        if let Some(both) = file
            .recipients
            .iter()
            .find(|recipient| recipient.key.is_some() && recipient.key_file.is_some())
        {
            return Err(format!(
                "recipient {} has both `key_file` and `key`; give one",
                both.address
            ));
        }
        if file.days_before == 0 || file.days_before > file.max_days {
            return Err(format!(
                "`days_before` ({}) must be at least 1 and at most `max_days` ({})",
                file.days_before, file.max_days
            ));
        }
        Ok(PrenotifyConfig {
            recipients: file.recipients,
            days_before: file.days_before,
            max_days: file.max_days,
            contact: file.contact,
        })
    }
}

/// One downstream told before disclosure. With a public key (a file in the repository, or
/// the armored key inline) the notice is encrypted to it; without, it is signed cleartext.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `address` and optionally `name`, `key_file` or `key`, \
                 `format`, `subject_tag`"
)]
pub struct PrenotifyRecipient {
    #[serde(deserialize_with = "one::<Address, _>")]
    pub address: String,
    #[serde(default, deserialize_with = "opt::<DisplayName, _>")]
    pub name: Option<String>,
    /// The recipient's OpenPGP public key, a file in the repository.
    #[serde(default, deserialize_with = "opt::<FilePath, _>")]
    pub key_file: Option<String>,
    /// The recipient's OpenPGP public key, ASCII-armored.
    #[serde(default, deserialize_with = "opt::<ArmoredKey, _>")]
    pub key: Option<String>,
    /// Put before the subject, for lists that sort or require a tag (the Openwall
    /// `distros` list takes `[vs]`).
    #[serde(default, deserialize_with = "opt::<SubjectTag, _>")]
    pub subject_tag: Option<String>,
    #[serde(default)]
    pub format: OpenPgpFormat,
}

/// How a pre-notification carries its OpenPGP signature, or its encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpenPgpFormat {
    /// In the text: a cleartext signature, or an armored `-----BEGIN PGP MESSAGE-----`.
    #[default]
    Inline,
    /// RFC 3156: `multipart/signed`, or `multipart/encrypted`.
    PgpMime,
}

impl From<OpenPgpFormat> for SigningMode {
    fn from(format: OpenPgpFormat) -> SigningMode {
        match format {
            OpenPgpFormat::Inline => SigningMode::Cleartext,
            OpenPgpFormat::PgpMime => SigningMode::PgpMime,
        }
    }
}

/// The `channels:` section: each public channel is off unless configured here.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the keys `discourse`, `discussions`, `github_wiki`, `mediawiki`, \
                 `chat`"
)]
pub struct ChannelsConfig {
    /// Private notices to the team's chat (the webhook URL is herald's
    /// `HERALD_CHAT_WEBHOOK_URL`).
    pub chat: Option<ChatConfig>,
    pub discourse: Option<DiscourseConfig>,
    pub discussions: Option<DiscussionsConfig>,
    /// Publish to the advisory repository's GitHub wiki.
    pub github_wiki: bool,
    pub mediawiki: Option<MediaWikiConfig>,
}

/// The team's chat: which webhook format its URL takes, and whether notices may carry the
/// advisory's summary (by default they carry only the GHSA id, severity, phase and the
/// private tracking issue's link).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `format` and optionally `include_summary`"
)]
pub struct ChatConfig {
    pub format: ChatFormat,
    #[serde(default)]
    pub include_summary: bool,
}

/// The incoming-webhook payloads herald can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatFormat {
    /// Slack's incoming webhooks: `{"text": …}` in Slack's mrkdwn.
    Slack,
    /// A Matrix room through matrix-hookshot's inbound webhooks: `{"text": …, "html": …}`.
    Matrix,
    /// Discord's webhooks: `{"content": …, "allowed_mentions": {"parse": []}}`.
    Discord,
}

/// A MediaWiki: which of the operator's (`[mediawiki.<name>]` in herald.toml, with its
/// address, bot user and password; optional when there is one), and the prefix of advisory
/// page titles.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with optionally `server` and `page_prefix`"
)]
pub struct MediaWikiConfig {
    #[serde(default, deserialize_with = "opt::<InstanceName, _>")]
    pub server: Option<String>,
    #[serde(default, rename = "api_url", deserialize_with = "operators_setting")]
    _api_url: (),
    #[serde(default, rename = "username", deserialize_with = "operators_setting")]
    _username: (),
    #[serde(
        default = "default_page_prefix",
        deserialize_with = "one::<DisplayName, _>"
    )]
    pub page_prefix: String,
}

fn default_page_prefix() -> String {
    "Security advisories/".to_owned()
}

/// GitHub Discussions: a discussion in the category named `category` of `repository`
/// (default: the advisory's repository).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `category` and optionally `repository`"
)]
pub struct DiscussionsConfig {
    #[serde(default, deserialize_with = "typed_opt::<RepoRule, _>")]
    pub repository: Option<RepoName>,
    #[serde(deserialize_with = "one::<DisplayName, _>")]
    pub category: String,
}

/// A Discourse forum: which of the operator's (`[discourse.<name>]` in herald.toml, with
/// its address, user and API key; optional when there is one), and the category the topic
/// goes to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `category_id` and optionally `server`"
)]
pub struct DiscourseConfig {
    #[serde(default, deserialize_with = "opt::<InstanceName, _>")]
    pub server: Option<String>,
    pub category_id: u64,
    #[serde(default, rename = "url", deserialize_with = "operators_setting")]
    _url: (),
    #[serde(
        default,
        rename = "api_username",
        deserialize_with = "operators_setting"
    )]
    _api_username: (),
}

/// A key that herald's operator sets, beside the secret that goes with it: a repository's
/// file naming an address would send the server's secret to whoever can push to it.
fn operators_setting<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    IgnoredAny::deserialize(d)?;
    Err(de::Error::custom(
        "set by herald's operator in herald.toml, with the secret that goes there; choose \
         one of the operator's by name with `server:`",
    ))
}

/// The `escalation:` section: per severity, GitHub people or teams (`@login`,
/// `@org/team`), mentioned on the tracking issue, and email addresses, mailed (signed) when
/// 75% of the reaction time has passed, at the deadline, and at once for an active threat.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `critical`, `high`, `medium`, `low`"
)]
pub struct EscalationConfig {
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub critical: Vec<EscalationTarget>,
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub high: Vec<EscalationTarget>,
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub medium: Vec<EscalationTarget>,
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub low: Vec<EscalationTarget>,
}

impl EscalationConfig {
    pub fn for_severity(&self, severity: Severity) -> &[EscalationTarget] {
        match severity {
            Severity::Critical => &self.critical,
            Severity::High => &self.high,
            Severity::Medium => &self.medium,
            Severity::Low => &self.low,
            Severity::None | Severity::Unknown => &[],
        }
    }
}

/// Someone to escalate to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscalationTarget {
    /// A GitHub login or `org/team`, without the `@`.
    GitHub(String),
    Email(String),
}

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

/// The website repository that gets a critical incident's blog post as a pull request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `repository`, `path` and optionally `base_branch`"
)]
pub struct BlogConfig {
    #[serde(deserialize_with = "typed::<RepoRule, _>")]
    pub repository: RepoName,
    /// The folder posts go to, relative to the repository root (e.g. `content/blog`).
    #[serde(deserialize_with = "one::<FilePath, _>")]
    pub path: String,
    /// `None` means the website repository's default branch.
    #[serde(default, deserialize_with = "opt::<Branch, _>")]
    pub base_branch: Option<String>,
}

/// The public advisory issue opened on disclosure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the key `enabled`"
)]
pub struct AdvisoryIssueConfig {
    pub enabled: bool,
}

impl Default for AdvisoryIssueConfig {
    fn default() -> Self {
        AdvisoryIssueConfig { enabled: true }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `repository`, `assignees`"
)]
pub struct TrackingConfig {
    /// The private repository tracking issues go to; `None` means the advisory's own.
    #[serde(default, deserialize_with = "typed_opt::<RepoRule, _>")]
    pub repository: Option<RepoName>,
    /// GitHub logins assigned to every new tracking issue.
    #[serde(deserialize_with = "many::<Login, _>")]
    pub assignees: Vec<String>,
}

/// Label names herald applies and searches for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `security`, `incident`, `severity_prefix`, \
                 `threat_prefix`, `disclosure_approved`, `prenotify_approved`"
)]
pub struct LabelConfig {
    #[serde(deserialize_with = "one::<Label, _>")]
    pub security: String,
    #[serde(deserialize_with = "one::<Label, _>")]
    pub incident: String,
    /// Followed by the severity, e.g. `severity:critical`.
    #[serde(deserialize_with = "one::<Label, _>")]
    pub severity_prefix: String,
    #[serde(deserialize_with = "one::<Label, _>")]
    pub threat_prefix: String,
    /// The label an admin applies to approve disclosure. Fixed: whoever could rename it
    /// would decide what another label an admin adds approves.
    #[serde(deserialize_with = "one::<DisclosureApproved, _>")]
    pub disclosure_approved: String,
    /// The label an admin applies to approve telling downstreams under embargo (fixed too).
    #[serde(deserialize_with = "one::<PrenotifyApproved, _>")]
    pub prenotify_approved: String,
}

const DISCLOSURE_APPROVED: &str = "disclosure:approved";
const PRENOTIFY_APPROVED: &str = "prenotify:approved";

/// An approval label, which a repository may name but not rename.
fn approval_label(value: &str, fixed: &str) -> Result<(), String> {
    if value == fixed {
        Ok(())
    } else {
        Err(format!(
            "the approval label is {fixed:?} and cannot be renamed: whoever renames it decides \
             what a label an admin adds approves"
        ))
    }
}

struct DisclosureApproved;
impl Rule for DisclosureApproved {
    const EXPECTED: &'static str = "\"disclosure:approved\"";
    fn check(value: &str) -> Result<(), String> {
        approval_label(value, DISCLOSURE_APPROVED)
    }
}

struct PrenotifyApproved;
impl Rule for PrenotifyApproved {
    const EXPECTED: &'static str = "\"prenotify:approved\"";
    fn check(value: &str) -> Result<(), String> {
        approval_label(value, PRENOTIFY_APPROVED)
    }
}

impl LabelConfig {
    /// The approval labels mean nothing else: no prefix or name a repository sets may take
    /// them for a severity, a threat or a breach.
    fn approvals_apart(&self) -> Result<(), String> {
        for (key, approval) in [
            ("disclosure_approved", &self.disclosure_approved),
            ("prenotify_approved", &self.prenotify_approved),
        ] {
            let other_meaning = approval.starts_with(&self.severity_prefix)
                || approval.starts_with(&self.threat_prefix)
                || *approval == self.incident
                || *approval == self.security;
            if other_meaning {
                return Err(format!(
                    "`{key}` ({approval:?}) is also a severity, threat, incident or security \
                     label: an approval label must mean nothing else"
                ));
            }
        }
        Ok(())
    }
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            security: "security".into(),
            incident: "incident".into(),
            severity_prefix: "severity:".into(),
            threat_prefix: "threat:".into(),
            disclosure_approved: DISCLOSURE_APPROVED.into(),
            prenotify_approved: PRENOTIFY_APPROVED.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `path`, `base_branch`, `heading`, `backport_branches`"
)]
pub struct ChangelogConfig {
    /// Relative to the repository root.
    #[serde(deserialize_with = "one::<FilePath, _>")]
    pub path: String,
    /// `None` means the repository's default branch.
    #[serde(deserialize_with = "opt::<Branch, _>")]
    pub base_branch: Option<String>,
    /// The line under which the security entry is inserted.
    #[serde(deserialize_with = "one::<Heading, _>")]
    pub heading: String,
    /// Release branches that each get a backport pull request.
    #[serde(deserialize_with = "many::<Branch, _>")]
    pub backport_branches: Vec<String>,
}

impl Default for ChangelogConfig {
    fn default() -> Self {
        ChangelogConfig {
            path: "CHANGELOG.md".into(),
            base_branch: None,
            heading: "## [Unreleased]".into(),
            backport_branches: Vec::new(),
        }
    }
}

/// A list that gets the signed announcement. `address` and `name` end up in mail headers,
/// so anything that could inject a header (line breaks, extra recipients) is refused here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `address` and optionally `name`, `signing`, `attach_cleartext`"
)]
pub struct MailingList {
    #[serde(deserialize_with = "one::<Address, _>")]
    pub address: String,
    /// Display name in the `To:` header.
    #[serde(default, deserialize_with = "opt::<DisplayName, _>")]
    pub name: Option<String>,
    #[serde(default)]
    pub signing: SigningMode,
    /// Also attach the cleartext-signed announcement as a file (some list archives break
    /// inline signatures).
    #[serde(default)]
    pub attach_cleartext: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SigningMode {
    /// An inline `-----BEGIN PGP SIGNED MESSAGE-----` body: readable by every mail archive.
    #[default]
    Cleartext,
    /// RFC 3156 `multipart/signed`.
    PgpMime,
}

/// A problem with the file, as maintainers will read it on the tracking issue.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct RepoConfigError {
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    /// Dotted path such as `labels.severity_prefix` or `mailing_lists[0].address`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for RepoConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(REPO_CONFIG_PATH)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl RepoConfig {
    /// Parses the text of `.github/herald.yml`. An empty file, or one with only comments,
    /// is the default config.
    pub fn parse(text: &str) -> Result<RepoConfig, RepoConfigError> {
        // YAML syntax first, so a syntax mistake is reported as such rather than as whatever
        // the document read up to the mistake happens to mean.
        let mut documents = 0;
        for document in yaml_serde::Deserializer::from_str(text).take(2) {
            IgnoredAny::deserialize(document).map_err(|error| {
                let mut error = RepoConfigError::from_yaml(text, None, &error);
                error.message.insert_str(0, "invalid YAML: ");
                error
            })?;
            documents += 1;
        }
        if documents > 1 {
            return Err(RepoConfigError {
                line: second_document_line(text),
                column: None,
                key: None,
                message: "more than one YAML document (separated by `---`); \
                          herald reads a single document"
                    .into(),
            });
        }
        // `null`, like an empty document, means "no settings".
        let config: Option<RepoConfig> = serde_path_to_error::deserialize(
            yaml_serde::Deserializer::from_str(text),
        )
        .map_err(|error| {
            let key = Some(error.path().to_string()).filter(|path| path != ".");
            RepoConfigError::from_yaml(text, key, error.inner())
        })?;
        let config = config.unwrap_or_default();
        config
            .labels
            .approvals_apart()
            .map_err(|message| RepoConfigError {
                line: None,
                column: None,
                key: Some("labels".to_owned()),
                message,
            })?;
        Ok(config)
    }
}

/// Like [`RepoConfig::parse`], but on error returns the defaults plus the error: the caller
/// proceeds with defaults where safe and reports the error on the tracking issue, so an
/// incident is never dropped because of config.
pub fn parse_lenient(text: &str) -> (RepoConfig, Option<RepoConfigError>) {
    match RepoConfig::parse(text) {
        Ok(config) => (config, None),
        Err(error) => (RepoConfig::default(), Some(error)),
    }
}

impl RepoConfigError {
    fn from_yaml(text: &str, key: Option<String>, error: &yaml_serde::Error) -> Self {
        let location = error.location().map(|l| (l.line(), l.column()));
        let at_tab = location.is_some_and(|(line, column)| {
            let line = text.lines().nth(line.saturating_sub(1));
            line.and_then(|l| l.chars().nth(column.saturating_sub(1))) == Some('\t')
        });
        let message = if at_tab {
            "a tab character: YAML must be indented with spaces, not tabs".to_owned()
        } else {
            // yaml_serde writes "<its path>: <message> at line L column C"; the line and key
            // are reported on their own.
            let mut message = error.to_string();
            if let Some((line, column)) = location {
                message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
            }
            strip_path_prefix(&message, key.as_deref().unwrap_or("")).to_owned()
        };
        RepoConfigError {
            line: location.map(|(line, _)| line),
            column: location.map(|(_, column)| column),
            key,
            message,
        }
    }
}

/// yaml_serde prefixes its message with the path it knew, which is `path` or a parent of it
/// (for an unknown key, the mapping holding it).
fn strip_path_prefix<'m>(message: &'m str, path: &str) -> &'m str {
    let ends = path
        .char_indices()
        .filter(|&(_, c)| c == '.' || c == '[')
        .map(|(i, _)| i);
    ends.chain([path.len()])
        .rev()
        .find_map(|end| message.strip_prefix(&path[..end])?.strip_prefix(": "))
        .unwrap_or(message)
}

/// The line of the `---` that starts a second document, if there is one to point at.
fn second_document_line(text: &str) -> Option<usize> {
    let mut seen_content = false;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with("---") && seen_content {
            return Some(index + 1);
        }
        let trimmed = line.trim_start_matches('-').trim();
        seen_content |= !trimmed.is_empty() && !trimmed.starts_with('#') && !line.starts_with('%');
    }
    None
}

/// A string value that parses into a typed one; parsed inside the value's own deserializer
/// so a rejection carries that value's line and key.
trait ParseRule {
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

fn typed<'de, R: ParseRule, D: Deserializer<'de>>(d: D) -> Result<R::Output, D::Error> {
    Ok(Typed::<R>::deserialize(d)?.0)
}

fn typed_opt<'de, R: ParseRule, D: Deserializer<'de>>(d: D) -> Result<Option<R::Output>, D::Error> {
    Ok(Option::<Typed<R>>::deserialize(d)?.map(|typed| typed.0))
}

fn typed_many<'de, R: ParseRule, D: Deserializer<'de>>(d: D) -> Result<Vec<R::Output>, D::Error> {
    Ok(Vec::<Typed<R>>::deserialize(d)?
        .into_iter()
        .map(|typed| typed.0)
        .collect())
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

struct EscalationRule;
impl ParseRule for EscalationRule {
    type Output = EscalationTarget;
    const EXPECTED: &'static str = "`@login`, `@org/team` or an email address";
    fn parse(value: &str) -> Result<EscalationTarget, String> {
        let Some(handle) = value.strip_prefix('@') else {
            return Address::check(value)
                .map(|()| EscalationTarget::Email(value.to_owned()))
                .map_err(|error| format!("{error} (GitHub people and teams start with `@`)"));
        };
        let (owner, team) = match handle.split_once('/') {
            Some((owner, team)) => (owner, Some(team)),
            None => (handle, None),
        };
        if let Some(why) = login_problem(owner) {
            return Err(format!(
                "{value:?} is not `@login` or `@org/team`: the name {why}"
            ));
        }
        if team.is_some_and(|team| {
            team.is_empty()
                || !team
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            return Err(format!(
                "{value:?} is not `@org/team`: a team slug has letters, digits, `-` and `_`"
            ));
        }
        Ok(EscalationTarget::GitHub(handle.to_owned()))
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

/// What a string value must satisfy. It is checked inside the value's own deserializer so a
/// rejection carries that value's line and key.
trait Rule {
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

fn one<'de, R: Rule, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Valid::<R>::deserialize(d)?.0)
}

fn opt<'de, R: Rule, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Valid<R>>::deserialize(d)?.map(|v| v.0))
}

fn many<'de, R: Rule, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Valid<R>>::deserialize(d)?
        .into_iter()
        .map(|v| v.0)
        .collect())
}

/// GitHub's rules for user and organization names.
fn login_problem(login: &str) -> Option<&'static str> {
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

fn single_line(value: &str, what: &str) -> Result<(), String> {
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

struct RepoRule;
impl ParseRule for RepoRule {
    type Output = RepoName;
    const EXPECTED: &'static str = "a repository `owner/name`";
    fn parse(value: &str) -> Result<RepoName, String> {
        RepoName::parse(value).map_err(|error| error.to_string())
    }
}

struct Login;
impl Rule for Login {
    const EXPECTED: &'static str = "a GitHub login";
    fn check(value: &str) -> Result<(), String> {
        login_problem(value).map_or(Ok(()), |why| {
            Err(format!("{value:?} is not a GitHub login: it {why}"))
        })
    }
}

/// GitHub caps label names at 50 characters, and label lists in search queries are
/// comma-separated, so a comma would split the label in two.
struct Label;
impl Rule for Label {
    const EXPECTED: &'static str = "a label name";
    fn check(value: &str) -> Result<(), String> {
        single_line(value, "a label name")?;
        if value.contains(',') {
            Err(format!("{value:?}: a label name must not contain `,`"))
        } else if value.chars().count() > 50 {
            Err(format!(
                "{value:?}: a label name must be at most 50 characters"
            ))
        } else {
            Ok(())
        }
    }
}

/// A path inside the repository; never one that could leave it.
struct FilePath;
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

/// An ASCII-armored OpenPGP public key; that it is a usable key is checked when it is used.
struct ArmoredKey;
impl Rule for ArmoredKey {
    const EXPECTED: &'static str = "an ASCII-armored OpenPGP public key";
    fn check(value: &str) -> Result<(), String> {
        if value
            .trim_start()
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        {
            Ok(())
        } else {
            Err("the key must be ASCII-armored, starting with \
                 `-----BEGIN PGP PUBLIC KEY BLOCK-----`"
                .into())
        }
    }
}

/// A subset of `git check-ref-format`, enough to keep branch names plain in API calls.
struct Branch;
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

/// Matched against a whole line of the changelog.
struct Heading;
impl Rule for Heading {
    const EXPECTED: &'static str = "a changelog heading line";
    fn check(value: &str) -> Result<(), String> {
        single_line(value, "the heading")
    }
}

/// One bare `local@domain`: no display name, no list, nothing that could add a header.
struct Address;
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

/// The name of an instance herald's operator configured (`[discourse.<name>]`).
struct InstanceName;
impl Rule for InstanceName {
    const EXPECTED: &'static str = "the name of a forum or wiki herald's operator configured";
    fn check(value: &str) -> Result<(), String> {
        if is_instance_name(value) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not a name herald's operator could have given: 1 to 32 of a-z, 0-9, \
                 `-` and `_`",
                value.chars().take(40).collect::<String>()
            ))
        }
    }
}

/// A section of the file, as `locked:` names it.
struct SectionName;
impl Rule for SectionName {
    const EXPECTED: &'static str = "the name of a section of this file";
    fn check(value: &str) -> Result<(), String> {
        if SECTIONS.iter().any(|(section, _)| *section == value) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not a section: lock any of {}",
                value.chars().take(40).collect::<String>(),
                SECTIONS.map(|(section, _)| section).join(", ")
            ))
        }
    }
}

struct DisplayName;
impl Rule for DisplayName {
    const EXPECTED: &'static str = "a display name";
    fn check(value: &str) -> Result<(), String> {
        single_line(value, "the display name")
    }
}

struct SubjectTag;
impl Rule for SubjectTag {
    const EXPECTED: &'static str = "a subject tag such as `[vs]`";
    fn check(value: &str) -> Result<(), String> {
        single_line(value, "the subject tag")?;
        // A tag, not a subject: the rest of the line is herald's.
        if value.chars().count() > SUBJECT_TAG_MAX_CHARS {
            Err(format!(
                "{value:?}: the subject tag must be at most {SUBJECT_TAG_MAX_CHARS} characters"
            ))
        } else {
            Ok(())
        }
    }
}

const SUBJECT_TAG_MAX_CHARS: usize = 32;

/// A forum's or a wiki's instance name: what a repository writes (`channels.discourse.server`),
/// and part of the environment variable that holds its secret in herald's settings.
pub fn is_instance_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> RepoConfigError {
        RepoConfig::parse(text).expect_err("should be rejected")
    }

    #[test]
    fn full_example_parses() {
        let text = r#"
tracking:
  repository: acme/security-private
  assignees: [alice, bob-2]
labels:
  security: sec
  incident: incident
  severity_prefix: "sev:"
  threat_prefix: "threat:"
  disclosure_approved: "disclosure:approved"
changelog:
  path: docs/CHANGES.md
  base_branch: main
  heading: '## Unreleased'
  backport_branches: [release/1.x, release-2.0]
notify: ["@acme/trust-and-safety", "@em-lead", security-leads@acme.example]
advisory_issue:
  enabled: false
blog:
  repository: acme/website
  path: content/blog
mailing_lists:
  - address: oss-security@lists.example.org
    name: "Example announce"
    signing: pgp-mime
    attach_cleartext: true
  - address: announce@example.org
osv:
  path: security/osv
prenotify:
  days_before: 5
  max_days: 10
  contact: security@acme.example
  recipients:
    - address: distros@vs.openwall.org
      name: distros
      key_file: .github/keys/distros.asc
      subject_tag: "[vs]"
    - address: packager@example.com
      format: pgp-mime
"#;
        let config = RepoConfig::parse(text).expect("valid");
        let expected = RepoConfig {
            tracking: TrackingConfig {
                repository: Some(RepoName::parse("acme/security-private").expect("name")),
                assignees: vec!["alice".into(), "bob-2".into()],
            },
            labels: LabelConfig {
                security: "sec".into(),
                severity_prefix: "sev:".into(),
                ..LabelConfig::default()
            },
            changelog: ChangelogConfig {
                path: "docs/CHANGES.md".into(),
                base_branch: Some("main".into()),
                heading: "## Unreleased".into(),
                backport_branches: vec!["release/1.x".into(), "release-2.0".into()],
            },
            advisory_issue: AdvisoryIssueConfig { enabled: false },
            blog: Some(BlogConfig {
                repository: RepoName::parse("acme/website").expect("name"),
                path: "content/blog".into(),
                base_branch: None,
            }),
            mailing_lists: vec![
                MailingList {
                    address: "oss-security@lists.example.org".into(),
                    name: Some("Example announce".into()),
                    signing: SigningMode::PgpMime,
                    attach_cleartext: true,
                },
                MailingList {
                    address: "announce@example.org".into(),
                    name: None,
                    signing: SigningMode::Cleartext,
                    attach_cleartext: false,
                },
            ],
            sla: SlaConfig::default(),
            escalation: EscalationConfig::default(),
            notify: vec![
                EscalationTarget::GitHub("acme/trust-and-safety".into()),
                EscalationTarget::GitHub("em-lead".into()),
                EscalationTarget::Email("security-leads@acme.example".into()),
            ],
            channels: ChannelsConfig::default(),
            osv: OsvConfig {
                enabled: true,
                path: "security/osv".into(),
            },
            prenotify: PrenotifyConfig {
                recipients: vec![
                    PrenotifyRecipient {
                        address: "distros@vs.openwall.org".into(),
                        name: Some("distros".into()),
                        key_file: Some(".github/keys/distros.asc".into()),
                        key: None,
                        subject_tag: Some("[vs]".into()),
                        format: OpenPgpFormat::Inline,
                    },
                    PrenotifyRecipient {
                        address: "packager@example.com".into(),
                        name: None,
                        key_file: None,
                        key: None,
                        subject_tag: None,
                        format: OpenPgpFormat::PgpMime,
                    },
                ],
                days_before: 5,
                max_days: 10,
                contact: Some("security@acme.example".into()),
            },
            disclosure: DisclosureConfig::default(),
            locked: Vec::new(),
        };
        assert_eq!(config, expected);
        assert_eq!(
            config.osv.file("GHSA-abcd-efgh-ijkm"),
            "security/osv/GHSA-abcd-efgh-ijkm.json"
        );
        assert_eq!(
            config.tracking.repository.expect("set").to_string(),
            "acme/security-private"
        );
    }

    #[test]
    fn empty_or_comment_only_file_is_the_default() {
        for text in [
            "",
            "\n\n",
            "# herald settings\n  # nothing yet\n",
            "---\n",
            "~\n",
            "labels:\n",
        ] {
            assert_eq!(
                RepoConfig::parse(text),
                Ok(RepoConfig::default()),
                "{text:?}"
            );
        }
        let defaults = RepoConfig::default();
        assert_eq!(defaults.labels.severity_prefix, "severity:");
        assert_eq!(defaults.changelog.path, "CHANGELOG.md");
        assert_eq!(defaults.tracking.repository, None);
    }

    #[test]
    fn unknown_top_level_key_names_line_and_key() {
        let e = error("tracking:\n  assignees: [alice]\n\nmailing_list:\n  - address: a@b.org\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("mailing_list")));
        assert!(
            e.message
                .starts_with("unknown field `mailing_list`, expected one of"),
            "{e}"
        );
    }

    #[test]
    fn unknown_nested_key_names_line_and_key() {
        let e = error("# config\ntracking:\n  repositry: acme/private\n");
        assert_eq!(
            e.to_string(),
            ".github/herald.yml line 3: `tracking.repositry`: \
             unknown field `repositry`, expected `repository` or `assignees`"
        );
        assert_eq!(e.column, Some(3));
        let e = error("mailing_lists:\n  - address: a@b.org\n    bcc: c@d.org\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("mailing_lists[0].bcc"))
        );
    }

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
    fn escalation_names_people_teams_and_addresses() {
        let config = RepoConfig::parse(
            "escalation:\n  critical: [\"@alice\", \"@acme/security-team\", oncall@example.org]\n  high: [\"@bob\"]\n",
        )
        .expect("valid");
        assert_eq!(
            config.escalation.for_severity(Severity::Critical),
            &[
                EscalationTarget::GitHub("alice".into()),
                EscalationTarget::GitHub("acme/security-team".into()),
                EscalationTarget::Email("oncall@example.org".into()),
            ]
        );
        assert!(config.escalation.for_severity(Severity::Low).is_empty());
        let e = error("escalation:\n  critical:\n    - \"@al ice\"\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("escalation.critical[0]")),
            "{e}"
        );
        let e = error("escalation:\n  high: [\"oncall@example.org\\nBcc: x@y.org\"]\n");
        assert_eq!(e.key.as_deref(), Some("escalation.high[0]"), "{e}");
        let e = error("escalation:\n  urgent: []\n");
        assert_eq!(e.key.as_deref(), Some("escalation.urgent"), "{e}");
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

    #[test]
    fn a_repository_chooses_a_counterpart_by_name_and_never_gives_its_address() {
        let config = RepoConfig::parse(
            "channels:\n  discourse:\n    server: community\n    category_id: 7\n  mediawiki:\n    page_prefix: 'Advisories/'\n",
        )
        .expect("parses");
        let discourse = config.channels.discourse.expect("discourse");
        assert_eq!(
            (discourse.server.as_deref(), discourse.category_id),
            (Some("community"), 7)
        );
        let mediawiki = config.channels.mediawiki.expect("mediawiki");
        assert_eq!(
            (mediawiki.server, mediawiki.page_prefix.as_str()),
            (None, "Advisories/")
        );
        for (text, key) in [
            (
                "channels:\n  discourse:\n    url: http://localhost.attacker.example\n    category_id: 7\n",
                "channels.discourse.url",
            ),
            (
                "channels:\n  discourse:\n    category_id: 7\n    api_username: system\n",
                "channels.discourse.api_username",
            ),
            (
                "channels:\n  mediawiki:\n    api_url: https://wiki.attacker.example/api.php\n",
                "channels.mediawiki.api_url",
            ),
            (
                "channels:\n  mediawiki:\n    username: Admin@herald\n",
                "channels.mediawiki.username",
            ),
        ] {
            let e = error(text);
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
            assert!(
                e.message
                    .contains("set by herald's operator in herald.toml"),
                "{text}: {e}"
            );
        }
        let e = error("channels:\n  discourse:\n    server: ../Evil\n    category_id: 7\n");
        assert_eq!(e.key.as_deref(), Some("channels.discourse.server"), "{e}");
    }

    #[test]
    fn an_organisations_locked_sections_win_over_a_repositorys_own() {
        let policy = RepoConfig::parse(
            "locked: [tracking, prenotify]\ntracking:\n  repository: acme/security\nsla:\n  fix_within_days: 10\n",
        )
        .expect("policy");
        let own = RepoConfig::parse(
            "tracking:\n  repository: acme/mallory-notes\nsla:\n  fix_within_days: 20\nlocked: []\n",
        )
        .expect("own");
        let (config, overridden) = own.under(&policy);
        assert_eq!(overridden, vec!["tracking"], "prenotify was left alone");
        assert_eq!(
            config.tracking.repository.as_ref().map(RepoName::as_str),
            Some("acme/security")
        );
        assert_eq!(
            config.sla.fix_within_days, 20,
            "an unlocked section is the repository's"
        );
        assert_eq!(config.locked, vec!["tracking", "prenotify"]);
        let e = error("locked: [tracking, everything]\n");
        assert_eq!(e.key.as_deref(), Some("locked[1]"), "{e}");
        assert!(e.message.contains("\"everything\" is not a section"), "{e}");
    }

    #[test]
    fn an_approval_label_means_nothing_else() {
        // Renamed, an approval label would make another label an admin adds approve.
        for (text, key) in [
            (
                "labels:\n  threat_prefix: \"threat-\"\n  prenotify_approved: \"threat:active\"\n",
                "labels.prenotify_approved",
            ),
            (
                "labels:\n  disclosure_approved: \"prenotify:approved\"\n",
                "labels.disclosure_approved",
            ),
            // A prefix or name that would swallow an approval label.
            ("labels:\n  threat_prefix: \"prenotify:\"\n", "labels"),
            ("labels:\n  incident: \"disclosure:approved\"\n", "labels"),
        ] {
            let e = error(text);
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
        }
        assert!(
            RepoConfig::parse("labels:\n  prenotify_approved: \"prenotify:approved\"\n").is_ok()
        );
    }

    #[test]
    fn a_blog_needs_a_repository_and_a_relative_path() {
        let e = error("blog:\n  path: content/blog\n");
        assert_eq!(e.key.as_deref(), Some("blog"), "{e}");
        assert!(e.message.contains("missing field `repository`"), "{e}");
        let e = error("blog:\n  repository: acme/website\n  path: /srv/blog\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("blog.path")),
            "{e}"
        );
    }

    /// Every ```yaml block in the docs: `.github/herald.yml` examples, but those whose
    /// first line names another file (`# prometheus.yml`).
    fn documented_repo_configs() -> Vec<&'static str> {
        crate::DOCS
            .iter()
            .flat_map(|(_, text)| text.split("```yaml\n").skip(1))
            .filter_map(|rest| rest.split("```").next())
            .filter(|block| !block.starts_with("# ") || block.starts_with("# .github/herald.yml"))
            .collect()
    }

    #[test]
    fn every_documented_repository_configuration_parses() {
        let examples = documented_repo_configs();
        assert!(!examples.is_empty(), "docs/configuration.md has an example");
        for example in &examples {
            RepoConfig::parse(example).unwrap_or_else(|error| panic!("{error}\n{example}"));
        }
        let full = RepoConfig::parse(examples[0]).expect("parsed");
        assert_eq!(
            full.prenotify.recipients.len(),
            3,
            "the full example comes first"
        );
        assert_eq!(full.osv.file("GHSA-x"), "advisories/GHSA-x.json");
    }

    #[test]
    fn prenotify_rules_are_checked_where_they_are_written() {
        let e = error("prenotify:\n  days_before: 20\n");
        assert_eq!(e.key.as_deref(), Some("prenotify"), "{e}");
        assert!(e.message.contains("at most `max_days` (14)"), "{e}");
        let e = error("prenotify:\n  days_before: 0\n  max_days: 3\n");
        assert!(e.message.contains("at least 1"), "{e}");
        let e = error(
            "prenotify:\n  recipients:\n    - address: a@example.org\n      key_file: k.asc\n      key: |\n        -----BEGIN PGP PUBLIC KEY BLOCK-----\n",
        );
        assert!(e.message.contains("both `key_file` and `key`"), "{e}");
        let e = error("prenotify:\n  recipients:\n    - address: a@example.org\n      key: AAAA\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("prenotify.recipients[0].key")),
            "{e}"
        );
        let e = error(
            "prenotify:\n  recipients:\n    - address: \"a@example.org\\r\\nBcc: x@evil.example\"\n",
        );
        assert_eq!(
            e.key.as_deref(),
            Some("prenotify.recipients[0].address"),
            "{e}"
        );
        let e = error(
            "prenotify:\n  recipients:\n    - address: a@example.org\n      subject_tag: \"[vs]\\r\\nBcc: x@evil.example\"\n",
        );
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("prenotify.recipients[0].subject_tag")),
            "{e}"
        );
        let e = error(&format!(
            "prenotify:\n  recipients:\n    - address: a@example.org\n      subject_tag: \"{}\"\n",
            "x".repeat(33)
        ));
        assert!(e.message.contains("at most 32 characters"), "{e}");
        let e = error("osv:\n  path: ../advisories\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("osv.path")),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_line() {
        let e = error("labels: {}\nmailing_lists: yes\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("mailing_lists")));
        assert!(e.message.contains("expected a sequence"), "{e}");
        let e = error("- tracking\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(1), None));
        assert!(e.message.contains("expected a mapping of sections"), "{e}");
        let e = error("changelog:\n  heading: [a]\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("changelog.heading"))
        );
    }

    #[test]
    fn bad_repository_name_names_line_and_key() {
        let e = error("tracking:\n  assignees: []\n  repository: acme/../x\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("tracking.repository"))
        );
        assert!(e.message.contains("exactly one `/`"), "{e}");
    }

    #[test]
    fn header_injection_is_rejected() {
        let e = error("mailing_lists:\n  - name: ok\n    address: \"a@b.org\\nBcc: x@y\"\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("mailing_lists[0].address"))
        );
        assert!(e.message.contains("not a plain email address"), "{e}");
        let e = error("mailing_lists:\n  - address: a@b.org\n    name: \"List\\r\\nBcc: x@y\"\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("mailing_lists[0].name"))
        );
        for bad in [
            "a@b.org, c@d.org",
            "List <a@b.org>",
            "a.b.org",
            "a@b@c",
            "@b.org",
            "a@",
        ] {
            let text = format!("mailing_lists:\n  - address: {bad:?}\n");
            assert_eq!(
                error(&text).key.as_deref(),
                Some("mailing_lists[0].address"),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_signing_mode_names_allowed_values() {
        let e = error("mailing_lists:\n  - address: a@b.org\n    signing: smime\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("mailing_lists[0].signing"))
        );
        assert!(e.message.contains("`cleartext` or `pgp-mime`"), "{e}");
    }

    #[test]
    fn other_bad_values_are_rejected() {
        let cases = [
            ("labels:\n  incident: \"a,b\"\n", "labels.incident"),
            ("labels:\n  security: \"\"\n", "labels.security"),
            ("labels:\n  threat_prefix: ", "labels.threat_prefix"),
            ("changelog:\n  path: /etc/passwd\n", "changelog.path"),
            ("changelog:\n  path: ../x.md\n", "changelog.path"),
            (
                "changelog:\n  backport_branches: [\"a b\"]\n",
                "changelog.backport_branches[0]",
            ),
            (
                "tracking:\n  assignees: [\"-x\"]\n",
                "tracking.assignees[0]",
            ),
            ("mailing_lists:\n  - name: x\n", "mailing_lists[0]"),
        ];
        for (text, key) in cases {
            assert_eq!(error(text).key.as_deref(), Some(key), "{text:?}");
        }
        let long = format!("labels:\n  security: {}\n", "x".repeat(51));
        assert_eq!(error(&long).key.as_deref(), Some("labels.security"));
    }

    #[test]
    fn syntax_problems_are_clear() {
        let e = error("tracking:\n\trepository: acme/x\n");
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("tab"), "{e}");
        let e = error("labels:\n  security: a\n---\nlabels:\n  security: b\n");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("more than one YAML document"), "{e}");
        let e = error("labels: [\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), None), "{e}");
        let e = error("labels:\n  security: a: b\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), None), "{e}");
        assert!(e.message.starts_with("invalid YAML: mapping values"), "{e}");
        let e = error("labels:\n  security: a\n  security: b\n");
        assert!(e.message.contains("duplicate"), "{e}");
    }

    #[test]
    fn lenient_parse_returns_defaults_and_the_error() {
        let (config, error) = parse_lenient("labels:\n  security: sec\ntracking: 3\n");
        assert_eq!(config, RepoConfig::default());
        let error = error.expect("reported");
        assert_eq!(
            (error.line, error.key.as_deref()),
            (Some(3), Some("tracking"))
        );
        let (config, error) = parse_lenient("labels:\n  security: sec\n");
        assert_eq!((config.labels.security.as_str(), error), ("sec", None));
    }

    mod properties {
        use super::*;
        use crate::properties::config;
        use proptest::prelude::*;
        use serde_json::Value;

        /// Keys herald reads, at any depth, beside others.
        const KEYS: &[&str] = &[
            "tracking",
            "repository",
            "labels",
            "security",
            "changelog",
            "path",
            "branch",
            "advisory_issue",
            "enabled",
            "blog",
            "mailing_lists",
            "address",
            "name",
            "signing",
            "format",
            "sla",
            "critical",
            "high",
            "escalation",
            "after",
            "to",
            "notify",
            "channels",
            "discussions",
            "category",
            "discourse",
            "server",
            "mediawiki",
            "osv",
            "prenotify",
            "max_days",
            "downstreams",
            "key",
            "contact",
            "disclosure",
            "second_person",
            "locked",
            "subject_tag",
            "url",
            "unknown",
        ];

        fn value() -> impl Strategy<Value = Value> {
            crate::properties::json(
                KEYS,
                &[
                    "acme/security",
                    "https://x.example",
                    "30d",
                    "announce@lists.example.org",
                ],
            )
        }

        /// What YAML reads as structure.
        const YAML: &[&str] = &[
            "tracking:\n",
            "  repository: ",
            "- ",
            "&a ",
            "*a ",
            "!!binary ",
            "---\n",
            "[",
            "]",
            "{",
            "}",
            ": ",
            "\t",
            "\n",
            "'",
            "\"",
            "|\n",
            ">\n",
            "#",
            "x",
        ];

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                value().prop_map(|value| yaml_serde::to_string(&value).unwrap_or_default()),
                crate::properties::text_of(YAML, 40),
            ]
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn any_text_is_a_config_or_an_error_with_the_defaults(own in text(), policy in text()) {
                let (own, _) = parse_lenient(&own);
                let (policy, _) = parse_lenient(&policy);
                let _ = own.under(&policy);
            }
        }

        #[test]
        fn a_deep_nest_or_an_alias_bomb_is_refused_without_exhausting_anything() {
            let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
            assert!(RepoConfig::parse(&deep).is_err());
            let mut bomb = String::from(
                "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
            );
            let names: Vec<char> = ('b'..='j').collect();
            let mut previous = 'a';
            for name in names {
                bomb.push_str(&format!(
                    "{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
                ));
                previous = name;
            }
            assert!(RepoConfig::parse(&bomb).is_err());
        }
    }
}
