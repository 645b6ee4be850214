//! Sending over SMTP with lettre, from one URL setting: `smtps://` (TLS from the start),
//! `smtp://` (STARTTLS required unless the URL says `?tls=opportunistic` or `?tls=none`),
//! with optional `user:password@`. The URL may hold a password, so it is never shown whole.

use crate::redact::redact_url;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How long one SMTP conversation may take before herald gives up and retries later.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("the SMTP URL {url} is not usable: {reason}")]
    Url { url: String, reason: String },
    #[error("the SMTP server {server} failed: {reason}")]
    Send {
        server: String,
        reason: String,
        /// The server answered with a permanent (5xx) rejection.
        permanent: bool,
    },
}

impl SmtpError {
    /// The server's words when it rejected the message for good (a 5xx reply): sending
    /// again cannot help, the address or the message must change.
    pub fn refusal(&self) -> Option<String> {
        match self {
            SmtpError::Send {
                reason,
                permanent: true,
                ..
            } => Some(reason.clone()),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The URL without its password, for messages.
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .finish()
    }
}

/// The URL lettre reads: herald's default for plain `smtp://` is STARTTLS required, and
/// `tls=none` (herald's word for an unencrypted connection) is lettre's absent `tls`.
fn lettre_url(url: &str) -> Result<String, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let scheme = base.split("://").next().unwrap_or("");
    if !matches!(scheme, "smtp" | "smtps") {
        return Err("the scheme must be smtp:// or smtps://".to_owned());
    }
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let tls = params
        .iter()
        .find_map(|param| param.strip_prefix("tls="))
        .map(str::to_owned);
    match (scheme, tls.as_deref()) {
        ("smtp", None) => params.push("tls=required"),
        ("smtp", Some("none")) => params.retain(|param| !param.starts_with("tls=")),
        ("smtp", Some("required" | "opportunistic")) | ("smtps", None) => {}
        (_, other) => {
            return Err(format!(
                "tls={} is not one of required, opportunistic, none (smtp://) or absent (smtps://)",
                other.unwrap_or_default()
            ));
        }
    }
    if params.is_empty() {
        Ok(base.to_owned())
    } else {
        Ok(format!("{base}?{}", params.join("&")))
    }
}

impl Mailer {
    pub fn from_url(url: &str) -> Result<Mailer, SmtpError> {
        let server = redact_url(url);
        let fail = |reason: String| SmtpError::Url {
            url: server.clone(),
            reason,
        };
        let url = lettre_url(url).map_err(fail)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|error| fail(error.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Mailer { transport, server })
    }

    /// Sends the message; `Ok` means the server answered 250 to it.
    pub async fn send(&self, message: Message) -> Result<(), SmtpError> {
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|error| SmtpError::Send {
                server: self.server.clone(),
                permanent: error.is_permanent(),
                reason: error.to_string(),
            })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Connects, greets and says NOOP: what `herald doctor` asks of the server.
    pub async fn check(&self) -> Result<(), SmtpError> {
        let fail = |reason: String| SmtpError::Send {
            server: self.server.clone(),
            reason,
            permanent: false,
        };
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(fail("it did not answer NOOP".to_owned())),
            Err(error) => Err(fail(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lettre_url;

    #[test]
    fn plain_smtp_requires_starttls_unless_the_url_says_otherwise() {
        assert_eq!(
            lettre_url("smtp://mail.example.org").as_deref(),
            Ok("smtp://mail.example.org?tls=required")
        );
        assert_eq!(
            lettre_url("smtp://127.0.0.1:2525?tls=none").as_deref(),
            Ok("smtp://127.0.0.1:2525")
        );
        assert_eq!(
            lettre_url("smtp://u:p@mail.example.org:587?tls=opportunistic").as_deref(),
            Ok("smtp://u:p@mail.example.org:587?tls=opportunistic")
        );
        assert_eq!(
            lettre_url("smtps://mail.example.org").as_deref(),
            Ok("smtps://mail.example.org")
        );
        assert!(lettre_url("http://mail.example.org").is_err());
        assert!(lettre_url("smtp://mail.example.org?tls=maybe").is_err());
        assert!(lettre_url("smtps://mail.example.org?tls=none").is_err());
    }
}
