//! Mail to the security team's address (`security@`): what a message says, read as data,
//! and whether it is a report at all. No I/O: `herald intake mail` hands it the bytes the
//! mail server delivered, the store keeps them, and the intake job opens the intake's
//! private issue from what [`Letter::read`] finds in them.

mod classify;
mod command;
mod letter;
mod openpgp;
mod sealed;

pub use classify::{Kind, Ours, classify, is_automatic, list_id};
pub use command::{INTAKE_HELP, IntakeCommand, MAX_REASON_CHARS, intake_command};
pub use letter::{Attachment, Letter, Mailbox};
pub use openpgp::{DecryptionKey, DecryptionKeyError, SignatureCheck};
pub use sealed::Seal;

pub use crate::incident::IntakeId;

/// The largest message herald takes unless configured otherwise: above common mail
/// servers' limits (Postfix's default is 10 MB, many providers' 25 to 50 MB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The operator's settings for mail to the security team.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// The private repository where each report's intake issue opens; `None`: reports are
    /// kept, and wait until it is set.
    pub repository: Option<crate::incident::RepoName>,
    /// The largest message taken; a larger one is refused to the mail server (which
    /// returns it to its sender), and only its header is kept.
    pub max_message_bytes: usize,
    /// The armored secret key reports are encrypted to (the operator's, never a
    /// repository's), and its passphrase.
    pub decryption_key_file: Option<std::path::PathBuf>,
    pub decryption_key_passphrase: Option<secrecy::SecretString>,
    /// Whether each report is acknowledged to its sender (signed; encrypted to their key
    /// when they sent it).
    pub acknowledge: bool,
    /// Whether the sender of an accepted report is told of its course.
    pub notices: bool,
    /// The List-Ids of the mailing lists that are the security team's own address (a
    /// Google Group, a mailman list in front of herald): their mail is reports.
    pub own_lists: Vec<String>,
}

impl Default for IntakeSettings {
    fn default() -> IntakeSettings {
        IntakeSettings {
            repository: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            decryption_key_file: None,
            decryption_key_passphrase: None,
            acknowledge: true,
            notices: true,
            own_lists: Vec::new(),
        }
    }
}

/// The header of a raw message: up to and including the blank line that ends it, or all
/// of it when there is no body.
pub fn header_of(raw: &[u8]) -> &[u8] {
    let end = [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|blank| {
            raw.windows(blank.len())
                .position(|window| window == *blank)
                .map(|at| at + blank.len())
        })
        .min();
    &raw[..end.unwrap_or(raw.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_ends_at_its_first_blank_line_in_either_line_ending() {
        assert_eq!(
            header_of(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore"),
            b"A: 1\r\nB: 2\r\n\r\n"
        );
        assert_eq!(header_of(b"A: 1\n\nbody"), b"A: 1\n\n");
        assert_eq!(header_of(b"A: 1\r\n"), b"A: 1\r\n");
    }
}
