//! The effect runner: leases outbox jobs that reach GitHub, one at a time, runs them
//! outside any transaction, and retries failures with the same backoff as the worker.

use super::{JobOutcome, WorkerSettings, log, record_failure};
use crate::channels::{ChannelError, Channels, Record};
use crate::store::{ClaimedJob, Store, StoreError};
use chrono::Utc;
use std::sync::Arc;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

/// How long a leased job is its runner's. A runner that dies holding one (crash, power
/// loss) has it taken over after this; the effects find their earlier work on GitHub
/// (herald's marker in the issue) rather than repeat it.
const LEASE_SECONDS: i64 = 300;

pub struct EffectRunner {
    store: Store,
    channels: Arc<Channels>,
    wake: Arc<Notify>,
    settings: WorkerSettings,
}

impl EffectRunner {
    pub fn new(
        store: Store,
        channels: Arc<Channels>,
        wake: Arc<Notify>,
        settings: WorkerSettings,
    ) -> EffectRunner {
        EffectRunner {
            store,
            channels,
            wake,
            settings,
        }
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!("effect runner started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_one().await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(error) => tracing::error!(%error, "effects: cannot run queued jobs"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("effect runner stopped");
    }

    /// Runs effect jobs until none is due.
    pub async fn drain(&self) -> Result<Vec<JobOutcome>, StoreError> {
        let mut outcomes = Vec::new();
        while let Some(outcome) = self.run_one().await? {
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Leases and runs the oldest due effect job; `None` when there is none.
    pub async fn run_one(&self) -> Result<Option<JobOutcome>, StoreError> {
        let lease = chrono::Duration::seconds(LEASE_SECONDS);
        let Some(job) = self.store.lease_effect(Utc::now(), lease).await? else {
            return Ok(None);
        };
        // Every line a job logs carries what it is about.
        let about = match job.incident_id() {
            Some(id) => self.store.incident(id).await?.map(|row| row.incident),
            None => None,
        };
        let span = tracing::info_span!(
            "job",
            id = job.id,
            kind = %job.kind,
            repository = about.as_ref().map_or("", |incident| incident.repository.as_str()),
            ghsa = about.as_ref().map_or("", |incident| incident.ghsa_id.as_str()),
        );
        let outcome = self.run_leased(&job).instrument(span).await?;
        Ok(Some(outcome))
    }

    /// The one place an effect job completes: what the handler did and the completion, in
    /// one durable commit.
    async fn commit(&self, job: &ClaimedJob, record: Record) -> Result<String, ChannelError> {
        let wakes_worker = record.admits_deliveries();
        let mut work = self.store.begin_durable().await?;
        let note = record.apply(&mut work).await?;
        work.complete_jobs(&[job.id]).await?;
        work.commit().await?;
        if wakes_worker {
            self.channels.wake_worker();
        }
        Ok(note)
    }

    /// Runs a leased job and commits what it did with its completion; or records its
    /// failure (and reports giving up).
    async fn run_leased(&self, job: &ClaimedJob) -> Result<JobOutcome, StoreError> {
        let ran = match self.channels.run(job).await {
            Ok(record) => self.commit(job, record).await,
            Err(error) => Err(error),
        };
        let (error, refusal) = match ran {
            Ok(note) => {
                let outcome = JobOutcome::Effect(note);
                log(job, &outcome);
                return Ok(outcome);
            }
            Err(error) => (error.to_string(), error.refusal()),
        };
        let outcome = record_failure(
            &self.store,
            job,
            error.clone(),
            self.settings.max_attempts,
            refusal.is_some(),
        )
        .await?;
        log(job, &outcome);
        if matches!(outcome, JobOutcome::Failed { gave_up: true, .. })
            && let Err(report) = self
                .channels
                .report_given_up(job, &error, refusal.as_deref())
                .await
        {
            tracing::error!(job = job.id, error = %report, "cannot report a job given up");
        }
        Ok(outcome)
    }
}
