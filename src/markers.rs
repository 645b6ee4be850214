//! The names herald gives what it does, so that it finds them again: the hidden markers in
//! what it writes on GitHub (a job retried after a lost answer or a crash finds its issue,
//! comment or discussion by its marker instead of writing a second), and the idempotency
//! keys of its jobs (a job is queued once per key, however often what calls for it is seen).
//! Kept together so that the writer and the finder of a name cannot drift apart.

/// A safe file or folder name: anything but letters, digits, `-`, `_` and `.` becomes `_`,
/// and it never starts with a dot.
pub fn file_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None if name.is_empty() => "_".to_owned(),
        None => name,
    }
}

/// Hidden markers, each an HTML comment GitHub does not show.
pub mod marker {
    use super::file_name;
    use crate::incident::{GhsaId, IncidentId, RepoName};

    /// The incident's private tracking issue.
    pub fn tracking_issue(repository: &RepoName, ghsa_id: &GhsaId) -> String {
        format!("<!-- herald:incident {} {} -->", repository, ghsa_id)
    }

    /// The one comment on the tracking issue that shows the drafts for review.
    pub fn drafts_comment(repository: &RepoName, ghsa_id: &GhsaId) -> String {
        format!("<!-- herald:drafts {} {} -->", repository, ghsa_id)
    }

    /// A comment herald posts, named by the key of the job that queued it.
    pub fn reply(key: &str) -> String {
        format!(
            "<!-- herald:reply {} -->",
            file_name(key).replace("--", "-")
        )
    }

    /// The private issue of a report mailed to the security team.
    pub fn intake(id: crate::intake::IntakeId) -> String {
        format!("<!-- herald:intake {id} -->")
    }

    /// A product incident's private issue.
    pub fn product(id: crate::incident::ProductIncidentId) -> String {
        format!("<!-- herald:product {id} -->")
    }

    /// The public advisory issue.
    pub fn advisory_issue(ghsa_id: &GhsaId) -> String {
        format!("<!-- herald:advisory-issue {} -->", ghsa_id)
    }

    /// The notice that the incident's GitHub wiki is not initialised.
    pub fn wiki_uninitialised(incident_id: IncidentId) -> String {
        format!("<!-- herald:wiki-uninitialised {incident_id} -->")
    }

    /// The notice that the configuration names another tracking repository.
    pub fn tracking_kept(incident_id: IncidentId, named: &RepoName) -> String {
        format!(
            "<!-- herald:tracking-kept {incident_id} {} -->",
            file_name(named)
        )
    }

    /// The incident's GitHub discussion.
    pub fn discussion(repository: &RepoName, ghsa_id: &GhsaId) -> String {
        format!("<!-- herald:discussion {} {} -->", repository, ghsa_id)
    }
}

/// Idempotency keys of the outbox's jobs.
pub mod key {
    use super::file_name;
    use crate::incident::{DeliveryId, GhsaId, IncidentId, RepoName};

    /// The synthetic delivery of one version of an advisory (GitHub's list or its answer to
    /// a publish request): the version is processed once whichever way herald saw it.
    pub fn advisory_version(repository: &RepoName, ghsa_id: &GhsaId, updated_at: &str) -> String {
        format!("poll:{repository}:{ghsa_id}:{updated_at}")
    }

    /// Processing a stored delivery.
    pub fn delivery(delivery_id: &DeliveryId) -> String {
        format!("{DELIVERY_PREFIX}{delivery_id}")
    }

    /// What [`delivery`] puts before the delivery id (the store's one-statement admission
    /// builds the key in SQL).
    pub const DELIVERY_PREFIX: &str = "delivery:";

    /// A maintainer's comment or label, by the delivery that carried it.
    pub fn maintainer_action(delivery_id: &DeliveryId) -> String {
        format!("maintainer:{delivery_id}")
    }

    /// Matching a global advisory, by the delivery that carried it.
    pub fn upstream(delivery_id: &DeliveryId) -> String {
        format!("upstream:{delivery_id}")
    }

    /// What follows a revision of an incident (its tracking issue, its public channels).
    pub fn follow(kind: &str, incident_id: IncidentId, revision: i64) -> String {
        format!("{kind}:{incident_id}:{revision}")
    }

    /// The tracking issue's refresh after `channel` posted at `at_millis`.
    pub fn tracking_refresh(channel: &str, incident_id: IncidentId, at_millis: i64) -> String {
        format!("tracking-refresh:{channel}:{incident_id}:{at_millis}")
    }

    /// What a maintainer's command calls for, by the delivery that carried it.
    pub fn command(kind: &str, delivery_id: &DeliveryId) -> String {
        format!("{kind}:{delivery_id}")
    }

    /// A notice to the reporter of mailed report `intake`, once each.
    pub fn reporter_notice(intake: crate::incident::IntakeId, notice: &str) -> String {
        format!("reporter:{intake}:{notice}")
    }

    /// A comment herald owes; `of` names what it answers (unique per answer).
    pub fn reply(of: &str) -> String {
        format!("reply:{of}")
    }

    /// The announcement of one version of an incident to one list.
    pub fn send_mail(incident_id: IncidentId, address: &str, version: u32) -> String {
        format!(
            "send_mail:{incident_id}:{}:v{version}",
            address.to_ascii_lowercase()
        )
    }

    /// One notice (or, `update`, one update) per downstream and embargo date.
    pub fn prenotify(
        incident_id: IncidentId,
        address: &str,
        until_millis: i64,
        update: bool,
    ) -> String {
        format!(
            "prenotify:{incident_id}:{}:{until_millis}{}",
            address.to_ascii_lowercase(),
            if update { ":update" } else { "" }
        )
    }

    /// One flag per incident and public place.
    pub fn embargo_break(incident_id: IncidentId, url: &str) -> String {
        format!("embargo_break:{incident_id}:{url}")
    }

    /// The look, at the end of an embargo date downstreams were told, for whether they wait
    /// for a disclosure: one per incident and date.
    pub fn embargo_end(incident_id: IncidentId, until_millis: i64) -> String {
        format!("embargo_end:{incident_id}:{until_millis}")
    }

    /// A reminder of an incident's reaction clock: for a deadline, or (for an active
    /// threat) once.
    pub fn escalate(incident_id: IncidentId, stage: &str, due_millis: Option<i64>) -> String {
        match due_millis {
            Some(due) => format!("escalate:{incident_id}:{stage}:{due}"),
            None => format!("escalate:{incident_id}:{stage}"),
        }
    }

    // What herald's comments answer, each given to [`reply`]:

    /// A reminder, by the job that ran it.
    pub fn escalation_notice(job_id: i64, stage: &str) -> String {
        format!("escalate:{job_id}:{stage}")
    }

    /// Downstreams waiting past an embargo's end, by the job that found them.
    pub fn embargo_end_notice(job_id: i64) -> String {
        format!("embargo_end:{job_id}")
    }

    /// A notice about temporary action `action` of an incident: `notice` is `inform` or
    /// `day-N` (one reminder a day).
    pub fn containment(incident_id: IncidentId, action: usize, notice: &str) -> String {
        format!("containment:{incident_id}:{action}:{notice}")
    }

    /// The comment of a containment notice, by the job that posts it.
    pub fn containment_notice(job_id: i64) -> String {
        format!("containment:{job_id}")
    }

    /// The comment about a temporary private fork (ready, or never created), once per fork
    /// asked for.
    pub fn private_fork(
        incident_id: IncidentId,
        fork: &RepoName,
        requested_at: chrono::DateTime<chrono::Utc>,
    ) -> String {
        format!(
            "private-fork:{incident_id}:{fork}:{}",
            requested_at.timestamp_millis()
        )
    }

    /// A look at whether a temporary private fork exists yet, by when it is due.
    pub fn private_fork_check(
        incident_id: IncidentId,
        at: chrono::DateTime<chrono::Utc>,
    ) -> String {
        format!("private-fork:{incident_id}:check:{}", at.timestamp_millis())
    }

    /// A chat notice about an incident; `what` names it (once per incident, or per
    /// revision).
    pub fn chat(incident_id: IncidentId, what: &str) -> String {
        format!("chat:{incident_id}:{what}")
    }

    /// Reading a linked fix, by the command that linked it.
    pub fn track_pull(delivery_id: &DeliveryId, repository: &RepoName, number: u64) -> String {
        format!("track-pull:{delivery_id}:{repository}#{number}")
    }

    /// The post-incident review, by the job that rendered it.
    pub fn review(ghsa_id: &GhsaId, job_id: i64) -> String {
        format!("review:{}:{job_id}", file_name(ghsa_id))
    }

    /// An uninitialised wiki, once per incident.
    pub fn wiki_uninitialised(incident_id: IncidentId) -> String {
        format!("wiki-uninitialised:{incident_id}")
    }

    /// Another tracking repository named by the configuration, once per incident and name.
    pub fn tracking_kept(incident_id: IncidentId, named: &RepoName) -> String {
        format!(
            "tracking-kept:{incident_id}:{}",
            named.as_str().to_ascii_lowercase()
        )
    }

    /// The first failure to send an announcement, by the send's job.
    pub fn mail_failed(ghsa_id: &GhsaId, job_id: i64) -> String {
        format!("mail-failed:{}:{job_id}", file_name(ghsa_id))
    }

    /// A job herald gave up on, each time it does.
    pub fn gave_up(job_id: i64, at_millis: i64) -> String {
        format!("gave-up:{job_id}:{at_millis}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{GhsaId, IncidentId, RepoName};

    #[test]
    fn markers_cannot_be_closed_from_outside() {
        // Names are checked where they enter herald, so a marker built from them is whole.
        let repository = RepoName::parse("acme/widget").expect("name");
        let ghsa_id = GhsaId::parse("GHSA-aaaa-bbbb-cccc").expect("id");
        assert_eq!(
            marker::tracking_issue(&repository, &ghsa_id),
            "<!-- herald:incident acme/widget GHSA-aaaa-bbbb-cccc -->"
        );
        assert_eq!(marker::reply("a--b c"), "<!-- herald:reply a-b_c -->");
    }

    #[test]
    fn file_names_stay_in_their_folder() {
        assert_eq!(file_name("../../etc/passwd"), "_._.._etc_passwd");
        assert_eq!(file_name("GHSA-abcd-1234-wxyz"), "GHSA-abcd-1234-wxyz");
    }

    #[test]
    fn keys_name_what_they_stand_for() {
        assert_eq!(
            key::follow("sync_tracking_issue", IncidentId(4), 7),
            "sync_tracking_issue:4:7"
        );
        assert_eq!(
            key::send_mail(IncidentId(3), "Announce@Lists.example.org", 1),
            "send_mail:3:announce@lists.example.org:v1"
        );
        assert_eq!(
            key::escalate(IncidentId(2), "warning", Some(9)),
            "escalate:2:warning:9"
        );
        assert_eq!(
            key::escalate(IncidentId(2), "active", None),
            "escalate:2:active"
        );
    }
}
