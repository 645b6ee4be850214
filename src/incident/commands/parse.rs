//! The words of a `/herald` line and the labels herald reads, as commands; and the help
//! that lists them.

use super::Command;
use crate::incident::{Phase, RepoName, Severity, Threat};
use chrono::{DateTime, Utc};

pub const HELP: &str = "herald understands these commands, one per line, from people with \
the write, maintain or admin role on the advisory's repository; those marked (admin) are \
reserved, as GitHub reserves publishing an advisory, for its admins and the organisation's \
security managers:\n\n\
- `/herald ack`: acknowledge the report (stops the reaction clock)\n\
- `/herald severity critical|high|medium|low`: set the severity (wins over the computed one)\n\
- `/herald kind supply-chain|code-execution|xss|leaked-secrets|denial-of-service|memory-leak|integrity|docs-defacement|regression`: name the kind of incident, which sets its severity (critical, high, medium or low) unless a severity is set\n\
- `/herald cvss <vector>`: set the CVSS 3.x or 4.0 vector herald scores\n\
- `/herald threat active|passive`: active means evidence of exploitation attempts\n\
- `/herald coordinator @login`: who coordinates and speaks for the response\n\
- `/herald embargo <RFC 3339 time>`: no disclosure before this time (an earlier end than the one set: admin)\n\
- `/herald request-cve`: ask GitHub for a CVE id (admin)\n\
- `/herald publish`: disclose (needs the `disclosure:approved` label and a passed embargo; admin)\n\
- `/herald retry`: run again what herald gave up on or was refused (after fixing the cause)\n\
- `/herald phase containment|remediation|recovery`: record where the response stands\n\
- `/herald contain <what was done>`: record a temporary action taken to protect users\n\
- `/herald consulted @login`: record that a security lead was consulted (asked for before acting on a passive threat)\n\
- `/herald revert N` / `/herald keep N`: temporary action N was undone / is made permanent (you agree)\n\
- `/herald affected <who or what>`: record which users or deployments are affected\n\
- `/herald fix #N` (or `owner/repo#N`, or the URL): track a pull request as a fix; pull requests that mention the GHSA id are tracked on their own\n\
- `/herald fork`: ask GitHub for a temporary private fork to fix the vulnerability in private (admin)\n\
- `/herald prenotify`: tell the downstreams of `prenotify:` under embargo (needs an embargo date within `max_days`; admin); `/herald prenotify withdraw` stops notices not yet sent\n\
- `/herald close`: close the incident and post the post-incident review\n\
- `/herald help`: this text\n\n\
Labels work too: `severity:<level>`, `threat:active|passive`, `incident` (a breach \
happened), `disclosure:approved` and `prenotify:approved` (adding either: admin).";

/// The longest free text a command takes (what was done, who is affected).
pub const MAX_STATEMENT_CHARS: usize = 1000;

/// One command line after `/herald`: its words, and for the commands that take free text
/// (`contain`, `affected`), the rest of the line as written.
pub(super) fn parse_line(rest: &str) -> Result<Command, String> {
    let (first, text) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(first, text)| (first, text.trim()));
    let statement = |command: fn(String) -> Command, what: &str| {
        if text.is_empty() {
            Err(format!("`/herald {first}` needs {what} after it"))
        } else if text.chars().count() > MAX_STATEMENT_CHARS {
            Err(format!(
                "{what} is limited to {MAX_STATEMENT_CHARS} characters; say more in a comment"
            ))
        } else {
            Ok(command(text.to_owned()))
        }
    };
    match first {
        "contain" => statement(Command::Contain, "what was done"),
        "affected" => statement(Command::Affected, "who or what is affected"),
        _ => parse_words(&rest.split_whitespace().collect::<Vec<_>>()),
    }
}

/// A GitHub login, with or without its `@`.
fn login(word: &str) -> Result<String, String> {
    let login = word.trim_start_matches('@');
    let valid = !login.is_empty()
        && login.len() <= 39
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !login.starts_with('-');
    if valid {
        Ok(login.to_owned())
    } else {
        Err(format!("`{login}` is not a GitHub login"))
    }
}

/// A pull request as maintainers name it: `#12`, `owner/repo#12`, or its URL.
fn pull_reference(word: &str) -> Result<Command, String> {
    let invalid = || {
        format!(
            "`{word}` is not a pull request: use `#12`, `owner/repo#12` or the pull request's URL"
        )
    };
    let (repository, number) = match word.split_once('#') {
        Some(("", number)) => (None, number),
        Some((repository, number)) => (Some(repository.to_owned()), number),
        None => {
            let path = word
                .strip_prefix("https://github.com/")
                .ok_or_else(invalid)?;
            let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
            match parts.as_slice() {
                [owner, name, "pull", number] => (Some(format!("{owner}/{name}")), *number),
                _ => return Err(invalid()),
            }
        }
    };
    let number = number
        .parse::<u64>()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(invalid)?;
    let repository = repository
        .map(|name| RepoName::parse(&name).map_err(|error| error.to_string()))
        .transpose()?;
    Ok(Command::Fix { repository, number })
}

/// A temporary action's number, as the tracking issue lists it.
fn action_number(word: &str) -> Result<usize, String> {
    word.trim_start_matches('#')
        .parse::<usize>()
        .ok()
        .filter(|number| *number >= 1)
        .ok_or_else(|| format!("`{word}` is not the number of a temporary action (1, 2, …)"))
}

fn parse_words(words: &[&str]) -> Result<Command, String> {
    let severity = |word: &str| match word.to_ascii_lowercase().as_str() {
        "critical" => Ok(Severity::Critical),
        "high" => Ok(Severity::High),
        "medium" | "moderate" => Ok(Severity::Medium),
        "low" => Ok(Severity::Low),
        other => Err(format!(
            "`{other}` is not a severity: use critical, high, medium or low"
        )),
    };
    match words {
        [] | ["help"] => Ok(Command::Help),
        ["severity", level] => severity(level).map(Command::Severity),
        ["cvss", vector] => Ok(Command::Cvss((*vector).to_owned())),
        ["threat", "active"] => Ok(Command::Threat(Some(Threat::Active))),
        ["threat", "passive"] => Ok(Command::Threat(Some(Threat::Passive))),
        ["coordinator", word] => login(word).map(Command::Coordinator),
        ["consulted", word] => login(word).map(Command::Consulted),
        ["revert", number] => action_number(number).map(Command::Revert),
        ["keep", number] => action_number(number).map(Command::Keep),
        ["embargo", time] => DateTime::parse_from_rfc3339(time)
            .map(|time| Command::Embargo(time.with_timezone(&Utc)))
            .map_err(|_| format!("`{time}` is not an RFC 3339 time such as 2026-12-01T14:00:00Z")),
        ["ack" | "acknowledge"] => Ok(Command::Acknowledge),
        ["kind", kind] => kind.parse().map(Command::Kind),
        ["phase", "containment"] => Ok(Command::Phase(Phase::Containment)),
        ["phase", "remediation"] => Ok(Command::Phase(Phase::Remediation)),
        ["phase", "recovery"] => Ok(Command::Phase(Phase::Recovery)),
        ["phase", other] => Err(format!(
            "`{other}` is not a phase herald moves to on command: use containment, \
             remediation or recovery (disclosure comes with `/herald publish`)"
        )),
        ["request-cve"] => Ok(Command::RequestCve),
        ["publish"] => Ok(Command::Publish),
        ["retry"] => Ok(Command::Retry),
        ["close"] => Ok(Command::Close),
        ["fork"] => Ok(Command::Fork),
        ["prenotify"] => Ok(Command::Prenotify(true)),
        ["prenotify", "withdraw"] => Ok(Command::Prenotify(false)),
        ["fix", target] => pull_reference(target),
        [word, ..] => Err(format!(
            "`{word}` with these arguments is not a herald command"
        )),
    }
}

/// The label names herald reads (from the repository's configuration).
pub struct LabelNames<'a> {
    pub severity_prefix: &'a str,
    pub threat_prefix: &'a str,
    pub incident: &'a str,
    pub disclosure_approved: &'a str,
    pub prenotify_approved: &'a str,
}

/// The command a label change means, if any.
pub fn label_command(label: &str, added: bool, names: &LabelNames<'_>) -> Option<Command> {
    if let Some(level) = label.strip_prefix(names.severity_prefix) {
        return if added {
            parse_words(&["severity", level]).ok()
        } else {
            Some(Command::ClearSeverity)
        };
    }
    if let Some(threat) = label.strip_prefix(names.threat_prefix) {
        return if added {
            parse_words(&["threat", threat]).ok()
        } else {
            Some(Command::Threat(None))
        };
    }
    if label == names.incident {
        return Some(Command::Breach(added));
    }
    if label == names.prenotify_approved {
        return Some(Command::Prenotify(added));
    }
    (label == names.disclosure_approved).then_some(Command::ApproveDisclosure(added))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::commands::testing::parse;

    #[test]
    fn arguments_are_checked() {
        assert_eq!(
            parse("/herald coordinator @alice"),
            Ok(Command::Coordinator("alice".into()))
        );
        assert!(parse("/herald coordinator @al;ce").is_err());
        assert!(parse("/herald embargo tomorrow").is_err());
        assert!(parse("/herald severity extreme").is_err());
    }

    #[test]
    fn labels_map_to_commands() {
        let names = LabelNames {
            severity_prefix: "severity:",
            threat_prefix: "threat:",
            incident: "incident",
            disclosure_approved: "disclosure:approved",
            prenotify_approved: "prenotify:approved",
        };
        assert_eq!(
            label_command("prenotify:approved", true, &names),
            Some(Command::Prenotify(true))
        );
        assert_eq!(
            label_command("prenotify:approved", false, &names),
            Some(Command::Prenotify(false))
        );
        assert_eq!(
            label_command("severity:low", true, &names),
            Some(Command::Severity(Severity::Low))
        );
        assert_eq!(
            label_command("severity:low", false, &names),
            Some(Command::ClearSeverity)
        );
        assert_eq!(
            label_command("incident", true, &names),
            Some(Command::Breach(true))
        );
        assert_eq!(
            label_command("disclosure:approved", true, &names),
            Some(Command::ApproveDisclosure(true))
        );
        assert_eq!(label_command("bug", true, &names), None);
    }
}
