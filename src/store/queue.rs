//! Deliveries and the outbox: the durable queue between answering GitHub and acting.

use super::IncidentId;
use super::job::{Job, Priority};
use super::{Store, StoreError, Work, from_millis, to_millis};
use crate::incident::{DeliveryId, RepoName};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// A verified delivery on its way into the store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: DeliveryId,
    pub event: String,
    pub action: Option<String>,
    pub repository: Option<RepoName>,
    pub installation_id: Option<super::InstallationId>,
    /// The raw body, compressed by [`compress_payload`].
    pub payload_lz4: Vec<u8>,
    /// The body's verified signature (HMAC-SHA256 under the webhook secret): a body
    /// already stored under another id is a replay. `None` for the deliveries herald
    /// makes itself, known by their id.
    pub body_signature: Option<[u8; 32]>,
    pub received_at: DateTime<Utc>,
}

/// Compresses a delivery body for the store (done by the request, not the store's writer).
pub fn compress_payload(body: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(body)
}

/// What the store made of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Stored now, with its processing job.
    Accepted,
    /// A delivery with this id was stored before; nothing was written.
    Duplicate,
}

#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub delivery_id: DeliveryId,
    pub event: String,
    /// The raw body as GitHub sent it.
    pub payload: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// The kinds of job, each with the name the store keeps: one list, from which the enum,
/// [`JobKind::ALL`] and [`JobKind::as_str`] are made.
macro_rules! job_kinds {
    ($($(#[$doc:meta])* $kind:ident = $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum JobKind {
            $($(#[$doc])* $kind,)*
        }

        impl JobKind {
            pub const ALL: &[JobKind] = &[$(JobKind::$kind,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(JobKind::$kind => $name,)*
                }
            }
        }
    };
}

job_kinds! {
    /// Turn a stored delivery into domain changes; the job payload is the delivery id.
    ProcessDelivery = "process_delivery",
    /// Create or update an incident's private tracking issue; the payload is the incident id.
    SyncTrackingIssue = "sync_tracking_issue",
    /// A maintainer's comment or label on a tracking issue; the payload is the delivery id
    /// (the commenter's permission is checked on GitHub first).
    MaintainerAction = "maintainer_action",
    /// Post herald's answer on an issue; the payload is a [`super::PendingComment`].
    PostComment = "post_comment",
    /// Ask GitHub for a CVE id; the payload is the incident id.
    RequestCve = "request_cve",
    /// Publish the repository advisory on GitHub; the payload is the incident id.
    PublishAdvisory = "publish_advisory",
    /// Open or update the CHANGELOG pull requests (embargo-gated); payload: incident id.
    ChangelogPr = "changelog_pr",
    /// Open or update the public advisory issue (embargo-gated); payload: incident id.
    AdvisoryIssue = "advisory_issue",
    /// Offer a critical incident's blog post to the website repository (embargo-gated);
    /// payload: incident id.
    BlogPostPr = "blog_post_pr",
    /// Queue the signed announcement to each configured mailing list (embargo-gated);
    /// payload: incident id.
    Announce = "announce",
    /// Remind and escalate when a reaction is running late (due at the reminder's time;
    /// private: the tracking issue and the escalation addresses); payload: a
    /// [`super::PendingEscalation`].
    Escalate = "escalate",
    /// Send the announcement to one list (embargo-gated); payload: a
    /// [`super::PendingMail`].
    SendMail = "send_mail",
    /// Post the post-incident review on the tracking issue; payload: incident id.
    PostReview = "post_review",
    /// Match a global advisory against the served repositories' dependencies (their
    /// dependency graphs are read from GitHub); payload: the delivery id.
    MatchUpstream = "match_upstream",
    /// Open or update the incident's topic on the Discourse forum (embargo-gated); payload:
    /// incident id.
    ForumPost = "forum_post",
    /// Open or update the incident's GitHub discussion (embargo-gated); payload: incident id.
    DiscussionPost = "discussion_post",
    /// Add or update the incident's page on the GitHub wiki (embargo-gated); payload:
    /// incident id.
    WikiPage = "wiki_page",
    /// Create or update the incident's page on a MediaWiki (embargo-gated); payload:
    /// incident id.
    MediaWikiPage = "mediawiki_page",
    /// Tell people about a temporary action (private: the tracking issue and the
    /// `notify:` addresses); payload: a [`super::PendingContainment`].
    Containment = "containment",
    /// Ask GitHub for the advisory's temporary private fork, or check whether it exists yet;
    /// payload: incident id.
    PrivateFork = "private_fork",
    /// Post a private notice to the team's chat; payload: a [`super::PendingChat`].
    Chat = "chat",
    /// Read a pull request a maintainer linked as a fix; payload: a
    /// [`super::PendingPull`].
    TrackPull = "track_pull",
    /// Tell one downstream of an incident before disclosure, under embargo (private, its
    /// own rule, not the embargo gate); payload: a [`super::PendingPrenotice`].
    Prenotify = "prenotify",
    /// At an embargo's end, remind the maintainers when downstreams told that date wait
    /// for a disclosure that has not happened (private); payload: a
    /// [`super::PendingEmbargoEnd`].
    EmbargoEnd = "embargo_end",
}

impl JobKind {
    /// Jobs that only change the store: they run in batches inside the store's transaction.
    pub const LOCAL: [JobKind; 1] = [JobKind::ProcessDelivery];
    /// Jobs with effects outside the store (GitHub, mail, forums, wikis): every kind but
    /// the local ones. Leased, run outside any transaction, then recorded.
    pub fn effects() -> impl Iterator<Item = JobKind> {
        JobKind::ALL
            .iter()
            .copied()
            .filter(|kind| !JobKind::LOCAL.contains(kind))
    }

    pub fn from_name(name: &str) -> Option<JobKind> {
        JobKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == name)
    }
}

/// `kind IN (...)` for a set of job kinds (the names are constants, not input).
fn kinds_sql(kinds: impl IntoIterator<Item = JobKind>) -> String {
    let names: Vec<String> = kinds
        .into_iter()
        .map(|kind| format!("'{}'", kind.as_str()))
        .collect();
    format!("kind IN ({})", names.join(", "))
}

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// Attempts before this one.
    pub attempts: i64,
    /// When the job was queued, or became due again after a wait: what it reads of GitHub
    /// must be at least that recent.
    pub due_since: DateTime<Utc>,
    /// Leases so far, this one included: more than one when an earlier runner may have
    /// done part of the job before it died.
    pub claims: i64,
}

impl ClaimedJob {
    /// Neither leased nor attempted before: no earlier run can have done part of it.
    pub fn first_try(&self) -> bool {
        self.claims <= 1 && self.attempts == 0
    }

    /// The job, decoded from its stored form.
    pub fn job(&self) -> Result<Job, StoreError> {
        Job::decode(&self.kind, &self.payload)
    }

    /// The incident the job is for, where it names one.
    pub fn incident_id(&self) -> Option<IncidentId> {
        self.job().ok()?.incident()
    }
}

/// A job herald gave up on, as `herald incidents show` lists it.
#[derive(Debug, Clone)]
pub struct FailedJob {
    pub id: i64,
    pub kind: String,
    pub attempts: i64,
    pub error: String,
    pub finished_at: Option<DateTime<Utc>>,
}

const DEAD_JOBS: &str = "SELECT id, kind, payload, attempts, run_after, created_at, claims, \
     last_error, finished_at FROM outbox \
     WHERE state = 'dead' ORDER BY id";

/// The dead jobs among `rows` that are for `incident_id`.
fn failed_for(
    rows: &[sqlx::any::AnyRow],
    incident_id: IncidentId,
) -> Result<Vec<FailedJob>, StoreError> {
    let mut failed = Vec::new();
    for row in rows {
        let job = claimed_job(row)?;
        if job.incident_id() != Some(incident_id) {
            continue;
        }
        failed.push(FailedJob {
            id: job.id,
            kind: job.kind,
            attempts: job.attempts,
            error: row
                .try_get::<Option<String>, _>("last_error")?
                .unwrap_or_default(),
            finished_at: row
                .try_get::<Option<i64>, _>("finished_at")?
                .map(from_millis)
                .transpose()?,
        });
    }
    Ok(failed)
}

/// Rows written in one statement (well within SQLite's and PostgreSQL's limits on bound
/// values).
pub(super) const WRITE_CHUNK: usize = 200;

/// A job queued in a unit of work, written when it commits.
pub(super) struct QueuedJob {
    kind: &'static str,
    idempotency_key: String,
    payload: String,
    run_after: i64,
    created_at: i64,
    priority: i64,
    lane: Option<String>,
}

/// `run_after` of a new job: due at once, however the wall clock moves (a clock stepped
/// back must not hold fresh work).
pub(super) const DUE_AT_ONCE: i64 = 0;

impl Store {
    /// Stores a batch of deliveries and their jobs in one commit (one fsync for many
    /// concurrent deliveries) and two statements. Returns one admission per delivery, in
    /// order; a delivery id already stored, or repeated within the batch, is a duplicate.
    pub async fn admit(&self, batch: &[NewDelivery]) -> Result<Vec<Admission>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut work = self.begin_durable().await?;
        let admissions = work.admit(batch).await?;
        work.commit().await?;
        Ok(admissions)
    }

    /// Opens a unit of work: one write transaction of derived state. What herald derives
    /// from stored deliveries may skip the fsync: the next durable commit (or checkpoint)
    /// persists it, and if power fails first, its jobs are simply still queued and run
    /// again. Jobs with effects outside the store must not use this.
    pub async fn begin(&self) -> Result<Work, StoreError> {
        self.open_work(false).await
    }

    /// Opens a unit of work whose commit waits for fsync: for recording what already
    /// happened outside the store (a GitHub write), which cannot be recomputed.
    pub async fn begin_durable(&self) -> Result<Work, StoreError> {
        self.open_work(true).await
    }

    pub(super) async fn open_work(&self, durable: bool) -> Result<Work, StoreError> {
        let mut tx = self.writer.begin_with(self.dialect.begin(durable)).await?;
        if let Some(setting) = self.dialect.after_begin(durable) {
            sqlx::query(setting).execute(&mut *tx).await?;
        }
        Ok(Work {
            tx,
            dialect: self.dialect,
            jobs: Vec::new(),
            timeline: Vec::new(),
            read_ahead: HashMap::new(),
            saved_repositories: HashSet::new(),
            served_since: HashMap::new(),
            incidents_ahead: HashMap::new(),
            new_incidents: Vec::new(),
            reserved_incident_ids: std::collections::VecDeque::new(),
        })
    }

    /// Leases the effect job due longest, urgent ones first, for `lease`, durably, so that
    /// no other runner takes it meanwhile and a crashed runner's job is taken over once the
    /// lease ends. A job whose lane (see [`Job::lane`]) has another job leased waits: one
    /// lane's jobs run one at a time, in order, while different lanes' run at once.
    pub async fn lease_effect(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        holder: &str,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let mut work = self.begin_durable().await?;
        if let Some(lock) = self.dialect.lease_lock() {
            sqlx::query(lock).execute(&mut *work.tx).await?;
        }
        let mut found = None;
        // One query per priority, so each walks only its due effect jobs (the partial index
        // outbox_effects_due, whose conditions the query repeats word for word).
        for priority in Priority::ALL {
            found = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id, kind, payload, attempts, run_after, created_at, claims FROM outbox \
                 WHERE state = 'pending' AND kind <> 'process_delivery' \
                 AND priority = $2 AND run_after <= $1 AND {} \
                 AND (locked_until IS NULL OR locked_until <= $1) \
                 AND (lane IS NULL OR NOT EXISTS (SELECT 1 FROM outbox busy \
                   WHERE busy.lane = outbox.lane AND busy.state = 'pending' \
                   AND busy.locked_until > $1)) \
                 ORDER BY run_after, id LIMIT 1{}",
                kinds_sql(JobKind::effects()),
                self.dialect.claim_lock()
            )))
            .bind(to_millis(now))
            .bind(priority as i64)
            .fetch_optional(&mut *work.tx)
            .await?;
            if found.is_some() {
                break;
            }
        }
        let Some(row) = found else {
            work.rollback().await?;
            return Ok(None);
        };
        let mut job = claimed_job(&row)?;
        job.claims += 1;
        sqlx::query(
            "UPDATE outbox SET locked_until = $1, locked_by = $2, claims = claims + 1 \
             WHERE id = $3",
        )
        .bind(to_millis(now + lease))
        .bind(holder)
        .bind(job.id)
        .execute(&mut *work.tx)
        .await?;
        work.commit().await?;
        Ok(Some(job))
    }

    /// Puts a leased job back, due at `until`, with no attempt counted (it waited its turn,
    /// it did not fail).
    pub async fn defer_job(&self, job_id: i64, until: DateTime<Utc>) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE outbox SET run_after = $1, locked_until = NULL \
             WHERE id = $2 AND state = 'pending'",
        )
        .bind(to_millis(until))
        .bind(job_id);
        self.execute_alone(query, false).await.map(drop)
    }

    /// Extends the lease `holder` has on a job it is still running to `until` (its runner
    /// is alive); `false` when the job is no longer leased to it (done, or taken over).
    pub async fn renew_lease(
        &self,
        job_id: i64,
        until: DateTime<Utc>,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE outbox SET locked_until = $1 \
             WHERE id = $2 AND state = 'pending' AND locked_until IS NOT NULL \
             AND locked_by = $3",
        )
        .bind(to_millis(until))
        .bind(job_id)
        .bind(holder);
        let renewed = self.execute_alone(query, false).await?;
        Ok(renewed == 1)
    }

    /// Ends every lease `holder` has on jobs not yet done (it is stopping, and what it
    /// did not finish is due at once for another runner). Returns how many.
    pub async fn release_leases(&self, holder: &str) -> Result<u64, StoreError> {
        let query = sqlx::query(
            "UPDATE outbox SET locked_until = NULL \
             WHERE locked_by = $1 AND state = 'pending' AND locked_until IS NOT NULL",
        )
        .bind(holder);
        self.execute_alone(query, true).await
    }

    /// A stored delivery, read outside any unit of work.
    pub async fn delivery(
        &self,
        delivery_id: &DeliveryId,
    ) -> Result<Option<StoredDelivery>, StoreError> {
        sqlx::query(DELIVERY_QUERY)
            .bind(delivery_id.as_str())
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(stored_delivery)
            .transpose()
    }

    /// The jobs herald gave up on for an incident, oldest first. Dead jobs are few: they
    /// are read whole and matched by their payload.
    pub async fn failed_jobs(&self, incident_id: IncidentId) -> Result<Vec<FailedJob>, StoreError> {
        let rows = sqlx::query(DEAD_JOBS).fetch_all(&self.reader).await?;
        failed_for(&rows, incident_id)
    }

    /// Effect jobs not yet done: what herald still owes GitHub.
    pub async fn pending_effects(&self) -> Result<Vec<ClaimedJob>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, kind, payload, attempts, run_after, created_at, claims FROM outbox \
             WHERE state = 'pending' AND {} ORDER BY id",
            kinds_sql(JobKind::effects())
        )))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(claimed_job).collect()
    }
}

const DELIVERY_QUERY: &str = "SELECT delivery_id, event, payload_lz4, received_at \
     FROM deliveries WHERE delivery_id = $1";

/// A delivery id read back from the store, where only checked ones are written.
pub(super) fn stored_delivery_id(text: &str) -> Result<DeliveryId, StoreError> {
    DeliveryId::parse(text).map_err(|error| StoreError::Corrupt(format!("delivery id: {error}")))
}

fn stored_delivery(row: &sqlx::any::AnyRow) -> Result<StoredDelivery, StoreError> {
    Ok(StoredDelivery {
        delivery_id: stored_delivery_id(&row.try_get::<String, _>("delivery_id")?)?,
        event: row.try_get("event")?,
        payload: lz4_flex::block::decompress_size_prepended(
            &row.try_get::<Vec<u8>, _>("payload_lz4")?,
        )
        .map_err(|error| StoreError::Corrupt(format!("delivery payload: {error}")))?,
        received_at: from_millis(row.try_get("received_at")?)?,
    })
}

fn claimed_job(row: &sqlx::any::AnyRow) -> Result<ClaimedJob, StoreError> {
    Ok(ClaimedJob {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        attempts: row.try_get("attempts")?,
        due_since: from_millis(
            row.try_get::<i64, _>("run_after")?
                .max(row.try_get("created_at")?),
        )?,
        claims: row.try_get("claims")?,
    })
}

impl Work {
    /// Stores deliveries and their processing jobs within this unit of work (see
    /// [`Store::admit`]).
    pub async fn admit(&mut self, batch: &[NewDelivery]) -> Result<Vec<Admission>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut insert = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "INSERT INTO deliveries \
             (delivery_id, event, action, repository, installation_id, payload_lz4, \
             body_signature, received_at) \
             VALUES {} ON CONFLICT DO NOTHING RETURNING delivery_id",
            self.dialect.value_rows(batch.len(), 8)
        )));
        for delivery in batch {
            insert = insert
                .bind(delivery.delivery_id.as_str())
                .bind(&delivery.event)
                .bind(&delivery.action)
                .bind(&delivery.repository)
                .bind(
                    delivery
                        .installation_id
                        .and_then(|id| i64::try_from(id.0).ok()),
                )
                .bind(&delivery.payload_lz4)
                .bind(
                    delivery
                        .body_signature
                        .as_ref()
                        .map(|signature| &signature[..]),
                )
                .bind(to_millis(delivery.received_at));
        }
        let mut inserted: HashSet<String> = insert
            .fetch_all(self.conn().await?)
            .await?
            .into_iter()
            .collect();
        // The first of several equal ids or bodies in a batch is the one stored; a body
        // stored before under another id is a repeat too (`body_signature` is unique).
        let admissions: Vec<Admission> = batch
            .iter()
            .map(|delivery| {
                if inserted.remove(delivery.delivery_id.as_str()) {
                    Admission::Accepted
                } else {
                    Admission::Duplicate
                }
            })
            .collect();
        let accepted: Vec<&NewDelivery> = batch
            .iter()
            .zip(&admissions)
            .filter(|(_, admission)| **admission == Admission::Accepted)
            .map(|(delivery, _)| delivery)
            .collect();
        if !accepted.is_empty() {
            let mut jobs = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO outbox (kind, idempotency_key, payload, run_after, created_at) \
                 VALUES {}",
                self.dialect.value_rows(accepted.len(), 5)
            )));
            for delivery in accepted {
                jobs = jobs
                    .bind(JobKind::ProcessDelivery.as_str())
                    .bind(crate::markers::key::delivery(&delivery.delivery_id))
                    .bind(delivery.delivery_id.as_str())
                    .bind(DUE_AT_ONCE)
                    .bind(to_millis(delivery.received_at));
            }
            jobs.execute(self.conn().await?).await?;
        }
        Ok(admissions)
    }

    /// Reads the stored deliveries `delivery_ids` in one query, for [`Work::load_delivery`]
    /// to take; returns the incidents `incident_of` finds in them (by event and body), for
    /// reading those ahead too.
    pub async fn read_ahead(
        &mut self,
        delivery_ids: &[DeliveryId],
        incident_of: impl Fn(&str, &[u8]) -> Option<(RepoName, crate::incident::GhsaId)>,
    ) -> Result<Vec<(RepoName, crate::incident::GhsaId)>, StoreError> {
        if delivery_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT delivery_id, event, payload_lz4, received_at FROM deliveries \
             WHERE delivery_id IN ({})",
            self.dialect.placeholders(1, delivery_ids.len())
        )));
        for id in delivery_ids {
            query = query.bind(id.as_str());
        }
        let mut incidents = Vec::new();
        for row in query.fetch_all(self.conn().await?).await? {
            let delivery = stored_delivery(&row)?;
            incidents.extend(incident_of(&delivery.event, &delivery.payload));
            self.read_ahead
                .insert(delivery.delivery_id.clone(), delivery);
        }
        Ok(incidents)
    }

    pub async fn load_delivery(
        &mut self,
        delivery_id: &DeliveryId,
    ) -> Result<Option<StoredDelivery>, StoreError> {
        if let Some(delivery) = self.read_ahead.remove(delivery_id) {
            return Ok(Some(delivery));
        }
        sqlx::query(DELIVERY_QUERY)
            .bind(delivery_id.as_str())
            .fetch_optional(self.conn().await?)
            .await?
            .as_ref()
            .map(stored_delivery)
            .transpose()
    }

    /// Up to `limit` of the worker's jobs (deliveries to process) due at `now` with ids
    /// above `after_id`, oldest first. Inside the unit of work (which holds the store's
    /// write lock) they are this worker's until it commits or rolls back. The condition is
    /// PostgreSQL's partial index outbox_local_due's, word for word.
    pub async fn due_jobs(
        &mut self,
        now: DateTime<Utc>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, kind, payload, attempts, run_after, created_at, claims FROM outbox \
             WHERE state = 'pending' AND kind = 'process_delivery' \
             AND id > $1 AND run_after <= $2 ORDER BY id LIMIT $3{}",
            self.dialect.claim_lock()
        )))
        .bind(after_id)
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(self.conn().await?)
        .await?;
        rows.iter().map(claimed_job).collect()
    }

    /// Queues a job, due at once, unless one with the same idempotency key exists (done or
    /// not). It is written when the unit of work commits.
    pub fn enqueue(&mut self, job: &Job, idempotency_key: &str) -> Result<(), StoreError> {
        self.enqueue_due(job, idempotency_key, DUE_AT_ONCE, Priority::Urgent)
    }

    /// [`Work::enqueue`] with a priority: background work waits for urgent work.
    pub fn enqueue_with(
        &mut self,
        job: &Job,
        idempotency_key: &str,
        priority: Priority,
    ) -> Result<(), StoreError> {
        self.enqueue_due(job, idempotency_key, DUE_AT_ONCE, priority)
    }

    /// Queues herald's comment `body` on `repository#issue`, once for `key`. A hidden
    /// marker in the body lets a retried job find the comment it already posted.
    pub fn queue_comment(
        &mut self,
        key: &str,
        repository: &crate::incident::RepoName,
        issue: u64,
        body: &str,
    ) -> Result<(), StoreError> {
        let marker = crate::markers::marker::reply(key);
        let comment = super::PendingComment {
            repository: repository.clone(),
            issue,
            body: format!("{body}\n\n{marker}"),
            marker,
        };
        self.enqueue(&Job::PostComment(comment), &crate::markers::key::reply(key))
    }

    /// Queues a job due at `run_after` (a reminder), unless one with the same idempotency
    /// key exists.
    pub fn enqueue_at(
        &mut self,
        job: &Job,
        idempotency_key: &str,
        run_after: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.enqueue_due(job, idempotency_key, to_millis(run_after), Priority::Urgent)
    }

    fn enqueue_due(
        &mut self,
        job: &Job,
        idempotency_key: &str,
        run_after: i64,
        priority: Priority,
    ) -> Result<(), StoreError> {
        let (kind, payload) = job.encode()?;
        self.jobs.push(QueuedJob {
            kind: kind.as_str(),
            idempotency_key: idempotency_key.to_owned(),
            payload,
            run_after,
            created_at: to_millis(Utc::now()),
            priority: priority as i64,
            lane: job.lane(),
        });
        Ok(())
    }

    /// Writes the jobs queued in this unit of work, in the order queued, a few hundred to a
    /// statement.
    async fn write_queued_jobs(&mut self) -> Result<(), StoreError> {
        const COLUMNS: usize = 7;
        let jobs = std::mem::take(&mut self.jobs);
        for chunk in jobs.chunks(WRITE_CHUNK) {
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO outbox \
                 (kind, idempotency_key, payload, run_after, created_at, priority, lane) \
                 VALUES {} ON CONFLICT (idempotency_key) DO NOTHING",
                self.dialect.value_rows(chunk.len(), COLUMNS)
            )));
            for job in chunk {
                insert = insert
                    .bind(job.kind)
                    .bind(job.idempotency_key.as_str())
                    .bind(job.payload.as_str())
                    .bind(job.run_after)
                    .bind(job.created_at)
                    .bind(job.priority)
                    .bind(job.lane.as_deref());
            }
            insert.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Queues an incident's dead jobs again, due at once with a fresh count of attempts
    /// (a maintainer fixed the cause). Returns how many.
    pub async fn retry_failed_jobs(
        &mut self,
        incident_id: IncidentId,
    ) -> Result<usize, StoreError> {
        let rows = sqlx::query(DEAD_JOBS).fetch_all(self.conn().await?).await?;
        let failed = failed_for(&rows, incident_id)?;
        for job in &failed {
            sqlx::query(
                "UPDATE outbox SET state = 'pending', attempts = 0, run_after = $1, \
                 created_at = $2, finished_at = NULL, locked_until = NULL WHERE id = $3",
            )
            .bind(DUE_AT_ONCE)
            // Queued anew: it reads GitHub afresh (the maintainers may have fixed the cause there).
            .bind(to_millis(Utc::now()))
            .bind(job.id)
            .execute(self.conn().await?)
            .await?;
        }
        Ok(failed.len())
    }

    /// Marks jobs done, in one statement.
    /// Marks jobs done, each with what it did (`(job id, outcome)`), in one statement.
    pub async fn complete_jobs(&mut self, done: &[(i64, &str)]) -> Result<(), StoreError> {
        // The time, then one (id, outcome) pair per job, then the ids again.
        let dialect = self.dialect;
        let cases: String = (0..done.len())
            .map(|index| {
                format!(
                    " WHEN {} THEN {}",
                    dialect.placeholder(2 + 2 * index),
                    dialect.placeholder(3 + 2 * index)
                )
            })
            .collect();
        let mut update = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET state = 'done', attempts = attempts + 1, last_error = NULL, \
             locked_until = NULL, finished_at = {}, outcome = CASE id{cases} END \
             WHERE id IN ({})",
            dialect.placeholder(1),
            dialect.placeholders(2 + 2 * done.len(), done.len())
        )))
        .bind(to_millis(Utc::now()));
        for (id, outcome) in done {
            update = update.bind(*id).bind(*outcome);
        }
        for (id, _) in done {
            update = update.bind(*id);
        }
        update.execute(self.conn().await?).await?;
        Ok(())
    }

    /// Records a failed attempt of `job`: it runs again at `run_after`, or is given up
    /// (`dead`). Only if its attempts are still those it ran with: `false` when another
    /// runner recorded this attempt first (a PostgreSQL replica that took the job while
    /// its batch was being undone).
    pub async fn fail_job(
        &mut self,
        job: &ClaimedJob,
        error: &str,
        run_after: DateTime<Utc>,
        dead: bool,
    ) -> Result<bool, StoreError> {
        let recorded = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, run_after = $2, \
             state = $3, finished_at = $4, locked_until = NULL \
             WHERE id = $5 AND attempts = $6 AND state = 'pending'",
        )
        .bind(error)
        .bind(to_millis(run_after))
        .bind(if dead { "dead" } else { "pending" })
        .bind(dead.then(|| to_millis(Utc::now())))
        .bind(job.id)
        .bind(job.attempts)
        .execute(self.conn().await?)
        .await?
        .rows_affected();
        Ok(recorded == 1)
    }

    /// Takes `job` for this unit of work, if it is still pending with the attempts it was
    /// seen with and no other runner holds it (on PostgreSQL, its row stays locked until
    /// the unit of work ends).
    pub async fn lock_pending_job(&mut self, job: &ClaimedJob) -> Result<bool, StoreError> {
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM outbox WHERE id = $1 AND state = 'pending' AND attempts = $2{}",
            self.dialect.claim_lock()
        )))
        .bind(job.id)
        .bind(job.attempts)
        .fetch_optional(self.conn().await?)
        .await?;
        Ok(found.is_some())
    }

    /// Undoes everything the unit of work did.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Writes what this unit of work created and queued (incidents, jobs, timeline
    /// entries), then commits.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.write_new_incidents().await?;
        self.write_queued_jobs().await?;
        self.write_timeline().await?;
        self.tx.commit().await?;
        Ok(())
    }
}
