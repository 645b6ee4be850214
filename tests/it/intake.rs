//! Mail to the security team's address: `herald intake mail` run as a mail server runs it
//! (the message on standard input, the exit status read: 0 kept, 75 keep it and try again,
//! 65 return it to the sender), and the private intake issue each report opens.

use crate::both_stores;
use crate::common::Harness;
use crate::common::app::{
    REPO, TRACK_PRIVATELY, TRACKING_REPO, assert_no_unexpected, installed_with, world,
};
use crate::common::tracking::command;
use herald::intake::IntakeId;
use herald::store::IntakeState;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn mail(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mail")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// `herald` in `dir` with only the given settings, as a mail server's pipe runs it.
fn herald(dir: &Path, settings: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("HERALD_") {
            command.env_remove(name);
        }
    }
    command.envs(settings.iter().copied());
    command
}

/// Runs `herald intake mail` with `message` on its standard input: (status, stdout, stderr).
fn pipe(dir: &Path, settings: &[(&str, &str)], message: &[u8]) -> (Option<i32>, String, String) {
    let mut child = herald(dir, settings)
        .args(["intake", "mail"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("herald runs");
    let mut stdin = child.stdin.take().expect("stdin");
    // herald may answer before reading everything (it must not), so a write error is not
    // the test's failure: the status says what happened.
    let _ = stdin.write_all(message);
    drop(stdin);
    let output = child.wait_with_output().expect("herald ends");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// herald installed on Codertocat, opening intake issues in `repository`.
async fn taking_mail(fake: &crate::common::github::FakeGitHub, repository: &str) -> Harness {
    installed_with(fake, |settings| {
        settings.intake.repository = Some(repository.parse().expect("a name"));
    })
    .await
}

/// [`pipe`] beside a running herald, whose tasks share this test's thread: waiting for
/// the child must not stop them half-way through a transaction.
async fn pipe_beside(
    harness: &Harness,
    dir: &Path,
    message: Vec<u8>,
) -> (Option<i32>, String, String) {
    // The same store and the same From as the running herald, as herald.toml gives both.
    let url = harness.database_url.clone();
    let from = harness.settings.mail.from.clone().unwrap_or_default();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let settings = [
            ("HERALD_DATABASE_URL", url.as_str()),
            ("HERALD_MAIL_FROM", from.as_str()),
        ];
        pipe(&dir, &settings, &message)
    })
    .await
    .expect("herald ran")
}

fn run(dir: &Path, settings: &[(&str, &str)], args: &[&str]) -> String {
    let output = herald(dir, settings)
        .args(args)
        .output()
        .expect("herald runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

both_stores!(a_mailed_report_is_kept_once_and_opens_one_private_intake_issue);
async fn a_mailed_report_is_kept_once_and_opens_one_private_intake_issue() {
    let fake = world().await;
    let harness = taking_mail(&fake, TRACKING_REPO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, stdout, stderr) = pipe_beside(&harness, dir.path(), mail("report.eml")).await;
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout, "intake 1: a report\n");
    // The mail server delivers it again (it never heard herald's answer): the same intake.
    let (status, stdout, _) = pipe_beside(&harness, dir.path(), mail("report.eml")).await;
    assert_eq!(status, Some(0));
    assert_eq!(stdout, "intake 1: taken before\n");

    let row = intake_opened(&harness, IntakeId(1)).await;
    let (repository, number, _) = row.issue.expect("its issue");
    assert_eq!(repository.as_str(), TRACKING_REPO);
    let issues = fake.issues(TRACKING_REPO);
    assert_eq!(issues.len(), 1, "one issue, however often the mail came");
    let issue = &issues[0];
    assert_eq!(issue.number, number);
    assert_eq!(
        issue.title,
        "Report by mail: Heap overflow in parse_header() with a long Content-Type"
    );
    reads_as_data(&issue.body);
    assert!(
        issue.labels.contains(&"intake".to_owned()),
        "{:?}",
        issue.labels
    );
    // Nothing went anywhere public.
    assert!(fake.issues(REPO).is_empty());
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The intake issue shows the report's facts, its text as inert data, its attachment
/// listed and not published, and what the maintainers can do.
fn reads_as_data(body: &str) {
    for shown in [
        "| From | Rita Reporter &lt;rita\\@\u{200b}example.net&gt; |",
        "| Encrypted | no |",
        "- poc.bin (application/octet-stream, 57 bytes)",
        "Rita Réporter",
        "`/herald accept owner/repo`",
        "<!-- herald:intake 1 -->",
    ] {
        assert!(body.contains(shown), "{shown:?} not in:\n{body}");
    }
    assert!(
        !body.contains("@widget-maintainers"),
        "a mention pings: {body}"
    );
    assert!(!body.contains("<img"), "an image loads: {body}");
    assert!(
        !body.contains("QUFB"),
        "the attachment's bytes are published: {body}"
    );
}

/// The example report, mailed to a running herald, once its intake's issue is open.
async fn mailed_report(harness: &Harness) -> herald::store::IntakeRow {
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, _, stderr) = pipe_beside(harness, dir.path(), mail("report.eml")).await;
    assert_eq!(status, Some(0), "{stderr}");
    intake_opened(harness, IntakeId(1)).await
}

/// Intake `id` as the store has it.
async fn stored(harness: &Harness, id: i64) -> herald::store::IntakeRow {
    harness
        .store
        .intake(IntakeId(id))
        .await
        .expect("read")
        .expect("kept")
}

async fn intake_opened(harness: &Harness, id: IntakeId) -> herald::store::IntakeRow {
    harness
        .until("the intake's issue is open", async || {
            harness
                .store
                .intake(id)
                .await
                .expect("read")
                .is_some_and(|row| row.state == IntakeState::Open)
        })
        .await;
    stored(harness, id.0).await
}

#[tokio::test]
async fn mail_no_person_wrote_is_kept_and_never_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = [("HERALD_MAIL_FROM", "Security <security@example.org>")];
    let mut loop_mail = mail("report.eml");
    loop_mail.splice(
        0..0,
        b"Message-ID: <herald.0123456789abcdef@example.org>\r\n".to_vec(),
    );
    let loop_mail = String::from_utf8(loop_mail).expect("text").replacen(
        "Message-ID: <20261205100000.GA1234@example.net>\r\n",
        "",
        1,
    );
    for (message, said) in [
        (
            mail("auto-reply.eml"),
            "intake 1: not a report (auto_reply), never answered\n",
        ),
        (
            mail("bounce.eml"),
            "intake 2: not a report (bounce), never answered\n",
        ),
        (
            mail("list.eml"),
            "intake 3: not a report (list), never answered\n",
        ),
        (
            loop_mail.into_bytes(),
            "intake 4: not a report (loop), never answered\n",
        ),
    ] {
        let (status, stdout, stderr) = pipe(dir.path(), &settings, &message);
        assert_eq!(status, Some(0), "{stderr}");
        assert_eq!(stdout, said);
    }
    let jobs = run(dir.path(), &settings, &["jobs", "list", "--json"]);
    assert!(!jobs.contains("open_intake"), "{jobs}");
    let listed = run(dir.path(), &settings, &["intake", "list"]);
    assert_eq!(listed.matches("ignored").count(), 4, "{listed}");
    let shown = run(dir.path(), &settings, &["intake", "show", "3"]);
    assert!(
        shown.contains("Why: List-Id: Upstream announcements <announce.lists.example.net>"),
        "{shown}"
    );
}

#[tokio::test]
async fn the_mail_server_keeps_what_herald_cannot_store_and_returns_what_is_too_large() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A store that cannot open: the mail server must keep the message and try again.
    let nowhere = [("HERALD_DATABASE_URL", "sqlite:///nonexistent-dir/herald.db")];
    let (status, _, stderr) = pipe(dir.path(), &nowhere, &mail("report.eml"));
    assert_eq!(status, Some(75), "{stderr}");
    assert!(stderr.contains("the mail server keeps it"), "{stderr}");
    // So must a broken settings file.
    std::fs::write(dir.path().join("herald.toml"), "intake_repository = [\n").expect("file");
    let (status, _, stderr) = pipe(dir.path(), &[], &mail("report.eml"));
    assert_eq!(status, Some(75), "{stderr}");
    std::fs::remove_file(dir.path().join("herald.toml")).expect("removed");

    // Over the limit: returned to its sender, and its header kept for the team.
    let small = [("HERALD_INTAKE_MAX_MESSAGE_BYTES", "1000")];
    let mut large = mail("report.eml");
    large.extend(std::iter::repeat_n(b'A', 5000));
    let (status, _, stderr) = pipe(dir.path(), &small, &large);
    assert_eq!(status, Some(65), "{stderr}");
    assert!(
        stderr.contains("herald takes at most 1000 bytes"),
        "{stderr}"
    );
    let shown = run(dir.path(), &small, &["intake", "show", "1"]);
    assert!(
        shown.contains("Subject: Heap overflow in parse_header()"),
        "{shown}"
    );
    assert!(shown.contains("only its header was kept"), "{shown}");
    // Its issue opens for the team; its sender hears from the mail server, not from herald.
    let jobs = run(dir.path(), &small, &["jobs", "list", "--json"]);
    assert!(
        jobs.contains("open_intake") && !jobs.contains("acknowledge_report"),
        "{jobs}"
    );

    // A 30 MB report is taken whole, its attachment listed with its size.
    let (status, stdout, stderr) = pipe(dir.path(), &[], &report_with_attachment(30 << 20));
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout, "intake 2: a report\n");
    let shown = run(dir.path(), &[], &["intake", "show", "2"]);
    assert!(
        shown.contains("Attachment: core.dump (application/octet-stream, 31457280 bytes)"),
        "{shown}"
    );
}

/// A report carrying an attachment of `bytes` zero bytes, base64 in lines of 76.
fn report_with_attachment(bytes: usize) -> Vec<u8> {
    use base64::Engine;
    let mut message = b"From: rita@example.net\r\nTo: security@example.org\r\n\
        Subject: Crash dump\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nThe dump is attached.\r\n\
        --b\r\nContent-Type: application/octet-stream\r\n\
        Content-Disposition: attachment; filename=core.dump\r\n\
        Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let encoded = base64::engine::general_purpose::STANDARD.encode(vec![0u8; bytes]);
    for line in encoded.as_bytes().chunks(76) {
        message.extend_from_slice(line);
        message.extend_from_slice(b"\r\n");
    }
    message.extend_from_slice(b"--b--\r\n");
    message
}

both_stores!(an_intake_never_opens_in_a_repository_that_is_not_private);
async fn an_intake_never_opens_in_a_repository_that_is_not_private() {
    let fake = world().await;
    let harness = taking_mail(&fake, REPO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, _, stderr) = pipe_beside(&harness, dir.path(), mail("report.eml")).await;
    assert_eq!(status, Some(0), "{stderr}");
    harness.wait_all_jobs().await;
    assert_eq!(fake.count("POST", &format!("/repos/{REPO}/issues")), 0);
    let error: String = sqlx::query_scalar(
        "SELECT last_error FROM outbox WHERE kind = 'open_intake' AND state = 'dead'",
    )
    .fetch_one(harness.store.pool())
    .await
    .expect("the job was given up");
    assert!(error.contains("that repository is public"), "{error}");
    let row = stored(&harness, 1).await;
    assert_eq!(
        row.state,
        IntakeState::New,
        "kept, waiting for a private repository"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

#[tokio::test]
async fn an_intake_issue_created_before_a_lost_answer_is_found_again() {
    let fake = world().await;
    let issues_path = format!("/repos/{TRACKING_REPO}/issues");
    fake.lose_next_answer("POST", &issues_path);
    let harness = taking_mail(&fake, TRACKING_REPO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, _, stderr) = pipe_beside(&harness, dir.path(), mail("report.eml")).await;
    assert_eq!(status, Some(0), "{stderr}");
    let row = intake_opened(&harness, IntakeId(1)).await;
    assert_eq!(fake.count("POST", &issues_path), 1, "created once");
    assert_eq!(fake.issues(TRACKING_REPO).len(), 1);
    assert_eq!(
        row.issue.expect("recorded").1,
        fake.issues(TRACKING_REPO)[0].number
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_admin_accepts_a_mailed_report_as_a_draft_advisory_clocked_from_the_mail);
async fn an_admin_accepts_a_mailed_report_as_a_draft_advisory_clocked_from_the_mail() {
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    fake.set_permission(REPO, "alice", "admin");
    fake.set_permission(TRACKING_REPO, "alice", "write");
    fake.set_permission(REPO, "bob", "write");
    fake.set_permission(TRACKING_REPO, "bob", "write");
    // Mallory may read the intake repository, and is admin of the advisory's.
    fake.set_permission(REPO, "mallory", "admin");
    fake.set_permission(TRACKING_REPO, "mallory", "read");
    let harness = taking_mail(&fake, TRACKING_REPO).await;
    let intake = mailed_report(&harness).await;

    // A decision is the security team's: write access to the intake repository first.
    command(
        &harness,
        "c-0",
        "mallory",
        "/herald accept Codertocat/Hello-World",
    )
    .await;
    let refused = last_answer(&fake);
    assert!(
        refused.contains("this needs write access to this repository"),
        "{refused}"
    );

    // Creating an advisory is for the repository's admins and security managers.
    command(
        &harness,
        "c-1",
        "bob",
        "/herald accept Codertocat/Hello-World",
    )
    .await;
    let refused = last_answer(&fake);
    assert!(
        refused.contains("this needs the admin role on Codertocat/Hello-World"),
        "{refused}"
    );
    assert!(fake.count("POST", &format!("/repos/{REPO}/security-advisories")) == 0);

    // GitHub creates the advisory, but its answer is lost: the retry finds it.
    let advisories = format!("/repos/{REPO}/security-advisories");
    fake.lose_next_answer("POST", &advisories);
    command(
        &harness,
        "c-2",
        "alice",
        "/herald accept Codertocat/Hello-World",
    )
    .await;
    assert_eq!(fake.advisories(REPO).len(), 1, "created once");
    let advisory = the_draft_created(&fake);
    let ghsa_id = advisory["ghsa_id"].as_str().expect("an id").to_owned();
    let answer = last_answer(&fake);
    assert!(
        answer.contains(&format!(
            "Accepted by alice as {ghsa_id} in Codertocat/Hello-World"
        )),
        "{answer}"
    );
    let issue = &fake.issues(TRACKING_REPO)[0];
    assert_eq!(issue.state, "closed", "the intake's issue is done");
    let row = stored(&harness, 1).await;
    assert_eq!(row.state, IntakeState::Accepted);
    assert_eq!(row.decided_by.as_deref(), Some("alice"));

    // From now on it is an incident like any other, clocked from the mail's arrival, with
    // its own private tracking issue.
    let incidents = harness
        .store
        .incidents_by_ghsa(&crate::common::ghsa(&ghsa_id))
        .await
        .expect("read");
    assert_eq!(incidents.len(), 1, "one incident for the accepted report");
    let incident = &incidents[0].incident;
    assert_eq!(incident.repository.as_str(), REPO);
    assert_eq!(incident.learned_at, intake.received_at);
    assert_eq!(
        incident.summary,
        "Heap overflow in parse_header() with a long Content-Type"
    );
    let tracking = fake.issues(TRACKING_REPO);
    assert_eq!(
        tracking.len(),
        2,
        "the intake's issue and the incident's tracking issue"
    );
    assert!(tracking[1].body.contains(&ghsa_id), "{}", tracking[1].body);

    // A second acceptance changes nothing.
    command(
        &harness,
        "c-3",
        "alice",
        "/herald accept Codertocat/Hello-World",
    )
    .await;
    assert!(last_answer(&fake).contains("intake 1 is accepted already"));
    assert_eq!(
        fake.count("POST", &format!("/repos/{REPO}/security-advisories")),
        1
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The draft advisory herald asked GitHub for: the report as data, and neither the
/// reporter's address nor anything of the intake that would be public with the advisory.
fn the_draft_created(fake: &crate::common::github::FakeGitHub) -> serde_json::Value {
    let created: Vec<serde_json::Value> = fake
        .requests()
        .into_iter()
        .filter(|request| {
            request.method == "POST" && request.path == format!("/repos/{REPO}/security-advisories")
        })
        .filter_map(|request| request.body)
        .collect();
    assert_eq!(created.len(), 1, "one advisory created");
    let request = &created[0];
    assert_eq!(
        request["summary"],
        "Heap overflow in parse_header() with a long Content-Type"
    );
    let description = request["description"].as_str().expect("a description");
    assert!(
        description.contains("overflows its 256-byte buffer"),
        "{description}"
    );
    assert!(!description.contains("rita@example.net"), "{description}");
    assert!(
        !description.contains("@widget-maintainers"),
        "{description}"
    );
    assert!(!description.contains("intake"), "{description}");
    // The report's own Markdown, as a report made on GitHub keeps it, escaped once only
    // where the drafts show it.
    assert!(description.contains("parse_header()"), "{description}");
    assert_eq!(
        request["vulnerabilities"][0]["package"]["ecosystem"],
        "other"
    );
    let ghsa_id = fake.advisories(REPO).last().expect("created")["ghsa_id"].clone();
    serde_json::json!({ "ghsa_id": ghsa_id })
}

fn last_answer(fake: &crate::common::github::FakeGitHub) -> String {
    fake.comments(TRACKING_REPO, 1)
        .last()
        .map(|comment| comment.body.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_writer_dismisses_an_intake_and_its_message_stays() {
    let fake = world().await;
    fake.set_permission(TRACKING_REPO, "bob", "write");
    fake.set_permission(TRACKING_REPO, "carol", "read");
    let harness = taking_mail(&fake, TRACKING_REPO).await;
    mailed_report(&harness).await;

    command(&harness, "c-1", "carol", "/herald dismiss spam").await;
    assert!(last_answer(&fake).contains("this needs write access to this repository"));
    command(
        &harness,
        "c-2",
        "bob",
        "/herald dismiss works as documented, see @docs\n/herald accept Codertocat/Hello-World",
    )
    .await;
    let answer = last_answer(&fake);
    assert!(
        answer.contains("Dismissed by bob: works as documented"),
        "{answer}"
    );
    assert!(answer.contains("one decision per comment"), "{answer}");
    assert!(!answer.contains("@docs"), "a mention pings: {answer}");
    let row = stored(&harness, 1).await;
    assert_eq!(row.state, IntakeState::Dismissed);
    assert_eq!(
        row.decision.as_deref(),
        Some("works as documented, see @docs")
    );
    assert_eq!(fake.issues(TRACKING_REPO)[0].state, "closed");
    assert!(
        harness
            .store
            .intake_message(IntakeId(1))
            .await
            .expect("read")
            .is_some()
    );
    assert_eq!(
        fake.count("POST", &format!("/repos/{REPO}/security-advisories")),
        0
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// A PGP/MIME message (RFC 3156) from Rita, whose encrypted part is `ciphertext`.
fn pgp_mime(ciphertext: &[u8]) -> Vec<u8> {
    let mut message = b"From: Rita Reporter <rita@example.net>\r\n\
        To: security@example.org\r\nSubject: ...\r\n\
        Message-ID: <sealed.1@example.net>\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"enc\"\r\n\r\n\
        This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n\
        --enc\r\nContent-Type: application/pgp-encrypted\r\n\
        Content-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n\
        --enc\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\
        Content-Description: OpenPGP encrypted message\r\n\
        Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n"
        .to_vec();
    message.extend_from_slice(ciphertext);
    message.extend_from_slice(b"\r\n--enc--\r\n");
    message
}

#[tokio::test]
async fn sealed_reports_are_opened_with_the_operators_key_and_their_signatures_checked() {
    use crate::common::mail::Gpg;
    let (project, project_public) = Gpg::with_new_key("Project Security <security@example.org>");
    let (rita, rita_public) = Gpg::with_new_key("Rita Reporter <rita@example.net>");
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("security-key.asc");
    std::fs::write(&key_file, project.export_secret()).expect("key file");
    let key = key_file.display().to_string();
    let settings = [("HERALD_INTAKE_DECRYPTION_KEY_FILE", key.as_str())];

    // PGP/MIME, signed inside the encryption, Rita's key attached inside too.
    let inner = format!(
        "Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         The session cookie is signed with a constant key.\r\n--in\r\n\
         Content-Type: application/pgp-keys; name=\"rita.asc\"\r\n\
         Content-Disposition: attachment; filename=\"rita.asc\"\r\n\r\n{rita_public}\r\n--in--\r\n"
    );
    let sealed = pgp_mime(&rita.seal(&project_public, inner.as_bytes(), true));
    let (status, stdout, stderr) = pipe(dir.path(), &settings, &sealed);
    assert_eq!(
        (status, stdout.as_str()),
        (Some(0), "intake 1: a report\n"),
        "{stderr}"
    );
    let shown = run(dir.path(), &settings, &["intake", "show", "1"]);
    for line in [
        "Encrypted: yes (PGP/MIME), decrypted with herald's key".to_owned(),
        format!(
            "Signed: good signature by {} (Rita Reporter <rita@example.net>)",
            rita.fingerprint()
        ),
        "The session cookie is signed with a constant key.".to_owned(),
        "Attachment: rita.asc (application/pgp-keys,".to_owned(),
    ] {
        assert!(shown.contains(&line), "{line:?} not in:\n{shown}");
    }
    // The store keeps the message as it came: still encrypted.
    let raw = herald(dir.path(), &settings)
        .args(["intake", "show", "1", "--raw"])
        .output()
        .expect("herald runs");
    assert!(!String::from_utf8_lossy(&raw.stdout).contains("session cookie"));

    // Inline, signed by a key Rita did not send.
    let mut inline = b"From: rita@example.net\r\nSubject: inline\r\n\r\nHello,\r\n\r\n".to_vec();
    inline.extend(rita.seal(&project_public, b"The upload path is not checked.", true));
    let (status, _, stderr) = pipe(dir.path(), &settings, &inline);
    assert_eq!(status, Some(0), "{stderr}");
    let shown = run(dir.path(), &settings, &["intake", "show", "2"]);
    assert!(shown.contains("Encrypted: yes (inline)"), "{shown}");
    assert!(shown.contains("The upload path is not checked."), "{shown}");
    assert!(
        shown.contains("which the reporter did not send: not checked"),
        "{shown}"
    );

    // PGP/MIME signed, not encrypted, Rita's key attached beside it; then one byte of the
    // signed part changed.
    let part = format!(
        "Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n\
         Content-Type: text/plain\r\n\r\nSigned in the open.\r\n--in\r\n\
         Content-Type: application/pgp-keys\r\n\r\n{}\r\n--in--",
        // As a mail program signs it: canonical, every line ending CRLF.
        rita_public.replace('\n', "\r\n")
    );
    let signature = String::from_utf8(rita.sign_detached(part.as_bytes())).expect("armored");
    let signed = format!(
        "From: rita@example.net\r\nSubject: signed\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/signed; micalg=pgp-sha512; \
         protocol=\"application/pgp-signature\"; boundary=\"sig\"\r\n\r\n\
         --sig\r\n{part}\r\n--sig\r\nContent-Type: application/pgp-signature\r\n\r\n\
         {signature}\r\n--sig--\r\n"
    );
    for (id, message, verdict) in [
        ("3", signed.clone(), "Signed: good signature by"),
        (
            "4",
            signed.replace("Signed in the open.", "Signed in the 0pen."),
            "Signed: BAD signature",
        ),
    ] {
        let (status, _, stderr) = pipe(dir.path(), &settings, message.as_bytes());
        assert_eq!(status, Some(0), "{stderr}");
        let shown = run(dir.path(), &settings, &["intake", "show", id]);
        assert!(shown.contains(verdict), "{verdict:?} not in:\n{shown}");
        assert!(shown.contains("Encrypted: no"), "{shown}");
    }

    // Cleartext-signed inline (`gpg --clearsign`), Rita's key attached.
    let clearsigned = rita.clearsign("The admin page has no CSRF token.\n");
    let inline_signed = format!(
        "From: rita@example.net\r\nSubject: clearsigned\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
         Content-Type: text/plain\r\n\r\n{clearsigned}\r\n--m\r\n\
         Content-Type: application/pgp-keys\r\n\r\n{rita_public}\r\n--m--\r\n"
    );
    let (status, _, stderr) = pipe(dir.path(), &settings, inline_signed.as_bytes());
    assert_eq!(status, Some(0), "{stderr}");
    let shown = run(dir.path(), &settings, &["intake", "show", "5"]);
    assert!(shown.contains("Signed: good signature by"), "{shown}");

    // Encrypted to someone else: kept, and said.
    let (other, other_public) = Gpg::with_new_key("Someone Else <else@example.net>");
    drop(other);
    let stray = pgp_mime(&rita.seal(&other_public, b"not for herald", false));
    let (status, _, stderr) = pipe(dir.path(), &settings, &stray);
    assert_eq!(status, Some(0), "{stderr}");
    let shown = run(dir.path(), &settings, &["intake", "show", "6"]);
    assert!(shown.contains("herald could not decrypt it"), "{shown}");
    // Without the key configured, herald says what to set.
    let shown = run(dir.path(), &[], &["intake", "show", "1"]);
    assert!(shown.contains("set intake_decryption_key_file"), "{shown}");
}

#[tokio::test]
async fn the_reporter_hears_at_once_signed_encrypted_to_their_key_and_in_their_thread() {
    use crate::common::app::{MailWorld, world_with_mail};
    use crate::common::mail::{Gpg, Received, decode_body, open_sealed};
    let fake = world().await;
    let (project, project_public) = Gpg::with_new_key("Project Security <security@example.org>");
    let (rita, rita_public) = Gpg::with_new_key("Rita Reporter <rita@example.net>");
    let keys = tempfile::tempdir().expect("tempdir");
    let key_file = keys.path().join("security-key.asc");
    std::fs::write(&key_file, project.export_secret()).expect("key file");
    let MailWorld {
        mut harness,
        sink,
        signing_public,
        _key_dir,
        ..
    } = world_with_mail(&fake, TRACK_PRIVATELY).await;
    harness.settings.intake.repository = Some(TRACKING_REPO.parse().expect("a name"));
    harness.settings.intake.decryption_key_file = Some(key_file);
    harness.restart(true).await;
    rita.import(&signing_public);

    // Encrypted and signed to the project's key, Rita's own key inside.
    let inner = format!(
        "Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n\
         Content-Type: text/plain\r\n\r\nThe session cookie is signed with a constant key.\r\n\
         --in\r\nContent-Type: application/pgp-keys\r\n\r\n{rita_public}\r\n--in--\r\n"
    );
    let sealed = pgp_mime(&rita.seal(&project_public, inner.as_bytes(), true));
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, _, stderr) = pipe_beside(&harness, dir.path(), sealed).await;
    assert_eq!(status, Some(0), "{stderr}");
    intake_opened(&harness, IntakeId(1)).await;
    harness.wait_all_jobs().await;

    let sent = sink.messages();
    let outcomes: Vec<(String, String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT kind, state, outcome, last_error FROM outbox ORDER BY id")
            .fetch_all(harness.store.pool())
            .await
            .expect("jobs");
    assert_eq!(sent.len(), 1, "one acknowledgement: {outcomes:?}");
    let answer = Received::parse(&sent[0]);
    assert_eq!(
        answer.header("In-Reply-To").as_deref(),
        Some("<sealed.1@example.net>")
    );
    assert_eq!(
        answer.header("References").as_deref(),
        Some("<sealed.1@example.net>")
    );
    assert_eq!(
        answer.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(
        answer
            .header("To")
            .is_some_and(|to| to.contains("rita@example.net"))
    );
    assert_eq!(
        answer.header("Subject").as_deref(),
        Some("Your report to the security team")
    );
    // Rita reads it with her key, and GnuPG finds herald's signature good.
    let (text, status) = open_sealed(&rita, &answer).expect("Rita opens it");
    assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");
    assert!(text.contains("thank you for your report"), "{text}");
    assert!(text.contains("encrypted, as this answer is"), "{text}");

    let row = stored(&harness, 1).await;
    assert_eq!(
        row.acknowledged.map(|(to, _)| to).as_deref(),
        Some("rita@example.net")
    );
    let comments = fake.comments(TRACKING_REPO, 1);
    assert!(
        comments
            .iter()
            .any(|comment| comment.body.contains(&format!(
                "herald acknowledged the report to rita\\@\u{200b}example.net (signed, and \
             encrypted to their key {})",
                rita.fingerprint()
            ))),
        "{comments:?}"
    );

    // A plain report with no key: a cleartext-signed answer; an auto-reply: none at all.
    let (status, _, stderr) = pipe_beside(&harness, dir.path(), mail("report.eml")).await;
    assert_eq!(status, Some(0), "{stderr}");
    let (status, _, stderr) = pipe_beside(&harness, dir.path(), mail("auto-reply.eml")).await;
    assert_eq!(status, Some(0), "{stderr}");
    intake_opened(&harness, IntakeId(2)).await;
    harness.wait_all_jobs().await;
    let sent = sink.messages();
    assert_eq!(sent.len(), 2, "the auto-reply is not answered");
    let answer = Received::parse(&sent[1]);
    assert_eq!(
        answer.header("In-Reply-To").as_deref(),
        Some("<20261205100000.GA1234@example.net>")
    );
    let gpg = Gpg::with_public_key(&signing_public);
    gpg.verify_cleartext(&decode_body(&answer))
        .expect("a good signature by herald");
    harness.stop().await;
}

/// A reply from `from` naming `in_reply_to`, saying `text`.
fn reply(from: &str, in_reply_to: &str, text: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: security@example.org\r\nSubject: Re: your answer\r\n\
         Message-ID: <reply.{}@example.net>\r\nIn-Reply-To: {in_reply_to}\r\n\
         References: {in_reply_to}\r\n\r\n{text}\r\n",
        text.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn the_reporters_reply_joins_their_report_and_nobody_elses() {
    use crate::common::app::{MailWorld, world_with_mail};
    use crate::common::mail::Received;
    let fake = world().await;
    fake.set_permission(REPO, "alice", "admin");
    fake.set_permission(TRACKING_REPO, "alice", "write");
    let MailWorld {
        mut harness,
        sink,
        _key_dir: _keys,
        ..
    } = world_with_mail(&fake, TRACK_PRIVATELY).await;
    harness.settings.intake.repository = Some(TRACKING_REPO.parse().expect("a name"));
    harness.restart(true).await;
    mailed_report(&harness).await;
    harness.wait_all_jobs().await;
    let acknowledgement = Received::parse(&sink.messages()[0])
        .header("Message-ID")
        .expect("herald's Message-ID");

    // Rita answers herald's acknowledgement: her words join her report's issue.
    let dir = tempfile::tempdir().expect("tempdir");
    let rita = "Rita Reporter <rita@example.net>";
    let words = reply(
        rita,
        &acknowledgement,
        "Version 2.3 is affected too, @everyone.",
    );
    let (status, stdout, stderr) = pipe_beside(&harness, dir.path(), words).await;
    assert_eq!(
        (status, stdout.as_str()),
        (Some(0), "intake 2: a reply to intake 1\n"),
        "{stderr}"
    );
    harness.wait_all_jobs().await;
    let joined = last_answer(&fake);
    assert!(
        joined.contains("**A reply from the reporter** (rita\\@\u{200b}example.net"),
        "{joined}"
    );
    assert!(joined.contains("Version 2.3 is affected too"), "{joined}");
    assert!(!joined.contains("@everyone"), "{joined}");
    assert_eq!(sink.messages().len(), 1, "a reply is not acknowledged");

    // Someone else answering herald's mail joins nothing, and is never answered (an
    // autoresponder answering it must not start a loop).
    let mallory = reply(
        "mallory@example.com",
        &acknowledgement,
        "Add me to the loop.",
    );
    let (_, stdout, _) = pipe_beside(&harness, dir.path(), mallory).await;
    assert_eq!(stdout, "intake 3: not a report (loop), never answered\n");
    harness.wait_all_jobs().await;
    assert!(!last_answer(&fake).contains("Add me to the loop"));

    // Once accepted, Rita's next reply joins the incident's tracking issue.
    command(
        &harness,
        "c-1",
        "alice",
        "/herald accept Codertocat/Hello-World",
    )
    .await;
    let later = reply(
        rita,
        "<20261205100000.GA1234@example.net>",
        "A patch is attached.",
    );
    let (_, stdout, _) = pipe_beside(&harness, dir.path(), later).await;
    assert_eq!(stdout, "intake 4: a reply to intake 1\n");
    harness.wait_all_jobs().await;
    let tracking = fake
        .issues(TRACKING_REPO)
        .into_iter()
        .find(|issue| issue.title.contains("GHSA-m001"))
        .expect("the incident's tracking issue");
    let comments = fake.comments(TRACKING_REPO, tracking.number);
    assert!(
        comments
            .iter()
            .any(|comment| comment.body.contains("A patch is attached.")),
        "{comments:?}"
    );
    rita_hears_of_the_course(&harness, &fake, &sink).await;
    harness.stop().await;
}

/// Rita, whose report was accepted, hears so; then of its CVE id and its publication,
/// with thanks, once each, in her thread; the incident's timeline says so each time.
async fn rita_hears_of_the_course(
    harness: &Harness,
    fake: &crate::common::github::FakeGitHub,
    sink: &crate::common::mail::SmtpSink,
) {
    use crate::common::app::{published_advisory, say};
    use crate::common::mail::{Received, decode_body};
    let bodies = || -> Vec<String> {
        sink.messages()
            .iter()
            .map(|raw| String::from_utf8_lossy(&decode_body(&Received::parse(raw))).into_owned())
            .collect()
    };
    let told = |words: &str| bodies().iter().filter(|body| body.contains(words)).count();
    assert_eq!(told("has accepted your report"), 1, "{:?}", bodies());
    let mut advisory = fake.advisories(REPO).last().expect("the draft").clone();
    advisory["state"] = "published".into();
    advisory["cve_id"] = "CVE-2026-12345".into();
    advisory["published_at"] = "2030-01-02T00:00:00Z".into();
    advisory["updated_at"] = "2030-01-02T00:00:00Z".into();
    let published = published_advisory(|payload| *payload = advisory.clone());
    say(harness, "repository_advisory", "published-1", &published).await;
    // A later edit of the published advisory tells Rita nothing more.
    advisory["summary"] = "A sharper summary".into();
    advisory["updated_at"] = "2030-01-03T00:00:00Z".into();
    let edited = published_advisory(|payload| *payload = advisory.clone());
    say(harness, "repository_advisory", "published-2", &edited).await;
    // Rita's acknowledgement, then her three notices, once each.
    let jobs: Vec<(String, String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT kind, state, outcome, last_error FROM outbox ORDER BY id")
            .fetch_all(harness.store.pool())
            .await
            .expect("jobs");
    assert_eq!(bodies().len(), 4, "{jobs:#?}");
    assert_eq!(told("has been assigned CVE-2026-12345"), 1);
    assert_eq!(told("Thank you for reporting it to us"), 1);
    let answer = Received::parse(sink.messages().last().expect("the last notice"));
    assert_eq!(
        answer.header("In-Reply-To").as_deref(),
        Some("<20261205100000.GA1234@example.net>")
    );
    // Rita answers that notice alone (her mail program names nothing else): it joins.
    let notice_id = answer
        .header("Message-ID")
        .expect("the notice's Message-ID");
    let thanks = format!(
        "From: Rita Reporter <rita@example.net>\r\nSubject: Re\r\n\
         In-Reply-To: {notice_id}\r\n\r\nGlad to help.\r\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, stdout, _) = pipe_beside(harness, dir.path(), thanks.into_bytes()).await;
    assert!(stdout.ends_with("a reply to intake 1\n"), "{stdout}");
    let ghsa_id = advisory["ghsa_id"].as_str().expect("an id").to_owned();
    let incident = harness
        .store
        .incidents_by_ghsa(&crate::common::ghsa(&ghsa_id))
        .await
        .expect("read")
        .remove(0);
    let timeline: Vec<String> = harness
        .store
        .timeline_entries(incident.id)
        .await
        .expect("timeline")
        .into_iter()
        .map(|entry| entry.detail)
        .collect();
    assert!(
        timeline.iter().any(|line| line
            .contains("herald told the reporter (rita@example.net) that the report was published")),
        "{timeline:?}"
    );
}

/// Waits (at most 30 s) until herald has read the mailbox once (its place is saved).
async fn first_contact(harness: &Harness) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let places: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM intake_mailboxes")
            .fetch_one(harness.store.pool())
            .await
            .expect("mailboxes");
        if places == 1 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "herald never read the mailbox"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Waits until the store holds `count` intakes (at most 120 s: a 30 MB message through a
/// debug build on a loaded machine takes a while); their kinds, in order.
async fn intakes_taken(harness: &Harness, count: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM intakes ORDER BY id")
            .fetch_all(harness.store.pool())
            .await
            .expect("intakes");
        if kinds.len() >= count || tokio::time::Instant::now() > deadline {
            return kinds;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_mailbox_is_read_over_imap_each_message_once_across_a_restart() {
    use crate::common::imap::Dovecot;
    let dovecot = Dovecot::start();
    // Mail from before herald came is history: left in the mailbox, not taken.
    dovecot.deliver(b"From: old@example.net\r\nSubject: last year\r\n\r\nOld.\r\n");
    let url = dovecot.url();
    // A long poll: what comes while herald runs can only be seen through IDLE.
    let mailbox = |settings: &mut herald::config::Settings| {
        settings.mailbox = Some(
            herald::config::ImapSettings::parse(&url, std::time::Duration::from_secs(600))
                .expect("the mailbox URL"),
        );
    };
    let mut harness = Harness::start_with(true, mailbox).await;
    first_contact(&harness).await;
    for name in ["report.eml", "auto-reply.eml", "bounce.eml", "list.eml"] {
        dovecot.deliver(&mail(name));
    }
    // A 30 MB report, fetched in parts.
    let large = report_with_attachment(30 << 20);
    dovecot.deliver(&large);
    let kinds = intakes_taken(&harness, 5).await;
    assert_eq!(
        kinds,
        ["report", "auto_reply", "bounce", "list", "report"],
        "{}",
        dovecot.log()
    );
    let dump = stored(&harness, 5).await;
    assert!(
        dump.reason.is_none(),
        "the 30 MB report is whole: {:?}",
        dump.reason
    );
    let kept = harness
        .store
        .intake_message(IntakeId(5))
        .await
        .expect("read");
    assert!(
        kept.as_deref() == Some(&large[..]),
        "the 30 MB report is kept byte for byte ({:?} bytes of {})",
        kept.map(|raw| raw.len()),
        large.len()
    );

    // Delivered while herald runs: IDLE tells it.
    dovecot.deliver(b"From: carol@example.net\r\nSubject: second\r\n\r\nAnother one.\r\n");
    assert_eq!(
        intakes_taken(&harness, 6).await.len(),
        6,
        "{}",
        dovecot.log()
    );

    // Stopped, then one more; started again: each message taken once.
    harness.stop_server().await;
    dovecot.deliver(b"From: dave@example.net\r\nSubject: third\r\n\r\nA third.\r\n");
    harness.start_server().await;
    assert_eq!(intakes_taken(&harness, 7).await.len(), 7);
    let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM intakes")
        .fetch_one(harness.store.pool())
        .await
        .expect("intakes");
    assert_eq!(taken, 7, "nothing taken twice");
    let state: (i64, i64) =
        sqlx::query_as("SELECT last_uid, COUNT(*) FROM intake_mailboxes GROUP BY last_uid")
            .fetch_one(harness.store.pool())
            .await
            .expect("the mailbox's place");
    assert_eq!(state, (8, 1), "past the old message and the seven new ones");
    let (text, _) = crate::metrics::scrape(&harness, &harness.url("/metrics")).await;
    for line in [
        r#"herald_intakes{kind="report",state="new"} 4"#,
        r#"herald_intakes{kind="list",state="ignored"} 1"#,
        "herald_mailbox_failures_total 0",
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
    harness.stop().await;
}

#[tokio::test]
async fn a_mailbox_that_refuses_the_login_is_counted_and_named_without_its_password() {
    use crate::common::imap::{Dovecot, PASSWORD};
    let dovecot = Dovecot::start();
    let url = dovecot.url().replace(PASSWORD, "not-the-password");
    let harness = Harness::start_with(true, |settings| {
        settings.mailbox = Some(
            herald::config::ImapSettings::parse(&url, std::time::Duration::from_secs(600))
                .expect("the mailbox URL"),
        );
    })
    .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (text, _) = crate::metrics::scrape(&harness, &harness.url("/metrics")).await;
        if text.contains("herald_mailbox_failures_total 1") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure counted:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!format!("{:?}", harness.settings.mailbox).contains("not-the-password"));
    harness.stop().await;
}

#[tokio::test]
async fn a_message_the_server_will_not_give_is_passed_over_and_none_is_stored_empty() {
    use crate::common::imap::FakeImap;
    let report = b"From: rita@example.net\r\nSubject: second\r\n\r\nThe second.\r\n".to_vec();
    // Two whole parts exactly: the third part asked for is past the end, and empty.
    let mut even = b"From: rita@example.net\r\nSubject: third\r\n\r\n".to_vec();
    even.resize(2 << 20, b'x');
    let fake = FakeImap::start(vec![(1, None), (2, Some(report)), (3, Some(even.clone()))]).await;
    let url = fake.url();
    let mut harness = Harness::start_with(true, |settings| {
        settings.mailbox = Some(
            herald::config::ImapSettings::parse(&url, std::time::Duration::from_secs(1))
                .expect("the mailbox URL"),
        );
    })
    .await;
    // herald has read this mailbox before, up to nothing: both messages are new to it.
    harness.stop_server().await;
    let name = format!("security@127.0.0.1:{}/INBOX", fake.port);
    let mut work = harness.store.begin_durable().await.expect("work");
    work.save_mailbox_state(&name, (7, 0)).await.expect("saved");
    work.commit().await.expect("committed");
    harness.start_server().await;

    let kinds = intakes_taken(&harness, 2).await;
    assert_eq!(kinds, ["report", "report"]);
    let taken = stored(&harness, 1).await;
    assert!(taken.source.contains("127.0.0.1"), "{}", taken.source);
    let raw = harness
        .store
        .intake_message(taken.id)
        .await
        .expect("read")
        .expect("kept");
    assert!(
        String::from_utf8_lossy(&raw).contains("The second."),
        "nothing stored empty"
    );
    let third = harness
        .store
        .intake_message(IntakeId(2))
        .await
        .expect("read");
    assert_eq!(
        third.map(|raw| raw.len()),
        Some(even.len()),
        "taken whole, in parts"
    );
    let (text, _) = crate::metrics::scrape(&harness, &harness.url("/metrics")).await;
    assert!(text.contains("herald_mailbox_failures_total"), "{text}");
    assert!(!text.contains("herald_mailbox_failures_total 0"), "{text}");
    harness.stop().await;
}

#[test]
fn herald_doctor_reads_the_mailbox_and_names_a_refused_login_without_its_password() {
    use crate::common::imap::{Dovecot, PASSWORD};
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let doctor = |url: &str| {
        let output = herald(dir.path(), &[("HERALD_INTAKE_IMAP_URL", url)])
            .arg("doctor")
            .output()
            .expect("herald runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let said = doctor(&dovecot.url());
    assert!(
        said.lines().any(|line| line.starts_with("ok")
            && line.contains("/INBOX holds 0 message(s); the server offers IDLE")),
        "{said}"
    );
    let said = doctor(&dovecot.url().replace(PASSWORD, "wrong-password-42"));
    assert!(
        said.lines().any(|line| line.starts_with("PROBLEM")
            && line.contains("the IMAP server refused the login")),
        "{said}"
    );
    assert!(!said.contains("wrong-password-42"), "{said}");
}
