//! Mail to the security team's address, each message kept whole as it arrived, and what
//! became of it: its intake issue, then the maintainers' decision.

use super::{Store, StoreError, Work, from_millis, to_millis};
use crate::incident::{GhsaId, RepoName};
use crate::intake::{IntakeId, Kind};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A message to keep.
pub struct NewMail<'a> {
    /// The message as delivered, or only its header when it was too large to keep.
    pub raw: &'a [u8],
    /// SHA-256 of the whole message as delivered (hex): the same message again is the
    /// same intake.
    pub digest: String,
    pub source: &'a str,
    pub received_at: DateTime<Utc>,
    pub message_id: Option<&'a str>,
    /// The sender's address, as the mail names it (From, else Reply-To).
    pub sender: Option<&'a str>,
    pub kind: Kind,
    pub reason: Option<String>,
}

/// Where an intake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntakeState {
    /// Kept; its issue is not opened yet.
    New,
    /// Its issue is open, waiting for the maintainers.
    Open,
    Accepted,
    Dismissed,
    /// Not a report: kept, never answered.
    Ignored,
    /// A reporter's reply to an intake, waiting to join it.
    Reply,
    /// A reply that joined its intake (a comment on its issue or its incident's).
    Posted,
}

impl IntakeState {
    const ALL: [IntakeState; 7] = [
        IntakeState::New,
        IntakeState::Open,
        IntakeState::Accepted,
        IntakeState::Dismissed,
        IntakeState::Ignored,
        IntakeState::Reply,
        IntakeState::Posted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntakeState::New => "new",
            IntakeState::Open => "open",
            IntakeState::Accepted => "accepted",
            IntakeState::Dismissed => "dismissed",
            IntakeState::Ignored => "ignored",
            IntakeState::Reply => "reply",
            IntakeState::Posted => "posted",
        }
    }

    fn named(name: &str) -> Result<IntakeState, StoreError> {
        IntakeState::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| StoreError::Corrupt(format!("intake state {name:?}")))
    }
}

/// A kept message and what became of it (without its bytes: [`Store::intake_message`]).
#[derive(Debug, Clone)]
pub struct IntakeRow {
    pub id: IntakeId,
    pub source: String,
    pub received_at: DateTime<Utc>,
    pub message_id: Option<String>,
    pub kind: Kind,
    pub reason: Option<String>,
    pub state: IntakeState,
    /// Its issue, once opened: repository, number, address.
    pub issue: Option<(RepoName, u64, String)>,
    /// The draft advisory an accepted report became.
    pub advisory: Option<(RepoName, GhsaId)>,
    /// The intake this message is the reporter's reply to.
    pub reply_to: Option<IntakeId>,
    pub decided_by: Option<String>,
    pub decision: Option<String>,
    /// Where herald's acknowledgement went, and when.
    pub acknowledged: Option<(String, DateTime<Utc>)>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, source, received_at, message_id, kind, reason, state, repository, \
     issue_number, issue_url, advisory_repository, ghsa_id, decided_by, decision, reply_to, \
     acknowledged_to, acknowledged_at, updated_at";

fn intake_row(row: &AnyRow) -> Result<IntakeRow, StoreError> {
    let kind: String = row.try_get("kind")?;
    let repository: Option<RepoName> = row.try_get("repository")?;
    let number: Option<i64> = row.try_get("issue_number")?;
    let url: Option<String> = row.try_get("issue_url")?;
    let issue = match (repository, number, url) {
        (Some(repository), Some(number), Some(url)) => {
            let number = u64::try_from(number)
                .map_err(|_| StoreError::Corrupt(format!("intake issue number {number}")))?;
            Some((repository, number, url))
        }
        _ => None,
    };
    Ok(IntakeRow {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        received_at: from_millis(row.try_get("received_at")?)?,
        message_id: row.try_get("message_id")?,
        kind: Kind::from_name(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("intake kind {kind:?}")))?,
        reason: row.try_get("reason")?,
        state: IntakeState::named(&row.try_get::<String, _>("state")?)?,
        issue,
        reply_to: row.try_get("reply_to")?,
        advisory: match (
            row.try_get::<Option<RepoName>, _>("advisory_repository")?,
            row.try_get::<Option<GhsaId>, _>("ghsa_id")?,
        ) {
            (Some(repository), Some(ghsa_id)) => Some((repository, ghsa_id)),
            _ => None,
        },
        decided_by: row.try_get("decided_by")?,
        decision: row.try_get("decision")?,
        acknowledged: match (
            row.try_get::<Option<String>, _>("acknowledged_to")?,
            row.try_get::<Option<i64>, _>("acknowledged_at")?,
        ) {
            (Some(to), Some(at)) => Some((to, from_millis(at)?)),
            _ => None,
        },
        updated_at: from_millis(row.try_get("updated_at")?)?,
    })
}

/// The Message-IDs of one message that a reply is looked up by.
const MAX_REFERENCES: usize = 50;

impl Work {
    /// Keeps a message, once: returns its intake and whether it is new (the same message
    /// again, as a mail server retrying after a lost answer delivers it, is the same one).
    /// `reply_to`: the intake it is the reporter's reply to.
    pub async fn take_mail(
        &mut self,
        mail: &NewMail<'_>,
        reply_to: Option<IntakeId>,
    ) -> Result<(IntakeId, bool), StoreError> {
        let state = match (mail.kind, reply_to) {
            (Kind::Report, None) => IntakeState::New,
            (Kind::Report, Some(_)) => IntakeState::Reply,
            _ => IntakeState::Ignored,
        };
        let inserted: Option<IntakeId> = sqlx::query_scalar(
            "INSERT INTO intakes (digest, source, received_at, message_id, sender, reply_to, \
             kind, reason, raw, state, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $3) \
             ON CONFLICT (digest) DO NOTHING RETURNING id",
        )
        .bind(mail.digest.as_str())
        .bind(mail.source)
        .bind(to_millis(mail.received_at))
        .bind(mail.message_id)
        .bind(mail.sender.map(str::to_ascii_lowercase))
        .bind(reply_to)
        .bind(mail.kind.as_str())
        .bind(mail.reason.as_deref())
        .bind(mail.raw)
        .bind(state.as_str())
        .fetch_optional(self.conn().await?)
        .await?;
        if let Some(id) = inserted {
            return Ok((id, true));
        }
        let id = sqlx::query_scalar("SELECT id FROM intakes WHERE digest = $1")
            .bind(mail.digest.as_str())
            .fetch_one(self.conn().await?)
            .await?;
        Ok((id, false))
    }

    /// The report a message from `sender` naming `ids` (its In-Reply-To and References)
    /// answers: an intake from the same sender whose message, or one herald sent them about
    /// it, is among them. A reply to a reply joins the report it answered.
    pub async fn replied_intake(
        &mut self,
        ids: &[String],
        sender: &str,
    ) -> Result<Option<IntakeId>, StoreError> {
        // A message names a handful; a hostile one is not let to name thousands.
        let ids: Vec<&String> = ids.iter().take(MAX_REFERENCES).collect();
        if ids.is_empty() {
            return Ok(None);
        }
        // Every parameter by the dialect's placeholders, bound in the order they appear.
        let dialect = self.dialect;
        let query = format!(
            "SELECT COALESCE(reply_to, id) FROM intakes WHERE sender = {} AND state <> {} \
             AND (message_id IN ({}) OR id IN (SELECT intake_id FROM intake_answers \
             WHERE message_id IN ({}))) ORDER BY id LIMIT 1",
            dialect.placeholder(1),
            dialect.placeholder(2),
            dialect.placeholders(3, ids.len()),
            dialect.placeholders(3 + ids.len(), ids.len()),
        );
        let mut select = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .bind(sender.to_ascii_lowercase())
            .bind(IntakeState::Ignored.as_str());
        for id in ids.iter().chain(&ids) {
            select = select.bind(id.as_str());
        }
        Ok(select.fetch_optional(self.conn().await?).await?)
    }

    /// Whether `repository`'s issue `number` is an intake's.
    pub async fn is_intake_issue(
        &mut self,
        repository: &RepoName,
        number: u64,
    ) -> Result<bool, StoreError> {
        let found: Option<IntakeId> = sqlx::query_scalar(
            "SELECT id FROM intakes WHERE repository = $1 AND issue_number = $2",
        )
        .bind(repository)
        .bind(i64::try_from(number).unwrap_or(i64::MAX))
        .fetch_optional(self.conn().await?)
        .await?;
        Ok(found.is_some())
    }

    /// The accepted intake that became `repository`'s advisory `ghsa_id`.
    pub async fn intake_of_advisory(
        &mut self,
        repository: &RepoName,
        ghsa_id: &GhsaId,
    ) -> Result<Option<IntakeId>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM intakes WHERE advisory_repository = $1 AND ghsa_id = $2 \
             AND state = 'accepted' ORDER BY id LIMIT 1",
        )
        .bind(repository)
        .bind(ghsa_id)
        .fetch_optional(self.conn().await?)
        .await?)
    }

    /// Records that mailbox `name` (of `uid_validity`) was read up to `last_uid`.
    pub async fn save_mailbox_state(
        &mut self,
        name: &str,
        (uid_validity, last_uid): (u32, u32),
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO intake_mailboxes (name, uid_validity, last_uid, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET \
             uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, \
             updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(i64::from(uid_validity))
        .bind(i64::from(last_uid))
        .bind(to_millis(Utc::now()))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Records that a reply joined its intake.
    pub async fn reply_posted(&mut self, id: IntakeId) -> Result<(), StoreError> {
        sqlx::query("UPDATE intakes SET state = 'posted', updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(to_millis(Utc::now()))
            .execute(self.conn().await?)
            .await?;
        Ok(())
    }

    /// Records an intake's issue: it is open, waiting for the maintainers.
    pub async fn save_intake_issue(
        &mut self,
        id: IntakeId,
        (repository, number, url): (&RepoName, u64, &str),
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE intakes SET state = 'open', repository = $2, issue_number = $3, \
             issue_url = $4, updated_at = $5 WHERE id = $1 AND state = 'new'",
        )
        .bind(id)
        .bind(repository)
        .bind(i64::try_from(number).unwrap_or(i64::MAX))
        .bind(url)
        .bind(to_millis(Utc::now()))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Records the maintainers' decision on an open intake (with the draft advisory an
    /// accepted one became); false if it was decided already (a redelivered command).
    pub async fn decide_intake(
        &mut self,
        id: IntakeId,
        state: IntakeState,
        (by, decision): (&str, &str),
        advisory: Option<(&RepoName, &GhsaId)>,
    ) -> Result<bool, StoreError> {
        let decided = sqlx::query(
            "UPDATE intakes SET state = $2, decided_by = $3, decision = $4, \
             advisory_repository = $5, ghsa_id = $6, updated_at = $7 \
             WHERE id = $1 AND state = 'open'",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(by)
        .bind(decision)
        .bind(advisory.map(|(repository, _)| repository))
        .bind(advisory.map(|(_, ghsa_id)| ghsa_id))
        .bind(to_millis(Utc::now()))
        .execute(self.conn().await?)
        .await?;
        Ok(decided.rows_affected() == 1)
    }

    /// Records that herald acknowledged the report to `to` at `at`.
    pub async fn acknowledge_intake(
        &mut self,
        id: IntakeId,
        to: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE intakes SET acknowledged_to = $2, acknowledged_at = $3, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(to)
        .bind(to_millis(at))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }

    /// Records that herald sent the reporter of intake `id` its message `message_id`,
    /// which their reply may name.
    pub async fn answered_intake(
        &mut self,
        id: IntakeId,
        message_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO intake_answers (message_id, intake_id, sent_at) VALUES ($1, $2, $3) \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(message_id.trim().trim_matches(['<', '>']))
        .bind(id)
        .bind(to_millis(Utc::now()))
        .execute(self.conn().await?)
        .await?;
        Ok(())
    }
}

impl Store {
    pub async fn intake(&self, id: IntakeId) -> Result<Option<IntakeRow>, StoreError> {
        let query = format!("SELECT {COLUMNS} FROM intakes WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(intake_row)
            .transpose()
    }

    /// How many messages of each kind are in each state, as (kind, state, count).
    pub async fn intake_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, state, COUNT(*) FROM intakes GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    /// Where herald stands in mailbox `name`: its UIDVALIDITY and the last UID taken.
    pub async fn mailbox_state(&self, name: &str) -> Result<Option<(u32, u32)>, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT uid_validity, last_uid FROM intake_mailboxes WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.reader)
                .await?;
        Ok(row.map(|(validity, last)| {
            (
                u32::try_from(validity).unwrap_or(0),
                u32::try_from(last).unwrap_or(0),
            )
        }))
    }

    /// The message of an intake, as kept.
    pub async fn intake_message(&self, id: IntakeId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT raw FROM intakes WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?)
    }

    /// The intake whose issue is `repository`'s issue `number`.
    pub async fn intake_tracked_by(
        &self,
        repository: &RepoName,
        number: u64,
    ) -> Result<Option<IntakeRow>, StoreError> {
        let query =
            format!("SELECT {COLUMNS} FROM intakes WHERE repository = $1 AND issue_number = $2");
        sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(repository)
            .bind(i64::try_from(number).unwrap_or(i64::MAX))
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(intake_row)
            .transpose()
    }

    /// Intakes, newest first: `limit` of them after skipping `offset`.
    pub async fn intakes(&self, limit: i64, offset: i64) -> Result<Vec<IntakeRow>, StoreError> {
        let query = format!("SELECT {COLUMNS} FROM intakes ORDER BY id DESC LIMIT $1 OFFSET $2");
        sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(intake_row)
            .collect()
    }
}
