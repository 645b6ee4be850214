//! Upstream announcements of the software the project runs (`[[upstream]]` in herald.toml):
//! each product's feeds (RSS, Atom), OSV for a product with an ecosystem and OSV's package
//! name, NVD's CVE API for a product with a CPE name. `herald serve` reads them every
//! `upstream_poll_secs`; each new item is judged once for each product that reads its
//! source, and one that affects a deployed version opens a product incident, or joins the
//! one that knows its CVE or GHSA id. Sources come only from the operator's settings.

mod feed;
mod fetch;
mod nvd;
mod osv;

pub use fetch::{FetchError, MAX_ANSWER_BYTES};
use fetch::{Fetched, Fetcher};

use crate::incident::{Announcement, Change, Product, Verdict, apply_announcement};
use crate::jobs::Job;
use crate::store::{Store, StoreError, Work};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub const DEFAULT_OSV_URL: &str = "https://api.osv.dev";
pub const DEFAULT_NVD_URL: &str = "https://services.nvd.nist.gov/rest/json/cves/2.0";
/// Where people read what OSV and NVD hold (links in the issues).
const OSV_WEB: &str = "https://osv.dev";
const NVD_WEB: &str = "https://nvd.nist.gov";
/// The pause between two requests to one host: NVD allows 5 requests in 30 s without an
/// API key and 50 with one; others are asked gently.
const PAUSE: Duration = Duration::from_secs(1);
const NVD_PAUSE: Duration = Duration::from_millis(6_500);
const NVD_PAUSE_WITH_KEY: Duration = Duration::from_millis(700);
/// NVD asks that a client read it no more than once every two hours.
const NVD_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::hours(2);

/// A package in an ecosystem, as OSV names it (`Go`, `github.com/grafana/grafana`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
}

/// A product the project runs and where its upstream announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamProduct {
    pub product: Product,
    /// Feeds of anything (a releases feed): an entry counts when it is about security.
    pub feeds: Vec<String>,
    /// Feeds about security alone (a security-announcements category).
    pub security_feeds: Vec<String>,
    /// The List-Ids of its announcement lists, read from the security team's mailbox.
    pub lists: Vec<String>,
    pub osv: Option<Package>,
    /// Its CPE name without a version (`cpe:2.3:a:grafana:grafana`).
    pub cpe: Option<String>,
}

/// Every upstream the operator listed, and how herald reads them.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub products: Vec<UpstreamProduct>,
    pub poll: Duration,
    pub osv_url: String,
    pub nvd_url: String,
    /// Sent to `nvd_url` only (the `apiKey` header).
    pub nvd_api_key: Option<SecretString>,
}

/// What reading one source came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Items judged for the first time (for each product reading them).
    pub judged: usize,
    pub opened: usize,
    pub joined: usize,
    /// Of those judged, the ones recorded as history (a feed's first reading).
    pub history: usize,
    /// The source answered that nothing changed.
    pub unchanged: bool,
    /// Not read now: it asks to be read no sooner than this.
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{source_name}: {what}")]
    Unreadable { source_name: String, what: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One source read, as `herald upstream check` and the log say it.
#[derive(Debug)]
pub struct SourceRead {
    pub source: String,
    pub outcome: Result<Tally, ReadError>,
}

/// Reads every upstream source, and keeps what it finds.
pub struct UpstreamReader {
    store: Store,
    settings: UpstreamSettings,
    fetcher: Fetcher,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Woken when a reading queued jobs (the effect runner).
    wake: Option<Arc<tokio::sync::Notify>>,
}

impl UpstreamReader {
    pub fn new(store: Store, settings: UpstreamSettings) -> Result<UpstreamReader, FetchError> {
        Ok(UpstreamReader {
            store,
            settings,
            fetcher: Fetcher::new()?,
            metrics: None,
            wake: None,
        })
    }

    /// Counts the sources that fail in `metrics`, and wakes `wake` when jobs are queued.
    pub fn running_with(
        mut self,
        metrics: Arc<crate::metrics::Metrics>,
        wake: Arc<tokio::sync::Notify>,
    ) -> UpstreamReader {
        self.metrics = Some(metrics);
        self.wake = Some(wake);
        self
    }

    /// Reads every source now, then every `upstream_poll_secs`, until shutdown.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            for read in self.read_all().await {
                match &read.outcome {
                    Ok(tally) if tally.opened + tally.joined > 0 => {
                        tracing::info!(source = %read.source, opened = tally.opened, joined = tally.joined, "upstream announcements");
                        if let Some(wake) = &self.wake {
                            wake.notify_one();
                        }
                    }
                    Ok(_) => tracing::debug!(source = %read.source, "upstream read"),
                    Err(error) => {
                        tracing::warn!(source = %read.source, %error, "upstream source unreadable; read again next time");
                        if let Some(metrics) = &self.metrics {
                            metrics.upstream_failure();
                        }
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Reads every source once: each feed, OSV, and NVD for each product with a CPE name.
    /// Each source's state records how it went (a feed's validators are kept with its
    /// items).
    pub async fn read_all(&self) -> Vec<SourceRead> {
        let mut reads = Vec::new();
        for (url, security) in self.feeds() {
            let outcome = self.read_feed(&url, security).await;
            reads.push(self.recorded(&url, url.clone(), outcome).await);
        }
        if self.settings.products.iter().any(|p| p.osv.is_some()) {
            let outcome = self.read_osv().await;
            let url = format!("{}/v1/querybatch", self.settings.osv_url);
            reads.push(self.recorded(&url, "OSV".to_owned(), outcome).await);
        }
        for upstream in self.settings.products.iter().filter(|p| p.cpe.is_some()) {
            let source = format!("NVD for {}", upstream.product.name);
            // Each product's deployed versions are their own NVD reading: a product or a
            // version added is read at once.
            let key = format!(
                "{} for {} {}",
                self.settings.nvd_url,
                upstream.product.name,
                upstream.product.versions.join(",")
            );
            let outcome = match self.nvd_due(&key).await {
                Ok(Some(not_before)) => {
                    let outcome = Ok(Tally {
                        not_before: Some(not_before),
                        ..Tally::default()
                    });
                    reads.push(SourceRead { source, outcome });
                    continue;
                }
                Ok(None) => self.read_nvd(upstream).await,
                Err(error) => Err(error.into()),
            };
            reads.push(self.recorded(&key, source, outcome).await);
        }
        reads
    }

    /// When the NVD reading `key` may be done again, if not now: two hours after the last
    /// that succeeded.
    async fn nvd_due(
        &self,
        key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let state = self.store.source_state(key).await?;
        let next = state
            .filter(|state| state.failures == 0)
            .and_then(|state| state.checked_at)
            .map(|at| at + NVD_INTERVAL);
        Ok(next.filter(|next| *next > chrono::Utc::now()))
    }

    /// `outcome` of reading `url`, recorded in its state: a failure counted, a success
    /// clearing the count.
    async fn recorded(
        &self,
        url: &str,
        source: String,
        outcome: Result<Tally, ReadError>,
    ) -> SourceRead {
        let answered = outcome.as_ref().ok().map(|_| (None, None));
        let outcome = match self.record(url, answered).await {
            Ok(()) => outcome,
            Err(error) => outcome.and(Err(error.into())),
        };
        SourceRead { source, outcome }
    }

    /// Every feed once, with whether it is about security alone.
    fn feeds(&self) -> BTreeMap<String, bool> {
        let mut feeds = BTreeMap::new();
        for upstream in &self.settings.products {
            for url in &upstream.feeds {
                feeds.entry(url.clone()).or_insert(false);
            }
            for url in &upstream.security_feeds {
                feeds.insert(url.clone(), true);
            }
        }
        feeds
    }

    /// The products that read the feed at `url` (a list's are found by the mailbox).
    fn readers(&self, url: &str) -> Vec<&UpstreamProduct> {
        self.settings
            .products
            .iter()
            .filter(|upstream| {
                upstream
                    .feeds
                    .iter()
                    .chain(&upstream.security_feeds)
                    .any(|feed| feed == url)
            })
            .collect()
    }

    async fn read_feed(&self, url: &str, security: bool) -> Result<Tally, ReadError> {
        // What a feed holds when a product first reads it is history for that product:
        // announced before herald (or the product) came, never opened as incidents.
        let mut readers = Vec::new();
        for upstream in self.readers(url) {
            let history = !self.store.source_known(url, &upstream.product.name).await?;
            readers.push((upstream, history));
        }
        // A product new to the feed reads it whole now, whatever changed since.
        let state = match readers.iter().any(|(_, history)| *history) {
            true => None,
            false => self.store.source_state(url).await?,
        };
        let fetched = self.fetcher.get(url, state.as_ref(), &[], PAUSE).await;
        let (bytes, etag, last_modified) = match fetched? {
            Fetched::Unchanged => {
                return Ok(Tally {
                    unchanged: true,
                    ..Tally::default()
                });
            }
            Fetched::Body {
                bytes,
                etag,
                last_modified,
            } => (bytes, etag, last_modified),
        };
        let source = url.to_owned();
        let parsed =
            tokio::task::spawn_blocking(move || feed::announcements(&source, &bytes, security));
        let announcements = parsed
            .await
            .map_err(|error| unreadable(url, error.to_string()))?
            .map_err(|what| unreadable(url, what))?;
        let mut work = self.store.begin_durable().await?;
        let tally = take_all(&mut work, &announcements, &readers).await?;
        // Read once, even empty: what comes next is news.
        for (upstream, _) in readers.iter().filter(|(_, history)| *history) {
            work.save_item((url, ""), &upstream.product.name, "first_read", None)
                .await?;
        }
        work.save_source_state(
            url,
            Some((etag.as_deref(), last_modified.as_deref())),
            chrono::Utc::now(),
        )
        .await?;
        work.commit().await?;
        Ok(tally)
    }

    /// OSV's answer for every deployed version of every product with a package. A record
    /// that cannot be read is told after the others are taken.
    async fn read_osv(&self) -> Result<Tally, ReadError> {
        let asked: Vec<(&UpstreamProduct, &Package, &str)> = self
            .settings
            .products
            .iter()
            .filter_map(|upstream| Some((upstream, upstream.osv.as_ref()?)))
            .flat_map(|(upstream, package)| {
                upstream
                    .product
                    .versions
                    .iter()
                    .map(move |version| (upstream, package, version.as_str()))
            })
            .collect();
        let url = format!("{}/v1/querybatch", self.settings.osv_url);
        let query = osv::query(
            &asked
                .iter()
                .map(|(_, package, version)| (*package, *version))
                .collect::<Vec<_>>(),
        );
        let bytes = self.fetcher.post_json(&url, &query, PAUSE).await?;
        let listed = osv::listed(&bytes, asked.len()).map_err(|what| unreadable(&url, what))?;
        let mut tally = Tally::default();
        let mut failed = Vec::new();
        for upstream in &self.settings.products {
            let (versions, answers): (Vec<&str>, Vec<Vec<String>>) = asked
                .iter()
                .zip(&listed)
                .filter(|((asker, _, _), _)| std::ptr::eq(*asker, upstream))
                .map(|((_, _, version), ids)| (*version, ids.clone()))
                .unzip();
            for (id, affected) in osv::affected_versions(&versions, &answers) {
                match self.take_osv_record(upstream, &id, affected).await {
                    Ok(taken) => add(&mut tally, taken),
                    Err(ReadError::Store(error)) => return Err(error.into()),
                    Err(error) => failed.push(error.to_string()),
                }
            }
        }
        partly(tally, "OSV", failed)
    }

    /// OSV's record `id`, affecting the deployed `affected` versions of `upstream`, unless
    /// it was judged before.
    async fn take_osv_record(
        &self,
        upstream: &UpstreamProduct,
        id: &str,
        affected: Vec<String>,
    ) -> Result<Tally, ReadError> {
        // The id becomes a path of OSV's API.
        if !osv::is_osv_id(id) {
            return Err(unreadable(
                "OSV",
                format!(
                    "OSV named an id herald will not ask for: {:?}",
                    id.chars().take(80).collect::<String>()
                ),
            ));
        }
        let item = item_for(id, &affected);
        if self
            .store
            .item_seen(("OSV", &item), &upstream.product.name)
            .await?
        {
            return Ok(Tally::default());
        }
        let record_url = format!("{}/v1/vulns/{id}", self.settings.osv_url);
        let record = match self.fetcher.get(&record_url, None, &[], PAUSE).await? {
            Fetched::Body { bytes, .. } => {
                osv::record(&bytes).map_err(|what| unreadable(&record_url, what))?
            }
            Fetched::Unchanged => return Ok(Tally::default()),
        };
        let Some(announcement) = record.announcement(affected, OSV_WEB) else {
            return Ok(Tally::default());
        };
        let mut work = self.store.begin_durable().await?;
        let tally = take_all(&mut work, &[announcement], &[(upstream, false)]).await?;
        work.commit().await?;
        Ok(tally)
    }

    /// NVD's CVEs for each deployed version of `upstream`; a version whose CVEs cannot be
    /// read is told after the others' are taken.
    async fn read_nvd(&self, upstream: &UpstreamProduct) -> Result<Tally, ReadError> {
        let Some(cpe) = &upstream.cpe else {
            return Ok(Tally::default());
        };
        let mut cves: BTreeMap<String, (Announcement, Vec<String>)> = BTreeMap::new();
        let mut failed = Vec::new();
        for version in &upstream.product.versions {
            match self.nvd_cves(cpe, version).await {
                Ok(read) => {
                    for (id, announcement) in read {
                        cves.entry(id)
                            .or_insert((announcement, Vec::new()))
                            .1
                            .push(version.clone());
                    }
                }
                Err(ReadError::Store(error)) => return Err(error.into()),
                Err(error) => failed.push(format!("{version}: {error}")),
            }
        }
        let mut tally = Tally::default();
        let mut work = self.store.begin_durable().await?;
        for (_, (mut announcement, versions)) in cves {
            announcement.item = item_for(&announcement.item, &versions);
            announcement.affected = Some(versions);
            add(
                &mut tally,
                take_all(&mut work, &[announcement], &[(upstream, false)]).await?,
            );
        }
        work.commit().await?;
        partly(tally, &format!("NVD for {}", upstream.product.name), failed)
    }

    /// The CVEs NVD lists for `version` of the product `cpe` names, every page of them (up
    /// to [`nvd::MAX_PAGES`]; more is an error that says so).
    async fn nvd_cves(
        &self,
        cpe: &str,
        version: &str,
    ) -> Result<Vec<(String, Announcement)>, ReadError> {
        let key = self.settings.nvd_api_key.as_ref();
        let pause = if key.is_some() {
            NVD_PAUSE_WITH_KEY
        } else {
            NVD_PAUSE
        };
        let headers: Vec<(&str, &str)> = key
            .map(|key| ("apiKey", key.expose_secret()))
            .into_iter()
            .collect();
        let name = nvd::cpe_name(cpe, version);
        let (mut cves, mut read) = (Vec::new(), 0);
        for page in 0..nvd::MAX_PAGES {
            let url = nvd::query(&self.settings.nvd_url, &name, page * nvd::PAGE);
            let bytes = match self.fetcher.get(&url, None, &headers, pause).await? {
                Fetched::Body { bytes, .. } => bytes,
                Fetched::Unchanged => return Ok(cves),
            };
            let page =
                nvd::page(&bytes).map_err(|what| unreadable(&self.settings.nvd_url, what))?;
            let total = page.total_results;
            // Past the bound, say so at once rather than after reading all it allows.
            if total > nvd::MAX_PAGES * nvd::PAGE {
                break;
            }
            let listed = page.listed();
            read += listed;
            cves.extend(page.cves(NVD_WEB));
            if listed == 0 || read >= total {
                return Ok(cves);
            }
        }
        Err(unreadable(
            &self.settings.nvd_url,
            format!(
                "NVD lists more than {} CVEs for {name}; herald reads no more than that: name \
                 a narrower CPE or version",
                nvd::MAX_PAGES * nvd::PAGE
            ),
        ))
    }

    /// Records how reading `url` went: its validators when it answered, a further failure
    /// when not.
    async fn record(
        &self,
        url: &str,
        answered: Option<(Option<&str>, Option<&str>)>,
    ) -> Result<(), StoreError> {
        let mut work = self.store.begin_durable().await?;
        work.save_source_state(url, answered, chrono::Utc::now())
            .await?;
        work.commit().await
    }
}

/// An OSV or NVD item's key: its id and the deployed versions it affects, so that
/// deploying another affected version makes it news again. One spelling, or it would be
/// fetched at every poll.
fn item_for(id: &str, versions: &[String]) -> String {
    format!("{id} for {}", versions.join(", "))
}

fn unreadable(source: &str, what: String) -> ReadError {
    ReadError::Unreadable {
        source_name: source.to_owned(),
        what,
    }
}

/// `tally`, unless some of the source could not be read: then that, in one error (what
/// was read is kept).
fn partly(tally: Tally, source: &str, failed: Vec<String>) -> Result<Tally, ReadError> {
    if failed.is_empty() {
        return Ok(tally);
    }
    Err(unreadable(
        source,
        format!(
            "{} part(s) could not be read (what could be was taken: {} opened, {} joined): {}",
            failed.len(),
            tally.opened,
            tally.joined,
            failed.join("; ")
        ),
    ))
}

fn add(tally: &mut Tally, more: Tally) {
    tally.judged += more.judged;
    tally.history += more.history;
    tally.opened += more.opened;
    tally.joined += more.joined;
}

/// Judges each of `announcements` once for each product in `readers`, and keeps what
/// follows in `work`: an incident opened or joined, and its issue's job. A reader marked
/// history records them without judging.
pub async fn take_all(
    work: &mut Work,
    announcements: &[Announcement],
    readers: &[(&UpstreamProduct, bool)],
) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    for announcement in announcements {
        for (upstream, history) in readers {
            let product = &upstream.product;
            let place = (announcement.source.as_str(), announcement.item.as_str());
            if work.item_seen(place, &product.name).await? {
                continue;
            }
            tally.judged += 1;
            tally.history += usize::from(*history);
            let verdict = match *history {
                true => None,
                false => Some(product.judge(announcement, readers.len() == 1)),
            };
            let Some(Verdict::Affects(exposures)) = verdict else {
                let said = verdict.as_ref().map_or("history", Verdict::as_str);
                work.save_item(place, &product.name, said, None).await?;
                continue;
            };
            let existing = work
                .product_incident_naming(&product.name, &announcement.vulnerability_ids())
                .await?;
            let id = existing.as_ref().map(|row| row.id);
            let (incident, change) = apply_announcement(
                existing.map(|row| row.incident),
                product,
                announcement,
                &exposures,
                chrono::Utc::now(),
            );
            let id = work.save_product_incident(id, &incident).await?;
            match change {
                Change::Opened => tally.opened += 1,
                Change::Joined => tally.joined += 1,
                Change::Known => {}
            }
            if change != Change::Known {
                let job = Job::ProductIssue { incident: id };
                work.enqueue(
                    &job,
                    &format!("product_issue:{id}:{}", incident.sightings.len()),
                )?;
            }
            work.save_item(place, &product.name, "affects", Some(id))
                .await?;
        }
    }
    Ok(tally)
}
