//! The effect runner: leases outbox jobs that reach GitHub and runs several at once (those
//! of different incidents; the store leases one incident's jobs one at a time), outside any
//! transaction, and retries failures with the same backoff as the worker. Their network
//! waits overlap; each installation's writes still go one at a time, paced (`github::pace`).

use super::{
    Idle, JobOutcome, Ran, WorkerSettings, finished, give_up_undecodable, gives_up, record_failure,
    unless_it_panics,
};
use crate::channels::{ChannelError, Channels, Record};
use crate::jobs::{ClaimedJob, JobKind};
use crate::metrics::Metrics;
use crate::store::{IncidentRow, JobClaim, Store, StoreError};
use chrono::Utc;
use std::sync::Arc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Effect jobs run at once by one runner.
const JOBS_AT_ONCE: usize = 8;

/// How long a leased job is its runner's without a sign of life. The runner renews the
/// lease every third of it while the job runs, so a runner that dies holding one (crash,
/// power loss, a replica gone) has it taken over within a minute; the effects find their
/// earlier work on GitHub (herald's marker in the issue) rather than repeat it.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// How long a stopping runner lets the jobs under way finish before it stops them and
/// releases their leases (another runner takes them at once, and finds on GitHub what they
/// had done).
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub struct EffectRunner {
    store: Store,
    channels: Arc<Channels>,
    wake: Arc<Notify>,
    settings: WorkerSettings,
    /// Named on the leases this runner holds (`herald jobs` shows it).
    replica: String,
    idle: Option<Idle>,
    metrics: Option<Arc<Metrics>>,
}

impl EffectRunner {
    pub fn new(
        store: Store,
        channels: Arc<Channels>,
        wake: Arc<Notify>,
        settings: WorkerSettings,
        replica: String,
    ) -> EffectRunner {
        EffectRunner {
            store,
            channels,
            wake,
            settings,
            replica,
            idle: None,
            metrics: None,
        }
    }

    /// Tells `idle` whenever nothing is due.
    pub fn reporting_idle(mut self, idle: Idle) -> EffectRunner {
        self.idle = Some(idle);
        self
    }

    /// Counts each job run in `metrics`.
    pub fn counting_in(mut self, metrics: Arc<Metrics>) -> EffectRunner {
        self.metrics = Some(metrics);
        self
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!("effect runner started");
        let runner = Arc::new(self);
        let mut running = JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            while running.len() < JOBS_AT_ONCE {
                match runner.lease().await {
                    Ok(Some(claim)) => {
                        let runner = Arc::clone(&runner);
                        running.spawn(async move { runner.run_claim(claim).await });
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::error!(%error, "effects: cannot lease queued jobs");
                        break;
                    }
                }
            }
            if running.is_empty()
                && let Some(idle) = &runner.idle
            {
                idle.signal();
            }
            tokio::select! {
                Some(done) = running.join_next(), if !running.is_empty() => {
                    match done {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => tracing::error!(%error, "effects: cannot record a job's end"),
                        Err(error) => tracing::error!(%error, "effects: a job's task ended abnormally"),
                    }
                }
                _ = runner.wake.notified() => {}
                _ = tokio::time::sleep(runner.settings.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Jobs under way may finish for a while; none is started. Those still running then
        // are stopped, and every lease this runner holds is released.
        let finished = tokio::time::timeout(STOP_GRACE, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                jobs = running.len(),
                "effects: jobs still running at shutdown are stopped and left to another runner"
            );
            running.shutdown().await;
        }
        crate::store::release_on_stop(
            "effect job leases",
            "within a minute",
            runner.store.release_leases(&runner.replica),
        )
        .await;
        tracing::info!("effect runner stopped");
    }

    /// Leases the effect job due longest, in this runner's name.
    async fn lease(&self) -> Result<Option<JobClaim>, StoreError> {
        let kinds = JobKind::effect_names();
        self.store
            .lease_effect((Utc::now(), LEASE), &self.replica, kinds)
            .await
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
        let Some(claim) = self.lease().await? else {
            return Ok(None);
        };
        self.run_claim(claim).await.map(Some)
    }

    /// Decodes a leased job, once, and runs it; a row no job decodes from is given up.
    async fn run_claim(&self, claim: JobClaim) -> Result<JobOutcome, StoreError> {
        match ClaimedJob::decode(claim) {
            Ok(job) => self.run_job(job).await,
            Err(undecodable) => {
                give_up_undecodable(&self.store, undecodable, self.metrics.as_deref()).await
            }
        }
    }

    /// Runs a leased job and records how it ended.
    async fn run_job(&self, job: ClaimedJob) -> Result<JobOutcome, StoreError> {
        // Every line a job logs carries what it is about.
        let about = match job.job.incident() {
            Some(id) => self.store.incident(id).await?,
            None => None,
        };
        let span = tracing::info_span!(
            "job",
            id = job.id,
            kind = %job.kind_name(),
            repository = about.as_ref().map_or("", |row| row.incident.repository.as_str()),
            ghsa = about.as_ref().map_or("", |row| row.incident.ghsa_id.as_str()),
        );
        let _renewing = self.renew_while_running(job.id);
        self.run_leased(&job, about.as_ref()).instrument(span).await
    }

    /// Renews job `job_id`'s lease every third of it until dropped (the job has ended, or
    /// was stopped).
    fn renew_while_running(&self, job_id: i64) -> Renewing {
        let store = self.store.clone();
        let replica = self.replica.clone();
        Renewing(tokio::spawn(async move {
            let every = (LEASE / 3)
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(20));
            loop {
                tokio::time::sleep(every).await;
                match store
                    .renew_lease(job_id, Utc::now() + LEASE, &replica)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        tracing::warn!(job = job_id, %error, "cannot renew a job's lease");
                    }
                }
            }
        }))
    }

    async fn commit(&self, job: &ClaimedJob, record: Record) -> Result<String, ChannelError> {
        let wakes_worker = record.admits_deliveries();
        let sla_notice = record.sla_notice;
        let note = commit(&self.store, job, record).await?;
        if wakes_worker {
            self.channels.wake_worker();
        }
        // Counted once committed: a commit that fails and runs again counts once.
        if let (Some(stage), Some(metrics)) = (sla_notice, &self.metrics) {
            metrics.sla_notice(stage);
        }
        Ok(note)
    }

    /// Runs a leased job, then logs and counts what became of it.
    async fn run_leased(
        &self,
        job: &ClaimedJob,
        about: Option<&IncidentRow>,
    ) -> Result<JobOutcome, StoreError> {
        let started = std::time::Instant::now();
        let outcome = self.run_leased_once(job, about).await?;
        let took = started.elapsed();
        finished(Ran::from(job), &outcome, took, self.metrics.as_deref());
        Ok(outcome)
    }

    /// Runs a leased job and commits what it did with its completion; or defers it to its
    /// GitHub write slot, or records its failure (and reports giving up).
    async fn run_leased_once(
        &self,
        job: &ClaimedJob,
        about: Option<&IncidentRow>,
    ) -> Result<JobOutcome, StoreError> {
        // A panic fails this job alone (and for good), never the runner.
        let ran = match unless_it_panics(self.channels.run(job, about)).await {
            Ok(Ok(record)) => self.commit(job, record).await,
            Ok(Err(error)) => Err(error),
            Err(words) => Err(ChannelError::Panicked(words)),
        };
        let error = match ran {
            Ok(note) => return Ok(JobOutcome::Effect(note)),
            Err(error) => error,
        };
        if let Some(wait) = error.paced_for() {
            let until = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            self.store.defer_job(job.id, until).await?;
            return Ok(JobOutcome::Paced(wait));
        }
        let final_answer = error.refusal().is_some() || matches!(error, ChannelError::Panicked(_));
        let gave_up = gives_up(job, self.settings.max_attempts, final_answer);
        let notice = self
            .channels
            .failure_notice(job, about, &error, gave_up)
            .await
            .unwrap_or_else(|unknown| {
                tracing::error!(job = job.id, error = %unknown, "cannot word the notice of a failed job");
                None
            });
        let attempt = (job.id, job.attempts);
        record_failure(&self.store, attempt, error.into(), gave_up, notice).await
    }
}

/// The task renewing a running job's lease; it stops when the job ends, however it ends.
struct Renewing(tokio::task::JoinHandle<()>);

impl Drop for Renewing {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The one place an effect job completes: what its handler did and the completion, in one
/// durable commit, or neither.
async fn commit(store: &Store, job: &ClaimedJob, record: Record) -> Result<String, ChannelError> {
    let mut work = store.begin_durable().await?;
    let note = record.apply(&mut work).await?;
    work.complete_jobs(&[(job.id, &note)]).await?;
    work.commit().await?;
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Incident, TimelineEntry, TimelineKind};
    use crate::jobs::Job;
    use crate::store::IncidentId;

    fn entry(detail: &str) -> TimelineEntry {
        TimelineEntry {
            at: Utc::now(),
            actor: None,
            kind: TimelineKind::Publication,
            detail: detail.to_owned(),
        }
    }

    /// A store with one incident and one leased effect job for it.
    async fn leased() -> (tempfile::TempDir, Store, IncidentId, ClaimedJob) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("herald.db").display());
        let store = Store::open(&url).await.expect("store");
        let ghsa_id = crate::incident::GhsaId::parse("GHSA-aaaa-bbbb-cccc").expect("GHSA id");
        let incident = Incident::new(
            crate::incident::RepoName::parse("acme/widget").expect("name"),
            ghsa_id,
            Utc::now(),
        );
        let mut work = store.begin_durable().await.expect("work");
        let (id, _) = work
            .save_incident(&incident, Utc::now())
            .await
            .expect("saved");
        work.enqueue(&Job::PostReview { incident: id }, "review:1")
            .expect("queued");
        work.commit().await.expect("committed");
        let job = lease_next(&store, (Utc::now(), chrono::Duration::seconds(60)))
            .await
            .expect("a job");
        (dir, store, id, job)
    }

    /// Leases the next effect job as a runner does, decoded.
    async fn lease_next(
        store: &Store,
        (now, lease): (chrono::DateTime<Utc>, chrono::Duration),
    ) -> Option<ClaimedJob> {
        let claim = store
            .lease_effect((now, lease), "test", JobKind::effect_names())
            .await
            .expect("lease")?;
        Some(ClaimedJob::decode(claim).expect("a job herald knows"))
    }

    /// Marks job `id` done, as its runner would.
    async fn complete(store: &Store, id: i64) {
        let mut work = store.begin_durable().await.expect("work");
        work.complete_jobs(&[(id, "done")]).await.expect("done");
        work.commit().await.expect("committed");
    }

    #[tokio::test]
    async fn urgent_work_is_leased_before_earlier_background_work() {
        let (_dir, store, incident, first) = leased().await;
        let mut work = store.begin_durable().await.expect("work");
        let backfill = Job::SyncTrackingIssue { incident };
        work.enqueue_with(&backfill, "backfill", crate::store::Priority::Background)
            .expect("queued");
        let urgent = Job::PostReview { incident };
        work.enqueue(&urgent, "urgent").expect("queued");
        work.commit().await.expect("committed");
        // The incident's first job is done: its lane is free.
        complete(&store, first.id).await;
        let lease = chrono::Duration::seconds(60);
        let next = lease_next(&store, (Utc::now(), lease)).await;
        let next = next.expect("a job");
        assert_eq!(next.kind_name(), "post_review", "{next:?}");
        assert!(next.id > first.id + 1, "queued after the background job");
        complete(&store, next.id).await;
        let last = lease_next(&store, (Utc::now(), lease)).await;
        assert_eq!(last.expect("a job").kind_name(), "sync_tracking_issue");
    }

    #[tokio::test]
    async fn one_incidents_jobs_run_one_at_a_time_while_others_run_alongside() {
        let (_dir, store, incident, first) = leased().await;
        let other = Incident::new(
            crate::incident::RepoName::parse("acme/gadget").expect("name"),
            crate::incident::GhsaId::parse("GHSA-dddd-eeee-ffff").expect("GHSA id"),
            Utc::now(),
        );
        let mut work = store.begin_durable().await.expect("work");
        let (other, _) = work.save_incident(&other, Utc::now()).await.expect("saved");
        let same = Job::SyncTrackingIssue { incident };
        work.enqueue(&same, "same").expect("queued");
        work.enqueue(&Job::PostReview { incident: other }, "other")
            .expect("queued");
        work.commit().await.expect("committed");
        let lease = chrono::Duration::seconds(60);
        // The first job's incident is busy: its second job waits; the other incident's runs.
        let next = lease_next(&store, (Utc::now(), lease)).await;
        assert_eq!(next.expect("a job").job.incident(), Some(other));
        assert!(
            lease_next(&store, (Utc::now(), lease)).await.is_none(),
            "nothing else may run now"
        );
        // Once the first is done, the second of its incident runs.
        complete(&store, first.id).await;
        let next = lease_next(&store, (Utc::now(), lease)).await;
        assert_eq!(next.expect("a job").kind_name(), "sync_tracking_issue");
    }

    #[tokio::test]
    async fn a_job_taken_over_from_a_dead_runner_is_not_a_first_try() {
        let (_dir, store, _incident, job) = leased().await;
        assert!(job.first_try(), "{job:?}");
        // Its runner died: the lease ends, and another runner takes the job.
        let later = Utc::now() + chrono::Duration::seconds(61);
        let again = lease_next(&store, (later, chrono::Duration::seconds(60)))
            .await
            .expect("the same job, its lease over");
        assert_eq!(again.id, job.id);
        assert_eq!(again.claims, 2);
        assert!(!again.first_try(), "part of it may be done: {again:?}");
    }

    #[tokio::test]
    async fn a_record_and_its_job_completion_land_together_or_not_at_all() {
        let (_dir, store, incident, job) = leased().await;
        // The second write fails (no such incident): the first must not land either, and
        // the job stays owed.
        let failing = Record::note("half")
            .with_timeline(incident, entry("first write"))
            .with_timeline(IncidentId(incident.0 + 1000), entry("fails"));
        assert!(commit(&store, &job, failing).await.is_err());
        let timeline = store.timeline_entries(incident).await.expect("timeline");
        assert!(timeline.is_empty(), "{timeline:?}");
        assert_eq!(store.pending_effects().await.expect("jobs").len(), 1);

        let whole = Record::note("whole").with_timeline(incident, entry("recorded"));
        assert_eq!(
            commit(&store, &job, whole).await.expect("committed"),
            "whole"
        );
        let timeline = store.timeline_entries(incident).await.expect("timeline");
        assert_eq!(timeline.len(), 1);
        assert_eq!(timeline[0].detail, "recorded");
        assert!(store.pending_effects().await.expect("jobs").is_empty());
    }
}
