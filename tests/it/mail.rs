//! Signed announcements through a real SMTP server on loopback, verified by GnuPG: the
//! cleartext body and the PGP/MIME part, extracted byte for byte from what the server
//! received. One changed byte fails verification, so the check can fail.

use crate::common;

use common::mail::{Gpg, Received, SmtpSink, decode_body, part_body};
use herald::mail::{Digests, Letter, Mailer, Sender, SigningKey, build};
use herald::repo_config::{MailingList, SigningMode};
use std::time::SystemTime;

const GHSA: &str = "GHSA-abcd-1234-efgh";

fn key() -> SigningKey {
    SigningKey::generate("Example Security <security@example.org>")
        .expect("key")
        .0
}

fn list(signing: SigningMode, attach_cleartext: bool) -> MailingList {
    MailingList {
        address: "announce@lists.example.org".to_owned(),
        name: Some("Example announce".to_owned()),
        signing,
        attach_cleartext,
    }
}

fn sender() -> Sender {
    Sender::parse(
        "Example Security <security@example.org>",
        Some("security@example.org"),
    )
    .expect("sender")
}

/// Builds, sends and receives one announcement.
async fn deliver(key: &SigningKey, list: &MailingList, subject: &str, body: &str) -> Received {
    Received::parse(&deliver_raw(key, list, subject, body).await)
}

/// Builds and sends one announcement; the message as the SMTP server received it.
async fn deliver_raw(key: &SigningKey, list: &MailingList, subject: &str, body: &str) -> Vec<u8> {
    let sink = SmtpSink::start();
    let sender = sender();
    let digests = Digests::new(key.digest_secret().expect("a digest secret"));
    let id = digests.message_id(&sender, GHSA, &list.address, "v1");
    let message = build(
        &Letter {
            sender: &sender,
            list,
            subject,
            body,
            message_id: &id,
            thread: &digests.thread_id(&sender, GHSA, &list.address),
            date: SystemTime::now(),
            in_reply_to: None,
            automatic: false,
        },
        key,
    )
    .expect("message");
    Mailer::from_url(&sink.url())
        .expect("mailer")
        .send(message)
        .await
        .expect("sent");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "one message arrived");
    if std::env::var_os("HERALD_SHOW_MAIL").is_some() {
        println!("{}", String::from_utf8_lossy(&messages[0]));
    }
    let received = Received::parse(&messages[0]);
    assert_eq!(received.header("Message-ID").as_deref(), Some(id.as_str()));
    messages[0].clone()
}

fn flip_one_byte(bytes: &[u8], needle: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("the needle is in the text");
    let mut changed = bytes.to_vec();
    changed[at] ^= 0x01;
    changed
}

const BODY: &str = "herald security announcement\n\nA parser bug allows remote code execution.\nUpgrade to 1.2.3.\n";

#[tokio::test]
async fn a_cleartext_signed_announcement_verifies_with_gnupg() {
    let key = key();
    let gpg = Gpg::with_public_key(&key.public_key().expect("public key"));
    let received = deliver(
        &key,
        &list(SigningMode::Cleartext, false),
        "[SECURITY] A parser bug",
        BODY,
    )
    .await;
    assert_eq!(
        received.header("Subject").as_deref(),
        Some("[SECURITY] A parser bug")
    );
    assert_eq!(
        received.header("To").as_deref(),
        Some("\"Example announce\" <announce@lists.example.org>")
    );
    assert_eq!(
        received.header("Reply-To").as_deref(),
        Some("security@example.org")
    );
    assert!(received.header("Date").is_some());
    let text = decode_body(&received);
    assert!(text.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n"));
    let status = gpg.verify_cleartext(&text).expect("a good signature");
    assert!(status.contains(&key.fingerprint()), "{status}");
    assert!(
        gpg.verify_cleartext(&flip_one_byte(&text, b"remote code"))
            .is_err(),
        "one changed byte fails verification"
    );
}

#[tokio::test]
async fn a_pgp_mime_announcement_verifies_byte_for_byte() {
    let key = key();
    let gpg = Gpg::with_public_key(&key.public_key().expect("public key"));
    let received = deliver(
        &key,
        &list(SigningMode::PgpMime, false),
        "[SECURITY] A parser bug",
        BODY,
    )
    .await;
    let content_type = received.header("Content-Type").expect("content type");
    assert!(
        content_type.starts_with("multipart/signed;"),
        "{content_type}"
    );
    assert!(
        content_type.contains("protocol=\"application/pgp-signature\"")
            && (content_type.contains("micalg=\"pgp-sha256\"")
                || content_type.contains("micalg=pgp-sha256")),
        "{content_type}"
    );
    let parts = received.parts();
    assert_eq!(parts.len(), 2, "content and signature");
    let signed = &parts[0];
    assert!(
        !String::from_utf8_lossy(signed)
            .replace("\r\n", "")
            .contains('\n'),
        "the signed part has CRLF line ends only"
    );
    let signature = part_body(&parts[1]);
    assert!(signature.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
    let status = gpg
        .verify_detached(&signature, signed)
        .expect("a good signature over the first part as transmitted");
    assert!(status.contains(&key.fingerprint()), "{status}");
    assert_eq!(part_body(signed), BODY.replace('\n', "\r\n").into_bytes());
    assert!(
        gpg.verify_detached(&signature, &flip_one_byte(signed, b"remote code"))
            .is_err(),
        "one changed byte fails verification"
    );
}

#[tokio::test]
async fn the_cleartext_copy_can_be_attached_and_is_covered_by_the_signature() {
    let key = key();
    let gpg = Gpg::with_public_key(&key.public_key().expect("public key"));
    let received = deliver(&key, &list(SigningMode::PgpMime, true), "Subject", BODY).await;
    let parts = received.parts();
    assert_eq!(parts.len(), 2);
    let signature = part_body(&parts[1]);
    gpg.verify_detached(&signature, &parts[0])
        .expect("the whole first part is signed");
    let inner = Received::parse(&parts[0]).parts();
    assert_eq!(inner.len(), 2, "text and attachment");
    let attachment = Received::parse(&inner[1]);
    assert!(
        attachment
            .header("Content-Disposition")
            .is_some_and(|value| value.contains("announcement.txt.asc")),
        "{}",
        attachment.headers
    );
    gpg.verify_cleartext(&part_body(&inner[1]))
        .expect("the attached copy verifies on its own");

    let received = deliver(&key, &list(SigningMode::Cleartext, true), "Subject", BODY).await;
    let parts = received.parts();
    assert_eq!(parts.len(), 2);
    for part in &parts {
        gpg.verify_cleartext(&part_body(part))
            .expect("inline text and attachment both verify");
    }
}

#[tokio::test]
async fn a_saved_cleartext_announcement_verifies_as_a_file() {
    let key = key();
    let gpg = Gpg::with_public_key(&key.public_key().expect("public key"));
    let long_word = "x".repeat(2500);
    let body = format!(
        "Affected: >= 1.0.0, < 1.0.1 (a=b, c==d)\n\
         From 1.0.1 on it is fixed.\n\
         Unicode: évasion, 漏洞\n\
         {}\n\
         {long_word}\n",
        "word ".repeat(400)
    );
    {
        let raw = deliver_raw(
            &key,
            &list(SigningMode::Cleartext, false),
            "[SECURITY] x",
            &body,
        )
        .await;
        // Saved as it arrived: `gpg --verify saved.eml` with only the public key.
        let status = gpg
            .verify_cleartext(&raw)
            .unwrap_or_else(|error| panic!("the saved message verifies: {error}"));
        assert!(status.contains(&key.fingerprint()));
        let text = String::from_utf8(raw.clone()).expect("8bit UTF-8");
        assert!(text.contains("Content-Transfer-Encoding: 8bit"), "{text}");
        assert!(text.contains("Affected: >= 1.0.0, < 1.0.1 (a=b, c==d)"));
        assert!(text.contains("\r\n From 1.0.1 on it is fixed."));
        assert!(text.contains("漏洞"));
        for line in raw.split(|&b| b == b'\n') {
            assert!(!line.starts_with(b"From "), "a line starts with From");
            assert!(line.len() <= 999, "a line longer than SMTP allows");
        }
        assert!(
            gpg.verify_cleartext(&flip_one_byte(&raw, "évasion".as_bytes()))
                .is_err(),
            "one changed byte fails verification"
        );
    }
    // ASCII text goes as 7bit.
    let raw = deliver_raw(
        &key,
        &list(SigningMode::Cleartext, false),
        "[SECURITY] x",
        BODY,
    )
    .await;
    let text = String::from_utf8(raw.clone()).expect("ASCII");
    assert!(text.contains("Content-Transfer-Encoding: 7bit"), "{text}");
    gpg.verify_cleartext(&raw)
        .expect("the saved 7bit message verifies");
}

#[tokio::test]
async fn hostile_advisory_text_still_verifies_and_injects_no_header() {
    let key = key();
    let gpg = Gpg::with_public_key(&key.public_key().expect("public key"));
    let mut body = String::from(
        "Summary: évasion de données, 漏洞\n\
         From here on the text is hostile.\n\
         trailing spaces   \n\
         \ttabbed line\t\n\
         - a dashed line\n\
         -----BEGIN PGP SIGNATURE-----\n\
         .\n\
         .. two dots\n\
         Bcc: evil@example.org\r\n\
         \r\n",
    );
    while body.len() < 1024 * 1024 {
        body.push_str("From the depths, a very long line of advisory description text that goes on and on without a break ");
        body.push_str("and then a newline.\n");
    }
    let subject = "[SECURITY] évasion\r\nBcc: evil@example.org\nX-Injected: yes";
    for mode in [SigningMode::Cleartext, SigningMode::PgpMime] {
        let received = deliver(&key, &list(mode, false), subject, &body).await;
        let names: Vec<String> = received
            .header_fields()
            .into_iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .collect();
        assert!(
            !names
                .iter()
                .any(|name| name == "bcc" || name == "x-injected"),
            "{mode:?}: a header was injected: {names:?}"
        );
        let subject = received.header("Subject").expect("subject");
        assert!(!subject.contains('\n') && !subject.contains('\r'));
        let raw = received.body.clone();
        for line in raw.split(|&b| b == b'\n') {
            assert!(
                !line.starts_with(b"From "),
                "{mode:?}: a line starts with From"
            );
            // Quoted-printable keeps 76; cleartext is sent as signed, within SMTP's 998.
            let limit = match mode {
                SigningMode::Cleartext => 1000,
                SigningMode::PgpMime => 78,
            };
            assert!(line.len() <= limit, "{mode:?}: a line longer than {limit}");
        }
        match mode {
            SigningMode::Cleartext => {
                let text = decode_body(&received);
                gpg.verify_cleartext(&text).expect("cleartext verifies");
            }
            SigningMode::PgpMime => {
                let parts = received.parts();
                let signature = part_body(&parts[1]);
                gpg.verify_detached(&signature, &parts[0])
                    .expect("PGP/MIME verifies");
                let decoded = String::from_utf8(part_body(&parts[0])).expect("UTF-8");
                assert!(
                    decoded.contains("trailing spaces   \r\n"),
                    "trailing spaces survive"
                );
                assert!(decoded.contains("漏洞"));
            }
        }
    }
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("port")
        .port();
    let mailer = Mailer::from_url(&format!("smtp://herald:hunter2@127.0.0.1:{port}?tls=none"))
        .expect("mailer");
    let sender = sender();
    let list = list(SigningMode::Cleartext, false);
    let key = key();
    let digests = Digests::new(key.digest_secret().expect("a digest secret"));
    let id = digests.message_id(&sender, GHSA, &list.address, "v1");
    let message = build(
        &Letter {
            sender: &sender,
            list: &list,
            subject: "s",
            body: "b",
            message_id: &id,
            thread: &digests.thread_id(&sender, GHSA, &list.address),
            date: SystemTime::now(),
            in_reply_to: None,
            automatic: false,
        },
        &key,
    )
    .expect("message");
    let error = mailer.send(message).await.expect_err("nobody listens");
    let text = error.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
