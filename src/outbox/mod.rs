//! The outbox worker: claims due jobs from the durable queue, runs them, retries failures
//! with exponential backoff, and gives up (state `dead`) after a bounded number of attempts.
//!
//! Jobs run in batches inside one transaction: one commit for the batch. Should a job fail,
//! the batch is rolled back and its jobs run again one transaction each, so a failure
//! touches nothing but its own job. A batch holds the store's write lock for a bounded
//! time, so deliveries waiting for their commit never wait long.

mod effects;

pub use effects::EffectRunner;

use crate::channels::{ChannelError, Record};
use crate::incident::DeliveryId;
use crate::ingest::IngestLoad;
use crate::jobs::{ClaimedJob, Job, JobKind, Undecodable};
use crate::metrics::{JobRunOutcome, Metrics};
use crate::pipeline::{self, ProcessError, Processed};
use crate::store::{JobClaim, Store, StoreError, Work};
use chrono::Utc;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

/// The result of one job.
#[derive(Debug)]
pub enum JobOutcome {
    Done(Processed),
    /// An effect outside the store happened and was recorded.
    Effect(String),
    /// Its installation's GitHub write budget is spent: it runs again when it is not, with
    /// no attempt counted.
    Paced(std::time::Duration),
    /// It failed; it will be retried unless it was the last attempt.
    Failed {
        error: JobError,
        gave_up: bool,
    },
    /// It failed, but another runner had recorded this attempt first (it ran the job
    /// too, between this runner's try and its record): nothing more is recorded.
    TakenOver,
}

/// Why a job failed, with the error underneath kept for its chain.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Effect(#[from] ChannelError),
}

/// How the outbox worker and effect runner pace themselves.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How often the queue is looked at when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Attempts before a job is given up.
    pub max_attempts: i64,
    /// How long one batch may hold the store's write lock (it finishes the job at hand)
    /// while deliveries wait for it: their answer waits that long too.
    pub batch_time: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            poll_interval: Duration::from_secs(1),
            max_attempts: 8,
            batch_time: Duration::from_millis(1),
        }
    }
}

/// Jobs fetched at a time within a batch, their deliveries read in one query.
const CHUNK: u32 = 32;

/// Jobs fetched at a time by a batch that starts while deliveries wait for the store: it
/// ends after `batch_time`, having run a job or two, so the rest of a full chunk would be
/// read and decoded for nothing (measured on PostgreSQL: 32 read for each job run).
const CHUNK_UNDER_LOAD: u32 = 4;

/// Told each time the worker or the effect runner finds nothing due: what waits for herald
/// to settle (the tests) wakes on it instead of polling the store.
#[derive(Clone, Debug)]
pub struct Idle(Arc<watch::Sender<u64>>);

impl Idle {
    pub fn new() -> Idle {
        Idle(Arc::new(watch::channel(0).0))
    }

    fn signal(&self) {
        self.0.send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A receiver that sees each idle moment from now on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

impl Default for Idle {
    fn default() -> Self {
        Idle::new()
    }
}

#[derive(Clone)]
pub struct Worker {
    store: Store,
    wake: Arc<Notify>,
    settings: WorkerSettings,
    ingest: Option<IngestLoad>,
    /// Woken after a batch commits, as its jobs may have queued effects.
    effects: Option<Arc<Notify>>,
    idle: Option<Idle>,
    metrics: Option<Arc<Metrics>>,
    /// The App's own bot login (`<slug>[bot]`), once GitHub has told it: herald knows its
    /// own pull requests by it.
    app_bot: Arc<OnceLock<String>>,
}

/// While deliveries wait for their commit, the worker holds back this long at most, so
/// answers to GitHub come first and the queue still moves under sustained load.
const MAX_DEFERRAL: Duration = Duration::from_millis(50);

/// How long a batch may run on while no delivery waits for the store (after `batch_time`,
/// it ends as soon as one does): fewer, larger commits drain a backlog faster.
const LONGEST_BATCH: Duration = Duration::from_millis(50);
const DEFERRAL_STEP: Duration = Duration::from_millis(2);

/// How many times in a row a batch that lost a race is run again before its error is
/// reported: each loss means another batch committed, so a run that keeps losing is not
/// racing but failing.
const RACES_RUN_AGAIN: u32 = 3;

const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    Duration::from_secs(2u64.saturating_pow(exponent)).min(MAX_BACKOFF)
}

/// Runs a store job; a panic fails this job alone (and for good), never the worker.
async fn execute(
    work: &mut Work,
    job: &ClaimedJob,
    app_bot: Option<&str>,
) -> Result<Processed, ProcessError> {
    let span = tracing::info_span!("job", id = job.id, kind = job.kind_name());
    unless_it_panics(run_local(work, job, app_bot).instrument(span))
        .await
        .unwrap_or_else(|words| Err(ProcessError::Panicked(words)))
}

/// Runs `work`; a panic inside it becomes `Err(what the panic said)`.
async fn unless_it_panics<T>(work: impl std::future::Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|words| (*words).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned())
        })
}

async fn run_local(
    work: &mut Work,
    job: &ClaimedJob,
    app_bot: Option<&str>,
) -> Result<Processed, ProcessError> {
    match &job.job {
        Job::ProcessDelivery { delivery } => {
            pipeline::process_delivery(work, delivery, app_bot).await
        }
        other => Err(ProcessError::NotLocal(other.kind().as_str())),
    }
}

/// What the log and the metrics name of a job that ran: its id, its kind's name (as
/// stored: a row no job decodes from counts as `unknown`) and its attempts before.
#[derive(Debug, Clone, Copy)]
struct Ran {
    id: i64,
    kind: &'static str,
    attempts: i64,
}

impl From<&ClaimedJob> for Ran {
    fn from(job: &ClaimedJob) -> Ran {
        Ran {
            id: job.id,
            kind: job.kind_name(),
            attempts: job.attempts,
        }
    }
}

impl From<&JobClaim> for Ran {
    fn from(claim: &JobClaim) -> Ran {
        Ran {
            id: claim.id,
            kind: JobKind::from_name(&claim.kind).map_or("unknown", JobKind::as_str),
            attempts: claim.attempts,
        }
    }
}

/// Gives up at once on a leased row that no job decodes from: running it again cannot
/// mend it. The error names the row's kind and payload.
async fn give_up_undecodable(
    store: &Store,
    undecodable: Box<Undecodable>,
    metrics: Option<&Metrics>,
) -> Result<JobOutcome, StoreError> {
    let Undecodable { claim, error } = *undecodable;
    let error = JobError::Process(ProcessError::Store(error));
    let attempt = (claim.id, claim.attempts);
    let outcome = record_failure(store, attempt, error, true, None).await?;
    finished(
        Ran::from(&claim),
        &outcome,
        std::time::Duration::ZERO,
        metrics,
    );
    Ok(outcome)
}

/// Logs what became of a job run that took `took`, and counts it in `metrics`.
fn finished(job: Ran, outcome: &JobOutcome, took: std::time::Duration, metrics: Option<&Metrics>) {
    if let Some(metrics) = metrics {
        let kind = job.kind;
        let counted = match outcome {
            JobOutcome::Done(_) | JobOutcome::Effect(_) => JobRunOutcome::done,
            JobOutcome::Paced(_) => JobRunOutcome::deferred,
            JobOutcome::Failed { gave_up: true, .. } => JobRunOutcome::failed,
            JobOutcome::Failed { gave_up: false, .. } => JobRunOutcome::retried,
            JobOutcome::TakenOver => return,
        };
        metrics.job_run(kind, counted, took);
    }
    match outcome {
        // Identifiers only: advisory content and severity stay out of logs (embargo).
        JobOutcome::Done(processed) => tracing::info!(
            job = job.id,
            delivery = %processed.delivery_id,
            event = %processed.event,
            action = processed.action.as_deref().unwrap_or(""),
            incident = processed.incident.as_ref().map(|change| change.ghsa_id.as_str()),
            "delivery processed"
        ),
        JobOutcome::Effect(note) => {
            tracing::info!(job = job.id, kind = job.kind, %note, "effect done")
        }
        JobOutcome::Paced(wait) => {
            tracing::info!(
                job = job.id,
                kind = job.kind,
                wait_secs = wait.as_secs(),
                "GitHub write budget spent: job deferred"
            )
        }
        JobOutcome::Failed {
            error,
            gave_up: true,
        } => {
            tracing::error!(job = job.id, kind = job.kind, attempts = job.attempts, %error, "outbox: job given up")
        }
        JobOutcome::Failed {
            error,
            gave_up: false,
        } => {
            tracing::warn!(job = job.id, kind = job.kind, attempts = job.attempts, %error, "outbox: job failed, will retry")
        }
        JobOutcome::TakenOver => {
            tracing::debug!(
                job = job.id,
                kind = job.kind,
                "outbox: failure already recorded by another runner"
            )
        }
    }
}

impl Worker {
    pub fn new(store: Store, wake: Arc<Notify>, settings: WorkerSettings) -> Worker {
        Worker {
            store,
            wake,
            settings,
            ingest: None,
            effects: None,
            idle: None,
            metrics: None,
            app_bot: Arc::new(OnceLock::new()),
        }
    }

    /// Knows herald's own pull requests by the App's bot login in `app_bot`, once set.
    pub fn recognising(mut self, app_bot: Arc<OnceLock<String>>) -> Worker {
        self.app_bot = app_bot;
        self
    }

    /// The App's bot login, once known.
    fn app_bot(&self) -> Option<&str> {
        self.app_bot.get().map(String::as_str)
    }

    /// Tells `idle` whenever nothing is due.
    pub fn reporting_idle(mut self, idle: Idle) -> Worker {
        self.idle = Some(idle);
        self
    }

    /// Counts each job run in `metrics`.
    pub fn counting_in(mut self, metrics: Arc<Metrics>) -> Worker {
        self.metrics = Some(metrics);
        self
    }

    /// Wakes the effect runner after each commit.
    pub fn waking(mut self, effects: Arc<Notify>) -> Worker {
        self.effects = Some(effects);
        self
    }

    /// Makes the worker give way to deliveries waiting for their commit.
    pub fn giving_way_to(mut self, ingest: IngestLoad) -> Worker {
        self.ingest = Some(ingest);
        self
    }

    /// Whether a delivery waits for its commit.
    fn ingest_waiting(&self) -> bool {
        self.ingest.as_ref().is_some_and(IngestLoad::busy)
    }

    /// How many jobs a batch starting now fetches at a time.
    fn chunk(&self) -> u32 {
        if self.ingest_waiting() {
            CHUNK_UNDER_LOAD
        } else {
            CHUNK
        }
    }

    /// Waits, boundedly, until no delivery is waiting for its commit.
    async fn give_way(&self) {
        let Some(ingest) = &self.ingest else { return };
        let deadline = tokio::time::Instant::now() + MAX_DEFERRAL;
        while ingest.busy() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(DEFERRAL_STEP).await;
        }
    }

    /// Runs jobs until `shutdown` turns true, as many batches at once as the store takes
    /// (see [`Store::concurrent_batches`]).
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        tracing::info!(
            batches_at_once = self.store.concurrent_batches(),
            "outbox worker started"
        );
        self.on_tasks(move |worker| {
            let shutdown = shutdown.clone();
            async move { worker.run_batches(shutdown).await }
        })
        .await;
        tracing::info!("outbox worker stopped");
    }

    /// Runs `each` as many times at once as the store takes batches, each on its own task
    /// (so they share the runtime's threads, as the database's backends share its cores),
    /// and waits for all.
    async fn on_tasks<T, F>(&self, each: impl Fn(Worker) -> F) -> Vec<T>
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let tasks: Vec<_> = (0..self.store.concurrent_batches())
            .map(|_| tokio::spawn(each(self.clone())))
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            match task.await {
                Ok(result) => results.push(result),
                Err(error) => {
                    if let Ok(panic) = error.try_into_panic() {
                        std::panic::resume_unwind(panic);
                    }
                    // Cancelled: the runtime is shutting down.
                }
            }
        }
        results
    }

    /// One loop of batches until `shutdown` turns true.
    async fn run_batches(&self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            self.give_way().await;
            match self.run_batch().await {
                Ok(outcomes) if !outcomes.is_empty() => continue,
                Ok(_) => {
                    if let Some(idle) = &self.idle {
                        idle.signal();
                    }
                }
                Err(error) => tracing::error!(%error, "outbox: cannot run queued jobs"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Runs every job that is due now, as many batches at once as [`Worker::run`] does,
    /// and returns what each did.
    pub async fn drain(&self) -> Result<Vec<JobOutcome>, StoreError> {
        let drained = self
            .on_tasks(|worker| async move { worker.drain_one_at_a_time().await })
            .await;
        let mut outcomes = Vec::new();
        for batches in drained {
            outcomes.extend(batches?);
        }
        Ok(outcomes)
    }

    /// Runs batches one after the other until none finds a job.
    async fn drain_one_at_a_time(&self) -> Result<Vec<JobOutcome>, StoreError> {
        let mut outcomes = Vec::new();
        loop {
            let batch = self.run_batch().await?;
            if batch.is_empty() {
                return Ok(outcomes);
            }
            outcomes.extend(batch);
        }
    }

    /// Runs a batch; one that lost a race with a batch running at once (see
    /// [`StoreError::lost_race`]) is run again, as it then sees what the other committed.
    async fn run_batch(&self) -> Result<Vec<JobOutcome>, StoreError> {
        let mut lost = 0;
        loop {
            match self.run_batch_once().await {
                Err(error) if error.lost_race() && lost < RACES_RUN_AGAIN => {
                    lost += 1;
                    tracing::debug!(%error, "a batch lost a race with another and runs again");
                }
                outcome => return outcome,
            }
        }
    }

    /// Runs due jobs in one transaction until none is left or `batch_time` is spent.
    async fn run_batch_once(&self) -> Result<Vec<JobOutcome>, StoreError> {
        let chunk = self.chunk();
        let pre_read = self
            .store
            .read_due_deliveries(
                (Utc::now(), chunk),
                crate::ingest::events::advisory_incident_key,
            )
            .await?;
        let mut work = self.store.begin().await?;
        work.adopt(pre_read);
        let started = std::time::Instant::now();
        let mut done = Vec::new();
        let mut failing = None;
        // Jobs are marked done at the end of the batch: fetch past the ones already run.
        let mut after_id = 0;
        // Deliveries whose jobs this batch queued (see `Work::queue_admitted`).
        let mut queued = 0;
        'batch: loop {
            let moved_past = work.queue_admitted(chunk).await?;
            queued += moved_past;
            let claims = work.due_jobs(Utc::now(), after_id, chunk).await?;
            if claims.is_empty() {
                // Deliveries that all had their jobs (done) already: go on past them, for as
                // long as a batch may hold the write turn (the next batch goes on).
                if moved_past > 0 && started.elapsed() < LONGEST_BATCH {
                    continue;
                }
                break;
            }
            let jobs: Vec<Result<ClaimedJob, Box<Undecodable>>> =
                claims.into_iter().map(ClaimedJob::decode).collect();
            let deliveries: Vec<DeliveryId> = jobs
                .iter()
                .filter_map(|job| match job {
                    Ok(ClaimedJob {
                        job: Job::ProcessDelivery { delivery },
                        ..
                    }) => Some(delivery.clone()),
                    _ => None,
                })
                .collect();
            let incidents = work
                .read_ahead(&deliveries, crate::ingest::events::advisory_incident_key)
                .await?;
            work.read_ahead_incidents(&incidents).await?;
            for job in jobs {
                let job = match job {
                    Ok(job) => job,
                    Err(undecodable) => {
                        failing = Some(Err(undecodable));
                        break 'batch;
                    }
                };
                after_id = job.id;
                // Jobs left unrun here stay queued: fetching them claimed nothing. A batch
                // runs at least one job, so a slow start never reads as an empty queue.
                let elapsed = started.elapsed();
                if !done.is_empty()
                    && elapsed >= self.settings.batch_time
                    && (elapsed >= LONGEST_BATCH || self.ingest_waiting())
                {
                    break 'batch;
                }
                let job_started = std::time::Instant::now();
                match execute(&mut work, &job, self.app_bot()).await {
                    Ok(processed) => done.push((job, processed, job_started.elapsed())),
                    Err(_) => {
                        failing = Some(Ok(job));
                        break 'batch;
                    }
                }
            }
        }
        match failing {
            None if done.is_empty() && queued == 0 => {
                work.rollback().await?;
                Ok(Vec::new())
            }
            None if done.is_empty() => {
                // It moved past deliveries whose jobs existed: that is kept.
                work.commit().await?;
                Ok(Vec::new())
            }
            None => self.commit_batch(work, done).await,
            Some(failing) => self.undo_batch(work, (done, queued), failing).await,
        }
    }

    /// Marks the batch's jobs done and commits what they did, in one transaction.
    async fn commit_batch(
        &self,
        mut work: Work,
        done: Vec<(ClaimedJob, Processed, Duration)>,
    ) -> Result<Vec<JobOutcome>, StoreError> {
        let finished: Vec<(i64, &str)> = done
            .iter()
            .map(|(job, processed, _)| (job.id, processed.note.as_str()))
            .collect();
        work.complete_jobs(&finished).await?;
        work.commit().await?;
        if let Some(effects) = &self.effects {
            effects.notify_one();
        }
        let outcomes = done
            .into_iter()
            .map(|(job, processed, took)| (job, JobOutcome::Done(processed), took))
            .collect();
        Ok(self.finish_all(outcomes))
    }

    /// Undoes the whole batch for the job that failed in it, then gives every job its own
    /// transaction (a row no job decodes from is given up). The deliveries whose jobs the
    /// batch queued (`queued` of them, see [`Work::queue_admitted`]) have them queued again
    /// first. Each job runs alone under the id its delivery's job has after the undoing: a
    /// job written in the batch may have another id now, and another job its old one; one
    /// whose delivery the batch wrote is gone with it, and is written again by the job that
    /// wrote it, run alone.
    async fn undo_batch(
        &self,
        work: Work,
        (done, queued): (Vec<(ClaimedJob, Processed, Duration)>, u64),
        failing: Result<ClaimedJob, Box<Undecodable>>,
    ) -> Result<Vec<JobOutcome>, StoreError> {
        work.rollback().await?;
        if queued > 0 {
            self.store
                .queue_admitted(u32::try_from(queued).unwrap_or(u32::MAX))
                .await?;
        }
        let mut outcomes = Vec::with_capacity(done.len() + 1);
        let (failing, undecodable) = match failing {
            Ok(job) => (Some(job), None),
            Err(undecodable) => (None, Some(undecodable)),
        };
        for job in done.into_iter().map(|(job, _, _)| job).chain(failing) {
            let Some(job) = self.as_queued_now(job).await? else {
                continue;
            };
            let started = std::time::Instant::now();
            if let Some(outcome) = self.run_alone(&job).await? {
                outcomes.push((job, outcome, started.elapsed()));
            }
        }
        let mut finished = self.finish_all(outcomes);
        if let Some(undecodable) = undecodable {
            let metrics = self.metrics.as_deref();
            finished.push(give_up_undecodable(&self.store, undecodable, metrics).await?);
        }
        Ok(finished)
    }

    /// A job of an undone batch (the worker's batches claim only deliveries' jobs) under the
    /// id its delivery's job has now, if that is pending.
    async fn as_queued_now(&self, job: ClaimedJob) -> Result<Option<ClaimedJob>, StoreError> {
        let Job::ProcessDelivery { delivery } = &job.job else {
            return Ok(None);
        };
        Ok(self
            .store
            .pending_delivery_job(delivery)
            .await?
            .map(|id| ClaimedJob { id, ..job }))
    }

    /// Logs and counts each job's outcome, and returns the outcomes.
    fn finish_all(
        &self,
        outcomes: Vec<(ClaimedJob, JobOutcome, std::time::Duration)>,
    ) -> Vec<JobOutcome> {
        outcomes
            .into_iter()
            .map(|(job, outcome, took)| {
                finished(Ran::from(&job), &outcome, took, self.metrics.as_deref());
                outcome
            })
            .collect()
    }

    /// Runs one job in its own transaction; a failure is recorded in another. `None`: the
    /// job is no longer this runner's (done, or taken by another since its batch was undone).
    async fn run_alone(&self, job: &ClaimedJob) -> Result<Option<JobOutcome>, StoreError> {
        let mut work = self.store.begin().await?;
        if !work.lock_pending_job((job.id, job.attempts)).await? {
            work.rollback().await?;
            return Ok(None);
        }
        let error = match execute(&mut work, job, self.app_bot()).await {
            Ok(processed) => {
                work.complete_jobs(&[(job.id, &processed.note)]).await?;
                work.commit().await?;
                if let Some(effects) = &self.effects {
                    effects.notify_one();
                }
                return Ok(Some(JobOutcome::Done(processed)));
            }
            Err(error) => error,
        };
        work.rollback().await?;
        let panicked = matches!(error, ProcessError::Panicked(_));
        let gave_up = gives_up(job, self.settings.max_attempts, panicked);
        let attempt = (job.id, job.attempts);
        match record_failure(&self.store, attempt, error.into(), gave_up, None).await? {
            JobOutcome::TakenOver => Ok(None),
            outcome => Ok(Some(outcome)),
        }
    }
}

/// Whether a failed attempt is the job's last: after its last attempt, or at once when
/// trying again cannot change how it ends (`final_answer`: refused, or a panic).
fn gives_up(job: &ClaimedJob, max_attempts: i64, final_answer: bool) -> bool {
    final_answer || job.attempts + 1 >= max_attempts
}

/// Records a failed attempt: the job is retried after a backoff, or given up. What the
/// maintainers are told about it (`notice`) commits with it; a notice that cannot be
/// written is logged, and the failure is recorded without it.
async fn record_failure(
    store: &Store,
    (id, attempts): (i64, i64),
    error: JobError,
    gave_up: bool,
    notice: Option<Record>,
) -> Result<JobOutcome, StoreError> {
    let retry_at = Utc::now()
        + chrono::Duration::from_std(backoff(attempts + 1)).unwrap_or(chrono::Duration::MAX);
    let mut work = store.begin_durable().await?;
    if let Some(notice) = notice
        && let Err(unwritten) = notice.apply(&mut work).await
    {
        tracing::error!(job = id, error = %unwritten, "cannot record the notice of a failed job");
        work.rollback().await?;
        work = store.begin_durable().await?;
    }
    if work
        .fail_job((id, attempts), &error.to_string(), retry_at, gave_up)
        .await?
    {
        work.commit().await?;
        Ok(JobOutcome::Failed { error, gave_up })
    } else {
        // Another runner recorded this attempt, and told the maintainers if need be.
        work.rollback().await?;
        Ok(JobOutcome::TakenOver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_job_fails_alone_with_its_words() {
        let index = 7;
        let panicked = unless_it_panics(async move {
            let empty: Vec<u8> = Vec::new();
            empty[index]
        })
        .await;
        let words = panicked.expect_err("the panic is caught");
        assert!(words.contains("index out of bounds"), "{words}");
        assert_eq!(unless_it_panics(async { 5 }).await, Ok(5));
        assert_eq!(
            unless_it_panics(async { panic!("boom") }).await,
            Err::<(), _>("boom".to_owned())
        );
    }

    #[tokio::test]
    async fn while_deliveries_wait_batches_fetch_a_few_jobs_and_still_run_them_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("herald.db").display());
        let store = Store::open(&url).await.expect("store");
        let body = include_bytes!("../../tests/fixtures/issues.labeled.0.json");
        // More than a few chunks, the last one short.
        let admitted = 3 * CHUNK_UNDER_LOAD + 1;
        let deliveries = (0..admitted)
            .map(|n| {
                let id = DeliveryId::parse(&format!("waiting-{n}")).expect("an id");
                crate::ingest::new_delivery(&id, crate::ingest::events::EventKind::Issues, body)
                    .expect("a delivery")
            })
            .collect();
        store.admit(deliveries).await.expect("admitted");
        let worker = || Worker::new(store.clone(), Arc::new(Notify::new()), Default::default());
        assert_eq!(worker().chunk(), CHUNK, "nothing waits: full chunks");
        let giving_way = worker().giving_way_to(IngestLoad::waiting());
        assert_eq!(giving_way.chunk(), CHUNK_UNDER_LOAD);

        let outcomes = giving_way.drain().await.expect("drained");
        assert_eq!(outcomes.len(), admitted as usize, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|outcome| matches!(outcome, JobOutcome::Done(_))),
            "{outcomes:?}"
        );
        assert_eq!(
            store.unqueued_deliveries().await.expect("counted").count,
            0,
            "every delivery has its job"
        );
        assert!(worker().drain().await.expect("drained").is_empty());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
