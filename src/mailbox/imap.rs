//! The security team's mailbox, read over IMAP: each new message (by UID, past the last
//! one taken) is fetched without marking it read, taken, and the mailbox's place saved in
//! the same durable commit, so a message is taken once and nothing is lost if herald stops
//! half-way: what was not committed is fetched again (and a message taken twice is known
//! by its digest). Messages stay in the mailbox. The server is told of new mail by IDLE
//! where it offers it, else asked every `intake_imap_poll_secs`.

use super::{Arrived, Known, take};
use crate::store::{Store, StoreError};
use async_imap::Client;
use async_imap::types::UnsolicitedResponse;
use futures_util::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, watch};

/// Each exchange with the server at most this long (a part of a message fetched among them); a
/// server that stalls longer is given up on, and connected to again.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// A message is fetched this much at a time: async-imap reads a literal again as it grows,
/// which costs little for a part and minutes for a 30 MB message fetched in one.
const PART_BYTES: usize = 1 << 20;
/// Fetches of one message that fail before herald passes over it.
const MAX_FETCH_FAILURES: u32 = 3;

/// The mailbox as selected: its UIDVALIDITY and the UID its next message will have.
#[derive(Debug, Clone, Copy)]
struct Place {
    validity: u32,
    next: u32,
}
/// How long herald waits at most before connecting again after the mailbox failed (no
/// longer than it waits for new mail).
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Where the mailbox is: `imaps://USER:PASSWORD@HOST[:993][/MAILBOX]`, or `imap://` (no
/// TLS) to this machine only. The password is a server secret, never logged.
#[derive(Clone)]
pub struct ImapSettings {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: SecretString,
    pub mailbox: String,
    pub poll: Duration,
}

impl std::fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl ImapSettings {
    /// Reads an `imaps://` or `imap://` URL; the error never repeats the password.
    pub fn parse(url: &str, poll: Duration) -> Result<ImapSettings, String> {
        let (tls, rest) = match url.split_once("://") {
            Some(("imaps", rest)) => (true, rest),
            Some(("imap", rest)) => (false, rest),
            _ => return Err("not an imaps:// or imap:// URL".to_owned()),
        };
        let (credentials, rest) = rest
            .rsplit_once('@')
            .ok_or("it names no user and password (imaps://USER:PASSWORD@HOST)")?;
        let (user, password) = credentials
            .split_once(':')
            .ok_or("it names no password (imaps://USER:PASSWORD@HOST)")?;
        let (authority, mailbox) = rest.split_once('/').unwrap_or((rest, "INBOX"));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("{port:?} is not a port"))?,
            ),
            None => (authority, if tls { 993 } else { 143 }),
        };
        if host.is_empty() {
            return Err("it names no host".to_owned());
        }
        if !tls && !crate::redact::is_this_machine(host) {
            return Err(format!(
                "imap:// sends the password in the clear: use imaps:// for {host} (imap:// only \
                 to this machine)"
            ));
        }
        let decoded = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| "its user, password or mailbox is not UTF-8".to_owned())
        };
        Ok(ImapSettings {
            tls,
            host: host.to_owned(),
            port,
            user: decoded(user)?,
            password: SecretString::from(decoded(password)?),
            mailbox: match decoded(mailbox)? {
                name if name.is_empty() => "INBOX".to_owned(),
                name => name,
            },
            poll,
        })
    }

    /// The mailbox's name in the store and the log: user, host and mailbox.
    pub fn name(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.mailbox)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("cannot reach the mailbox: {0}")]
    Io(#[from] std::io::Error),
    #[error("the IMAP server said: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("the IMAP server refused the login: {0}")]
    Login(String),
    #[error("the IMAP server did not answer within {} s", FETCH_TIMEOUT.as_secs())]
    TimedOut,
    #[error("the IMAP server did not give message UID {0}")]
    NotGiven(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the mailbox until herald stops.
pub struct MailboxReader {
    store: Store,
    settings: ImapSettings,
    max_message_bytes: usize,
    known: Known,
    /// Wakes the effect runner when a message was taken.
    wake: Arc<Notify>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Failed fetches by UID, across connections.
    failures: std::sync::Mutex<std::collections::HashMap<u32, u32>>,
}

impl MailboxReader {
    pub fn new(
        store: Store,
        settings: ImapSettings,
        (max_message_bytes, known): (usize, Known),
        wake: Arc<Notify>,
    ) -> MailboxReader {
        MailboxReader {
            store,
            settings,
            max_message_bytes,
            known,
            wake,
            metrics: None,
            failures: std::sync::Mutex::default(),
        }
    }

    /// Counts the mailbox's failures in `metrics`.
    pub fn counting_in(mut self, metrics: Arc<crate::metrics::Metrics>) -> MailboxReader {
        self.metrics = Some(metrics);
        self
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let name = self.settings.name();
        tracing::info!(mailbox = %name, "reading the security team's mailbox");
        loop {
            let error = tokio::select! {
                result = self.connected() => match result {
                    Ok(never) => match never {},
                    Err(error) => error,
                },
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let retry = RETRY_AFTER.min(self.settings.poll);
            tracing::warn!(mailbox = %name, %error, "mailbox unreachable; trying again in {} s", retry.as_secs());
            if let Some(metrics) = &self.metrics {
                metrics.mailbox_failure();
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Connects and reads until the connection fails.
    async fn connected(&self) -> Result<std::convert::Infallible, MailboxError> {
        let tcp = connect(&self.settings).await?;
        if !self.settings.tls {
            return self.read(tcp).await;
        }
        self.read(tls(&self.settings, tcp).await?).await
    }

    /// Logs in, selects the mailbox, then takes what is new, again whenever the server
    /// says more came (IDLE) or every poll interval.
    async fn read<T>(&self, stream: T) -> Result<std::convert::Infallible, MailboxError>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let mut session = logged_in(&self.settings, stream).await?;
        let idle = timed(session.capabilities()).await??.has_str("IDLE");
        let selected = timed(session.select(&self.settings.mailbox)).await??;
        let place = Place {
            validity: selected.uid_validity.unwrap_or(0),
            next: selected.uid_next.unwrap_or(1),
        };
        let mut exists = selected.exists;
        loop {
            // What the server told before this search is in the search.
            new_count(&session.unsolicited_responses, &mut exists);
            self.take_new(&mut session, place).await?;
            if idle {
                let told = session.unsolicited_responses.clone();
                let mut handle = session.idle();
                timed(handle.init()).await??;
                // Mail that came during the search or before IDLE began was told then, not
                // while idling: it is taken now, not at the next poll.
                if !new_count(&told, &mut exists) {
                    let (wait, _interrupt) = handle.wait_with_timeout(self.settings.poll);
                    wait.await?;
                }
                session = timed(handle.done()).await??;
            } else {
                tokio::time::sleep(self.settings.poll).await;
                timed(session.noop()).await??;
            }
        }
    }

    /// Where to start in the mailbox: past the last message taken; on the first contact,
    /// past what it holds already (mail from before herald came is history: taking it
    /// would open an issue and answer each old sender); after a new UIDVALIDITY, from
    /// the start again, known messages known by their digest and none answered.
    async fn start(&self, place: Place) -> Result<(u32, bool), MailboxError> {
        let name = self.settings.name();
        Ok(match self.store.mailbox_state(&name).await? {
            Some((known, last)) if known == place.validity => (last, true),
            Some(_) => {
                tracing::warn!(mailbox = %name, "the mailbox's UIDVALIDITY changed: reading it again; none of it is answered");
                (0, false)
            }
            None => {
                let last = place.next.saturating_sub(1);
                tracing::info!(mailbox = %name, "first contact: the messages already in the mailbox (UIDs up to {last}) are left there, not taken");
                let mut work = self.store.begin_durable().await?;
                work.save_mailbox_state(&name, (place.validity, last))
                    .await?;
                work.commit().await?;
                (last, true)
            }
        })
    }

    /// Takes each message past the last one taken, in UID order, each in its own commit. A
    /// message the server will not give (gone, refused, stalled) is tried again on the next
    /// connection, and after [`MAX_FETCH_FAILURES`] passed over, left in the mailbox and
    /// counted, so that one cannot hold back all later mail.
    async fn take_new<T>(
        &self,
        session: &mut async_imap::Session<T>,
        place: Place,
    ) -> Result<(), MailboxError>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let name = self.settings.name();
        let (last, answer) = self.start(place).await?;
        let Some(first) = last.checked_add(1) else {
            return Ok(());
        };
        let mut uids: Vec<u32> = timed(session.uid_search(format!("UID {first}:*")))
            .await??
            .into_iter()
            .filter(|uid| *uid > last)
            .collect();
        uids.sort_unstable();
        for uid in uids {
            let fetched = match self.fetch(session, uid).await {
                Ok(fetched) => fetched,
                // What is wrong with this message, not with the connection.
                Err(error @ (MailboxError::NotGiven(_) | MailboxError::TimedOut))
                    if self.failed(uid) =>
                {
                    tracing::error!(mailbox = %name, uid, %error, "a message the server would not give {MAX_FETCH_FAILURES} times is left in the mailbox, not taken");
                    if let Some(metrics) = &self.metrics {
                        metrics.mailbox_failure();
                    }
                    self.pass_over(place.validity, uid).await?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let (kept, digest, cut) = fetched;
            let source = format!("imap {name}");
            let arrived = Arrived {
                kept: &kept,
                digest,
                source: &source,
                cut,
                answer,
            };
            let mut work = self.store.begin_durable().await?;
            let taken = take(&mut work, &arrived, &self.known).await?;
            work.save_mailbox_state(&name, (place.validity, uid))
                .await?;
            work.commit().await?;
            self.wake.notify_one();
            tracing::info!(mailbox = %name, uid, intake = %taken.id, "mail taken: {}", taken.describe());
        }
        Ok(())
    }

    /// Counts a failed fetch of `uid`; true once it failed [`MAX_FETCH_FAILURES`] times.
    fn failed(&self, uid: u32) -> bool {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = failures.entry(uid).or_insert(0);
        *count += 1;
        *count >= MAX_FETCH_FAILURES
    }

    /// Moves the mailbox's place past `uid`, which is not taken.
    async fn pass_over(&self, validity: u32, uid: u32) -> Result<(), MailboxError> {
        let mut work = self.store.begin_durable().await?;
        work.save_mailbox_state(&self.settings.name(), (validity, uid))
            .await?;
        work.commit().await?;
        Ok(())
    }

    /// Message `uid`, unread: whole, or its header alone when it is over the limit (then
    /// it stays in the mailbox for someone to read there); its digest; why it was cut.
    async fn fetch<T>(
        &self,
        session: &mut async_imap::Session<T>,
        uid: u32,
    ) -> Result<(Vec<u8>, String, Option<String>), MailboxError>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let size = self.fetched(session, uid, "RFC822.SIZE").await?.1;
        let max = self.max_message_bytes;
        if size.is_some_and(|size| size as usize > max) {
            let size = size.unwrap_or_default();
            let (header, _) = self.fetched(session, uid, "BODY.PEEK[HEADER]").await?;
            let digest = hex::encode(Sha256::digest(
                [&header[..], size.to_string().as_bytes()].concat(),
            ));
            let cut = format!(
                "{size} bytes, over the {max} bytes herald takes (intake_max_message_bytes): \
                 only its header was kept; the whole message stays in the mailbox"
            );
            return Ok((header, digest, Some(cut)));
        }
        let whole = self.fetched_in_parts(session, uid).await?;
        let digest = hex::encode(Sha256::digest(&whole));
        // The server's stated size is not trusted: what came is measured.
        if whole.len() > max {
            let cut = format!(
                "{} bytes, over the {max} bytes herald takes (intake_max_message_bytes): \
                 only its header was kept; the whole message stays in the mailbox",
                whole.len()
            );
            return Ok((crate::intake::header_of(&whole).to_vec(), digest, Some(cut)));
        }
        Ok((whole, digest, None))
    }

    /// Message `uid` whole, fetched [`PART_BYTES`] at a time (each literal small, however
    /// large the message), and no further than one part past the limit.
    async fn fetched_in_parts<T>(
        &self,
        session: &mut async_imap::Session<T>,
        uid: u32,
    ) -> Result<Vec<u8>, MailboxError>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let mut whole = Vec::new();
        loop {
            let what = format!("BODY.PEEK[]<{}.{PART_BYTES}>", whole.len());
            let (part, _) = self.fetched(session, uid, &what).await?;
            // A part shorter than asked for is the last (past the end, an empty one).
            let last = part.len() < PART_BYTES;
            whole.extend_from_slice(&part);
            if last || whole.len() > self.max_message_bytes {
                return Ok(whole);
            }
        }
    }

    /// One FETCH of `uid`: the body part asked for (empty if none) and the size.
    async fn fetched<T>(
        &self,
        session: &mut async_imap::Session<T>,
        uid: u32,
        what: &str,
    ) -> Result<(Vec<u8>, Option<u32>), MailboxError>
    where
        T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        let fetches: Vec<async_imap::types::Fetch> = timed(async {
            session
                .uid_fetch(uid.to_string(), format!("(UID {what})"))
                .await?
                .try_collect()
                .await
        })
        .await??;
        // A server that answers NO, or names another message, gave nothing to take.
        let fetch = fetches
            .iter()
            .find(|fetch| fetch.uid == Some(uid))
            .ok_or(MailboxError::NotGiven(uid))?;
        let part = match what {
            "RFC822.SIZE" => Some(Vec::new()),
            _ => fetch.body().or_else(|| fetch.header()).map(<[u8]>::to_vec),
        };
        Ok((part.ok_or(MailboxError::NotGiven(uid))?, fetch.size))
    }
}

/// Whether what the server told unasked (`told`) includes a new message count; `exists`
/// is the count known, kept up to date.
fn new_count(told: &async_channel::Receiver<UnsolicitedResponse>, exists: &mut u32) -> bool {
    let mut changed = false;
    while let Ok(said) = told.try_recv() {
        if let UnsolicitedResponse::Exists(count) = said {
            changed |= count != *exists;
            *exists = count;
        }
    }
    changed
}

/// A TCP connection to the mailbox's server, within [`FETCH_TIMEOUT`].
async fn connect(settings: &ImapSettings) -> Result<tokio::net::TcpStream, MailboxError> {
    Ok(timed(tokio::net::TcpStream::connect((
        bare_host(&settings.host),
        settings.port,
    )))
    .await??)
}

/// The host as a connection names it: an IPv6 address without its brackets.
fn bare_host(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// `tcp` wrapped in TLS to the mailbox's host, checked against the public CA roots.
async fn tls(
    settings: &ImapSettings,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, MailboxError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| std::io::Error::other(error.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let server = rustls::pki_types::ServerName::try_from(bare_host(&settings.host).to_owned())
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    Ok(timed(connector.connect(server, tcp)).await??)
}

/// A session logged in over `stream`, the server's greeting read first.
async fn logged_in<T>(
    settings: &ImapSettings,
    stream: T,
) -> Result<async_imap::Session<T>, MailboxError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut client = Client::new(stream);
    timed(client.read_response()).await??;
    timed(client.login(&settings.user, settings.password.expose_secret()))
        .await?
        .map_err(|(error, _)| MailboxError::Login(error.to_string()))
}

/// What `herald doctor` says of the mailbox: it connects, logs in and selects it, then
/// says how many messages it holds and whether the server offers IDLE.
pub async fn check(settings: &ImapSettings) -> Result<String, MailboxError> {
    let tcp = connect(settings).await?;
    if settings.tls {
        checked_session(settings, tls(settings, tcp).await?).await
    } else {
        checked_session(settings, tcp).await
    }
}

async fn checked_session<T>(settings: &ImapSettings, stream: T) -> Result<String, MailboxError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut session = logged_in(settings, stream).await?;
    let idle = timed(session.capabilities()).await??.has_str("IDLE");
    let selected = timed(session.select(&settings.mailbox)).await??;
    let _ = timed(session.logout()).await;
    Ok(format!(
        "mailbox {} holds {} message(s); the server {} IDLE",
        settings.name(),
        selected.exists,
        if idle {
            "offers"
        } else {
            "does not offer (herald polls)"
        }
    ))
}

async fn timed<F: std::future::Future>(future: F) -> Result<F::Output, MailboxError> {
    tokio::time::timeout(FETCH_TIMEOUT, future)
        .await
        .map_err(|_| MailboxError::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_url_is_read_and_never_repeats_its_password() {
        let poll = Duration::from_secs(60);
        let settings = ImapSettings::parse(
            "imaps://security%40example.org:s%3Acret@mail.example.org/Reports",
            poll,
        )
        .expect("read");
        assert_eq!(
            (
                settings.tls,
                settings.port,
                settings.user.as_str(),
                settings.mailbox.as_str()
            ),
            (true, 993, "security@example.org", "Reports")
        );
        assert_eq!(settings.password.expose_secret(), "s:cret");
        assert_eq!(
            format!("{settings:?}"),
            "security@example.org@mail.example.org:993/Reports"
        );
        let local = ImapSettings::parse("imap://u:p@127.0.0.1:1143", poll).expect("loopback");
        assert_eq!(
            (local.tls, local.port, local.mailbox.as_str()),
            (false, 1143, "INBOX")
        );
        for refused in [
            "imap://u:p@mail.example.org",
            "https://u:p@mail.example.org",
            "imaps://mail.example.org",
            "imaps://u@mail.example.org",
            "imaps://u:p@mail.example.org:x",
        ] {
            let error = ImapSettings::parse(refused, poll).expect_err(refused);
            assert!(!error.contains(":p@"), "{error}");
        }
    }
}
