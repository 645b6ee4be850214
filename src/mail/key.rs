//! The project's OpenPGP signing key: loaded and checked once (an unusable key is a clear
//! startup error naming its fingerprint), generated for new projects, and used to sign
//! announcements cleartext (`gpg --clearsign` style) or detached (RFC 3156).

use chrono::{DateTime, Utc};
use openpgp::armor;
use openpgp::cert::prelude::*;
use openpgp::crypto::{KeyPair, Password};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::SerializeInto;
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Signer};
use openpgp::types::{HashAlgorithm, RevocationStatus};
use secrecy::{ExposeSecret, SecretString};
use sequoia_openpgp as openpgp;
use std::io::Write;
use std::time::{Duration, SystemTime};

/// How long a generated key is valid: long enough for a release cycle or three, short
/// enough that a lost key stops being trusted on its own.
const GENERATED_VALIDITY: Duration = Duration::from_secs(3 * 365 * 24 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the signing key is not an OpenPGP key: {0}")]
    Parse(String),
    #[error("the signing key {0} holds no secret key material (it is a public key)")]
    NoSecret(String),
    #[error(
        "the signing key {0} is a v6 key, which GnuPG 2.2 cannot verify; use a v4 key \
         (`herald keys generate` makes one)"
    )]
    Version6(String),
    #[error("the signing key {0} is revoked")]
    Revoked(String),
    #[error("the signing key {fingerprint} expired on {at}")]
    Expired { fingerprint: String, at: String },
    #[error("the signing key {0} is not valid under the standard policy: {1}")]
    Invalid(String, String),
    #[error("the signing key {0} has no usable signing-capable key")]
    NoSigningKey(String),
    #[error(
        "the signing key {0} is protected by a passphrase: set HERALD_SIGNING_KEY_PASSPHRASE \
         or HERALD_SIGNING_KEY_PASSPHRASE_FILE"
    )]
    Encrypted(String),
    #[error("the passphrase does not unlock the signing key {0}")]
    WrongPassphrase(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("the signing key cannot be read back: {0}")]
    Export(String),
    #[error("the recipient's public key: {0}")]
    Recipient(String),
    #[error("key generation failed: {0}")]
    Generate(String),
}

/// A checked signing key, ready to sign.
#[derive(Clone)]
pub struct SigningKey {
    cert: Cert,
    signer: KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: only which key this is.
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl SigningKey {
    /// A secret for keyed digests of mail headers, derived from the signing key's secret
    /// material: only the holder of the key can tell which incident a digest stands for.
    pub fn digest_secret(&self) -> Result<[u8; 32], KeyError> {
        use sha2::{Digest, Sha256};
        let secret = self
            .cert
            .as_tsk()
            .to_vec()
            .map_err(|error| KeyError::Export(error.to_string()))?;
        let mut hasher = Sha256::new();
        hasher.update(b"herald mail digests\0");
        hasher.update(&secret);
        Ok(hasher.finalize().into())
    }
}

fn utc(at: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(at)
}

fn day(at: SystemTime) -> String {
    crate::incident::utc_minute(utc(at))
}

impl SigningKey {
    /// Reads an armored (or binary) secret key, unlocking it with `passphrase` if it is
    /// protected, and checks it can sign now: not v6, not revoked, not expired, valid under
    /// the standard policy, with a signing-capable key.
    pub fn from_bytes(bytes: &[u8], passphrase: Option<&SecretString>) -> Result<Self, KeyError> {
        let cert = Cert::from_bytes(bytes).map_err(|error| KeyError::Parse(error.to_string()))?;
        let fingerprint = cert.fingerprint().to_hex();
        if cert.primary_key().key().version() != 4 {
            return Err(KeyError::Version6(fingerprint));
        }
        if !cert.is_tsk() {
            return Err(KeyError::NoSecret(fingerprint));
        }
        let policy = StandardPolicy::new();
        let now = SystemTime::now();
        if let RevocationStatus::Revoked(_) = cert.revocation_status(&policy, now) {
            return Err(KeyError::Revoked(fingerprint));
        }
        let valid = cert
            .with_policy(&policy, now)
            .map_err(|error| KeyError::Invalid(fingerprint.clone(), error.to_string()))?;
        if valid.alive().is_err() {
            let at = valid
                .primary_key()
                .key_expiration_time()
                .map(day)
                .unwrap_or_else(|| "an unknown date".to_owned());
            return Err(KeyError::Expired { fingerprint, at });
        }
        let usable = valid
            .keys()
            .secret()
            .supported()
            .alive()
            .revoked(false)
            .for_signing()
            .next();
        let Some(usable) = usable else {
            // Say why, when the only signing keys there are have expired.
            let expired = valid
                .keys()
                .for_signing()
                .filter_map(|key| key.key_expiration_time())
                .max();
            return Err(match expired {
                Some(at) if at <= now => KeyError::Expired {
                    fingerprint,
                    at: day(at),
                },
                _ => KeyError::NoSigningKey(fingerprint),
            });
        };
        let key = usable.key().clone();
        let key = if key.has_unencrypted_secret() {
            key
        } else {
            let passphrase = passphrase.ok_or_else(|| KeyError::Encrypted(fingerprint.clone()))?;
            let password = Password::from(passphrase.expose_secret());
            key.decrypt_secret(&password)
                .map_err(|_| KeyError::WrongPassphrase(fingerprint.clone()))?
        };
        let signer = key
            .into_keypair()
            .map_err(|error| KeyError::Invalid(fingerprint, error.to_string()))?;
        Ok(SigningKey { cert, signer })
    }

    /// A new Ed25519 v4 key (certification primary, signing subkey, valid three years) for
    /// `user_id`, and its armored secret key to keep.
    pub fn generate(user_id: &str) -> Result<(SigningKey, String), KeyError> {
        let generate = || -> openpgp::Result<Cert> {
            let (cert, _revocation) = CertBuilder::new()
                .set_profile(openpgp::Profile::RFC4880)?
                .set_cipher_suite(CipherSuite::Cv25519)
                .add_userid(user_id)
                .add_signing_subkey()
                .set_validity_period(GENERATED_VALIDITY)
                .generate()?;
            Ok(cert)
        };
        let cert = generate().map_err(|error| KeyError::Generate(error.to_string()))?;
        let secret = cert
            .as_tsk()
            .armored()
            .to_vec()
            .map_err(|error| KeyError::Generate(error.to_string()))?;
        let secret =
            String::from_utf8(secret).map_err(|error| KeyError::Generate(error.to_string()))?;
        let key = SigningKey::from_bytes(secret.as_bytes(), None)?;
        Ok((key, secret))
    }

    /// The primary key's fingerprint, as GnuPG prints it (upper-case hex).
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// When the key stops being valid, if ever.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        let policy = StandardPolicy::new();
        self.cert
            .with_policy(&policy, None)
            .ok()
            .and_then(|valid| valid.primary_key().key_expiration_time())
            .map(utc)
    }

    pub fn user_ids(&self) -> Vec<String> {
        self.cert
            .userids()
            .map(|user_id| String::from_utf8_lossy(user_id.userid().value()).into_owned())
            .collect()
    }

    /// The armored public key, to publish so that subscribers can verify.
    pub fn public_key(&self) -> Result<String, KeyError> {
        let bytes = self
            .cert
            .armored()
            .to_vec()
            .map_err(|error| KeyError::Sign(error.to_string()))?;
        String::from_utf8(bytes).map_err(|error| KeyError::Sign(error.to_string()))
    }

    /// `text` as an OpenPGP cleartext-signed message (`-----BEGIN PGP SIGNED MESSAGE-----`).
    pub fn clearsign(&self, text: &str) -> Result<String, KeyError> {
        let mut signed = Vec::new();
        let sign = |sink: &mut Vec<u8>| -> openpgp::Result<()> {
            let message = Message::new(sink);
            let mut signer = Signer::new(message, self.signer.clone())?
                .cleartext()
                .hash_algo(HashAlgorithm::SHA256)?
                .build()?;
            signer.write_all(text.as_bytes())?;
            signer.finalize()?;
            Ok(())
        };
        sign(&mut signed).map_err(|error| KeyError::Sign(error.to_string()))?;
        String::from_utf8(signed).map_err(|error| KeyError::Sign(error.to_string()))
    }

    /// `data` signed with this key, then encrypted to `recipient`: an armored
    /// `-----BEGIN PGP MESSAGE-----` that only the recipient can read, and whose signature
    /// they can check once they have.
    pub fn sign_and_encrypt(
        &self,
        data: &[u8],
        recipient: &super::RecipientKey,
    ) -> Result<String, KeyError> {
        let mut sealed = Vec::new();
        recipient
            .with_encryption_keys(|keys| -> openpgp::Result<()> {
                let message = Message::new(&mut sealed);
                let message = Armorer::new(message).build()?;
                let message = Encryptor::for_recipients(message, keys).build()?;
                let message = Signer::new(message, self.signer.clone())?
                    .hash_algo(HashAlgorithm::SHA256)?
                    .build()?;
                let mut literal = LiteralWriter::new(message).build()?;
                literal.write_all(data)?;
                literal.finalize()?;
                Ok(())
            })
            .map_err(|error| KeyError::Recipient(error.to_string()))?
            .map_err(|error| KeyError::Sign(error.to_string()))?;
        String::from_utf8(sealed).map_err(|error| KeyError::Sign(error.to_string()))
    }

    /// An armored detached SHA-256 signature over exactly `data`.
    pub fn sign_detached(&self, data: &[u8]) -> Result<String, KeyError> {
        let mut signature = Vec::new();
        let sign = |sink: &mut Vec<u8>| -> openpgp::Result<()> {
            let message = Message::new(sink);
            let message = Armorer::new(message).kind(armor::Kind::Signature).build()?;
            let mut signer = Signer::new(message, self.signer.clone())?
                .detached()
                .hash_algo(HashAlgorithm::SHA256)?
                .build()?;
            signer.write_all(data)?;
            signer.finalize()?;
            Ok(())
        };
        sign(&mut signature).map_err(|error| KeyError::Sign(error.to_string()))?;
        String::from_utf8(signature).map_err(|error| KeyError::Sign(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armored_secret(cert: &Cert) -> Vec<u8> {
        cert.as_tsk().armored().to_vec().expect("armor")
    }

    fn builder() -> CertBuilder<'static> {
        CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_userid("Test Security <security@example.org>")
            .add_signing_subkey()
    }

    #[test]
    fn a_generated_key_is_v4_ed25519_and_signs() {
        let (key, secret) =
            SigningKey::generate("Project Security <security@example.org>").expect("key");
        assert!(secret.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
        assert_eq!(key.cert.primary_key().key().version(), 4);
        assert_eq!(
            key.signer.public().pk_algo(),
            openpgp::types::PublicKeyAlgorithm::EdDSA
        );
        assert_eq!(
            key.user_ids(),
            vec!["Project Security <security@example.org>"]
        );
        let expires = key.expires_at().expect("an expiry");
        assert!(expires > Utc::now() + chrono::Duration::days(3 * 365 - 2));
        assert!(
            key.public_key()
                .expect("public")
                .contains("PUBLIC KEY BLOCK")
        );
        assert!(!key.public_key().expect("public").contains("PRIVATE"));
        let signed = key.clearsign("hello\n").expect("clearsign");
        assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n"));
        let again = SigningKey::from_bytes(secret.as_bytes(), None).expect("reloads");
        assert_eq!(again.fingerprint(), key.fingerprint());
    }

    #[test]
    fn unusable_keys_are_refused_naming_their_fingerprint() {
        let check =
            |bytes: &[u8], passphrase: Option<&SecretString>, fingerprint: &str, words: &str| {
                let error = SigningKey::from_bytes(bytes, passphrase).expect_err("refused");
                let text = error.to_string();
                assert!(text.contains(fingerprint), "{text}");
                assert!(text.contains(words), "{text}");
            };

        let long_ago = SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
        let (expired, _) = builder()
            .set_creation_time(long_ago)
            .set_validity_period(Duration::from_secs(24 * 3600))
            .generate()
            .expect("key");
        check(
            &armored_secret(&expired),
            None,
            &expired.fingerprint().to_hex(),
            "expired",
        );

        let (cert, revocation) = builder().generate().expect("key");
        let (revoked, _) = cert.clone().insert_packets(revocation).expect("revoke");
        check(
            &armored_secret(&revoked),
            None,
            &cert.fingerprint().to_hex(),
            "revoked",
        );

        let (certify_only, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_userid("No Signing <nosign@example.org>")
            .generate()
            .expect("key");
        check(
            &armored_secret(&certify_only),
            None,
            &certify_only.fingerprint().to_hex(),
            "no usable signing-capable key",
        );

        let (locked, _) = builder()
            .set_password(Some(Password::from("correct horse")))
            .generate()
            .expect("key");
        let fingerprint = locked.fingerprint().to_hex();
        check(&armored_secret(&locked), None, &fingerprint, "passphrase");
        check(
            &armored_secret(&locked),
            Some(&SecretString::from("wrong")),
            &fingerprint,
            "does not unlock",
        );
        let unlocked = SigningKey::from_bytes(
            &armored_secret(&locked),
            Some(&SecretString::from("correct horse")),
        )
        .expect("the right passphrase unlocks it");
        assert!(unlocked.clearsign("x").is_ok());

        let public = locked.armored().to_vec().expect("armor");
        check(&public, None, &fingerprint, "public key");

        let (v6, _) = builder()
            .set_profile(openpgp::Profile::RFC9580)
            .expect("profile")
            .generate()
            .expect("key");
        check(&armored_secret(&v6), None, &v6.fingerprint().to_hex(), "v6");

        let error = SigningKey::from_bytes(b"not a key", None).expect_err("refused");
        assert!(error.to_string().contains("not an OpenPGP key"), "{error}");
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let (key, secret) = SigningKey::generate("A <a@example.org>").expect("key");
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.fingerprint()));
        let armor_line = secret
            .lines()
            .find(|line| line.len() > 40 && !line.contains(':'))
            .expect("a line of key material");
        assert!(!shown.contains(armor_line), "{shown}");
    }
}
