//! What maintainers say on the tracking issue: `/herald` comment commands and labels.
//! Parsing and applying them is pure; who may command is checked by the caller.

use super::{
    CvssAssessment, CvssSlot, FixPull, Incident, IncidentKind, Phase, Prenotification,
    PrenotifyTerms, PullState, RepoName, Severity, TimelineEntry, TimelineKind, utc_minute,
};
use chrono::{DateTime, Utc};
use pulldown_cmark::{Event, Options, Parser, Tag};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Active: evidence of exploitation attempts (an emergency). Passive: no such evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Threat {
    Active,
    Passive,
}

impl fmt::Display for Threat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Threat::Active => "active",
            Threat::Passive => "passive",
        })
    }
}

/// What maintainers decided about an incident (kept apart from what the advisory says).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decisions {
    /// A maintainer's severity wins over the computed one.
    pub severity: Option<Severity>,
    /// A maintainer's CVSS vector, scored by herald.
    pub cvss: Option<CvssAssessment>,
    pub threat: Option<Threat>,
    /// A breach happened (data stolen, someone impersonated, systems accessed).
    pub breach: bool,
    pub coordinator: Option<String>,
    pub embargo_until: Option<DateTime<Utc>>,
    pub disclosure_approved: bool,
    /// Who approved disclosure, while it is approved.
    #[serde(default)]
    pub disclosure_approved_by: Option<String>,
    /// Who last asked herald to publish.
    #[serde(default)]
    pub publication_requested_by: Option<String>,
    pub cve_requested_at: Option<DateTime<Utc>>,
    /// When a maintainer acknowledged the report (`/herald ack`): the reaction clock stops.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The kind of incident a maintainer named; its severity applies unless a maintainer
    /// set one outright.
    pub kind: Option<IncidentKind>,
    /// A maintainer asked for a history incident's tracking issue (`herald import`).
    #[serde(default)]
    pub history_imported: bool,
    /// A maintainer asked to announce a history incident again (`herald incidents announce`).
    #[serde(default)]
    pub history_reannounce: bool,
    /// Temporary actions taken to protect users (`/herald contain`), numbered from 1 in
    /// this order.
    #[serde(default)]
    pub actions: Vec<TemporaryAction>,
    /// The security leads consulted before acting on a passive threat
    /// (`/herald consulted @login`).
    #[serde(default)]
    pub consulted: Vec<Consultation>,
    /// Which users or deployments are affected (`/herald affected`), as last said.
    #[serde(default)]
    pub affected: Option<Statement>,
    /// Telling downstreams before disclosure was approved (`/herald prenotify`).
    #[serde(default)]
    pub prenotify: Option<Prenotification>,
}

/// Something a maintainer said for the record: what, who, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub text: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A temporary action someone took to protect users: disable a feature, block traffic,
/// rotate a key. The response plans allow it at once under an active threat; every such
/// action stays temporary until reverted or made permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemporaryAction {
    pub taken: Statement,
    /// The threat as assessed when the action was taken.
    pub threat: Option<Threat>,
    /// How it ended, if it has.
    pub settled: Option<Settlement>,
}

impl TemporaryAction {
    pub fn is_open(&self) -> bool {
        self.settled.is_none()
    }
}

/// How a temporary action ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settlement {
    /// Made permanent (`/herald keep`) rather than undone (`/herald revert`).
    pub kept: bool,
    /// Who reverted it, or who agreed to keep it.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A security lead consulted, as a maintainer recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consultation {
    /// The lead's GitHub login.
    pub login: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// One maintainer command, from a `/herald` comment line or a label.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Severity(Severity),
    /// A severity label was removed: the computed severity stands again.
    ClearSeverity,
    Cvss(String),
    /// `None`: the threat label was removed.
    Threat(Option<Threat>),
    Breach(bool),
    ApproveDisclosure(bool),
    Coordinator(String),
    Embargo(DateTime<Utc>),
    /// The team has seen the report and is on it: the reaction clock stops.
    Acknowledge,
    Kind(IncidentKind),
    /// Move to containment, remediation or recovery.
    Phase(Phase),
    RequestCve,
    Publish,
    /// Run again the jobs herald gave up on or a counterpart refused (once fixed).
    Retry,
    Close,
    Help,
    /// A temporary action was taken: what.
    Contain(String),
    /// A security lead was consulted: their login.
    Consulted(String),
    /// Temporary action `n` (from 1) was undone.
    Revert(usize),
    /// Temporary action `n` (from 1) is made permanent.
    Keep(usize),
    /// Which users or deployments are affected.
    Affected(String),
    /// Ask GitHub for the advisory's temporary private fork.
    Fork,
    /// Track a pull request as a fix: in another repository, or the advisory's.
    Fix {
        repository: Option<RepoName>,
        number: u64,
    },
    /// Approve (`true`) or withdraw the approval of telling downstreams before disclosure.
    Prenotify(bool),
}

/// Something to do outside the store because of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandEffect {
    RequestCve,
    PublishAdvisory,
    /// Render the post-incident review and post it on the tracking issue.
    PostReview,
    /// Queue the incident's failed jobs again.
    RetryFailed,
    /// Temporary action `n` (from 1) was recorded: remind of it daily until it is settled
    /// and, under an active threat, inform the people of the `notify:` section now.
    ActionTaken {
        number: usize,
        inform: bool,
    },
    /// Ask GitHub for a temporary private fork and link it once it exists.
    RequestFork,
    /// Read a linked fix's state from GitHub.
    TrackPull {
        repository: RepoName,
        number: u64,
    },
    /// Tell every configured downstream at `send_at`, under the embargo ending `until`.
    Prenotify {
        until: DateTime<Utc>,
        send_at: DateTime<Utc>,
    },
    /// The approved embargo moved from `from` to `to`: downstreams already told get an
    /// update now; the others get the notice for `to` at `send_at`.
    PrenotifyMoved {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        send_at: DateTime<Utc>,
    },
}

/// A `/herald` line and what herald understood of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandLine {
    pub text: String,
    pub command: Result<Command, String>,
}

pub const HELP: &str = "herald understands these commands, one per line, from people with \
the write, maintain or admin role on the advisory's repository; those marked (admin) are \
reserved, as GitHub reserves publishing an advisory, for its admins and the organisation's \
security managers:\n\n\
- `/herald ack`: acknowledge the report (stops the reaction clock)\n\
- `/herald severity critical|high|medium|low`: set the severity (wins over the computed one)\n\
- `/herald kind supply-chain|code-execution|xss|leaked-secrets|denial-of-service|memory-leak|integrity|docs-defacement|regression`: name the kind of incident, which sets its severity (critical, high, medium or low) unless a severity is set\n\
- `/herald cvss <vector>`: set the CVSS 3.x or 4.0 vector herald scores\n\
- `/herald threat active|passive`: active means evidence of exploitation attempts\n\
- `/herald coordinator @login`: who coordinates and speaks for the response\n\
- `/herald embargo <RFC 3339 time>`: no disclosure before this time (an earlier end than the one set: admin)\n\
- `/herald request-cve`: ask GitHub for a CVE id (admin)\n\
- `/herald publish`: disclose (needs the `disclosure:approved` label and a passed embargo; admin)\n\
- `/herald retry`: run again what herald gave up on or was refused (after fixing the cause)\n\
- `/herald phase containment|remediation|recovery`: record where the response stands\n\
- `/herald contain <what was done>`: record a temporary action taken to protect users\n\
- `/herald consulted @login`: record that a security lead was consulted (asked for before acting on a passive threat)\n\
- `/herald revert N` / `/herald keep N`: temporary action N was undone / is made permanent (you agree)\n\
- `/herald affected <who or what>`: record which users or deployments are affected\n\
- `/herald fix #N` (or `owner/repo#N`, or the URL): track a pull request as a fix; pull requests that mention the GHSA id are tracked on their own\n\
- `/herald fork`: ask GitHub for a temporary private fork to fix the vulnerability in private (admin)\n\
- `/herald prenotify`: tell the downstreams of `prenotify:` under embargo (needs an embargo date within `max_days`; admin); `/herald prenotify withdraw` stops notices not yet sent\n\
- `/herald close`: close the incident and post the post-incident review\n\
- `/herald help`: this text\n\n\
Labels work too: `severity:<level>`, `threat:active|passive`, `incident` (a breach \
happened), `disclosure:approved` and `prenotify:approved` (adding either: admin).";

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

/// The longest free text a command takes (what was done, who is affected).
pub const MAX_STATEMENT_CHARS: usize = 1000;

/// One command line after `/herald`: its words, and for the commands that take free text
/// (`contain`, `affected`), the rest of the line as written.
fn parse_line(rest: &str) -> Result<Command, String> {
    let (first, text) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(first, text)| (first, text.trim()));
    let statement = |command: fn(String) -> Command, what: &str| {
        if text.is_empty() {
            Err(format!("`/herald {first}` needs {what} after it"))
        } else if text.chars().count() > MAX_STATEMENT_CHARS {
            Err(format!(
                "{what} is limited to {MAX_STATEMENT_CHARS} characters; say more in a comment"
            ))
        } else {
            Ok(command(text.to_owned()))
        }
    };
    match first {
        "contain" => statement(Command::Contain, "what was done"),
        "affected" => statement(Command::Affected, "who or what is affected"),
        _ => parse_words(&rest.split_whitespace().collect::<Vec<_>>()),
    }
}

/// A GitHub login, with or without its `@`.
fn login(word: &str) -> Result<String, String> {
    let login = word.trim_start_matches('@');
    let valid = !login.is_empty()
        && login.len() <= 39
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !login.starts_with('-');
    if valid {
        Ok(login.to_owned())
    } else {
        Err(format!("`{login}` is not a GitHub login"))
    }
}

/// A pull request as maintainers name it: `#12`, `owner/repo#12`, or its URL.
fn pull_reference(word: &str) -> Result<Command, String> {
    let invalid = || {
        format!(
            "`{word}` is not a pull request: use `#12`, `owner/repo#12` or the pull request's URL"
        )
    };
    let (repository, number) = match word.split_once('#') {
        Some(("", number)) => (None, number),
        Some((repository, number)) => (Some(repository.to_owned()), number),
        None => {
            let path = word
                .strip_prefix("https://github.com/")
                .ok_or_else(invalid)?;
            let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
            match parts.as_slice() {
                [owner, name, "pull", number] => (Some(format!("{owner}/{name}")), *number),
                _ => return Err(invalid()),
            }
        }
    };
    let number = number
        .parse::<u64>()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(invalid)?;
    let repository = repository
        .map(|name| RepoName::parse(&name).map_err(|error| error.to_string()))
        .transpose()?;
    Ok(Command::Fix { repository, number })
}

/// A temporary action's number, as the tracking issue lists it.
fn action_number(word: &str) -> Result<usize, String> {
    word.trim_start_matches('#')
        .parse::<usize>()
        .ok()
        .filter(|number| *number >= 1)
        .ok_or_else(|| format!("`{word}` is not the number of a temporary action (1, 2, …)"))
}

fn parse_words(words: &[&str]) -> Result<Command, String> {
    let severity = |word: &str| match word.to_ascii_lowercase().as_str() {
        "critical" => Ok(Severity::Critical),
        "high" => Ok(Severity::High),
        "medium" | "moderate" => Ok(Severity::Medium),
        "low" => Ok(Severity::Low),
        other => Err(format!(
            "`{other}` is not a severity: use critical, high, medium or low"
        )),
    };
    match words {
        [] | ["help"] => Ok(Command::Help),
        ["severity", level] => severity(level).map(Command::Severity),
        ["cvss", vector] => Ok(Command::Cvss((*vector).to_owned())),
        ["threat", "active"] => Ok(Command::Threat(Some(Threat::Active))),
        ["threat", "passive"] => Ok(Command::Threat(Some(Threat::Passive))),
        ["coordinator", word] => login(word).map(Command::Coordinator),
        ["consulted", word] => login(word).map(Command::Consulted),
        ["revert", number] => action_number(number).map(Command::Revert),
        ["keep", number] => action_number(number).map(Command::Keep),
        ["embargo", time] => DateTime::parse_from_rfc3339(time)
            .map(|time| Command::Embargo(time.with_timezone(&Utc)))
            .map_err(|_| format!("`{time}` is not an RFC 3339 time such as 2026-12-01T14:00:00Z")),
        ["ack" | "acknowledge"] => Ok(Command::Acknowledge),
        ["kind", kind] => kind.parse().map(Command::Kind),
        ["phase", "containment"] => Ok(Command::Phase(Phase::Containment)),
        ["phase", "remediation"] => Ok(Command::Phase(Phase::Remediation)),
        ["phase", "recovery"] => Ok(Command::Phase(Phase::Recovery)),
        ["phase", other] => Err(format!(
            "`{other}` is not a phase herald moves to on command: use containment, \
             remediation or recovery (disclosure comes with `/herald publish`)"
        )),
        ["request-cve"] => Ok(Command::RequestCve),
        ["publish"] => Ok(Command::Publish),
        ["retry"] => Ok(Command::Retry),
        ["close"] => Ok(Command::Close),
        ["fork"] => Ok(Command::Fork),
        ["prenotify"] => Ok(Command::Prenotify(true)),
        ["prenotify", "withdraw"] => Ok(Command::Prenotify(false)),
        ["fix", target] => pull_reference(target),
        [word, ..] => Err(format!(
            "`{word}` with these arguments is not a herald command"
        )),
    }
}

/// The label names herald reads (from the repository's configuration).
pub struct LabelNames<'a> {
    pub severity_prefix: &'a str,
    pub threat_prefix: &'a str,
    pub incident: &'a str,
    pub disclosure_approved: &'a str,
    pub prenotify_approved: &'a str,
}

/// The command a label change means, if any.
pub fn label_command(label: &str, added: bool, names: &LabelNames<'_>) -> Option<Command> {
    if let Some(level) = label.strip_prefix(names.severity_prefix) {
        return if added {
            parse_words(&["severity", level]).ok()
        } else {
            Some(Command::ClearSeverity)
        };
    }
    if let Some(threat) = label.strip_prefix(names.threat_prefix) {
        return if added {
            parse_words(&["threat", threat]).ok()
        } else {
            Some(Command::Threat(None))
        };
    }
    if label == names.incident {
        return Some(Command::Breach(added));
    }
    if label == names.prenotify_approved {
        return Some(Command::Prenotify(added));
    }
    (label == names.disclosure_approved).then_some(Command::ApproveDisclosure(added))
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    pub changed: bool,
    pub timeline: Vec<TimelineEntry>,
    /// What herald answers the maintainer.
    pub reply: String,
    pub effects: Vec<CommandEffect>,
    /// A rule refused the command: the answer says why, also to a label (which is
    /// otherwise not answered).
    pub refused: bool,
}

/// Applies one command of `actor` to `incident` at `at`, under the default pre-notification
/// terms (nobody to tell).
pub fn apply_command(
    incident: &mut Incident,
    command: &Command,
    actor: &str,
    at: DateTime<Utc>,
) -> CommandOutcome {
    apply_command_with(incident, command, actor, at, &PrenotifyTerms::default())
}

/// Applies one command of `actor` to `incident` at `at`, with the repository's
/// pre-notification `terms`.
pub fn apply_command_with(
    incident: &mut Incident,
    command: &Command,
    actor: &str,
    at: DateTime<Utc>,
    terms: &PrenotifyTerms,
) -> CommandOutcome {
    let before = incident.clone();
    let mut effects = Vec::new();
    let mut refused = false;
    let reply = match command {
        Command::Help => HELP.to_owned(),
        Command::Severity(level) => {
            incident.decisions.severity = Some(*level);
            incident.recompute_severity();
            format!("Severity set to {level}.")
        }
        Command::ClearSeverity => {
            incident.decisions.severity = None;
            incident.recompute_severity();
            format!(
                "Severity label removed: severity is {} ({}).",
                incident.severity, incident.severity_source
            )
        }
        Command::Cvss(vector) => {
            let slot = if vector.starts_with("CVSS:4.0/") {
                CvssSlot::V4
            } else {
                CvssSlot::V3
            };
            let assessment = CvssAssessment::assess(slot, vector, None);
            match assessment.computed_severity() {
                Some(_) => {
                    let reply = format!("CVSS set: {}.", assessment.describe());
                    incident.decisions.cvss = Some(assessment);
                    incident.recompute_severity();
                    reply
                }
                None => format!(
                    "That CVSS vector is not usable ({}); nothing changed.",
                    assessment.describe()
                ),
            }
        }
        Command::Threat(threat) => {
            incident.decisions.threat = *threat;
            match threat {
                Some(Threat::Active) => "Threat set to active: this is an emergency. Any maintainer may take temporary containment action now and must record it here.".to_owned(),
                Some(Threat::Passive) => "Threat set to passive: actions wait for the coordinator's decision.".to_owned(),
                None => "Threat label removed: the threat is not assessed.".to_owned(),
            }
        }
        Command::Breach(breach) => {
            incident.decisions.breach = *breach;
            if *breach {
                "Recorded: a breach happened.".to_owned()
            } else {
                "Recorded: no breach.".to_owned()
            }
        }
        Command::ApproveDisclosure(approved) => {
            incident.decisions.disclosure_approved = *approved;
            incident.decisions.disclosure_approved_by = approved.then(|| actor.to_owned());
            if *approved {
                "Disclosure approved.".to_owned()
            } else {
                "Disclosure approval withdrawn.".to_owned()
            }
        }
        Command::Coordinator(login) => {
            incident.decisions.coordinator = Some(login.clone());
            format!("{login} coordinates this incident.")
        }
        Command::Embargo(until) => {
            incident.decisions.embargo_until = Some(*until);
            let mut reply = format!("Embargo until {}.", utc_minute(*until));
            if let Some(moved) = move_prenotification(incident, *until, at, terms, &mut effects) {
                reply.push(' ');
                reply.push_str(&moved);
            }
            reply
        }
        Command::Prenotify(true) => {
            match approve_prenotification(incident, actor, at, terms, &mut effects) {
                Ok(reply) => reply,
                Err(refusal) => {
                    refused = true;
                    refusal
                }
            }
        }
        Command::Prenotify(false) => match incident.decisions.prenotify.take() {
            Some(_) => "Pre-notification approval withdrawn: notices not sent yet will not go; \
                        downstreams already told stay told."
                .to_owned(),
            None => "No pre-notification was approved.".to_owned(),
        },
        Command::Acknowledge => acknowledge(incident, at),
        Command::Kind(kind) => {
            incident.decisions.kind = Some(*kind);
            incident.recompute_severity();
            format!(
                "Kind set to {kind} ({} by the response plan); severity is {} ({}).",
                kind.severity(),
                incident.severity,
                incident.severity_source
            )
        }
        Command::RequestCve => match (&incident.cve_id, incident.decisions.cve_requested_at) {
            (Some(cve), _) => format!("This advisory already has {cve}; nothing requested."),
            (None, Some(asked)) => format!(
                "A CVE was already requested at {}; GitHub will assign it.",
                utc_minute(asked)
            ),
            (None, None) => {
                incident.decisions.cve_requested_at = Some(at);
                effects.push(CommandEffect::RequestCve);
                "Requesting a CVE id from GitHub.".to_owned()
            }
        },
        Command::Publish => {
            let reply = publish(incident, at, &mut effects);
            if effects.contains(&CommandEffect::PublishAdvisory) {
                incident.decisions.publication_requested_by = Some(actor.to_owned());
            }
            reply
        }
        Command::Phase(phase) => move_phase(incident, *phase, at),
        Command::Retry => {
            effects.push(CommandEffect::RetryFailed);
            "Running again what failed for this incident.".to_owned()
        }
        Command::Close => {
            incident.enter_phase(Phase::Closed, at);
            effects.push(CommandEffect::PostReview);
            "Incident closed. herald posts the post-incident review here.".to_owned()
        }
        Command::Contain(what) => contain(incident, what, actor, at, &mut effects),
        Command::Fork => fork(incident, &mut effects),
        Command::Fix { repository, number } => {
            let repository = repository
                .clone()
                .unwrap_or_else(|| incident.repository.clone());
            let name = format!("{repository}#{number}");
            if incident
                .fixes
                .iter()
                .any(|fix| fix.repository == repository && fix.number == *number)
            {
                format!("{name} is tracked as a fix already.")
            } else {
                incident.fixes.push(FixPull {
                    repository: repository.clone(),
                    number: *number,
                    url: format!("https://github.com/{repository}/pull/{number}"),
                    base: String::new(),
                    state: PullState::Unknown,
                    backport: false,
                    linked_by: Some(actor.to_owned()),
                    merged_at: None,
                });
                effects.push(CommandEffect::TrackPull {
                    repository,
                    number: *number,
                });
                format!(
                    "Tracking {name} as a fix: the tracking issue shows where it stands, and its \
                     merge ticks the checklist."
                )
            }
        }
        Command::Consulted(lead) => {
            incident.decisions.consulted.push(Consultation {
                login: lead.clone(),
                by: actor.to_owned(),
                at,
            });
            format!("Recorded: {lead} was consulted.")
        }
        Command::Revert(number) => settle(incident, *number, false, actor, at),
        Command::Keep(number) => settle(incident, *number, true, actor, at),
        Command::Affected(text) => {
            incident.decisions.affected = Some(Statement {
                text: text.clone(),
                by: actor.to_owned(),
                at,
            });
            "Recorded who is affected; the tracking issue and the post-incident review show it."
                .to_owned()
        }
    };
    let changed = *incident != before;
    let mut timeline = Vec::new();
    if changed || !effects.is_empty() {
        timeline.push(TimelineEntry {
            at,
            actor: Some(actor.to_owned()),
            kind: TimelineKind::Command,
            detail: command_words(command),
        });
    } else if *command != Command::Help {
        // A command that changed nothing is on the record too, with why.
        timeline.push(TimelineEntry {
            at,
            actor: Some(actor.to_owned()),
            kind: TimelineKind::Command,
            detail: format!(
                "{}: nothing changed ({})",
                command_words(command),
                reply.chars().take(200).collect::<String>()
            ),
        });
    }
    timeline.extend(incident.severity_change(&before, Some(actor), at));
    if before.phase != incident.phase {
        timeline.push(TimelineEntry {
            at,
            actor: Some(actor.to_owned()),
            kind: TimelineKind::PhaseChanged,
            detail: format!("phase {} → {}", before.phase, incident.phase),
        });
    }
    CommandOutcome {
        changed,
        timeline,
        reply,
        effects,
        refused,
    }
}

/// `/herald prenotify`: approves telling the downstreams, when the rules allow it now;
/// `Err` with the reason when they do not.
fn approve_prenotification(
    incident: &mut Incident,
    actor: &str,
    at: DateTime<Utc>,
    terms: &PrenotifyTerms,
    effects: &mut Vec<CommandEffect>,
) -> Result<String, String> {
    let until = incident
        .prenotify_embargo(None, at, terms)
        .and_then(|until| terms.problem.clone().map_or(Ok(until), Err))
        .map_err(|reason| format!("Pre-notification not approved: {reason}."))?;
    let named: Vec<String> = terms.recipients.iter().map(ToString::to_string).collect();
    let named = named.join(", ");
    let again = match &incident.decisions.prenotify {
        Some(approved) if approved.matches(terms) => {
            return Ok(format!(
                "Pre-notification was approved by {} for the embargo until {} already, for: \
                 {named}.",
                approved.approved_by,
                utc_minute(approved.embargo_until)
            ));
        }
        Some(_) => true,
        None => false,
    };
    incident.decisions.prenotify = Some(Prenotification {
        approved_by: actor.to_owned(),
        approved_at: at,
        embargo_until: until,
        recipients: terms.recipients.clone(),
        contact: terms.contact.clone(),
    });
    let send_at = Incident::prenotify_at(until, at, terms);
    effects.push(CommandEffect::Prenotify { until, send_at });
    Ok(format!(
        "Pre-notification approved{}: the embargoed notice goes to {named}, signed, {}, under \
         embargo until {}, asking for replies to {}. Nobody else: an address, key or reply \
         address the configuration names later needs a new approval. It is private: nothing \
         public happens before the advisory is published.",
        if again {
            " again, for the recipients configured now"
        } else {
            ""
        },
        if send_at <= at {
            "now".to_owned()
        } else {
            format!("on {}", utc_minute(send_at))
        },
        utc_minute(until),
        terms
            .contact
            .as_deref()
            .unwrap_or("the address herald sends from")
    ))
}

/// A new embargo date with pre-notification approved: the downstreams hear of the new
/// date, when it keeps the rules; otherwise the approval lapses. Returns what to add to the
/// answer.
fn move_prenotification(
    incident: &mut Incident,
    to: DateTime<Utc>,
    at: DateTime<Utc>,
    terms: &PrenotifyTerms,
    effects: &mut Vec<CommandEffect>,
) -> Option<String> {
    let from = incident.decisions.prenotify.as_ref()?.embargo_until;
    if from == to {
        return None;
    }
    if let Err(reason) = incident.prenotify_embargo(Some(to), at, terms) {
        incident.decisions.prenotify = None;
        return Some(format!(
            "The pre-notification approval lapses: {reason}. Downstreams already told keep the \
             old date; approve again (`/herald prenotify`) once the date keeps the rules."
        ));
    }
    if let Some(approved) = incident.decisions.prenotify.as_mut() {
        approved.embargo_until = to;
    }
    let send_at = Incident::prenotify_at(to, at, terms);
    effects.push(CommandEffect::PrenotifyMoved { from, to, send_at });
    Some("Downstreams already told get a signed update with the new date.".to_owned())
}

/// `/herald contain`: records the action (the response is in containment from now on, if
/// it was not further yet). Under an active threat the people of `notify:` are told at
/// once; otherwise the plan asks for a consultation first, which herald points out without
/// standing in the way.
fn contain(
    incident: &mut Incident,
    what: &str,
    actor: &str,
    at: DateTime<Utc>,
    effects: &mut Vec<CommandEffect>,
) -> String {
    let threat = incident.decisions.threat;
    incident.decisions.actions.push(TemporaryAction {
        taken: Statement {
            text: what.to_owned(),
            by: actor.to_owned(),
            at,
        },
        threat,
        settled: None,
    });
    let number = incident.decisions.actions.len();
    if incident.phase < Phase::Containment {
        incident.enter_phase(Phase::Containment, at);
    }
    let inform = threat == Some(Threat::Active);
    effects.push(CommandEffect::ActionTaken { number, inform });
    let mut reply = format!(
        "Temporary action {number} recorded. It stays temporary until `/herald revert {number}` \
         or `/herald keep {number}`; herald reminds of it daily until then."
    );
    if inform {
        reply.push_str(" The threat is active: herald informs the security leads now.");
    } else if incident.decisions.consulted.is_empty() {
        reply.push_str(
            " The threat is not active, and the response plan asks to consult the security \
             leads before acting then: record who was consulted with `/herald consulted @login`.",
        );
    }
    reply
}

/// `/herald fork`: GitHub's temporary private fork, for an advisory not yet published.
fn fork(incident: &Incident, effects: &mut Vec<CommandEffect>) -> String {
    match &incident.private_fork {
        Some(fork) if fork.ready_at.is_some() => {
            return format!("The temporary private fork is {}.", fork.url);
        }
        Some(_) => {
            return "GitHub is still creating the temporary private fork; herald links it here \
                    once it exists."
                .to_owned();
        }
        None => {}
    }
    if incident.upstream.is_some() {
        return "An upstream incident has no repository advisory of its own, so GitHub has no \
                private fork for it."
            .to_owned();
    }
    if incident.published_on_github() {
        return "The advisory is published: GitHub makes temporary private forks for \
                unpublished advisories only."
            .to_owned();
    }
    effects.push(CommandEffect::RequestFork);
    "Asking GitHub for a temporary private fork; herald links it here once GitHub has created \
     it (that can take a few minutes)."
        .to_owned()
}

/// `/herald revert N` and `/herald keep N`: how temporary action `number` ended.
fn settle(
    incident: &mut Incident,
    number: usize,
    kept: bool,
    actor: &str,
    at: DateTime<Utc>,
) -> String {
    let Some(action) = incident.decisions.actions.get_mut(number - 1) else {
        return format!("There is no temporary action {number}; the tracking issue lists them.");
    };
    if let Some(settled) = &action.settled {
        return format!(
            "Temporary action {number} was already {} by {} at {}.",
            if settled.kept {
                "made permanent"
            } else {
                "reverted"
            },
            settled.by,
            utc_minute(settled.at)
        );
    }
    action.settled = Some(Settlement {
        kept,
        by: actor.to_owned(),
        at,
    });
    if kept {
        format!("Temporary action {number} is permanent now, as {actor} agreed.")
    } else {
        format!("Temporary action {number} is reverted.")
    }
}

/// Records the first acknowledgement; the report moves on to assessment.
fn acknowledge(incident: &mut Incident, at: DateTime<Utc>) -> String {
    if let Some(earlier) = incident.decisions.acknowledged_at {
        return format!("Already acknowledged at {}.", utc_minute(earlier));
    }
    incident.decisions.acknowledged_at = Some(at);
    if incident.phase == Phase::Awareness {
        incident.enter_phase(Phase::Assessment, at);
    }
    let mut reply = "Acknowledged: the reaction clock stops.".to_owned();
    if incident.decisions.coordinator.is_none() {
        reply.push_str(" Nobody coordinates yet: name someone with `/herald coordinator @login`.");
    }
    reply
}

/// `/herald phase`: containment and remediation before disclosure, recovery after it;
/// forward only (disclosure comes with publication, closing with `/herald close`).
fn move_phase(incident: &mut Incident, phase: Phase, at: DateTime<Utc>) -> String {
    let disclosed = incident.phase >= Phase::Disclosure;
    let allowed = match phase {
        Phase::Containment | Phase::Remediation => !disclosed && incident.phase < phase,
        Phase::Recovery => incident.phase == Phase::Disclosure,
        _ => false,
    };
    if !allowed {
        return format!(
            "The incident is in {}; it cannot move to {phase}. Phases go forward: \
             containment and remediation before disclosure, recovery after it.",
            incident.phase
        );
    }
    incident.enter_phase(phase, at);
    format!("The incident is in {phase} now.")
}

/// `/herald publish`: approval, then the embargo time, then GitHub is asked to publish.
/// The incident enters disclosure only when GitHub confirms the publication: the public
/// channels follow that confirmation, never this request.
fn publish(incident: &Incident, at: DateTime<Utc>, effects: &mut Vec<CommandEffect>) -> String {
    if incident.published_on_github() {
        return "The advisory is already published on GitHub.".to_owned();
    }
    if let Err(reason) = incident.publication_allowed(at) {
        return format!("Not published: {reason}.");
    }
    effects.push(CommandEffect::PublishAdvisory);
    "Asking GitHub to publish the advisory. The public channels (CHANGELOG pull request, \
     advisory issue, wiki, forum, mail) follow once GitHub confirms the publication."
        .to_owned()
}

impl Incident {
    /// When the repository asks a second person to publish what one approved
    /// (`disclosure.second_person`, `required`): why `actor` may not publish, when they
    /// approved disclosure themselves.
    pub fn second_person_needed(&self, actor: &str, required: bool) -> Option<String> {
        if !required || !self.decisions.disclosure_approved {
            return None;
        }
        let Some(approver) = self.decisions.disclosure_approved_by.as_deref() else {
            return Some(
                "the approval was recorded before herald noted who gave it, and this \
                 repository asks a second person to publish: approve again \
                 (`disclosure:approved`)"
                    .to_owned(),
            );
        };
        approver.eq_ignore_ascii_case(actor).then(|| {
            format!(
                "{approver} approved disclosure, and this repository asks a second admin or \
                 security manager to publish it (`disclosure.second_person`)"
            )
        })
    }

    /// Whether herald may ask GitHub to publish the advisory at `at`: disclosure approved,
    /// the embargo passed. Checked when the command is given and again when the request
    /// goes, since an approval can be withdrawn and a date moved in between.
    pub fn publication_allowed(&self, at: DateTime<Utc>) -> Result<(), String> {
        if self.upstream.is_some() {
            return Err(
                "an upstream incident has no repository advisory of its own. Draft one \
                        for this repository; herald tracks it as its own incident"
                    .to_owned(),
            );
        }
        if !self.decisions.disclosure_approved {
            return Err("disclosure needs the `disclosure:approved` label first".to_owned());
        }
        if let Some(until) = self.decisions.embargo_until.filter(|until| at < *until) {
            return Err(format!("the embargo lasts until {}", utc_minute(until)));
        }
        Ok(())
    }
}

/// A command as the timeline records it.
fn command_words(command: &Command) -> String {
    match command {
        Command::Severity(level) => format!("severity set to {level}"),
        Command::ClearSeverity => "maintainer severity cleared".to_owned(),
        Command::Cvss(vector) => format!("CVSS vector set to {vector}"),
        Command::Threat(Some(threat)) => format!("threat set to {threat}"),
        Command::Threat(None) => "threat label removed".to_owned(),
        Command::Breach(true) => "breach confirmed (incident label)".to_owned(),
        Command::Breach(false) => "breach label removed".to_owned(),
        Command::ApproveDisclosure(true) => "disclosure approved".to_owned(),
        Command::ApproveDisclosure(false) => "disclosure approval withdrawn".to_owned(),
        Command::Coordinator(login) => format!("coordinator set to {login}"),
        Command::Embargo(until) => format!("embargo until {}", until.to_rfc3339()),
        Command::Prenotify(true) => "pre-notification approved".to_owned(),
        Command::Prenotify(false) => "pre-notification approval withdrawn".to_owned(),
        Command::Acknowledge => "report acknowledged".to_owned(),
        Command::Kind(kind) => format!("kind set to {kind}"),
        Command::Phase(phase) => format!("phase set to {phase}"),
        Command::RequestCve => "CVE requested".to_owned(),
        Command::Publish => "publication requested".to_owned(),
        Command::Retry => "failed work queued again".to_owned(),
        Command::Close => "incident closed".to_owned(),
        Command::Help => "help".to_owned(),
        Command::Contain(what) => format!("temporary action: {what}"),
        Command::Consulted(lead) => format!("{lead} consulted"),
        Command::Revert(number) => format!("temporary action {number} reverted"),
        Command::Keep(number) => format!("temporary action {number} made permanent"),
        Command::Affected(text) => format!("affected: {text}"),
        Command::Fork => "temporary private fork requested".to_owned(),
        Command::Fix { repository, number } => match repository {
            Some(repository) => format!("fix {repository}#{number} linked"),
            None => format!("fix #{number} linked"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Command, String> {
        parse_comment(text).remove(0).command
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
    fn a_command_that_changes_nothing_is_on_the_timeline_with_why() {
        let at = Utc::now();
        let mut incident = Incident::new(
            RepoName::parse("acme/widget").expect("name"),
            super::super::GhsaId::parse("GHSA-abcd-efgh-ijkm").expect("id"),
            at,
        );
        let outcome = apply_command(&mut incident, &Command::Publish, "alice", at);
        assert!(!outcome.changed && outcome.effects.is_empty());
        let details: Vec<&str> = outcome
            .timeline
            .iter()
            .map(|entry| entry.detail.as_str())
            .collect();
        assert_eq!(
            details,
            [
                "publication requested: nothing changed (Not published: disclosure needs the \
              `disclosure:approved` label first.)"
            ]
        );
        let help = apply_command(&mut incident, &Command::Help, "alice", at);
        assert!(help.timeline.is_empty(), "asking for help is no event");
    }

    fn found(body: &str) -> Vec<String> {
        parse_comment(body)
            .into_iter()
            .map(|line| line.text)
            .collect()
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

    #[test]
    fn arguments_are_checked() {
        assert_eq!(
            parse("/herald coordinator @alice"),
            Ok(Command::Coordinator("alice".into()))
        );
        assert!(parse("/herald coordinator @al;ce").is_err());
        assert!(parse("/herald embargo tomorrow").is_err());
        assert!(parse("/herald severity extreme").is_err());
    }

    #[test]
    fn prenotification_is_approved_within_the_rules_and_follows_the_embargo() {
        use crate::incident::testing::reported;
        let day = |d: u32| {
            DateTime::parse_from_rfc3339(&format!("2026-12-{d:02}T12:00:00Z"))
                .expect("time")
                .with_timezone(&Utc)
        };
        let terms = PrenotifyTerms {
            days_before: 7,
            max_days: 14,
            recipients: vec![
                crate::incident::Downstream {
                    address: "distros@vs.openwall.example".into(),
                    key: Some("0123".into()),
                },
                crate::incident::Downstream {
                    address: "packager@example.com".into(),
                    key: None,
                },
            ],
            problem: None,
            contact: None,
        };
        let now = day(2);
        let mut incident = reported("high", day(1));
        let approve = |incident: &mut Incident| {
            apply_command_with(incident, &Command::Prenotify(true), "alice", now, &terms)
        };
        // No date yet: refused, nothing changes.
        let outcome = approve(&mut incident);
        assert!(
            outcome.reply.contains("not approved: no embargo date"),
            "{}",
            outcome.reply
        );
        assert!(!outcome.changed && outcome.effects.is_empty());
        // Beyond max_days: refused.
        incident.decisions.embargo_until = Some(day(20));
        let outcome = approve(&mut incident);
        assert!(
            outcome.reply.contains("more than the 14 days"),
            "{}",
            outcome.reply
        );
        assert!(outcome.effects.is_empty());
        // Within: approved, the notices go seven days before the end.
        incident.decisions.embargo_until = Some(day(12));
        let outcome = approve(&mut incident);
        assert!(outcome.changed, "{}", outcome.reply);
        assert_eq!(
            outcome.effects,
            vec![CommandEffect::Prenotify {
                until: day(12),
                send_at: day(5)
            }]
        );
        assert!(
            outcome.reply.contains("on 2026-12-05 12:00 UTC"),
            "{}",
            outcome.reply
        );
        assert_eq!(outcome.timeline[0].detail, "pre-notification approved");
        // Approving again changes nothing.
        assert!(approve(&mut incident).effects.is_empty());
        // The date moves within the rules: an update, and the notice for the new date.
        let outcome =
            apply_command_with(&mut incident, &Command::Embargo(day(9)), "bob", now, &terms);
        assert_eq!(
            outcome.effects,
            vec![CommandEffect::PrenotifyMoved {
                from: day(12),
                to: day(9),
                send_at: day(2)
            }]
        );
        assert!(outcome.reply.contains("signed update"), "{}", outcome.reply);
        // Moved beyond the rules: the approval lapses, and nobody is told the bad date.
        let outcome = apply_command_with(
            &mut incident,
            &Command::Embargo(day(30)),
            "bob",
            now,
            &terms,
        );
        assert!(outcome.effects.is_empty());
        assert!(
            outcome.reply.contains("approval lapses"),
            "{}",
            outcome.reply
        );
        assert_eq!(incident.decisions.prenotify, None);
        // Withdrawn.
        incident.decisions.embargo_until = Some(day(9));
        approve(&mut incident);
        let outcome = apply_command_with(
            &mut incident,
            &Command::Prenotify(false),
            "alice",
            now,
            &terms,
        );
        assert!(outcome.reply.contains("withdrawn"), "{}", outcome.reply);
        assert_eq!(incident.decisions.prenotify, None);
        assert_eq!(
            parse("/herald prenotify withdraw"),
            Ok(Command::Prenotify(false))
        );
    }

    #[test]
    fn labels_map_to_commands() {
        let names = LabelNames {
            severity_prefix: "severity:",
            threat_prefix: "threat:",
            incident: "incident",
            disclosure_approved: "disclosure:approved",
            prenotify_approved: "prenotify:approved",
        };
        assert_eq!(
            label_command("prenotify:approved", true, &names),
            Some(Command::Prenotify(true))
        );
        assert_eq!(
            label_command("prenotify:approved", false, &names),
            Some(Command::Prenotify(false))
        );
        assert_eq!(
            label_command("severity:low", true, &names),
            Some(Command::Severity(Severity::Low))
        );
        assert_eq!(
            label_command("severity:low", false, &names),
            Some(Command::ClearSeverity)
        );
        assert_eq!(
            label_command("incident", true, &names),
            Some(Command::Breach(true))
        );
        assert_eq!(
            label_command("disclosure:approved", true, &names),
            Some(Command::ApproveDisclosure(true))
        );
        assert_eq!(label_command("bug", true, &names), None);
    }

    #[test]
    fn a_named_kind_sets_the_severity_unless_a_maintainer_set_one() {
        use crate::incident::SeveritySource;
        let at = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut incident = crate::incident::testing::reported("low", at);
        assert_eq!(incident.severity, Severity::Low);
        let kind = parse("/herald kind xss").expect("a command");
        let outcome = apply_command(&mut incident, &kind, "alice", at);
        assert_eq!(
            (incident.severity, incident.severity_source),
            (Severity::High, SeveritySource::Kind)
        );
        assert!(
            outcome.reply.contains("Kind set to xss"),
            "{}",
            outcome.reply
        );
        assert_eq!(outcome.timeline[0].detail, "kind set to xss");
        apply_command(
            &mut incident,
            &Command::Severity(Severity::Medium),
            "alice",
            at,
        );
        assert_eq!(
            (incident.severity, incident.severity_source),
            (Severity::Medium, SeveritySource::Maintainer),
            "an explicit severity wins over the kind"
        );
        apply_command(&mut incident, &Command::ClearSeverity, "alice", at);
        assert_eq!(incident.severity, Severity::High, "the kind stands again");
        assert_eq!(
            parse("/herald kind rce"),
            Ok(Command::Kind(IncidentKind::CodeExecution))
        );
        assert_eq!(
            parse("/herald kind supply-chain"),
            Ok(Command::Kind(IncidentKind::SupplyChain))
        );
        assert!(
            parse("/herald kind boredom")
                .expect_err("not a kind")
                .contains("not a kind: use supply-chain")
        );
        for kind in IncidentKind::ALL {
            assert_eq!(kind.as_str().parse::<IncidentKind>(), Ok(kind));
        }
        assert_eq!(IncidentKind::SupplyChain.severity(), Severity::Critical);
        assert_eq!(IncidentKind::DenialOfService.severity(), Severity::Medium);
        assert_eq!(IncidentKind::DocsDefacement.severity(), Severity::Low);
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
