//! The draft-advisory reconciler. GitHub sends no webhook when a maintainer creates or
//! edits a draft advisory, so herald lists each served repository's advisories on an
//! interval, with conditional requests (a 304 costs no rate limit), and hands every new or
//! changed advisory to the ingest path as a synthetic `repository_advisory` delivery. Its
//! id names the advisory version, so a version is processed once however often it is seen.

use crate::github::{GitHub, GitHubError};
use crate::incident::RepoName;
use crate::ingest::{Ingestor, Receipt, ReceiveError};
use crate::store::{InstallationId, Store, StoreError};
use chrono::Utc;
use http::{Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Below this many requests left in the hour, herald stops polling until the next round,
/// leaving the rest for the work that matters more (tracking issues, replies).
const RATE_LIMIT_RESERVE: u64 = 100;

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
}

pub struct Poller {
    store: Store,
    github: Arc<GitHub>,
    ingestor: Ingestor,
    interval: Duration,
}

impl Poller {
    pub fn new(
        store: Store,
        github: Arc<GitHub>,
        ingestor: Ingestor,
        interval: Duration,
    ) -> Poller {
        Poller {
            store,
            github,
            ingestor,
            interval,
        }
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(
            interval_secs = self.interval.as_secs(),
            "advisory poller started"
        );
        loop {
            let report = self.poll_all().await;
            tracing::info!(
                repositories = report.repositories,
                unchanged = report.unchanged,
                queued = report.queued,
                failed = report.failed,
                skipped = report.skipped,
                "advisory poll done"
            );
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        tracing::info!("advisory poller stopped");
    }

    /// Polls every served repository once.
    pub async fn poll_all(&self) -> PollReport {
        let mut report = PollReport::default();
        let repositories = match self.store.served_repositories().await {
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
        for (repository, installation) in repositories {
            report.repositories += 1;
            match self
                .store
                .claim_advisory_poll(&repository, Utc::now(), since)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    report.skipped += 1;
                    continue;
                }
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(%repository, %error, "advisory poll: cannot claim the repository");
                    continue;
                }
            }
            match self.poll(&repository, installation).await {
                Ok(polled) => {
                    report.queued += polled.queued;
                    report.unchanged += usize::from(polled.unchanged);
                    if polled
                        .remaining
                        .is_some_and(|left| left < RATE_LIMIT_RESERVE)
                    {
                        tracing::warn!(remaining = ?polled.remaining, "advisory poll: rate limit low; rest of the round skipped");
                        break;
                    }
                }
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(%repository, %error, "advisory poll failed");
                }
            }
        }
        report
    }

    async fn poll(
        &self,
        repository: &RepoName,
        installation: InstallationId,
    ) -> Result<Polled, PollError> {
        let api = self.github.installation(installation)?;
        let etag = self.store.advisory_poll_etag(repository).await?;
        let headers: Vec<(&'static str, String)> = etag
            .iter()
            .map(|etag| ("if-none-match", etag.clone()))
            .collect();
        let path = format!(
            "/repos/{repository}/security-advisories?sort=updated&direction=desc&per_page=100"
        );
        let answer = api.send::<()>(Method::GET, &path, None, &headers).await?;
        let remaining = answer
            .header("x-ratelimit-remaining")
            .and_then(|value| value.parse().ok());
        if answer.status == StatusCode::NOT_MODIFIED {
            self.store
                .save_advisory_poll(repository, etag.as_deref(), Utc::now())
                .await?;
            return Ok(Polled {
                queued: 0,
                unchanged: true,
                remaining,
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
                match self
                    .ingest_advisory(repository, installation, &advisory)
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
                .and_then(next_link)
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
            .save_advisory_poll(repository, first_etag.as_deref(), Utc::now())
            .await?;
        Ok(Polled {
            queued,
            unchanged: false,
            remaining,
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
            .receive(&delivery_id, "repository_advisory", &body)
            .await?;
        Ok(Some(receipt == Receipt::Accepted))
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|link| {
        let (url, params) = link.split_once(';')?;
        params
            .split(';')
            .any(|param| param.trim() == "rel=\"next\"")
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

struct Polled {
    queued: usize,
    /// GitHub answered 304.
    unchanged: bool,
    /// Requests left this hour, as GitHub said.
    remaining: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn the_next_link_is_found_among_others() {
        let header = "<https://api.github.com/repos/o/r/security-advisories?after=X&per_page=100>; rel=\"next\", <https://api.github.com/repos/o/r/security-advisories?before=Y>; rel=\"prev\"";
        assert_eq!(
            next_link(header),
            Some("https://api.github.com/repos/o/r/security-advisories?after=X&per_page=100")
        );
        assert_eq!(next_link("<https://x>; rel=\"prev\""), None);
        assert_eq!(next_link("garbage"), None);
    }
}
