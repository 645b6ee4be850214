//! GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("the X-Hub-Signature-256 signature does not match the body")]
    Mismatch,
}

/// The digest `header` claims, checked for its form only: a request without one is
/// refused before its body is read.
pub fn claimed(header: Option<&[u8]>) -> Result<[u8; 32], SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut digest).map_err(|_| SignatureError::Malformed)?;
    Ok(digest)
}

/// Checks `claimed` against the HMAC of `body`; the comparison is constant-time.
pub fn matches(
    secret: &SecretString,
    body: &[u8],
    claimed: &[u8; 32],
) -> Result<(), SignatureError> {
    mac(secret, body)
        .verify_slice(claimed)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value GitHub would send for `body`.
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

fn mac(secret: &SecretString, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const GITHUB_VECTOR: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn secret() -> SecretString {
        SecretString::from("It's a Secret to Everybody")
    }

    /// `header` checked against `body`, as the webhook checks a delivery.
    fn verify(
        secret: &SecretString,
        body: &[u8],
        header: Option<&[u8]>,
    ) -> Result<(), SignatureError> {
        matches(secret, body, &claimed(header)?)
    }

    #[test]
    fn githubs_documented_vector() {
        assert_eq!(sign(&secret(), b"Hello, World!"), GITHUB_VECTOR);
        assert_eq!(
            verify(&secret(), b"Hello, World!", Some(GITHUB_VECTOR.as_bytes())),
            Ok(())
        );
        assert_eq!(
            verify(&secret(), b"Hello, World?", Some(GITHUB_VECTOR.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_told_apart() {
        assert_eq!(verify(&secret(), b"x", None), Err(SignatureError::Missing));
        assert_eq!(
            verify(&secret(), b"x", Some(b"sha1=abcd")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secret(), b"x", Some(b"sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secret(), b"x", Some(b"sha256=abcd")),
            Err(SignatureError::Malformed)
        );
    }
}
