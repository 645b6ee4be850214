//! Announcements by mail: the project's OpenPGP signing key, the signed message (cleartext
//! or RFC 3156 PGP/MIME), and sending it over SMTP.

pub mod key;
pub mod message;
pub mod smtp;

pub use key::{KeyError, SigningKey};
pub use message::{Letter, MessageError, Sender, build, message_id};
pub use smtp::{Mailer, SmtpError};
