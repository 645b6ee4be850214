//! Reports sealed with OpenPGP: decrypted with the operator's key (never a repository's),
//! their signatures checked against the keys the reporter sent along. Bytes in, bytes and
//! what was found out: a message that cannot be opened is said, never dropped.

use openpgp::cert::prelude::*;
use openpgp::crypto::{Password, SessionKey};
use openpgp::packet::{PKESK, SKESK};
use openpgp::parse::Parse;
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, DetachedVerifierBuilder, MessageLayer, MessageStructure,
    VerificationError, VerificationHelper, VerifierBuilder,
};
use openpgp::policy::StandardPolicy;
use openpgp::serialize::SerializeInto;
use openpgp::types::SymmetricAlgorithm;
use openpgp::{Cert, KeyHandle};
use secrecy::{ExposeSecret, SecretString};
use sequoia_openpgp as openpgp;
use std::io::Read;

/// The largest plaintext herald reads out of one encrypted message: what it takes of a
/// message at most, so a small compressed message cannot cost more than a large one.
const MAX_PLAINTEXT: u64 = super::DEFAULT_MAX_MESSAGE_BYTES as u64;

#[derive(Debug, thiserror::Error)]
pub enum DecryptionKeyError {
    #[error("the intake's decryption key is not an OpenPGP key: {0}")]
    Parse(String),
    #[error("the intake's decryption key {0} holds no secret key material (it is a public key)")]
    NoSecret(String),
    #[error("the intake's decryption key {0} has no secret encryption subkey")]
    NoEncryptionKey(String),
    #[error(
        "the intake's decryption key {0} is protected by a passphrase: set \
         HERALD_INTAKE_DECRYPTION_KEY_PASSPHRASE or HERALD_INTAKE_DECRYPTION_KEY_PASSPHRASE_FILE"
    )]
    Encrypted(String),
    #[error("the passphrase does not unlock the intake's decryption key {0}")]
    WrongPassphrase(String),
}

/// The operator's key that reports are encrypted to (as `security.txt` publishes it),
/// its encryption subkeys unlocked.
#[derive(Clone)]
pub struct DecryptionKey {
    cert: Cert,
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: only which key this is.
        f.debug_struct("DecryptionKey")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl DecryptionKey {
    /// Reads an armored (or binary) secret key and unlocks its encryption subkeys with
    /// `passphrase` where they are protected.
    pub fn from_bytes(
        bytes: &[u8],
        passphrase: Option<&SecretString>,
    ) -> Result<DecryptionKey, DecryptionKeyError> {
        let cert = Cert::from_bytes(bytes)
            .map_err(|error| DecryptionKeyError::Parse(error.to_string()))?;
        let fingerprint = cert.fingerprint().to_hex();
        if !cert.is_tsk() {
            return Err(DecryptionKeyError::NoSecret(fingerprint));
        }
        let policy = StandardPolicy::new();
        let mut unlocked = Vec::new();
        for key in cert
            .keys()
            .with_policy(&policy, None)
            .secret()
            .for_transport_encryption()
            .for_storage_encryption()
        {
            let key = key.key().clone();
            if key.has_unencrypted_secret() {
                unlocked.push(key);
                continue;
            }
            let passphrase =
                passphrase.ok_or_else(|| DecryptionKeyError::Encrypted(fingerprint.clone()))?;
            let password = Password::from(passphrase.expose_secret());
            let key = key
                .decrypt_secret(&password)
                .map_err(|_| DecryptionKeyError::WrongPassphrase(fingerprint.clone()))?;
            unlocked.push(key);
        }
        if unlocked.is_empty() {
            return Err(DecryptionKeyError::NoEncryptionKey(fingerprint));
        }
        let packets = unlocked
            .into_iter()
            .map(|key| openpgp::Packet::from(key.role_into_subordinate()));
        let (cert, _) = cert
            .insert_packets(packets)
            .map_err(|error| DecryptionKeyError::Parse(error.to_string()))?;
        Ok(DecryptionKey { cert })
    }

    /// The primary key's fingerprint, as GnuPG prints it.
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }
}

/// What a signature on a report says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureCheck {
    /// Not signed.
    Unsigned,
    /// A good signature by a key the reporter sent along (or the operator knows).
    Good {
        fingerprint: String,
        user_id: Option<String>,
        /// The addresses the key's user ids name.
        #[serde(skip)]
        addresses: Vec<String>,
        /// Whether one of them is the mail's sender (`None`: not compared).
        names_sender: Option<bool>,
    },
    /// Signed by a key herald was not given: it cannot say whether it is good.
    UnknownKey { issuer: String },
    /// The signature does not hold.
    Bad { why: String },
}

impl SignatureCheck {
    /// Compares a good signature's key with the mail's sender `address`.
    pub fn compare_sender(&mut self, address: Option<&str>) {
        if let SignatureCheck::Good {
            addresses,
            names_sender,
            ..
        } = self
        {
            *names_sender = address.map(|address| {
                addresses
                    .iter()
                    .any(|named| named.eq_ignore_ascii_case(address))
            });
        }
    }

    /// One line for the intake's issue and `herald intake show`.
    pub fn describe(&self) -> String {
        match self {
            SignatureCheck::Unsigned => "no".to_owned(),
            SignatureCheck::Good {
                fingerprint,
                user_id,
                names_sender,
                ..
            } => {
                let by = match user_id {
                    Some(user_id) => format!("good signature by {fingerprint} ({user_id})"),
                    None => format!("good signature by {fingerprint}"),
                };
                match names_sender {
                    Some(false) => format!("{by}, a key that does not name the sender's address"),
                    _ => by,
                }
            }
            SignatureCheck::UnknownKey { issuer } => {
                format!("signed by key {issuer}, which the reporter did not send: not checked")
            }
            SignatureCheck::Bad { why } => format!("BAD signature: {why}"),
        }
    }
}

/// The keys in `bytes` (an attached `application/pgp-keys` part), public parts only.
pub fn certs_in(bytes: &[u8]) -> Vec<Cert> {
    CertParser::from_bytes(bytes)
        .map(|parser| {
            parser
                .filter_map(Result::ok)
                .map(Cert::strip_secret_key_material)
                .collect()
        })
        .unwrap_or_default()
}

/// The reporter's key among `certs`, armored: the one whose user id names `address`, else
/// the one that made a good signature.
pub fn reporter_key(
    certs: &[Cert],
    address: Option<&str>,
    signature: &SignatureCheck,
) -> Option<Vec<u8>> {
    let names = |cert: &&Cert| {
        address.is_some_and(|address| {
            cert.userids().any(|uid| {
                uid.userid()
                    .email()
                    .ok()
                    .flatten()
                    .is_some_and(|email| email.eq_ignore_ascii_case(address))
            })
        })
    };
    let signed = |cert: &&Cert| {
        matches!(signature, SignatureCheck::Good { fingerprint, .. }
            if cert.fingerprint().to_hex() == *fingerprint)
    };
    let cert = certs
        .iter()
        .find(names)
        .or_else(|| certs.iter().find(signed))?;
    cert.armored().to_vec().ok()
}

/// Decrypts `ciphertext` (armored or binary) with `key`, checking any signature inside
/// against `known`: the plaintext and the signature's check, or why it could not be read.
pub fn decrypt(
    key: &DecryptionKey,
    ciphertext: &[u8],
    known: &[Cert],
) -> Result<(Vec<u8>, SignatureCheck), String> {
    let policy = StandardPolicy::new();
    let helper = Helper {
        key: Some(key),
        known,
        check: SignatureCheck::Unsigned,
    };
    let mut decryptor = DecryptorBuilder::from_bytes(ciphertext)
        .map_err(|error| format!("not an OpenPGP message: {error}"))?
        .with_policy(&policy, None, helper)
        .map_err(|error| error.to_string())?;
    let mut plaintext = Vec::new();
    (&mut decryptor)
        .take(MAX_PLAINTEXT)
        .read_to_end(&mut plaintext)
        .map_err(|error| error.to_string())?;
    if !decryptor.message_processed() {
        return Err(format!(
            "its plaintext is larger than the {MAX_PLAINTEXT} bytes herald reads"
        ));
    }
    Ok((plaintext, decryptor.into_helper().check))
}

/// Checks a cleartext-signed text (`-----BEGIN PGP SIGNED MESSAGE-----`, as `gpg
/// --clearsign` writes it inline).
pub fn verify_cleartext(signed: &[u8], known: &[Cert]) -> SignatureCheck {
    let policy = StandardPolicy::new();
    checked(|| {
        let mut verifier = VerifierBuilder::from_bytes(signed)?.with_policy(
            &policy,
            None,
            Helper::checking(known),
        )?;
        let mut text = Vec::new();
        (&mut verifier).take(MAX_PLAINTEXT).read_to_end(&mut text)?;
        Ok(verifier.into_helper().check)
    })
}

/// Checks a detached signature (PGP/MIME `multipart/signed`) over `data`.
pub fn verify_detached(signature: &[u8], data: &[u8], known: &[Cert]) -> SignatureCheck {
    let policy = StandardPolicy::new();
    checked(|| {
        let mut verifier = DetachedVerifierBuilder::from_bytes(signature)?.with_policy(
            &policy,
            None,
            Helper::checking(known),
        )?;
        verifier.verify_bytes(data)?;
        Ok(verifier.into_helper().check)
    })
}

/// What a verification found, or that its signature does not hold (in sequoia's words).
fn checked(verify: impl FnOnce() -> openpgp::Result<SignatureCheck>) -> SignatureCheck {
    verify().unwrap_or_else(|error| SignatureCheck::Bad {
        why: error.to_string(),
    })
}

/// Decrypts with the operator's key and records what the signatures say.
struct Helper<'a> {
    key: Option<&'a DecryptionKey>,
    known: &'a [Cert],
    check: SignatureCheck,
}

impl<'a> Helper<'a> {
    /// A helper that only checks signatures against `known`.
    fn checking(known: &'a [Cert]) -> Helper<'a> {
        Helper {
            key: None,
            known,
            check: SignatureCheck::Unsigned,
        }
    }
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(self.known.to_vec())
    }

    /// Records the first signature's result; a message is read whatever its signature
    /// says (the security team reads the report either way, told what the check found).
    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        for layer in structure {
            let MessageLayer::SignatureGroup { results } = layer else {
                continue;
            };
            if let Some(result) = results.into_iter().next() {
                self.check =
                    match result {
                        Ok(good) => SignatureCheck::Good {
                            fingerprint: good.ka.cert().fingerprint().to_hex(),
                            user_id: good.ka.cert().userids().next().map(|uid| {
                                String::from_utf8_lossy(uid.userid().value()).into_owned()
                            }),
                            addresses: good
                                .ka
                                .cert()
                                .userids()
                                .filter_map(|uid| uid.userid().email().ok().flatten())
                                .map(str::to_owned)
                                .collect(),
                            names_sender: None,
                        },
                        Err(VerificationError::MissingKey { sig }) => SignatureCheck::UnknownKey {
                            issuer: sig
                                .get_issuers()
                                .first()
                                .map_or_else(|| "(unnamed)".to_owned(), |issuer| issuer.to_hex()),
                        },
                        Err(error) => SignatureCheck::Bad {
                            why: error.to_string(),
                        },
                    };
                return Ok(());
            }
        }
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let key = self
            .key
            .ok_or_else(|| anyhow::anyhow!("herald has no decryption key"))?;
        let policy = StandardPolicy::new();
        for subkey in key
            .cert
            .keys()
            .with_policy(&policy, None)
            .unencrypted_secret()
            .for_transport_encryption()
            .for_storage_encryption()
        {
            let mut pair = subkey.key().clone().into_keypair()?;
            for pkesk in pkesks {
                if pkesk
                    .decrypt(&mut pair, sym_algo)
                    .is_some_and(|(algo, session)| decrypt(algo, &session))
                {
                    return Ok(Some(key.cert.clone()));
                }
            }
        }
        Err(anyhow::anyhow!(
            "it is not encrypted to herald's key {}",
            key.fingerprint()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::SignatureCheck;

    #[test]
    fn a_good_signature_by_a_key_that_names_someone_else_says_so() {
        let good = || SignatureCheck::Good {
            fingerprint: "ABCD".to_owned(),
            user_id: Some("Rita <rita@example.net>".to_owned()),
            addresses: vec!["rita@example.net".to_owned()],
            names_sender: None,
        };
        let mut hers = good();
        hers.compare_sender(Some("RITA@example.net"));
        assert_eq!(
            hers.describe(),
            "good signature by ABCD (Rita <rita@example.net>)"
        );
        let mut not_hers = good();
        not_hers.compare_sender(Some("alice@example.net"));
        assert!(
            not_hers
                .describe()
                .ends_with(", a key that does not name the sender's address"),
            "{}",
            not_hers.describe()
        );
    }
}
