//! Redelivery: GitHub marks a webhook delivery that herald did not take (herald down,
//! deploying, or its store unreachable) as failed and never sends it again by itself. On
//! start, once the store commits again after an outage, and on an interval, one replica at a
//! time lists the App's recent delivery attempts (`GET /app/hook/deliveries`, newest first,
//! back to where the last finished scan reached), finds the deliveries that never
//! succeeded and that herald has not stored, and asks GitHub to deliver each again
//! (`POST /app/hook/deliveries/{id}/attempts`), oldest first, paced as a write. The
//! delivery then arrives through the webhook like any other, signed by GitHub.
//!
//! Each failed attempt is asked for once; a delivery whose redelivery failed too is asked
//! for again, up to [`MAX_REQUESTS`] times in all. GitHub's refusal of a request ends it
//! for that delivery (its words are kept for `herald deliveries list`). A delivery herald
//! refused for its content (see [`HookDelivery::refused_by_herald`]) is not asked for: it
//! would be refused again. A scan reads [`MAX_PAGES`] pages at most; the next goes on
//! from the page where it stopped.

use crate::github::{GitHub, GitHubError, HookDelivery, NextPage};
use crate::metrics::{Metrics, RedeliveryOutcome};
use crate::store::{RedeliveryRequest, Resume, ScanClaim, ScanEnd, Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How long GitHub keeps delivery attempts: a scan never reaches further back.
const RETENTION: chrono::Duration = chrono::Duration::days(3);

/// How far before the last finished scan's newest attempt a scan reaches: an attempt is
/// listed once it has ended, up to GitHub's 10 s timeout after it started, under the time
/// it started.
const OVERLAP: chrono::Duration = chrono::Duration::minutes(10);

/// Pages of 100 attempts read in one scan at most.
const MAX_PAGES: usize = 100;

/// Redelivery requests made in one scan at most; the rest wait for the next.
const MAX_REQUESTS_PER_SCAN: usize = 1000;

/// Requests herald makes for one delivery at most (its first, and again when GitHub's
/// redelivery failed too).
pub const MAX_REQUESTS: u32 = 3;

/// How long a replica's claim on the scan lasts without renewal.
const CLAIM: chrono::Duration = chrono::Duration::minutes(2);

/// After the store commits again, how long to wait before scanning: GitHub lists an
/// attempt once it has ended.
const AFTER_RECOVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum RedeliveryError {
    #[error("another replica ({by}) is scanning for failed deliveries until {until}")]
    Held { by: String, until: DateTime<Utc> },
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one scan found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScanReport {
    /// Attempts read.
    pub attempts: usize,
    /// Deliveries that failed at GitHub and are not in the store.
    pub missing: usize,
    /// Of those, asked for again now.
    pub requested: usize,
    /// Of those, GitHub refused to deliver again.
    pub refused: usize,
    /// Of those, asked for without an answer from GitHub (a server error, a timeout):
    /// asked for again by a later scan, within the limit of requests.
    pub failed: usize,
    /// Of those, asked for before (waiting for GitHub, or asked for [`MAX_REQUESTS`] times).
    pub asked_before: usize,
    /// Deliveries herald refused for their content: not asked for.
    pub refused_by_herald: usize,
    /// Why the scan did not handle everything back to its start: its bound of pages (the
    /// next goes on from there), or a page not read, GitHub's rate limit, the bound of
    /// requests (the next reads the same pages again).
    pub unfinished: Option<String>,
}

/// One delivery as the attempts listed show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedDelivery {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    /// Its latest attempt.
    pub latest: HookDelivery,
    pub attempts: usize,
    pub succeeded: bool,
    /// Whether herald has it in its store.
    pub stored: bool,
    /// What herald asked GitHub for it.
    pub request: Option<RedeliveryRequest>,
}

impl ListedDelivery {
    /// Failed at GitHub and missing from the store.
    pub fn missing(&self) -> bool {
        !self.succeeded && !self.stored
    }

    /// Whether herald should ask GitHub for it now.
    fn to_ask(&self) -> bool {
        self.missing()
            && !self.latest.refused_by_herald()
            && self.request.as_ref().is_none_or(|request| {
                request.refusal.is_none()
                    && request.requests < MAX_REQUESTS
                    && request.attempt_id < self.latest.id
            })
    }
}

pub struct Redeliverer {
    store: Store,
    github: Arc<GitHub>,
    /// Named on the scan's claim.
    replica: String,
    metrics: Option<Arc<Metrics>>,
}

impl Redeliverer {
    pub fn new(store: Store, github: Arc<GitHub>, replica: String) -> Redeliverer {
        Redeliverer {
            store,
            github,
            replica,
            metrics: None,
        }
    }

    /// Counts what the scans find and do in `metrics`.
    pub fn counting_in(mut self, metrics: Arc<Metrics>) -> Redeliverer {
        self.metrics = Some(metrics);
        self
    }

    /// Scans on start, every `interval`, and shortly after `recovered` tells the store
    /// commits again, until `shutdown`.
    pub async fn run(
        self,
        interval: Duration,
        recovered: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        tracing::info!(
            interval_secs = interval.as_secs(),
            "redelivery scans started"
        );
        loop {
            tokio::select! {
                scanned = self.scan() => self.log(scanned),
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            let after_recovery = tokio::select! {
                _ = tokio::time::sleep(interval) => false,
                _ = recovered.notified() => true,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            if after_recovery {
                tokio::select! {
                    _ = tokio::time::sleep(AFTER_RECOVERY) => {}
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
            }
        }
        crate::store::release_on_stop("redelivery scan claims", "within minutes", self.release())
            .await;
        tracing::info!("redelivery scans stopped");
    }

    fn log(&self, scanned: Result<ScanReport, RedeliveryError>) {
        match scanned {
            Ok(report) if report.missing == 0 && report.unfinished.is_none() => {
                tracing::debug!(
                    attempts = report.attempts,
                    "redelivery scan: nothing missed"
                );
            }
            Ok(report) => tracing::info!(
                attempts = report.attempts,
                missing = report.missing,
                requested = report.requested,
                refused = report.refused,
                failed = report.failed,
                asked_before = report.asked_before,
                refused_by_herald = report.refused_by_herald,
                unfinished = report.unfinished.as_deref().unwrap_or(""),
                "redelivery scan done"
            ),
            Err(RedeliveryError::Held { by, .. }) => {
                tracing::debug!(replica = %by, "redelivery scan: another replica is scanning");
            }
            Err(error) => tracing::warn!(%error, "redelivery scan failed"),
        }
    }

    /// One scan, if no other replica is scanning: finds the deliveries that failed and asks
    /// GitHub for each again.
    pub async fn scan(&self) -> Result<ScanReport, RedeliveryError> {
        let now = Utc::now();
        let (scanned_through, resume) = match self
            .store
            .claim_redelivery_scan(&self.replica, now, now + CLAIM)
            .await?
        {
            ScanClaim::Taken {
                scanned_through,
                resume,
            } => (scanned_through, resume),
            ScanClaim::Held { by, until } => return Err(RedeliveryError::Held { by, until }),
        };
        let scanned = self.scan_claimed(scanned_through, resume).await;
        let end = match &scanned {
            Ok((_, end)) => end.clone(),
            Err(_) => ScanEnd::Stopped,
        };
        self.store
            .end_redelivery_scan(&self.replica, &end, Utc::now())
            .await?;
        scanned.map(|(report, _)| report)
    }

    /// The scan under this replica's claim, going on from `resume` if the last stopped at
    /// its bound of pages; also returns how it ended, for the next.
    async fn scan_claimed(
        &self,
        scanned_through: DateTime<Utc>,
        resume: Option<Resume>,
    ) -> Result<(ScanReport, ScanEnd), RedeliveryError> {
        let started = Utc::now();
        let floor = floor(scanned_through, started);
        let (attempts, listing) = match &resume {
            Some(resume) => match self.attempts_since(floor, Some(&resume.page)).await {
                Ok(listed) => listed,
                // GitHub no longer takes the page the last scan stopped at (its cursor
                // expired, say): start again from the newest.
                Err(RedeliveryError::GitHub(error)) if error.refusal().is_some() => {
                    tracing::warn!(%error, "redelivery scan: the page to go on from is refused; starting again from the newest");
                    return Box::pin(self.scan_claimed(scanned_through, None)).await;
                }
                Err(error) => return Err(error),
            },
            None => self.attempts_since(floor, None).await?,
        };
        // Never past now: an attempt dated in the future (a clock set wrong) must not move
        // the next scans' start beyond what fails meanwhile.
        let newest = match &resume {
            Some(resume) => Some(resume.newest),
            None => attempts
                .iter()
                .map(|attempt| attempt.delivered_at)
                .max()
                .map(|newest| newest.min(started)),
        };
        let mut unfinished = match &listing {
            Listing::Complete => None,
            Listing::MorePages(_) => Some(format!(
                "{MAX_PAGES} pages of attempts read: the next scan goes on from there"
            )),
            Listing::Cut(why) => Some(why.clone()),
        };
        let deliveries = self.listed(attempts).await?;
        let (mut report, to_ask) = triage(&deliveries);
        // Counted once per delivery: when herald first finds it missing.
        let first_found = to_ask
            .iter()
            .filter(|delivery| delivery.request.is_none())
            .count();
        self.count(RedeliveryOutcome::found, first_found);
        let stopped_asking = self.ask_each(to_ask, &mut report).await?;
        self.count(RedeliveryOutcome::requested, report.requested);
        self.count(RedeliveryOutcome::refused, report.refused);
        // Every request the pages read called for was made: the next scan goes on from
        // the next page, or back to the newest attempt read once the listing reached its
        // end. Otherwise it reads the same pages again (and asks for nothing twice).
        let end = match (listing, newest, &stopped_asking) {
            (Listing::MorePages(page), Some(newest), None) => {
                ScanEnd::Continues(Resume { page, newest })
            }
            (Listing::Complete, newest, None) => ScanEnd::Finished {
                through: newest.unwrap_or(scanned_through).max(scanned_through),
            },
            _ => ScanEnd::Stopped,
        };
        if stopped_asking.is_some() {
            unfinished = stopped_asking;
        }
        report.unfinished = unfinished;
        Ok((report, end))
    }

    fn count(&self, outcome: RedeliveryOutcome, count: usize) {
        if let Some(metrics) = &self.metrics {
            metrics.redeliveries(outcome, count);
        }
    }

    /// Asks GitHub to send each delivery again, within the scan's budget and while this
    /// replica holds the scan; what stopped the asking, if something did.
    async fn ask_each(
        &self,
        to_ask: Vec<&ListedDelivery>,
        report: &mut ScanReport,
    ) -> Result<Option<String>, RedeliveryError> {
        for (asked, delivery) in to_ask.into_iter().enumerate() {
            if asked >= MAX_REQUESTS_PER_SCAN {
                return Ok(Some(format!(
                    "{MAX_REQUESTS_PER_SCAN} requests made: the rest wait for the next scan"
                )));
            }
            if !self
                .store
                .renew_redelivery_scan(&self.replica, Utc::now() + CLAIM)
                .await?
            {
                return Ok(Some("the claim on the scan was lost".to_owned()));
            }
            match self.ask(delivery).await? {
                Asked::Requested => report.requested += 1,
                Asked::Refused => report.refused += 1,
                Asked::Failed => report.failed += 1,
                Asked::NotNow(why) => return Ok(Some(why)),
            }
        }
        Ok(None)
    }

    /// Asks GitHub to deliver `delivery` again and records what GitHub said.
    async fn ask(&self, delivery: &ListedDelivery) -> Result<Asked, RedeliveryError> {
        let mut request = RedeliveryRequest {
            guid: delivery.guid.clone(),
            attempt_id: delivery.latest.id,
            event: delivery.event.clone(),
            action: delivery.action.clone(),
            requests: delivery
                .request
                .as_ref()
                .map_or(0, |request| request.requests)
                + 1,
            requested_at: Utc::now(),
            refusal: None,
        };
        let asked = match self.github.redeliver(delivery.latest.id).await {
            Ok(()) => Asked::Requested,
            Err(error) => match error.refusal() {
                Some(words) => {
                    tracing::warn!(
                        delivery = %delivery.guid,
                        event = %delivery.event,
                        refusal = %words,
                        "GitHub refused to deliver a failed delivery again; it is not asked for again"
                    );
                    request.refusal = Some(words.to_owned());
                    Asked::Refused
                }
                // Waiting for a budget is for later scans: nothing was asked.
                None if error.paced_for().is_some() || error.rate_limited() => {
                    return Ok(Asked::NotNow(error.to_string()));
                }
                // A server error or no answer: counted as a request (GitHub may have taken
                // it), and the attempt is left to ask for again by a later scan, so one
                // delivery GitHub fails on is asked for a few times, not on every scan,
                // and the scan goes on with the next.
                None => {
                    tracing::warn!(delivery = %delivery.guid, %error, "asking GitHub to deliver a failed delivery again failed");
                    request.attempt_id = delivery
                        .request
                        .as_ref()
                        .map_or(0, |earlier| earlier.attempt_id);
                    Asked::Failed
                }
            },
        };
        self.store.record_redelivery(&request).await?;
        Ok(asked)
    }

    /// Gives up this replica's claim on the scan, if it holds it (a scan cut short);
    /// returns whether it did.
    pub async fn release(&self) -> Result<u64, StoreError> {
        self.store
            .end_redelivery_scan(&self.replica, &ScanEnd::Stopped, Utc::now())
            .await
    }

    /// The attempts listed since `floor`, newest first, from the first page or from
    /// `start`, and how far the listing got.
    async fn attempts_since(
        &self,
        floor: DateTime<Utc>,
        start: Option<&str>,
    ) -> Result<(Vec<HookDelivery>, Listing), RedeliveryError> {
        let mut attempts = Vec::new();
        let mut next = start.map(str::to_owned);
        let mut read: std::collections::HashSet<String> = next.iter().cloned().collect();
        for _ in 0..MAX_PAGES {
            let page = match self.github.hook_deliveries(next.as_deref()).await {
                Ok(page) => page,
                // What was read is handled; the rest waits for the next scan.
                Err(error) if !attempts.is_empty() => {
                    return Ok((attempts, Listing::Cut(error.to_string())));
                }
                Err(error) => return Err(error.into()),
            };
            let reached_floor = page
                .attempts
                .iter()
                .any(|attempt| attempt.delivered_at < floor);
            attempts.extend(
                page.attempts
                    .into_iter()
                    .filter(|attempt| attempt.delivered_at >= floor),
            );
            match page.next {
                _ if reached_floor => return Ok((attempts, Listing::Complete)),
                // A next page already read would be read again on every page after it.
                NextPage::Path(after) if !read.insert(after.clone()) => {
                    let why = "GitHub's next page is one already read".to_owned();
                    return Ok((attempts, Listing::Cut(why)));
                }
                NextPage::Path(after) => next = Some(after),
                NextPage::None => return Ok((attempts, Listing::Complete)),
                NextPage::Elsewhere => {
                    tracing::warn!(
                        "GitHub's next page of deliveries is not on the configured API: not followed"
                    );
                    let why = "the next page is not on the configured API".to_owned();
                    return Ok((attempts, Listing::Cut(why)));
                }
            }
        }
        match next {
            Some(page) => Ok((attempts, Listing::MorePages(page))),
            None => Ok((attempts, Listing::Complete)),
        }
    }

    /// The deliveries `attempts` make, oldest first, with what herald knows of each.
    pub async fn listed(
        &self,
        attempts: Vec<HookDelivery>,
    ) -> Result<Vec<ListedDelivery>, StoreError> {
        let mut by_guid: HashMap<String, Vec<HookDelivery>> = HashMap::new();
        for attempt in attempts {
            by_guid
                .entry(attempt.guid.clone())
                .or_default()
                .push(attempt);
        }
        let guids: Vec<&str> = by_guid.keys().map(String::as_str).collect();
        let stored: HashSet<String> = self.store.stored_guids(&guids).await?;
        let mut requests = self.store.redelivery_requests(&guids).await?;
        let mut listed: Vec<ListedDelivery> = by_guid
            .into_iter()
            .filter_map(|(guid, attempts)| {
                let latest = attempts.iter().max_by_key(|attempt| attempt.id)?.clone();
                Some(ListedDelivery {
                    stored: stored.contains(&guid),
                    request: requests.remove(&guid),
                    event: latest.event.clone(),
                    action: latest.action.clone(),
                    succeeded: attempts.iter().any(HookDelivery::succeeded),
                    attempts: attempts.len(),
                    latest,
                    guid,
                })
            })
            .collect();
        // Oldest first: deliveries asked for again arrive in the order they happened.
        listed.sort_by_key(|delivery| (delivery.latest.delivered_at, delivery.latest.id));
        Ok(listed)
    }

    /// The deliveries GitHub lists back to where the scans start (GitHub's retention before
    /// the first scan), oldest first, for `herald deliveries list`.
    pub async fn recent(&self) -> Result<Vec<ListedDelivery>, RedeliveryError> {
        let now = Utc::now();
        let floor = match self.store.redelivery_scan().await? {
            Some(state) => floor(state.scanned_through, now),
            None => now - RETENTION,
        };
        let (attempts, _) = self.attempts_since(floor, None).await?;
        Ok(self.listed(attempts).await?)
    }
}

/// How far back a scan reads at `now` when the last finished one reached
/// `scanned_through`.
fn floor(scanned_through: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    (scanned_through - OVERLAP).max(now - RETENTION)
}

/// How far a scan's listing of attempts got.
enum Listing {
    /// To the scan's start, or GitHub's last page.
    Complete,
    /// As many pages as a scan reads: this one is next.
    MorePages(String),
    /// Not all: a page GitHub did not give, or a next page not followed.
    Cut(String),
}

/// What came of asking GitHub for one delivery.
enum Asked {
    Requested,
    Refused,
    /// GitHub answered a server error, or nothing.
    Failed,
    /// Not asked: GitHub's rate limit, or the App's write pacing; the scan stops here.
    NotNow(String),
}

/// What a scan found of each delivery: refused by herald (a bad signature, say), or
/// missing from the store; and the missing ones to ask for again.
fn triage(deliveries: &[ListedDelivery]) -> (ScanReport, Vec<&ListedDelivery>) {
    let mut report = ScanReport {
        attempts: deliveries.iter().map(|delivery| delivery.attempts).sum(),
        ..ScanReport::default()
    };
    let mut to_ask = Vec::new();
    for delivery in deliveries {
        if delivery.latest.refused_by_herald() && !delivery.succeeded {
            report.refused_by_herald += 1;
        } else if delivery.missing() {
            report.missing += 1;
            if delivery.to_ask() {
                to_ask.push(delivery);
            } else {
                report.asked_before += 1;
            }
        }
    }
    (report, to_ask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(id: u64, status_code: u16) -> HookDelivery {
        HookDelivery {
            id,
            guid: "guid".to_owned(),
            delivered_at: Utc::now(),
            redelivery: false,
            status: String::new(),
            status_code,
            event: "issue_comment".to_owned(),
            action: Some("created".to_owned()),
            installation_id: Some(1),
        }
    }

    fn listed(latest: HookDelivery, request: Option<RedeliveryRequest>) -> ListedDelivery {
        ListedDelivery {
            guid: "guid".to_owned(),
            event: latest.event.clone(),
            action: None,
            succeeded: latest.succeeded(),
            latest,
            attempts: 1,
            stored: false,
            request,
        }
    }

    fn asked(attempt_id: u64, requests: u32, refusal: Option<&str>) -> RedeliveryRequest {
        RedeliveryRequest {
            guid: "guid".to_owned(),
            attempt_id,
            event: "issue_comment".to_owned(),
            action: None,
            requests,
            requested_at: Utc::now(),
            refusal: refusal.map(str::to_owned),
        }
    }

    #[test]
    fn only_what_failed_for_want_of_herald_is_asked_for_and_never_the_same_attempt_twice() {
        assert!(
            listed(attempt(1, 503), None).to_ask(),
            "herald's store was down"
        );
        assert!(
            listed(attempt(1, 0), None).to_ask(),
            "herald did not answer"
        );
        assert!(listed(attempt(1, 408), None).to_ask());
        assert!(!listed(attempt(1, 202), None).to_ask(), "it arrived");
        assert!(
            listed(attempt(1, 401), None).to_ask(),
            "signed with an old secret: GitHub signs a redelivery with the current one"
        );
        assert!(listed(attempt(1, 404), None).to_ask(), "a proxy's answer");
        assert!(
            !listed(attempt(1, 400), None).to_ask(),
            "herald refused its body"
        );
        assert!(
            !listed(attempt(1, 413), None).to_ask(),
            "herald refused its size"
        );
        assert!(
            !listed(attempt(7, 503), Some(asked(7, 1, None))).to_ask(),
            "asked for, GitHub has not yet delivered it again"
        );
        assert!(
            listed(attempt(8, 503), Some(asked(7, 1, None))).to_ask(),
            "GitHub's redelivery failed too"
        );
        assert!(
            !listed(attempt(9, 503), Some(asked(8, MAX_REQUESTS, None))).to_ask(),
            "asked for as often as herald asks"
        );
        assert!(
            !listed(attempt(8, 503), Some(asked(7, 1, Some("too old")))).to_ask(),
            "GitHub refused"
        );
        let mut stored = listed(attempt(1, 503), None);
        stored.stored = true;
        assert!(
            !stored.to_ask(),
            "stored after all (committed as it timed out)"
        );
    }
}
