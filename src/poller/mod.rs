//! The draft-advisory reconciler. GitHub sends no webhook when a maintainer creates or
//! edits a draft advisory, so herald lists each served repository's advisories on an
//! interval, with conditional requests (a 304 costs no rate limit), and hands every new or
//! changed advisory to the ingest path as a synthetic `repository_advisory` delivery. Its
//! id names the advisory version, so a version is processed once however often it is seen.
//!
//! An organisation's repositories are polled in one paginated list of the organisation's
//! advisories (one request per hundred advisories instead of one per repository), unless
//! GitHub refuses that list; a user's repositories one by one. A round takes the lists
//! polled longest ago first, several at once (their network waits overlap), and leaves an
//! installation alone once its hourly budget runs low, until GitHub's reset: a round cut
//! short resumes with the lists it did not reach.

use crate::github::{GitHub, GitHubError};
use crate::incident::RepoName;
use crate::ingest::{Ingestor, Receipt, ReceiveError};
use crate::store::{InstallationId, PollClaim, RepositoryToPoll, Store, StoreError};
use chrono::Utc;
use http::{Method, StatusCode};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Below this many requests left in the hour, herald stops polling until the next round,
/// leaving the rest for the work that matters more (tracking issues, replies).
const RATE_LIMIT_RESERVE: u64 = 100;

/// Repositories polled at once.
const CONCURRENT_POLLS: usize = 8;

/// Pages of 100 advisories read in one poll of a repository (the first poll of a
/// repository with a long history reads them all up to this).
const MAX_PAGES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot hand the advisory to ingest: {0}")]
    Ingest(#[from] ReceiveError),
}

/// What one round of polling did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub repositories: usize,
    pub unchanged: usize,
    /// Advisory versions handed to the pipeline for the first time.
    pub queued: usize,
    pub failed: usize,
    /// Polled within this interval already (by another replica sharing the store).
    pub skipped: usize,
    /// Left for a later round: their installation's hourly budget is low.
    pub deferred: usize,
    /// When the soonest list skipped in this round (polled lately, or claimed by another
    /// replica) is due again.
    pub next_due: Option<chrono::DateTime<Utc>>,
}

/// What GitHub last said of an installation's hourly budget.
#[derive(Debug, Clone, Copy)]
struct Budget {
    remaining: u64,
    /// When GitHub renews it (Unix seconds).
    reset: i64,
}

impl Budget {
    fn low(&self, now: i64) -> bool {
        self.remaining < RATE_LIMIT_RESERVE && now < self.reset
    }

    /// What is known after `answer` arrives. Polls run at once and their answers arrive in
    /// any order: within one window GitHub's count only goes down, so an answer that says
    /// more is left than an earlier one is stale; a later window is GitHub's renewal.
    fn after(self, answer: Budget) -> Budget {
        match answer.reset.cmp(&self.reset) {
            std::cmp::Ordering::Greater => answer,
            std::cmp::Ordering::Equal => Budget {
                remaining: self.remaining.min(answer.remaining),
                reset: self.reset,
            },
            std::cmp::Ordering::Less => self,
        }
    }
}

/// What this process has learnt of each installation while polling, shared by the polls
/// running at once.
#[derive(Default)]
struct Learnt {
    /// Its hourly budget, as GitHub last said.
    budgets: HashMap<InstallationId, Budget>,
    /// Organisation installations whose organisation-wide list GitHub refused.
    refused_organisation_lists: HashSet<InstallationId>,
    /// Installations whose account type this process asked GitHub for.
    asked_account_type: HashSet<InstallationId>,
}

#[derive(Clone)]
pub struct Poller {
    store: Store,
    github: Arc<GitHub>,
    ingestor: Ingestor,
    interval: Duration,
    /// Named on this replica's claims of advisory lists.
    replica: String,
    learnt: Arc<Mutex<Learnt>>,
}

/// One advisory list herald polls.
enum AdvisoryList {
    Repository(RepoName),
    /// An organisation's, for the repositories its installation serves.
    Organisation {
        login: String,
        served: Arc<HashSet<RepoName>>,
    },
}

impl AdvisoryList {
    /// Its name in the store's record of polls.
    fn key(&self) -> String {
        match self {
            AdvisoryList::Repository(repository) => repository.to_string(),
            AdvisoryList::Organisation { login, .. } => format!("org:{login}"),
        }
    }

    fn path(&self) -> String {
        match self {
            AdvisoryList::Repository(repository) => {
                format!("/repos/{repository}/security-advisories")
            }
            AdvisoryList::Organisation { login, .. } => {
                format!(
                    "/orgs/{}/security-advisories",
                    crate::github::segment(login)
                )
            }
        }
    }

    fn repositories(&self) -> usize {
        match self {
            AdvisoryList::Repository(_) => 1,
            AdvisoryList::Organisation { served, .. } => served.len(),
        }
    }

    /// The served repository a listed advisory belongs to. An organisation's list names it
    /// only in each advisory's API `url` (`…/repos/{owner}/{repo}/security-advisories/…`).
    fn repository_of(&self, advisory: &serde_json::Value) -> Option<RepoName> {
        match self {
            AdvisoryList::Repository(repository) => Some(repository.clone()),
            AdvisoryList::Organisation { served, .. } => {
                let url = advisory.get("url")?.as_str()?;
                let (_, rest) = url.rsplit_once("/repos/")?;
                let mut parts = rest.split('/');
                let name = format!("{}/{}", parts.next()?, parts.next()?);
                let repository = RepoName::parse(&name).ok()?;
                // Case as GitHub spells it may differ from the stored name.
                served
                    .iter()
                    .find(|served| served.as_str().eq_ignore_ascii_case(repository.as_str()))
                    .cloned()
            }
        }
    }
}

impl Poller {
    pub fn new(
        store: Store,
        github: Arc<GitHub>,
        ingestor: Ingestor,
        interval: Duration,
        replica: String,
    ) -> Poller {
        Poller {
            store,
            github,
            ingestor,
            interval,
            replica,
            learnt: Arc::new(Mutex::new(Learnt::default())),
        }
    }

    fn learnt(&self) -> std::sync::MutexGuard<'_, Learnt> {
        self.learnt
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks GitHub, once per process, for the account type of installations made before
    /// herald recorded it, so an organisation's repositories are polled in one list.
    async fn learn_account_types(&self) {
        let unknown = match self.store.installations_of_unknown_account_type().await {
            Ok(unknown) => unknown,
            Err(error) => {
                tracing::warn!(%error, "advisory poll: cannot read the installations");
                return;
            }
        };
        for installation in unknown {
            let first = self.learnt().asked_account_type.insert(installation);
            if !first {
                continue;
            }
            let kind = match self.github.installation_info(installation).await {
                Ok(info) => info.account.and_then(|account| account.kind),
                Err(error) => {
                    tracing::warn!(installation = installation.0, %error, "cannot read an installation's account type; its repositories are polled one by one");
                    continue;
                }
            };
            if let Some(kind) = kind
                && let Err(error) = self
                    .store
                    .save_installation_account_type(installation, &kind)
                    .await
            {
                tracing::warn!(installation = installation.0, %error, "cannot record an installation's account type");
            }
        }
    }

    fn budget_low(&self, installation: InstallationId) -> bool {
        let now = Utc::now().timestamp();
        self.learnt()
            .budgets
            .get(&installation)
            .is_some_and(|budget| budget.low(now))
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(
            interval_secs = self.interval.as_secs(),
            "advisory poller started"
        );
        loop {
            // Stopping drops the round: its polls under way end, and their claims are
            // released below.
            let report = tokio::select! {
                report = self.poll_all() => report,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            tracing::info!(
                repositories = report.repositories,
                unchanged = report.unchanged,
                queued = report.queued,
                failed = report.failed,
                skipped = report.skipped,
                deferred = report.deferred,
                "advisory poll done"
            );
            let wait = until_next_round(report.next_due, self.interval, Utc::now());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        crate::store::release_on_stop(
            "advisory poll claims",
            "within an interval",
            self.store.release_advisory_polls(&self.replica),
        )
        .await;
        tracing::info!("advisory poller stopped");
    }

    /// The lists that cover `repositories`: an organisation's one list for those its
    /// installation serves (unless GitHub refused it that list), first, then each other
    /// repository's own, in the order given.
    fn advisory_lists(
        &self,
        repositories: Vec<RepositoryToPoll>,
    ) -> Vec<(AdvisoryList, InstallationId)> {
        let learnt = self.learnt();
        let refused = &learnt.refused_organisation_lists;
        let mut organisations: Vec<(InstallationId, String, HashSet<RepoName>)> = Vec::new();
        let mut alone = Vec::new();
        for served in repositories {
            match served.organisation {
                Some(login) if !refused.contains(&served.installation) => {
                    match organisations
                        .iter_mut()
                        .find(|(installation, _, _)| *installation == served.installation)
                    {
                        Some((_, _, listed)) => {
                            listed.insert(served.repository);
                        }
                        None => organisations.push((
                            served.installation,
                            login,
                            HashSet::from([served.repository]),
                        )),
                    }
                }
                _ => alone.push((
                    AdvisoryList::Repository(served.repository),
                    served.installation,
                )),
            }
        }
        organisations
            .into_iter()
            .map(|(installation, login, served)| {
                let list = AdvisoryList::Organisation {
                    login,
                    served: Arc::new(served),
                };
                (list, installation)
            })
            .chain(alone)
            .collect()
    }

    /// Polls every served repository once: an organisation's in one list
    /// (`GET /orgs/{org}/security-advisories`), other repositories each on their own, those
    /// polled longest ago first, several at once. An installation whose hourly budget is
    /// low is left for a later round.
    pub async fn poll_all(&self) -> PollReport {
        let mut report = PollReport::default();
        self.learn_account_types().await;
        let repositories = match self.store.repositories_to_poll().await {
            Ok(repositories) => repositories,
            Err(error) => {
                tracing::error!(%error, "advisory poll: cannot read the served repositories");
                return report;
            }
        };
        // A tenth of the interval of slack, so a replica's own next round is never taken
        // for another's.
        let since = Utc::now()
            - chrono::Duration::from_std(self.interval.mul_f64(0.9))
                .unwrap_or(chrono::Duration::zero());
        let by_list = self.advisory_lists(repositories);
        let mut running = JoinSet::new();
        for (list, installation) in by_list {
            report.repositories += list.repositories();
            while running.len() >= CONCURRENT_POLLS {
                if let Some(done) = running.join_next().await {
                    count(&mut report, done);
                }
            }
            if self.budget_low(installation) {
                report.deferred += list.repositories();
                continue;
            }
            let now = Utc::now();
            let until = now + chrono::Duration::from_std(self.interval).unwrap_or_default();
            match self
                .store
                .claim_advisory_poll(&list.key(), now, since, &self.replica, until)
                .await
            {
                Ok(PollClaim::Taken) => {}
                Ok(PollClaim::Held { due }) => {
                    report.skipped += list.repositories();
                    report.next_due = Some(report.next_due.map_or(due, |soonest| soonest.min(due)));
                    continue;
                }
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(list = %list.key(), %error, "advisory poll: cannot claim the list");
                    continue;
                }
            }
            let poller = self.clone();
            running.spawn(async move {
                let polled = poller.poll(&list, installation).await;
                match &polled {
                    Err(PollError::GitHub(error))
                        if matches!(list, AdvisoryList::Organisation { .. })
                            && error.refusal().is_some() =>
                    {
                        // Not allowed (an older GitHub Enterprise Server, or a token without
                        // the permission): its repositories are polled one by one instead.
                        tracing::warn!(list = %list.key(), %error, "advisory poll: the organisation's list is refused; polling its repositories one by one");
                        poller
                            .learnt()
                            .refused_organisation_lists
                            .insert(installation);
                    }
                    Err(error) => {
                        tracing::warn!(list = %list.key(), %error, "advisory poll failed");
                    }
                    Ok(_) => {}
                }
                polled
            });
        }
        while let Some(done) = running.join_next().await {
            count(&mut report, done);
        }
        if report.deferred > 0 {
            tracing::warn!(
                deferred = report.deferred,
                "advisory poll: rate limit low; repositories left for after GitHub's reset"
            );
        }
        report
    }

    /// Reads one advisory list, newest first, as far as it holds versions not seen before.
    async fn poll(
        &self,
        list: &AdvisoryList,
        installation: InstallationId,
    ) -> Result<Polled, PollError> {
        let api = self.github.installation(installation)?;
        let key = list.key();
        let etag = self.store.advisory_poll_etag(&key).await?;
        let headers: Vec<(&'static str, String)> = etag
            .iter()
            .map(|etag| ("if-none-match", etag.clone()))
            .collect();
        let path = format!("{}?sort=updated&direction=desc&per_page=100", list.path());
        let answer = api.send::<()>(Method::GET, &path, None, &headers).await?;
        let remaining = answer
            .header("x-ratelimit-remaining")
            .and_then(|value| value.parse().ok());
        let reset = answer
            .header("x-ratelimit-reset")
            .and_then(|value| value.parse().ok());
        if let (Some(remaining), Some(reset)) = (remaining, reset) {
            self.learnt()
                .budgets
                .entry(installation)
                .and_modify(|known| *known = known.after(Budget { remaining, reset }))
                .or_insert(Budget { remaining, reset });
        }
        if answer.status == StatusCode::NOT_MODIFIED {
            self.store
                .save_advisory_poll(&key, etag.as_deref(), Utc::now())
                .await?;
            return Ok(Polled {
                queued: 0,
                unchanged: true,
            });
        }
        // The first page's ETag stands for the list: a later 304 means nothing changed.
        let first_etag = answer.header("etag").map(str::to_owned);
        let mut queued = 0;
        let mut page = answer;
        let mut page_path = path.clone();
        for _ in 0..MAX_PAGES {
            let advisories: Vec<serde_json::Value> = page.json(&Method::GET, &page_path)?;
            let mut all_new = true;
            for advisory in advisories {
                let Some(repository) = list.repository_of(&advisory) else {
                    continue;
                };
                match self
                    .ingest_advisory(&repository, installation, &advisory)
                    .await?
                {
                    Some(true) => queued += 1,
                    Some(false) => all_new = false,
                    None => {}
                }
            }
            // Newest first: a page with a version seen before means the rest is known too.
            let next = page
                .header("link")
                .and_then(crate::github::next_link)
                .and_then(|url| url.strip_prefix(self.github.api_url()).map(str::to_owned));
            match next {
                Some(next) if all_new => {
                    page = api.send::<()>(Method::GET, &next, None, &[]).await?;
                    page_path = next;
                }
                _ => break,
            }
        }
        // Recorded only once every advisory is queued, so a failure polls them again.
        self.store
            .save_advisory_poll(&key, first_etag.as_deref(), Utc::now())
            .await?;
        Ok(Polled {
            queued,
            unchanged: false,
        })
    }

    /// Hands one listed advisory to ingest: `Some(true)` when this version is new,
    /// `Some(false)` when it was seen before, `None` when it lacks its id or time.
    async fn ingest_advisory(
        &self,
        repository: &RepoName,
        installation: InstallationId,
        advisory: &serde_json::Value,
    ) -> Result<Option<bool>, PollError> {
        let Some((delivery_id, body)) =
            crate::ingest::reconciled_advisory(repository, installation, advisory)
        else {
            tracing::warn!(%repository, "advisory poll: an advisory without a valid ghsa_id or an updated_at was skipped");
            return Ok(None);
        };
        let receipt = self
            .ingestor
            .receive(&delivery_id, "repository_advisory", &body, None)
            .await?;
        Ok(Some(receipt == Receipt::Accepted))
    }
}

struct Polled {
    queued: usize,
    /// GitHub answered 304.
    unchanged: bool,
}

/// Adds one finished poll to the round's report.
fn count(report: &mut PollReport, done: Result<Result<Polled, PollError>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(polled)) => {
            report.queued += polled.queued;
            report.unchanged += usize::from(polled.unchanged);
        }
        Ok(Err(_)) => report.failed += 1,
        Err(error) => {
            report.failed += 1;
            tracing::error!(%error, "advisory poll: a poll task ended abnormally");
        }
    }
}

/// How long to wait for the next round: until the soonest list skipped in the last one is
/// due (polled by a replica that has since stopped, say), an interval at most, a second at
/// least.
fn until_next_round(
    next_due: Option<chrono::DateTime<Utc>>,
    interval: Duration,
    now: chrono::DateTime<Utc>,
) -> Duration {
    match next_due {
        Some(due) => (due - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_secs(1), interval),
        None => interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_answer_does_not_raise_a_budget_and_a_renewal_does() {
        let known = Budget {
            remaining: 40,
            reset: 1_000,
        };
        let stale = Budget {
            remaining: 55,
            reset: 1_000,
        };
        assert_eq!(known.after(stale).remaining, 40);
        let renewed = Budget {
            remaining: 5_000,
            reset: 4_600,
        };
        assert_eq!(known.after(renewed).remaining, 5_000);
        assert_eq!(known.after(renewed).after(known).reset, 4_600);
    }

    #[test]
    fn a_round_waits_for_the_soonest_list_due_within_an_interval() {
        let now = Utc::now();
        let interval = Duration::from_secs(300);
        let in_secs = |seconds: i64| Some(now + chrono::Duration::seconds(seconds));
        assert_eq!(until_next_round(None, interval, now), interval);
        assert_eq!(
            until_next_round(in_secs(42), interval, now),
            Duration::from_secs(42),
            "a list another replica polled is due before this replica's interval ends"
        );
        assert_eq!(
            until_next_round(in_secs(-5), interval, now),
            Duration::from_secs(1)
        );
        assert_eq!(until_next_round(in_secs(9000), interval, now), interval);
    }
}
