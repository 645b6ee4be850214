//! The commands an intake's issue takes: accept the report as a draft advisory of a
//! repository, dismiss it, or ask for help. Which lines of a comment command is read as on
//! a tracking issue (`incident::parse_comment`); this reads a line's words.

use crate::incident::RepoName;

/// What a maintainer asks of an intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeCommand {
    /// Create a draft repository advisory in this repository from the report.
    Accept(RepoName),
    /// Close the intake without an advisory, for this reason.
    Dismiss(String),
    Help,
}

/// The longest reason a dismissal takes.
pub const MAX_REASON_CHARS: usize = 1000;

pub const INTAKE_HELP: &str = "On an intake's issue herald understands, one per line:\n\n\
- `/herald accept owner/repo`: create a draft repository advisory in that repository from \
the report (its admins and the organisation's security managers may, as GitHub lets them \
create advisories); herald then tracks it as an incident whose reaction clock started when \
the mail arrived\n\
- `/herald dismiss <reason>`: close the intake without an advisory (write access to this \
repository)\n\
- `/herald help`: this text";

/// A command line as written (`/herald accept acme/widget`).
pub fn intake_command(line: &str) -> Result<IntakeCommand, String> {
    let rest = line
        .trim()
        .strip_prefix("/herald")
        .map(str::trim)
        .ok_or_else(|| "not a `/herald` line".to_owned())?;
    let (verb, argument) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(verb, argument)| (verb, argument.trim()));
    match verb {
        "accept" => {
            let mut words = argument.split_whitespace();
            match (words.next(), words.next()) {
                (Some(name), None) => name
                    .parse::<RepoName>()
                    .map(IntakeCommand::Accept)
                    .map_err(|error| format!("`/herald accept` needs owner/repo: {error}")),
                _ => Err("`/herald accept` needs one repository, owner/repo".to_owned()),
            }
        }
        "dismiss" if argument.is_empty() => {
            Err("`/herald dismiss` needs the reason after it".to_owned())
        }
        "dismiss" if argument.chars().count() > MAX_REASON_CHARS => Err(format!(
            "a reason is limited to {MAX_REASON_CHARS} characters; say more in a comment"
        )),
        "dismiss" => Ok(IntakeCommand::Dismiss(argument.to_owned())),
        "help" if argument.is_empty() => Ok(IntakeCommand::Help),
        _ => Err(format!(
            "`/herald {verb}` is not a command for an intake: accept or dismiss it first"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intake_takes_accept_dismiss_and_help() {
        assert_eq!(
            intake_command("/herald accept acme/widget"),
            Ok(IntakeCommand::Accept(
                "acme/widget".parse().expect("a name")
            ))
        );
        assert_eq!(
            intake_command("/herald dismiss  not a vulnerability: works as documented "),
            Ok(IntakeCommand::Dismiss(
                "not a vulnerability: works as documented".to_owned()
            ))
        );
        assert_eq!(intake_command("/herald help"), Ok(IntakeCommand::Help));
        for refused in [
            "/herald accept",
            "/herald accept acme",
            "/herald accept acme/widget acme/other",
            "/herald dismiss",
            "/herald ack",
            "/herald publish",
        ] {
            assert!(intake_command(refused).is_err(), "{refused}");
        }
        let long = format!("/herald dismiss {}", "x".repeat(MAX_REASON_CHARS + 1));
        assert!(intake_command(&long).is_err());
    }
}
