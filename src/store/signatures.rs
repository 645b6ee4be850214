//! SQLite: which bodies are stored, so that a captured body replayed under a new delivery
//! id is recognised at ingest (migration 0022). An index on a random key dirties a page per
//! delivery, written again at every commit of a few deliveries; so the signatures of the
//! latest deliveries are kept in memory by the thread that admits them, and merged into
//! `body_signatures`, sorted, thousands to a commit. What is not merged yet is still in
//! `deliveries` (past `body_signatures_merged.through_rowid`), so a restart or a crash loses
//! nothing: the set is read again from there.
//!
//! PostgreSQL keeps a unique index on `deliveries.body_signature` instead: its replicas
//! admit concurrently.

use super::StoreError;
use rusqlite::{OptionalExtension, Transaction};
use std::collections::HashSet;

/// Signatures kept in memory before they are merged: about 300 KB of them. A merge of more
/// at once writes fewer pages per signature and holds the write turn longer.
const MERGE_AT: usize = 4_096;

/// Signatures kept in memory at most: past this many (about 5 MB) while merges fail, the
/// thread admits nothing more until one succeeds (the deliveries are answered 503, and
/// GitHub is asked for them again), so that memory stays bounded.
const KEPT_AT_MOST: usize = 16 * MERGE_AT;

/// Deliveries past the merged ones before a merge even with few signatures among them
/// (herald's own deliveries have none), so that reading them again at a start stays short.
const READ_AGAIN_AT: i64 = 16_384;

pub(super) type Signature = [u8; 32];

/// The signatures of the deliveries past `body_signatures_merged.through_rowid`, as the
/// admitting thread has read and written them.
pub(super) struct UnmergedSignatures {
    signatures: HashSet<Signature>,
    /// The rowid of the last delivery whose signature (if any) is in `signatures`.
    through_rowid: i64,
    /// `body_signatures_merged.through_rowid` as this thread last read or wrote it.
    merged_through: i64,
}

impl UnmergedSignatures {
    /// Reads the unmerged signatures, within `transaction`.
    pub(super) fn read(transaction: &Transaction<'_>) -> Result<UnmergedSignatures, StoreError> {
        let merged: i64 = transaction.query_row(
            "SELECT through_rowid FROM body_signatures_merged",
            [],
            |row| row.get(0),
        )?;
        let mut unmerged = UnmergedSignatures {
            signatures: HashSet::new(),
            through_rowid: merged,
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
            self.through_rowid = row.get(0)?;
            if let Some(signature) = row.get::<_, Option<Vec<u8>>>(1)? {
                self.signatures.extend(Signature::try_from(signature).ok());
            }
        }
        Ok(())
    }

    /// Whether a delivery with this body is stored, within `transaction`.
    pub(super) fn stored(
        &self,
        transaction: &Transaction<'_>,
        signature: &Signature,
    ) -> Result<bool, StoreError> {
        if self.signatures.contains(signature) {
            return Ok(true);
        }
        Ok(transaction
            .prepare_cached("SELECT 1 FROM body_signatures WHERE signature = ?")?
            .query_row([&signature[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Notes a delivery just inserted at `rowid`; undone by [`UnmergedSignatures::forget`]
    /// if its transaction does not commit.
    pub(super) fn note(&mut self, rowid: i64, signature: Option<Signature>) {
        self.through_rowid = rowid;
        self.signatures.extend(signature);
    }

    /// Forgets what was noted after `through_rowid`, of `signatures`, when their
    /// transaction was rolled back.
    pub(super) fn forget(&mut self, through_rowid: i64, signatures: &[Signature]) {
        self.through_rowid = through_rowid;
        for signature in signatures {
            self.signatures.remove(signature);
        }
    }

    pub(super) fn through_rowid(&self) -> i64 {
        self.through_rowid
    }

    /// Whether no more may be kept before a merge.
    pub(super) fn full(&self) -> bool {
        self.signatures.len() >= KEPT_AT_MOST
    }

    pub(super) fn due_for_merge(&self) -> bool {
        self.signatures.len() >= MERGE_AT
            || self.through_rowid - self.merged_through >= READ_AGAIN_AT
    }

    /// Writes every unmerged signature into `body_signatures`, in key order so that each
    /// page is visited once, and moves `through_rowid` past them, within `transaction`.
    /// The set is emptied by [`UnmergedSignatures::merged`] once that commits.
    pub(super) fn merge(&mut self, transaction: &Transaction<'_>) -> Result<(), StoreError> {
        self.catch_up(transaction)?;
        let mut sorted: Vec<&Signature> = self.signatures.iter().collect();
        sorted.sort_unstable();
        let mut insert = transaction.prepare_cached(
            "INSERT INTO body_signatures (signature) VALUES (?) ON CONFLICT DO NOTHING",
        )?;
        for signature in sorted {
            insert.execute([&signature[..]])?;
        }
        transaction.execute(
            "UPDATE body_signatures_merged SET through_rowid = ?",
            [self.through_rowid],
        )?;
        Ok(())
    }

    /// Empties the set after a merge committed.
    pub(super) fn merged(&mut self) {
        self.signatures.clear();
        self.merged_through = self.through_rowid;
    }
}
