//! SQLite: which bodies are stored, so that a captured body replayed under a new delivery
//! id is recognised at ingest (migration 0022). An index on a random key dirties a page per
//! delivery, written again at every commit of a few deliveries. So the thread that admits
//! deliveries keeps the signatures of the latest in memory and merges them into
//! `body_signatures` in key order: thousands at a time are set apart, sorted, and each
//! admitting commit merges the next few of them, as many as it adds. On a small table the
//! few are neighbours and share a page; on a large one they cost what the index did, spread
//! evenly, with no commit of their own to wait for. What is not merged yet is still in
//! `deliveries` (past `body_signatures_merged.through_rowid`), so a restart or a crash loses
//! nothing: the signatures are read again from there, and merging one twice does nothing.
//!
//! PostgreSQL keeps a unique index on `deliveries.body_signature` instead: its replicas
//! admit concurrently.

use super::StoreError;
use rusqlite::{OptionalExtension, Transaction};
use std::collections::HashSet;

/// Signatures kept before they are set apart to be merged. More at a time share more pages
/// while the table is small; each takes about 40 bytes, and at most about twice this many
/// are kept.
const MERGE_AT: usize = 4_096;

/// Deliveries past the merged ones before a merge even with few signatures among them
/// (herald's own deliveries have none), so that reading them again at a start stays short.
const READ_AGAIN_AT: i64 = 16_384;

pub(super) type Signature = [u8; 32];

/// The signatures of the deliveries past `body_signatures_merged.through_rowid`, as the
/// admitting thread has read and written them.
pub(super) struct UnmergedSignatures {
    /// Those not set apart yet.
    latest: HashSet<Signature>,
    /// The rowid of the last delivery read or written.
    through_rowid: i64,
    /// Those set apart, being merged.
    merging: Option<Merging>,
    /// Signatures added to `latest` since the last slice was merged: the next slice's size.
    added: usize,
    /// `body_signatures_merged.through_rowid` as this thread last read or wrote it.
    merged_through: i64,
}

/// Signatures set apart to be merged, sorted, and how far the merge has come.
struct Merging {
    sorted: Vec<Signature>,
    merged: usize,
    /// The last delivery they cover: the merged rowid once all are merged.
    through_rowid: i64,
}

/// How many signatures a commit merges, for [`UnmergedSignatures::sliced`] once it commits.
pub(super) struct Slice(usize);

impl UnmergedSignatures {
    /// Reads the unmerged signatures, within `transaction`.
    pub(super) fn read(transaction: &Transaction<'_>) -> Result<UnmergedSignatures, StoreError> {
        let merged: i64 = transaction.query_row(
            "SELECT through_rowid FROM body_signatures_merged",
            [],
            |row| row.get(0),
        )?;
        let mut unmerged = UnmergedSignatures {
            latest: HashSet::new(),
            through_rowid: merged,
            merging: None,
            added: 0,
            merged_through: merged,
        };
        unmerged.catch_up(transaction)?;
        Ok(unmerged)
    }

    /// Adds the signatures of deliveries another connection stored since (herald's own
    /// deliveries, another process): one seek past the last rowid when there are none.
    /// Within the admitting transaction, so nothing is stored between this and its inserts.
    pub(super) fn catch_up(&mut self, transaction: &Transaction<'_>) -> Result<(), StoreError> {
        let mut newer = transaction.prepare_cached(
            "SELECT rowid, body_signature FROM deliveries WHERE rowid > ? ORDER BY rowid",
        )?;
        let mut rows = newer.query([self.through_rowid])?;
        while let Some(row) = rows.next()? {
            let rowid = row.get(0)?;
            let signature = row
                .get::<_, Option<Vec<u8>>>(1)?
                .and_then(|signature| Signature::try_from(signature).ok());
            self.note(rowid, signature);
        }
        Ok(())
    }

    /// Whether a delivery with this body is stored, within `transaction`.
    pub(super) fn stored(
        &self,
        transaction: &Transaction<'_>,
        signature: &Signature,
    ) -> Result<bool, StoreError> {
        if self.latest.contains(signature)
            || self
                .merging
                .as_ref()
                .is_some_and(|merging| merging.sorted.binary_search(signature).is_ok())
        {
            return Ok(true);
        }
        Ok(transaction
            .prepare_cached("SELECT 1 FROM body_signatures WHERE signature = ?")?
            .query_row([&signature[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Notes a delivery stored at `rowid`; undone by [`UnmergedSignatures::forget`] if its
    /// transaction does not commit.
    pub(super) fn note(&mut self, rowid: i64, signature: Option<Signature>) {
        self.through_rowid = rowid;
        if let Some(signature) = signature
            && self.latest.insert(signature)
        {
            self.added += 1;
        }
    }

    /// Forgets what was noted after `through_rowid`, of `signatures`, when their
    /// transaction was rolled back.
    pub(super) fn forget(&mut self, through_rowid: i64, signatures: &[Signature]) {
        self.through_rowid = through_rowid;
        for signature in signatures {
            if self.latest.remove(signature) {
                self.added = self.added.saturating_sub(1);
            }
        }
    }

    pub(super) fn through_rowid(&self) -> i64 {
        self.through_rowid
    }

    /// Merges the next signatures set apart into `body_signatures`, one more than were added
    /// since the last slice (so the merge ends before as many are kept again), within
    /// `transaction`; the last slice moves the merged rowid past them.
    pub(super) fn merge_slice(&self, transaction: &Transaction<'_>) -> Result<Slice, StoreError> {
        let Some(merging) = &self.merging else {
            return Ok(Slice(0));
        };
        let end = (merging.merged + self.added + 1).min(merging.sorted.len());
        let mut insert = transaction.prepare_cached(
            "INSERT INTO body_signatures (signature) VALUES (?) ON CONFLICT DO NOTHING",
        )?;
        for signature in &merging.sorted[merging.merged..end] {
            insert.execute([&signature[..]])?;
        }
        if end == merging.sorted.len() {
            transaction.execute(
                "UPDATE body_signatures_merged SET through_rowid = ?",
                [merging.through_rowid],
            )?;
        }
        Ok(Slice(end - merging.merged))
    }

    /// Takes note that `slice` was committed; sets the latest signatures apart once enough
    /// are kept and the merge before has ended.
    pub(super) fn sliced(&mut self, slice: Slice) {
        self.added = 0;
        if let Some(merging) = &mut self.merging {
            merging.merged += slice.0;
            if merging.merged == merging.sorted.len() {
                self.merged_through = merging.through_rowid;
                self.merging = None;
            }
        }
        let due = self.latest.len() >= MERGE_AT
            || self.through_rowid - self.merged_through >= READ_AGAIN_AT;
        if self.merging.is_none() && due {
            let mut sorted: Vec<Signature> = self.latest.drain().collect();
            sorted.sort_unstable();
            self.merging = Some(Merging {
                sorted,
                merged: 0,
                through_rowid: self.through_rowid,
            });
        }
    }
}
