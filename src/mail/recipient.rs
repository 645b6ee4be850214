//! A downstream's OpenPGP public key, which embargoed notices are encrypted to. It comes
//! from the repository (a file, or armor in `.github/herald.yml`), so it is checked before
//! use and a key that cannot take an encrypted message is a refusal in plain words.

use openpgp::cert::prelude::*;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::types::RevocationStatus;
use sequoia_openpgp as openpgp;
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientKeyError {
    #[error("it is not an OpenPGP public key ({0})")]
    Parse(String),
    #[error("key {0} is revoked")]
    Revoked(String),
    #[error("key {0} is not valid now under the standard policy: {1}")]
    Invalid(String, String),
    #[error("key {0} has no unexpired, unrevoked encryption key")]
    NoEncryptionKey(String),
}

/// A checked public key with at least one key that can encrypt now.
#[derive(Clone)]
pub struct RecipientKey {
    cert: Cert,
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientKey")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl RecipientKey {
    /// Reads an armored (or binary) public key and checks that it can take an encrypted
    /// message now. Only the public part is ever used, should the file hold a secret key.
    pub fn from_bytes(bytes: &[u8]) -> Result<RecipientKey, RecipientKeyError> {
        let cert = Cert::from_bytes(bytes)
            .map_err(|error| RecipientKeyError::Parse(error.to_string()))?
            .strip_secret_key_material();
        let policy = StandardPolicy::new();
        if let RevocationStatus::Revoked(_) = cert.revocation_status(&policy, SystemTime::now()) {
            return Err(RecipientKeyError::Revoked(cert.fingerprint().to_hex()));
        }
        let key = RecipientKey { cert };
        key.with_encryption_keys(|_| ())?;
        Ok(key)
    }

    /// The primary key's fingerprint (upper-case hex, as GnuPG prints it).
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// Hands `use_keys` the keys a message to this recipient is encrypted to: those valid
    /// now for encrypting messages in transit; an error when there is none.
    pub(super) fn with_encryption_keys<T>(
        &self,
        use_keys: impl FnOnce(Vec<openpgp::serialize::stream::Recipient<'_>>) -> T,
    ) -> Result<T, RecipientKeyError> {
        let policy = StandardPolicy::new();
        let fingerprint = || self.fingerprint();
        let valid = self
            .cert
            .with_policy(&policy, None)
            .map_err(|error| RecipientKeyError::Invalid(fingerprint(), error.to_string()))?;
        if valid.alive().is_err() {
            return Err(RecipientKeyError::NoEncryptionKey(fingerprint()));
        }
        let keys: Vec<openpgp::serialize::stream::Recipient<'_>> = valid
            .keys()
            .supported()
            .alive()
            .revoked(false)
            .for_transport_encryption()
            .map(Into::into)
            .collect();
        if keys.is_empty() {
            return Err(RecipientKeyError::NoEncryptionKey(fingerprint()));
        }
        Ok(use_keys(keys))
    }
}
