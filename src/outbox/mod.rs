//! The outbox worker: claims due jobs from the durable queue, runs them, retries failures
//! with exponential backoff, and gives up (state `dead`) after a bounded number of attempts.

use crate::pipeline::{self, Processed};
use crate::store::{ClaimedJob, JobKind, Store};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How often the queue is looked at when nothing wakes the worker.
    pub poll_interval: Duration,
    /// How long a claimed job is reserved before another worker may take it.
    pub lease: Duration,
    /// Attempts before a job is given up.
    pub max_attempts: i64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(300),
            max_attempts: 8,
        }
    }
}

/// The result of one job.
#[derive(Debug)]
pub enum JobOutcome {
    Done(Processed),
    /// Another worker had finished it.
    AlreadyDone,
    /// It failed; it will be retried unless it was the last attempt.
    Failed {
        error: String,
        gave_up: bool,
    },
}

pub struct Worker {
    store: Store,
    wake: Arc<Notify>,
    settings: WorkerSettings,
}

const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    Duration::from_secs(2u64.saturating_pow(exponent)).min(MAX_BACKOFF)
}

impl Worker {
    pub fn new(store: Store, wake: Arc<Notify>, settings: WorkerSettings) -> Worker {
        Worker {
            store,
            wake,
            settings,
        }
    }

    /// Runs jobs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!("outbox worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_one().await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(error) => tracing::error!(%error, "outbox: cannot read the queue"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("outbox worker stopped");
    }

    /// Runs every job that is due now, and returns what each did.
    pub async fn drain(&self) -> Result<Vec<JobOutcome>, crate::store::StoreError> {
        let mut outcomes = Vec::new();
        while let Some(outcome) = self.run_one().await? {
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn run_one(&self) -> Result<Option<JobOutcome>, crate::store::StoreError> {
        let Some(job) = self
            .store
            .claim_job(Utc::now(), self.settings.lease)
            .await?
        else {
            return Ok(None);
        };
        let outcome = match self.execute(&job).await {
            Ok(Some(processed)) => {
                tracing::info!(
                    delivery = %processed.delivery_id,
                    event = %processed.event,
                    action = processed.action.as_deref().unwrap_or(""),
                    "{}",
                    processed.note
                );
                JobOutcome::Done(processed)
            }
            Ok(None) => JobOutcome::AlreadyDone,
            Err(error) => {
                let gave_up = job.attempts >= self.settings.max_attempts;
                let retry_at = Utc::now()
                    + chrono::Duration::from_std(backoff(job.attempts))
                        .unwrap_or(chrono::Duration::MAX);
                self.store
                    .fail_job(job.id, &error, retry_at, gave_up)
                    .await?;
                if gave_up {
                    tracing::error!(job = job.id, kind = %job.kind, attempts = job.attempts, %error, "outbox: job given up");
                } else {
                    tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, %error, %retry_at, "outbox: job failed, will retry");
                }
                JobOutcome::Failed { error, gave_up }
            }
        };
        Ok(Some(outcome))
    }

    async fn execute(&self, job: &ClaimedJob) -> Result<Option<Processed>, String> {
        match JobKind::from_name(&job.kind) {
            Some(JobKind::ProcessDelivery) => {
                pipeline::process_delivery(&self.store, job.id, &job.payload)
                    .await
                    .map_err(|error| error.to_string())
            }
            None => Err(format!("unknown job kind {:?}", job.kind)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
