//! Pre-notification of downstreams under embargo: the approval's rules, notices encrypted
//! to each recipient's key, moved dates, notices scheduled before the end, and the keys and
//! addresses the approval named.

use crate::both_stores;
use crate::common::Harness;
use crate::common::app::{
    GHSA, MailWorld, REPO, assert_no_unexpected, headers_name_nothing, public_writes,
    reported_with_mail, timeline_details, world,
};
use crate::common::github::FakeGitHub;
use crate::common::mail::{Gpg, Received, SmtpSink, decode_body, open_sealed};
use crate::common::tracking::{add_label, answers, command, escalations, remove_label};
use herald::mail::SigningKey;

/// A `prenotify:` section with three downstreams: one whose key is a file in the
/// repository, one with the key inline, one without a key.
fn prenotify_config(inline_key: &str) -> String {
    let indented: String = inline_key
        .lines()
        .map(|line| format!("        {line}\n"))
        .collect();
    format!(
        "tracking:\n  repository: Codertocat/security\nprenotify:\n  contact: security@example.org\n  recipients:\n    - address: distros@vs.openwall.example\n      name: distros\n      key_file: .github/keys/distros.asc\n      subject_tag: \"[vs]\"\n    - address: vendor@example.net\n      format: pgp-mime\n      key: |\n{indented}    - address: packager@example.com\n"
    )
}

/// The time `days` from now, as `/herald embargo` takes it.
fn days_ahead(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// alice sets the embargo's end to `until` (comment `delivery_id`).
async fn embargo(harness: &Harness, delivery_id: &str, until: &str) {
    command(
        harness,
        delivery_id,
        "alice",
        &format!("/herald embargo {until}"),
    )
    .await;
}

/// The opaque reference to the incident that embargoed subjects carry, keyed by herald's
/// signing key (in `key_dir`, as `world_with_mail` wrote it).
fn incident_reference(key_dir: &std::path::Path) -> String {
    let secret = std::fs::read(key_dir.join("signing-key.asc")).expect("the signing key");
    let key = SigningKey::from_bytes(&secret, None).expect("a signing key");
    herald::mail::Digests::new(key.digest_secret().expect("a digest secret"))
        .incident_reference(GHSA)
}

/// The pre-notifications the SMTP server received, by recipient address.
fn prenotices(sink: &SmtpSink) -> Vec<(String, Received)> {
    sink.messages()
        .iter()
        .map(|raw| Received::parse(raw))
        .filter(|received| {
            received
                .header("Subject")
                .is_some_and(|subject| subject.contains("Embargoed security notice"))
        })
        .map(|received| (received.header("To").unwrap_or_default(), received))
        .collect()
}

/// The jobs of `kind` not done yet, due or waiting for their time.
async fn waiting_jobs(
    harness: &Harness,
    kind: herald::jobs::JobKind,
) -> Vec<herald::store::JobRecord> {
    let filter = herald::store::JobFilter {
        failed: false,
        due: false,
        kind: Some(kind.as_str()),
        limit: 10,
    };
    harness
        .store
        .jobs(&filter, chrono::Utc::now())
        .await
        .expect("jobs")
}

/// Runs `jobs` now, as an operator's `herald jobs retry` would before their time, and
/// waits for all work to finish.
async fn run_now(harness: &Harness, jobs: &[herald::store::JobRecord]) {
    let mut work = harness.store.begin_durable().await.expect("work");
    for job in jobs {
        work.control_job(job.id, herald::store::JobControl::Retry, chrono::Utc::now())
            .await
            .expect("run now");
    }
    work.commit().await.expect("commit");
    harness.wait_all_jobs().await;
}

both_stores!(downstreams_are_told_under_embargo_encrypted_to_their_keys_and_once_per_date);
async fn downstreams_are_told_under_embargo_encrypted_to_their_keys_and_once_per_date() {
    let fake = world().await;
    let (distros, distros_key) = Gpg::with_new_key("distros <distros@vs.openwall.example>");
    let (vendor, vendor_key) = Gpg::with_new_key("Vendor <vendor@example.net>");
    fake.put_file(REPO, ".github/keys/distros.asc", &distros_key);
    let MailWorld {
        harness,
        sink,
        gpg,
        _key_dir: _keys,
        signing_public,
    } = reported_with_mail(&fake, &prenotify_config(&vendor_key)).await;
    distros.import(&signing_public);
    vendor.import(&signing_public);
    fake.set_permission(REPO, "alice", "admin");
    let downstreams = Downstreams {
        distros: &distros,
        vendor: &vendor,
        herald: &gpg,
        reference: incident_reference(_keys.path()),
    };

    nobody_is_told_outside_the_rules(&harness, &fake, &sink).await;
    let until = days_ahead(3);
    each_is_told_once_within_the_rules(&harness, &sink, &downstreams, &until).await;

    // Approving again, or the same date again, tells nobody twice.
    command(&harness, "p-8", "alice", "/herald prenotify").await;
    embargo(&harness, "p-9", &until).await;
    assert_eq!(prenotices(&sink).len(), 3);

    // The date moves: one short signed update each, and no second notice.
    let moved = days_ahead(5);
    embargo(&harness, "p-10", &moved).await;
    let told = prenotices(&sink);
    assert_eq!(told.len(), 6, "one update per recipient");
    for (to, received) in &told[3..] {
        downstreams.read_the_update(to, received);
    }

    a_lapsed_approval_renewed_sends_updates_not_notices(&harness, &fake, &sink).await;
    the_embargos_end_finds_the_downstreams_waiting_once(&harness, &fake).await;
    // Nothing public happened, and nothing went to any public channel.
    assert_eq!(public_writes(&fake), Vec::<String>::new());
    assert!(fake.pulls(REPO).is_empty() && fake.issues(REPO).is_empty());
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The readers of [`prenotify_config`]'s downstreams: distros and the vendor with their own
/// keys, and GnuPG knowing herald's key for the packager's signed notice; and the opaque
/// reference to the incident that the subjects carry.
struct Downstreams<'a> {
    distros: &'a Gpg,
    vendor: &'a Gpg,
    herald: &'a Gpg,
    reference: String,
}

impl Downstreams<'_> {
    /// The key that opens what goes to `to`, encrypted.
    fn reader(&self, to: &str) -> &Gpg {
        if to.contains("distros@") {
            self.distros
        } else {
            self.vendor
        }
    }

    /// The pre-notification to `to`: a subject and headers that say nothing, encrypted to
    /// its key (PGP/MIME for the vendor, inline for distros) and signed, or for the
    /// packager signed only; the advisory, the planned date and whom to write to inside.
    fn read_the_notice(&self, to: &str, received: &Received) {
        let subject = received.header("Subject").expect("subject");
        assert!(
            !subject.contains("A short summary"),
            "the subject is not encrypted and says nothing: {subject}"
        );
        // The distros list's configured tag leads its subject; nobody else's.
        let tag = if to.contains("distros@") { "[vs] " } else { "" };
        assert_eq!(
            subject,
            format!("{tag}Embargoed security notice {}", self.reference),
            "{to}"
        );
        headers_name_nothing(received);
        let opened = if to.contains("distros@") || to.contains("vendor@") {
            assert!(
                !String::from_utf8_lossy(&received.body).contains("A short summary"),
                "the advisory does not travel in clear"
            );
            // The vendor asked for PGP/MIME; distros reads inline OpenPGP.
            assert_eq!(
                received.is_of_type("multipart/encrypted"),
                to.contains("vendor@"),
                "{to}: {}",
                received.headers
            );
            let (text, status) = open_sealed(self.reader(to), received)
                .unwrap_or_else(|error| panic!("{to}: {error}"));
            assert!(status.contains("GOODSIG"), "{status}");
            text
        } else {
            assert_eq!(to, "packager@example.com");
            let body = decode_body(received);
            self.herald
                .verify_cleartext(&body)
                .expect("signed cleartext verifies");
            String::from_utf8_lossy(&body).into_owned()
        };
        assert!(
            opened.contains("A short summary of the advisory."),
            "{opened}"
        );
        assert!(opened.contains("Planned public disclosure:"), "{opened}");
        assert!(opened.contains("security@example.org"), "{opened}");
    }

    /// The update to `to` of a moved date: short, opened as its notice was, under the
    /// notice's subject.
    fn read_the_update(&self, to: &str, received: &Received) {
        let body = decode_body(received);
        let text = if to.contains("packager") {
            self.herald
                .verify_cleartext(&body)
                .expect("the update is signed");
            String::from_utf8_lossy(&body).into_owned()
        } else {
            open_sealed(self.reader(to), received)
                .expect("the update opens")
                .0
        };
        assert!(text.contains("moved from"), "{text}");
        assert!(!text.contains("A short summary"), "short: {text}");
        let subject = received.header("Subject").expect("subject");
        let tag = if to.contains("distros@") { "[vs] " } else { "" };
        assert_eq!(
            subject,
            format!(
                "{tag}Embargoed security notice {}: new disclosure date",
                self.reference
            )
        );
        headers_name_nothing(received);
    }
}

/// Within the rules (an end `until` under 7 days ahead), each recipient gets one notice
/// at once, distros first, and the timeline says to whom it went and how.
async fn each_is_told_once_within_the_rules(
    harness: &Harness,
    sink: &SmtpSink,
    downstreams: &Downstreams<'_>,
    until: &str,
) {
    embargo(harness, "p-6", until).await;
    command(harness, "p-7", "alice", "/herald prenotify").await;
    let told = prenotices(sink);
    assert_eq!(told.len(), 3, "one notice per recipient");
    for (to, received) in &told {
        downstreams.read_the_notice(to, received);
    }
    assert!(told[0].0.contains("distros"), "{:?}", told[0].0);
    let timeline = timeline_details(harness).await;
    let sent: Vec<&String> = timeline
        .iter()
        .filter(|detail| detail.starts_with("pre-notification sent to"))
        .collect();
    assert_eq!(sent.len(), 3, "{timeline:?}");
    assert!(
        sent.iter()
            .any(|detail| detail.contains("packager@example.com (signed, not encrypted")),
        "{sent:?}"
    );
}

/// The rules, each refused with its reason, and nobody told: no date yet, a date in the
/// past, a date more than 14 days ahead.
async fn nobody_is_told_outside_the_rules(harness: &Harness, fake: &FakeGitHub, sink: &SmtpSink) {
    command(harness, "p-1", "alice", "/herald prenotify").await;
    embargo(harness, "p-2", &days_ahead(-1)).await;
    add_label(harness, "p-3", "alice", "prenotify:approved").await;
    embargo(harness, "p-4", &days_ahead(20)).await;
    command(harness, "p-5", "alice", "/herald prenotify").await;
    let said: Vec<String> = answers(fake).into_iter().map(|c| c.body).collect();
    let refusals: Vec<&String> = said
        .iter()
        .filter(|body| body.contains("Pre-notification not approved"))
        .collect();
    assert_eq!(refusals.len(), 3, "{said:#?}");
    assert!(
        refusals[0].contains("no embargo date is set"),
        "{}",
        refusals[0]
    );
    assert!(refusals[1].contains("is in the past"), "{}", refusals[1]);
    assert!(
        refusals[2].contains("more than the 14 days"),
        "{}",
        refusals[2]
    );
    assert!(prenotices(sink).is_empty(), "nobody told");
}

/// A date beyond the rules makes the approval lapse and tells nobody; approved again for a
/// date within them, those told the old date get an update, not a second notice.
async fn a_lapsed_approval_renewed_sends_updates_not_notices(
    harness: &Harness,
    fake: &FakeGitHub,
    sink: &SmtpSink,
) {
    embargo(harness, "p-11", &days_ahead(30)).await;
    assert!(
        answers(fake)
            .last()
            .is_some_and(|answer| answer.body.contains("approval lapses")),
        "{:?}",
        answers(fake).last()
    );
    embargo(harness, "p-12", &days_ahead(6)).await;
    assert_eq!(prenotices(sink).len(), 6, "nobody told while not approved");
    command(harness, "p-13", "alice", "/herald prenotify").await;
    let told = prenotices(sink);
    assert_eq!(told.len(), 9, "one update each");
    for (to, received) in &told[6..] {
        let body = decode_body(received);
        if to.contains("packager") {
            let text = String::from_utf8_lossy(&body).into_owned();
            assert!(text.contains("moved from"), "{text}");
        }
    }
}

/// Each date approved has its look at the embargo's end (three); run now, only the date the
/// downstreams were last told finds them waiting, and says so once.
async fn the_embargos_end_finds_the_downstreams_waiting_once(harness: &Harness, fake: &FakeGitHub) {
    let ends = waiting_jobs(harness, herald::jobs::JobKind::EmbargoEnd).await;
    assert_eq!(ends.len(), 3, "{ends:?}");
    run_now(harness, &ends).await;
    let waiting = escalations(fake, "The embargo ended at");
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    for words in [
        "is not published. The 3 downstream(s) told this date may now treat it as public",
        "vs.openwall.example",
        "vendor",
        "packager",
        "`/herald publish` (it needs the `disclosure:approved` label), or agree",
    ] {
        assert!(waiting[0].contains(words), "{words}: {}", waiting[0]);
    }
    let timeline = timeline_details(harness).await;
    assert_eq!(
        timeline
            .iter()
            .filter(|detail| detail.starts_with("embargo ended at"))
            .count(),
        1,
        "{timeline:?}"
    );
}

/// A `prenotify:` section with one downstream, told five days before the end, whose key is
/// a file in the repository.
const ONE_DOWNSTREAM: &str = "tracking:\n  repository: Codertocat/security\nprenotify:\n  days_before: 5\n  recipients:\n    - address: distros@vs.openwall.example\n      key_file: .github/keys/distros.asc\n";

both_stores!(a_scheduled_prenotice_waits_for_its_day_and_a_bad_key_is_reported);
async fn a_scheduled_prenotice_waits_for_its_day_and_a_bad_key_is_reported() {
    let fake = world().await;
    // The repository names a key file that is not there yet.
    let MailWorld {
        harness,
        sink,
        _key_dir: _keys,
        signing_public,
        ..
    } = reported_with_mail(&fake, ONE_DOWNSTREAM).await;
    fake.set_permission(REPO, "alice", "admin");
    let until = chrono::Utc::now() + chrono::Duration::days(10);
    embargo(
        &harness,
        "s-1",
        &until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
    .await;
    nothing_is_approved_without_the_key_file(&harness, &fake).await;
    let (distros, distros_key) = approved_once_the_key_arrives(&harness, &fake).await;
    // Due five days before the end, not now.
    let jobs = waiting_jobs(&harness, herald::jobs::JobKind::Prenotify).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let due = jobs[0].run_after.expect("scheduled");
    let expected = until - chrono::Duration::days(5);
    assert!(
        (due - expected).num_seconds().abs() <= 1,
        "due {due}, expected {expected}"
    );
    assert!(prenotices(&sink).is_empty(), "nothing before its day");

    a_key_swapped_before_the_day_gets_nothing(&harness, &fake, &sink, &jobs, &distros).await;
    // The approved key is put back, the maintainers retry: sent, encrypted to it.
    fake.put_file(REPO, ".github/keys/distros.asc", &distros_key);
    command(&harness, "s-4", "alice", "/herald retry").await;
    let told = prenotices(&sink);
    assert_eq!(told.len(), 1);
    let body = decode_body(&told[0].1);
    assert!(String::from_utf8_lossy(&body).contains("-----BEGIN PGP MESSAGE-----"));
    distros.import(&signing_public);
    let (text, _) = distros.decrypt_verified(&body).expect("opens and verifies");
    assert!(text.contains("A short summary of the advisory."), "{text}");

    a_changed_reply_address_holds_the_update_back(&harness, &fake, &sink).await;
    an_address_added_after_the_approval_hears_nothing(&harness, &fake, &sink).await;
    // Withdrawn: a date change tells nobody any more.
    remove_label(&harness, "s-6", "alice", "prenotify:approved").await;
    embargo(&harness, "s-7", &days_ahead(4)).await;
    assert_eq!(prenotices(&sink).len(), 3, "no update after the withdrawal");
    assert_eq!(public_writes(&fake), Vec::<String>::new());
    harness.stop().await;
}

/// An approval names each key: without the key file, the label approves nothing.
async fn nothing_is_approved_without_the_key_file(harness: &Harness, fake: &FakeGitHub) {
    add_label(harness, "s-2", "alice", "prenotify:approved").await;
    let refused = answers(fake).last().expect("a reply").body.clone();
    assert!(
        refused.contains("Pre-notification not approved: the key file .github/keys/distros.asc for distros@vs.openwall.example is not in Codertocat/Hello-World"),
        "{refused}"
    );
    assert!(
        waiting_jobs(harness, herald::jobs::JobKind::Prenotify)
            .await
            .is_empty()
    );
}

/// The key arrives; approved again by the label, the answer names the recipient and the
/// key (a label approval of pre-notification is answered too). The recipient's GnuPG and
/// its public key.
async fn approved_once_the_key_arrives(harness: &Harness, fake: &FakeGitHub) -> (Gpg, String) {
    let (distros, distros_key) = Gpg::with_new_key("distros <distros@vs.openwall.example>");
    fake.put_file(REPO, ".github/keys/distros.asc", &distros_key);
    remove_label(harness, "s-3a", "alice", "prenotify:approved").await;
    add_label(harness, "s-3b", "alice", "prenotify:approved").await;
    let approved = answers(fake).last().expect("a reply").body.clone();
    let fingerprint = distros.fingerprint();
    assert!(
        approved.contains(&format!(
            "the embargoed notice goes to distros@vs.openwall.example (encrypted to key {fingerprint})"
        )),
        "{approved}"
    );
    (distros, distros_key)
}

/// Before its day a pusher swaps the key for theirs: run now, the notice does not go, and
/// why is reported.
async fn a_key_swapped_before_the_day_gets_nothing(
    harness: &Harness,
    fake: &FakeGitHub,
    sink: &SmtpSink,
    jobs: &[herald::store::JobRecord],
    distros: &Gpg,
) {
    let fingerprint = distros.fingerprint();
    let (_mallory, mallory_key) = Gpg::with_new_key("distros <distros@vs.openwall.example>");
    fake.put_file(REPO, ".github/keys/distros.asc", &mallory_key);
    run_now(harness, jobs).await;
    assert!(prenotices(sink).is_empty(), "not to a key nobody approved");
    let reported = escalations(fake, "prenotify for");
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(
        reported[0].contains(&format!(
            "approval named distros\\@\u{200b}vs.openwall.example (encrypted to key {fingerprint})"
        )) && reported[0].contains("Embargoed text goes only where it was approved"),
        "{}",
        reported[0]
    );
}

/// A reply address changed after the approval holds the update of a moved date back; the
/// address put back, the retried update goes, as approved.
async fn a_changed_reply_address_holds_the_update_back(
    harness: &Harness,
    fake: &FakeGitHub,
    sink: &SmtpSink,
) {
    fake.put_file(
        REPO,
        ".github/herald.yml",
        &format!("{ONE_DOWNSTREAM}  contact: mallory@attacker.example\n"),
    );
    embargo(harness, "s-4b", &days_ahead(7)).await;
    assert_eq!(
        prenotices(sink).len(),
        1,
        "no update with another reply address"
    );
    assert!(
        !escalations(
            fake,
            "changed since the approval, and downstreams would write back"
        )
        .is_empty(),
        "{:?}",
        answers(fake)
    );
    fake.put_file(REPO, ".github/herald.yml", ONE_DOWNSTREAM);
    command(harness, "s-4c", "alice", "/herald retry").await;
    assert_eq!(prenotices(sink).len(), 2, "the update, as approved");
}

/// A recipient added after the approval hears nothing of a moved date, nor of anything;
/// the approved one gets the update.
async fn an_address_added_after_the_approval_hears_nothing(
    harness: &Harness,
    fake: &FakeGitHub,
    sink: &SmtpSink,
) {
    fake.put_file(
        REPO,
        ".github/herald.yml",
        &format!("{ONE_DOWNSTREAM}    - address: mallory@attacker.example\n"),
    );
    embargo(harness, "s-5", &days_ahead(6)).await;
    let told = prenotices(sink);
    assert_eq!(told.len(), 3, "the approved recipient gets the update");
    assert!(
        told.iter().all(|(to, _)| to.contains("distros@")),
        "{:?}",
        told.iter().map(|(to, _)| to).collect::<Vec<_>>()
    );
}
