//! What an effect job did. A handler acts outside the store (GitHub, mail, a forum) and
//! returns a [`Record`]; the runner writes it together with the job's completion in one
//! durable commit, so the effect is recorded once or, after a crash, found again by the
//! retried job (herald's markers), never recorded twice. No handler completes its own job.

use super::ChannelError;
use super::commands::{self, CommandBatch};
use crate::incident::{
    Amendment, DeliveryId, GhsaId, Incident, ProductIncidentId, RepoName, TimelineEntry,
    TimelineKind,
};
use crate::intake::IntakeId;
use crate::jobs::Job;
use crate::store::{ChannelPost, IncidentId, NewDelivery, Priority, TrackingLink, Work};
use chrono::{DateTime, Utc};

/// What a job did: a note for the log and what to write.
#[derive(Debug, Default)]
pub struct Record {
    pub note: String,
    writes: Vec<Write>,
    /// The reminder stage this job notified, counted once the record is committed.
    pub sla_notice: Option<&'static str>,
}

/// One write of a [`Record`], in the order the handler asked for it.
#[derive(Debug)]
pub(super) enum Write {
    Timeline {
        incident: IncidentId,
        entries: Vec<TimelineEntry>,
        delivery: Option<DeliveryId>,
    },
    Job {
        job: Job,
        key: String,
        at: Option<DateTime<Utc>>,
    },
    /// A comment herald owes GitHub, queued as a job (see [`commands::apply_commands`]).
    Comment {
        key: String,
        repository: RepoName,
        issue: u64,
        body: String,
    },
    ChannelPost {
        incident: IncidentId,
        channel: crate::jobs::PublicChannel,
        post: ChannelPost,
    },
    Drafts {
        incident: IncidentId,
        drafts: Vec<(String, String)>,
    },
    TrackingLink {
        incident: IncidentId,
        link: TrackingLink,
    },
    /// A version of an advisory GitHub answered with, for the pipeline.
    Delivery(NewDelivery),
    /// What became of a mailed report.
    Intake(IntakeWrite),
    /// A product incident's issue, and how many of its sources it names.
    ProductIssue {
        incident: ProductIncidentId,
        issue: (RepoName, u64, String),
        told: usize,
    },
    /// An incident as the handler found it changed, its timeline, and what follows.
    Incident {
        incident: Box<Incident>,
        timeline: Vec<TimelineEntry>,
        delivery: Option<DeliveryId>,
    },
    /// Maintainer commands, applied to the incident as the store has it at commit time.
    Commands(Box<CommandBatch>),
    /// What a job learned about an incident, applied to it as the store has it at commit
    /// time (its tracking issue follows).
    Amend {
        repository: RepoName,
        ghsa_id: GhsaId,
        amendment: Amendment,
    },
}

/// What became of a mailed report, written with the job that did it.
#[derive(Debug)]
pub(super) enum IntakeWrite {
    /// The maintainers' decision on an intake.
    Decision {
        intake: IntakeId,
        state: crate::store::IntakeState,
        by: String,
        detail: String,
        /// The draft advisory an accepted report became.
        advisory: Option<(RepoName, GhsaId)>,
    },
    /// herald acknowledged the report to `to` at `at`, in its message `message_id`.
    Acknowledged {
        intake: IntakeId,
        to: String,
        message_id: String,
        at: DateTime<Utc>,
    },
    /// herald sent the reporter its message `message_id` (a notice).
    Answered {
        intake: IntakeId,
        message_id: String,
    },
    /// A reporter's reply joined its intake.
    ReplyPosted { intake: IntakeId },
    /// The issue an intake opened: (repository, number, address).
    Issue {
        intake: IntakeId,
        issue: (RepoName, u64, String),
    },
}

impl IntakeWrite {
    async fn apply(self, work: &mut Work) -> Result<(), ChannelError> {
        match self {
            IntakeWrite::Decision {
                intake,
                state,
                by,
                detail,
                advisory,
            } => {
                let advisory = advisory
                    .as_ref()
                    .map(|(repository, ghsa_id)| (repository, ghsa_id));
                work.decide_intake(intake, state, (&by, &detail), advisory)
                    .await?;
            }
            IntakeWrite::Acknowledged {
                intake,
                to,
                message_id,
                at,
            } => {
                work.acknowledge_intake(intake, &to, at).await?;
                work.answered_intake(intake, &message_id).await?;
            }
            IntakeWrite::Answered { intake, message_id } => {
                work.answered_intake(intake, &message_id).await?;
            }
            IntakeWrite::ReplyPosted { intake } => work.reply_posted(intake).await?,
            IntakeWrite::Issue {
                intake,
                issue: (repository, number, url),
            } => {
                work.save_intake_issue(intake, (&repository, number, &url))
                    .await?;
            }
        }
        Ok(())
    }
}

impl From<String> for Record {
    fn from(note: String) -> Record {
        Record::note(note)
    }
}

impl Record {
    /// A record of nothing but a note.
    pub fn note(note: impl Into<String>) -> Record {
        Record {
            note: note.into(),
            writes: Vec::new(),
            sla_notice: None,
        }
    }

    /// Adds a write.
    pub(super) fn with(mut self, write: Write) -> Record {
        self.writes.push(write);
        self
    }

    /// What a public channel did: `detail`, when something went public (or was refused),
    /// on the incident's timeline; `note` for the log.
    pub(super) fn publication(
        incident: IncidentId,
        detail: Option<String>,
        note: impl Into<String>,
    ) -> Record {
        let record = Record::note(note);
        match detail {
            Some(detail) => record.with_timeline(
                incident,
                TimelineEntry {
                    at: Utc::now(),
                    actor: None,
                    kind: TimelineKind::Publication,
                    detail,
                },
            ),
            None => record,
        }
    }

    /// Adds a timeline entry for `incident`.
    pub fn with_timeline(self, incident: IncidentId, entry: TimelineEntry) -> Record {
        self.with(Write::Timeline {
            incident,
            entries: vec![entry],
            delivery: None,
        })
    }

    pub(super) fn push(&mut self, write: Write) {
        self.writes.push(write);
    }

    /// Adds the writes given (none, or one from an `Option`).
    pub(super) fn extend(&mut self, writes: impl IntoIterator<Item = Write>) {
        self.writes.extend(writes);
    }

    /// Whether committing it hands the store worker something to process.
    pub fn admits_deliveries(&self) -> bool {
        self.writes
            .iter()
            .any(|write| matches!(write, Write::Delivery(_)))
    }

    /// Writes everything within `work` (the runner's transaction, which then completes
    /// the job and commits).
    pub async fn apply(self, work: &mut Work) -> Result<String, ChannelError> {
        let now = Utc::now();
        for write in self.writes {
            match write {
                Write::Timeline {
                    incident,
                    entries,
                    delivery,
                } => {
                    work.append_timeline(incident, &entries, delivery.as_ref())?;
                }
                Write::Job { job, key, at } => {
                    match at {
                        Some(at) => work.enqueue_at(&job, &key, at)?,
                        None => work.enqueue(&job, &key)?,
                    };
                }
                Write::Comment {
                    key,
                    repository,
                    issue,
                    body,
                } => crate::jobs::queue_comment(work, &key, &repository, issue, &body)?,
                Write::ChannelPost {
                    incident,
                    channel,
                    post,
                } => save_post(work, (incident, channel), &post, now).await?,
                Write::Drafts { incident, drafts } => {
                    work.save_drafts(incident, &drafts, now).await?;
                }
                Write::TrackingLink { incident, link } => {
                    work.save_tracking_link(incident, &link).await?;
                }
                Write::Delivery(delivery) => {
                    work.admit(&delivery).await?;
                }
                Write::Intake(write) => write.apply(work).await?,
                Write::ProductIssue {
                    incident,
                    issue: (repository, number, url),
                    told,
                } => {
                    work.product_issue_told(incident, (&repository, number, &url), told)
                        .await?;
                }
                Write::Incident {
                    incident,
                    timeline,
                    delivery,
                } => {
                    crate::pipeline::save_incident(
                        work,
                        &incident,
                        &timeline,
                        delivery.as_ref(),
                        (now, Priority::Urgent),
                    )
                    .await?;
                }
                Write::Commands(batch) => commands::apply_commands(work, *batch, now).await?,
                Write::Amend {
                    repository,
                    ghsa_id,
                    amendment,
                } => amend(work, (&repository, &ghsa_id), &amendment, now).await?,
            }
        }
        Ok(self.note)
    }
}

/// Keeps where a channel posted, and has the tracking issue link it: one sync after the
/// channels queued with this one (later ones find it up to date).
async fn save_post(
    work: &mut Work,
    (incident, channel): (IncidentId, crate::jobs::PublicChannel),
    post: &ChannelPost,
    now: DateTime<Utc>,
) -> Result<(), ChannelError> {
    work.save_channel_post(incident, channel.post_name(), post, now)
        .await?;
    work.tracking_issue_outdated(incident).await?;
    let refresh = Job::SyncTrackingIssue { incident };
    let key = crate::markers::key::tracking_refresh(
        channel.post_name(),
        incident,
        now.timestamp_millis(),
    );
    work.enqueue(&refresh, &key)?;
    Ok(())
}

/// Applies what a job learned to the incident as the store has it now.
async fn amend(
    work: &mut Work,
    (repository, ghsa_id): (&RepoName, &GhsaId),
    amendment: &Amendment,
    now: DateTime<Utc>,
) -> Result<(), ChannelError> {
    let Some(row) = work.find_incident(repository, ghsa_id).await? else {
        return Ok(());
    };
    let mut incident = row.incident;
    let timeline = incident.amend(amendment, now);
    if !timeline.is_empty() {
        crate::pipeline::save_incident(work, &incident, &timeline, None, (now, Priority::Urgent))
            .await?;
    }
    Ok(())
}
