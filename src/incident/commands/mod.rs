//! What maintainers say on the tracking issue: `/herald` comment commands and labels.
//! Parsing and applying them is pure; who may command is checked by the caller.
//!
//! `comment.rs` finds the command lines of a comment and `parse.rs` reads their words (and
//! labels); `apply.rs` applies a command, with one file per family of commands beside it
//! (`assess.rs`, `respond.rs`, `disclose.rs`, `fix.rs`); `decisions.rs` is what they
//! record.

mod apply;
mod assess;
mod comment;
mod decisions;
mod disclose;
mod fix;
mod parse;
mod respond;

pub use apply::{CommandEffect, CommandOutcome, apply_command, apply_command_with};
pub use comment::{CommandLine, parse_comment};
pub use decisions::{Consultation, Decisions, Settlement, Statement, TemporaryAction, Threat};
pub use parse::{HELP, LabelNames, label_command};

use crate::incident::{IncidentKind, Phase, RepoName, Severity};
use chrono::{DateTime, Utc};

/// One maintainer command, from a `/herald` comment line or a label.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Severity(Severity),
    /// A severity label was removed: the computed severity stands again.
    ClearSeverity,
    Cvss(String),
    /// `None`: the threat label was removed.
    Threat(Option<Threat>),
    Breach(bool),
    ApproveDisclosure(bool),
    Coordinator(String),
    Embargo(DateTime<Utc>),
    /// The team has seen the report and is on it: the reaction clock stops.
    Acknowledge,
    Kind(IncidentKind),
    /// Move to containment, remediation or recovery.
    Phase(Phase),
    RequestCve,
    Publish,
    /// Run again the jobs herald gave up on or a counterpart refused (once fixed).
    Retry,
    Close,
    Help,
    /// A temporary action was taken: what.
    Contain(String),
    /// A security lead was consulted: their login.
    Consulted(String),
    /// Temporary action `n` (from 1) was undone.
    Revert(usize),
    /// Temporary action `n` (from 1) is made permanent.
    Keep(usize),
    /// Which users or deployments are affected.
    Affected(String),
    /// Ask GitHub for the advisory's temporary private fork.
    Fork,
    /// Track a pull request as a fix: in another repository, or the advisory's.
    Fix {
        repository: Option<RepoName>,
        number: u64,
    },
    /// Approve (`true`) or withdraw the approval of telling downstreams before disclosure.
    Prenotify(bool),
}

#[cfg(test)]
mod testing {
    use super::{Command, parse_comment};

    /// The command of a comment's first command line.
    pub(super) fn parse(text: &str) -> Result<Command, String> {
        parse_comment(text).remove(0).command
    }
}
