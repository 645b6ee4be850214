//! A report mailed to the security team opens one private issue in the operator's
//! `intake_repository`, ever: never in a repository GitHub does not call private, and
//! found again by its marker when herald stopped between creating it and recording it.

use super::authority::authority_of;
use super::record::{IntakeWrite, Write};
use super::{ChannelError, Channels, Record};
use crate::drafts::escape;
use crate::drafts::limits::{GITHUB_BODY_CHARS, fit_title};
use crate::drafts::{IntakeFacts, fitted, intake_issue};
use crate::github::Api;
use crate::github::api::{AdvisoryPackage, IssueInfo, NewAdvisory, NewIssue, NewVulnerability};
use crate::incident::{Authority, DeliveryId, GhsaId, RepoName, parse_comment};
use crate::ingest::events::EventKind;
use crate::intake::{INTAKE_HELP, IntakeCommand, IntakeId, Letter, intake_command};
use crate::markers::{key, marker};
use crate::store::{IntakeRow, IntakeState};

/// The labels of an intake's issue; the second finds it again.
const LABELS: [&str; 2] = ["security", "intake"];

/// Opens intake `id`'s issue, unless it has one.
pub(super) async fn open(
    channels: &Channels,
    id: IntakeId,
    first_try: bool,
) -> Result<Record, ChannelError> {
    let Some(row) = channels.store.intake(id).await? else {
        return Ok(Record::note("intake gone"));
    };
    if row.state != IntakeState::New {
        return Ok(Record::note("intake issue opened before"));
    }
    let (repository, api) = private_repository(channels, &format!("intake {id}")).await?;
    let marker = marker::intake(id);
    let text = text_of(channels, &marker, &row).await?;
    let place = Place {
        api: &api,
        repository: &repository,
        labels: &LABELS,
        marker: &marker,
    };
    let issue = issue_once(channels, &place, first_try, text).await?;
    tracing::info!(intake = %id, %repository, number = issue.number, "intake issue open");
    Ok(
        Record::note(format!("intake issue {repository}#{}", issue.number)).with(Write::Intake(
            IntakeWrite::Issue {
                intake: id,
                issue: (repository, issue.number, issue.html_url),
            },
        )),
    )
}

/// The operator's `intake_repository`, where herald opens the issues of what comes from
/// outside GitHub (`what`: mailed reports, product incidents), only while GitHub calls it
/// private: what goes there is secret.
pub(super) async fn private_repository(
    channels: &Channels,
    what: &str,
) -> Result<(RepoName, Api), ChannelError> {
    let repository = channels.intake.repository.clone().ok_or_else(|| {
        ChannelError::Unconfigured(
            "no intake_repository is set: herald opens the issues of mailed reports and \
             upstream announcements there; set it to a private repository, then `herald \
             jobs retry` this job"
                .to_owned(),
        )
    })?;
    let api = private(channels, &repository, what).await?;
    Ok((repository, api))
}

/// The API of `repository`, where `what` is written, only while GitHub calls it private.
pub(super) async fn private(
    channels: &Channels,
    repository: &RepoName,
    what: &str,
) -> Result<Api, ChannelError> {
    let api = channels.installation(repository).await?;
    let visibility = api.repository(repository).await?.visibility().to_owned();
    if visibility != "private" {
        tracing::error!(%what, %repository, "refused to write to a repository that is not private");
        return Err(ChannelError::NotAllowed(format!(
            "herald will not write about {what} in {repository}: that repository is \
             {visibility}, and what it would say is secret. Set intake_repository to a \
             private repository (or make this one private), then `herald jobs retry` this \
             job."
        )));
    }
    Ok(api)
}

/// Intake `id`'s message as herald reads it, decrypted with the operator's key.
pub(super) async fn letter_of(channels: &Channels, id: IntakeId) -> Result<Letter, ChannelError> {
    let raw = channels.store.intake_message(id).await?.unwrap_or_default();
    Ok(Letter::read(&raw, channels.intake_key.as_ref()))
}

/// Intake `row`'s issue's title and body.
async fn text_of(
    channels: &Channels,
    marker: &str,
    row: &IntakeRow,
) -> Result<(String, String), ChannelError> {
    let letter = letter_of(channels, row.id).await?;
    let facts = IntakeFacts {
        id: row.id,
        received_at: row.received_at,
        reason: row.reason.as_deref(),
        marker,
    };
    Ok(intake_issue(&facts, &letter))
}

/// Where a private issue of herald's own goes, and what finds it again: its last label and
/// its hidden marker.
pub(super) struct Place<'a> {
    pub api: &'a Api,
    pub repository: &'a RepoName,
    pub labels: &'a [&'a str],
    pub marker: &'a str,
}

/// The issue at `place` with `text` (title, body): created, or found again by its marker
/// when an earlier try may have created it before its answer was lost.
pub(super) async fn issue_once(
    channels: &Channels,
    place: &Place<'_>,
    first_try: bool,
    (title, body): (String, String),
) -> Result<IssueInfo, ChannelError> {
    if !first_try {
        let label = place.labels.last().copied().unwrap_or_default();
        let found = place
            .api
            .find_issue(place.repository, label, place.marker, channels.app_bot())
            .await?;
        if let Some(issue) = found {
            return Ok(issue);
        }
    }
    let labels: Vec<String> = place
        .labels
        .iter()
        .map(|label| (*label).to_owned())
        .collect();
    let issue = NewIssue {
        title: &title,
        body: &body,
        labels: &labels,
        assignees: &[],
    };
    Ok(place.api.create_issue(place.repository, &issue).await?)
}

/// A maintainer's comment on an intake's issue.
pub(super) struct Spoken<'a> {
    pub delivery_id: &'a DeliveryId,
    pub sender: &'a str,
    pub body: &'a str,
}

/// What a maintainer decided about an intake, and how herald answers.
enum Decision {
    Accepted { advisory: (RepoName, GhsaId) },
    Dismissed { reason: String },
}

/// Reads the commands of a comment on intake `intake`'s issue: at most one decision (accept
/// or dismiss) is taken, and every line is answered in one reply.
pub(super) async fn command(
    channels: &Channels,
    intake: &IntakeRow,
    spoken: &Spoken<'_>,
) -> Result<Record, ChannelError> {
    let Some((repository, issue, _)) = intake.issue.clone() else {
        return Ok(Record::note("intake without an issue"));
    };
    let lines = parse_comment(spoken.body);
    if lines.is_empty() {
        return Ok(Record::note("no command"));
    }
    let mut answers = Vec::new();
    let mut decision = None;
    for line in &lines {
        let answer = match (intake_command(&line.text), &decision) {
            (Err(error), _) => format!("{error}\n\n{INTAKE_HELP}"),
            (Ok(IntakeCommand::Help), _) => INTAKE_HELP.to_owned(),
            (Ok(_), Some(_)) => "one decision per comment: this line was not taken".to_owned(),
            (Ok(_), None) if intake.state != IntakeState::Open => format!(
                "intake {} is {} already: nothing was changed",
                intake.id,
                intake.state.as_str()
            ),
            (Ok(asked), None) => {
                let (answer, decided) = decide(channels, intake, spoken, &asked).await?;
                decision = decided;
                answer
            }
        };
        answers.push(format!(
            "> {}\n\n{answer}",
            escape::markdown_line(&line.text)
        ));
    }
    if decision.is_some() {
        let reason = match decision {
            Some((Decision::Accepted { .. }, _)) => "completed",
            _ => "not_planned",
        };
        let api = channels.installation(&repository).await?;
        api.close_issue(&repository, issue, reason).await?;
    }
    let mut record = Record::note(format!(
        "{} intake command(s) from {} on {repository}#{issue}",
        lines.len(),
        spoken.sender
    ));
    if let Some((decision, writes)) = decision {
        record.extend(writes);
        let (state, detail, advisory) = match decision {
            Decision::Accepted { advisory } => (
                IntakeState::Accepted,
                format!("accepted as {} in {}", advisory.1, advisory.0),
                Some(advisory),
            ),
            Decision::Dismissed { reason } => (IntakeState::Dismissed, reason, None),
        };
        record.push(Write::Intake(IntakeWrite::Decision {
            intake: intake.id,
            state,
            by: spoken.sender.to_owned(),
            detail,
            advisory,
        }));
    }
    record.push(Write::Comment {
        key: key::command("intake", spoken.delivery_id),
        repository,
        issue,
        body: answers.join("\n\n---\n\n"),
    });
    Ok(record)
}

/// Takes one decision, if the sender may: the answer, and the decision with what it writes.
async fn decide(
    channels: &Channels,
    intake: &IntakeRow,
    spoken: &Spoken<'_>,
    asked: &IntakeCommand,
) -> Result<(String, Option<(Decision, Vec<Write>)>), ChannelError> {
    let sender = escape::markdown_line(spoken.sender);
    // A decision is the security team's: write access to the intake repository, whatever
    // else it needs.
    let Some((repository, _, _)) = &intake.issue else {
        return Ok(("this intake has no issue".to_owned(), None));
    };
    let api = channels.installation(repository).await?;
    let (authority, standing) = authority_of(&api, repository, spoken.sender, false).await?;
    if authority < Authority::Maintainer {
        let refused = refusal(&sender, "write access to this repository", &standing);
        return Ok((refused, None));
    }
    match asked {
        IntakeCommand::Help => Ok((INTAKE_HELP.to_owned(), None)),
        IntakeCommand::Dismiss(reason) => {
            let answer = format!(
                "Dismissed by {sender}: {}. The message stays in herald's store (`herald intake \
                 show {}`).",
                escape::markdown_line(reason),
                intake.id
            );
            let decision = Decision::Dismissed {
                reason: reason.clone(),
            };
            Ok((answer, Some((decision, Vec::new()))))
        }
        IntakeCommand::Accept(target) => accept(channels, intake, spoken, target).await,
    }
}

fn refusal(sender: &str, needed: &str, standing: &str) -> String {
    format!(
        "{sender}, this needs {needed}; GitHub says you have the {}. Nothing was changed.",
        escape::markdown_line(standing)
    )
}

/// Creates the draft advisory in `target` (or finds the one an earlier attempt created) and
/// hands it to the pipeline as a new report, learned of when the mail arrived.
async fn accept(
    channels: &Channels,
    intake: &IntakeRow,
    spoken: &Spoken<'_>,
    target: &RepoName,
) -> Result<(String, Option<(Decision, Vec<Write>)>), ChannelError> {
    let sender = escape::markdown_line(spoken.sender);
    let installation = match channels.installation_id(target).await {
        Ok(installation) => installation,
        Err(ChannelError::NoInstallation(_)) => {
            return Ok((
                format!(
                    "herald is not installed on {}: install the App there, then accept again.",
                    escape::markdown_line(target)
                ),
                None,
            ));
        }
        Err(error) => return Err(error),
    };
    let api = channels.github.installation(installation)?;
    let (authority, standing) = authority_of(&api, target, spoken.sender, true).await?;
    if authority < Authority::Security {
        let needed = format!(
            "the admin role on {} or to be a security manager of {} (as GitHub asks of whoever \
             creates an advisory)",
            escape::markdown_line(target),
            escape::markdown_line(target.owner())
        );
        return Ok((refusal(&sender, &needed, &standing), None));
    }
    let draft = AdvisoryDraft::of(intake, &letter_of(channels, intake.id).await?);
    let advisory = match draft.created_before(&api, target).await? {
        Some(advisory) => advisory,
        None => api.create_advisory(target, &draft.request(target)).await?,
    };
    let (delivery_id, body) =
        crate::ingest::accepted_advisory(target, installation, &advisory, spoken.sender)
            .ok_or_else(|| {
                ChannelError::Unconfigured(
                    "GitHub answered the new advisory without its id or update time".to_owned(),
                )
            })?;
    let mut delivery =
        crate::ingest::new_delivery(&delivery_id, EventKind::RepositoryAdvisory, &body).map_err(
            |error| {
                ChannelError::Unconfigured(format!(
                    "GitHub's new advisory is in a shape herald cannot read: {error}"
                ))
            },
        )?;
    // The reaction clock runs from the mail's arrival, not from the acceptance.
    delivery.received_at = intake.received_at;
    // `accepted_advisory` read the id: it is one.
    let ghsa_id = advisory["ghsa_id"]
        .as_str()
        .and_then(|id| GhsaId::parse(id).ok())
        .ok_or_else(|| {
            ChannelError::Unconfigured("GitHub's new advisory has no GHSA id".to_owned())
        })?;
    let url = advisory["html_url"].as_str().unwrap_or_default();
    let answer = format!(
        "Accepted by {sender} as {} in {}: a draft repository advisory ({}). herald tracks it \
         from now on as an incident, with its own private tracking issue; its reaction clock \
         started when the mail arrived ({}).",
        escape::markdown_line(&ghsa_id),
        escape::markdown_line(target),
        escape::markdown_line(url),
        intake.received_at.format("%Y-%m-%d %H:%M UTC")
    );
    let decision = Decision::Accepted {
        advisory: (target.clone(), ghsa_id),
    };
    Ok((answer, Some((decision, vec![Write::Delivery(delivery)]))))
}

/// The draft advisory an intake becomes: the subject as its summary, the report (as data)
/// as its description. It names neither the reporter's address nor the intake's issue:
/// both would be public once the advisory is.
struct AdvisoryDraft {
    summary: String,
    description: String,
}

/// GitHub's limits on an advisory's summary and description.
const SUMMARY_CHARS: usize = 1024;
const DESCRIPTION_CHARS: usize = 65_000;

impl AdvisoryDraft {
    fn of(intake: &IntakeRow, letter: &Letter) -> AdvisoryDraft {
        let subject = match letter.subject.trim() {
            "" => "Report mailed to the security team",
            subject => subject,
        };
        let head = format!(
            "*Reported by mail to the security team on {}.*\n\n",
            intake.received_at.format("%Y-%m-%d")
        );
        let room = DESCRIPTION_CHARS.saturating_sub(head.chars().count());
        // As a report made on GitHub is: the reporter's Markdown, pinging nobody; the drafts
        // escape it where they show it, once.
        let report: String = escape::references_broken(&letter.text)
            .chars()
            .take(room)
            .collect();
        AdvisoryDraft {
            summary: fit_title(&escape::plain_line(subject), SUMMARY_CHARS),
            description: format!("{head}{report}"),
        }
    }

    fn request<'a>(&'a self, target: &'a RepoName) -> NewAdvisory<'a> {
        NewAdvisory {
            summary: &self.summary,
            description: &self.description,
            vulnerabilities: [NewVulnerability {
                package: AdvisoryPackage {
                    ecosystem: "other",
                    name: target.name(),
                },
            }],
        }
    }

    /// The draft an earlier attempt created (herald died between GitHub's answer and
    /// recording it): the newest draft with this summary and description.
    async fn created_before(
        &self,
        api: &Api,
        target: &RepoName,
    ) -> Result<Option<serde_json::Value>, ChannelError> {
        Ok(api
            .draft_advisories(target)
            .await?
            .into_iter()
            .find(|advisory| {
                advisory["summary"] == self.summary.as_str()
                    && advisory["description"] == self.description.as_str()
            }))
    }
}

/// Adds reply `id` (the reporter's mail answering their report) to where the report is
/// followed now: its incident's tracking issue once accepted, else the intake's issue.
pub(super) async fn post_reply(channels: &Channels, id: IntakeId) -> Result<Record, ChannelError> {
    let Some(reply) = channels.store.intake(id).await? else {
        return Ok(Record::note("intake gone"));
    };
    let Some(parent) = reply.reply_to else {
        return Ok(Record::note("not a reply"));
    };
    if reply.state != IntakeState::Reply {
        return Ok(Record::note("reply posted before"));
    }
    let Some(report) = channels.store.intake(parent).await? else {
        return Ok(Record::note("the report it answers is gone"));
    };
    let (repository, issue) = where_followed(channels, &report)
        .await?
        .ok_or_else(|| ChannelError::NotYet(format!("intake {parent}'s issue is not open yet")))?;
    let letter = letter_of(channels, id).await?;
    let body = reply_comment(&reply, &letter);
    Ok(Record::note(format!("reply added to {repository}#{issue}"))
        .with(Write::Comment {
            key: format!("intake-reply:{id}"),
            repository,
            issue,
            body,
        })
        .with(Write::Intake(IntakeWrite::ReplyPosted { intake: id })))
}

/// Where a report is followed: its incident's tracking issue once it is one, else its
/// intake's issue.
async fn where_followed(
    channels: &Channels,
    report: &IntakeRow,
) -> Result<Option<(RepoName, u64)>, ChannelError> {
    if let Some((repository, ghsa_id)) = &report.advisory {
        for row in channels.store.incidents_by_ghsa(ghsa_id).await? {
            if row.incident.repository == *repository
                && let Some(link) = channels.store.tracking_link(row.id).await?
                && let Some(issue) = link.issue()
            {
                return Ok(Some(issue));
            }
        }
    }
    Ok(report
        .issue
        .as_ref()
        .map(|(repository, number, _)| (repository.clone(), *number)))
}

/// The comment that carries a reply: who sent it and when, how it was sealed, its text as
/// data, its attachments by name.
fn reply_comment(reply: &IntakeRow, letter: &Letter) -> String {
    let from = letter
        .from
        .as_ref()
        .map_or("(no address)", |from| from.address.as_str());
    let mut text = format!(
        "**A reply from the reporter** ({}, received {}; encrypted: {}; signed: {}):\n\n",
        escape::markdown_line(from),
        reply.received_at.format("%Y-%m-%d %H:%M UTC"),
        escape::markdown_line(&letter.seal.describe()),
        escape::markdown_line(&letter.signature.describe()),
    );
    let room = GITHUB_BODY_CHARS.saturating_sub(2_000);
    text.push_str(&fitted(&escape::markdown(&letter.text), room, reply.id));
    for attachment in &letter.attachments {
        text.push_str(&format!(
            "\n- attachment {} ({}, {} bytes; in herald's store: `herald intake show {}`)",
            escape::markdown_line(&attachment.name),
            escape::markdown_line(&attachment.content_type),
            attachment.bytes,
            reply.id
        ));
    }
    text
}
