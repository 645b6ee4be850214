//! What maintainers decided about an incident, as the incident keeps it: commands write
//! it, and everything herald shows or checks reads it.

use crate::incident::{CvssAssessment, IncidentKind, Prenotification, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Active: evidence of exploitation attempts (an emergency). Passive: no such evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Threat {
    Active,
    Passive,
}

impl fmt::Display for Threat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Threat::Active => "active",
            Threat::Passive => "passive",
        })
    }
}

/// What maintainers decided about an incident (kept apart from what the advisory says).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decisions {
    /// A maintainer's severity wins over the computed one.
    pub severity: Option<Severity>,
    /// A maintainer's CVSS vector, scored by herald.
    pub cvss: Option<CvssAssessment>,
    pub threat: Option<Threat>,
    /// A breach happened (data stolen, someone impersonated, systems accessed).
    pub breach: bool,
    pub coordinator: Option<String>,
    pub embargo_until: Option<DateTime<Utc>>,
    pub disclosure_approved: bool,
    /// Who approved disclosure, while it is approved.
    #[serde(default)]
    pub disclosure_approved_by: Option<String>,
    /// Who last asked herald to publish.
    #[serde(default)]
    pub publication_requested_by: Option<String>,
    pub cve_requested_at: Option<DateTime<Utc>>,
    /// When a maintainer acknowledged the report (`/herald ack`): the reaction clock stops.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The kind of incident a maintainer named; its severity applies unless a maintainer
    /// set one outright.
    pub kind: Option<IncidentKind>,
    /// A maintainer asked for a history incident's tracking issue (`herald import`).
    #[serde(default)]
    pub history_imported: bool,
    /// A maintainer asked to announce a history incident again (`herald incidents announce`).
    #[serde(default)]
    pub history_reannounce: bool,
    /// Temporary actions taken to protect users (`/herald contain`), numbered from 1 in
    /// this order.
    #[serde(default)]
    pub actions: Vec<TemporaryAction>,
    /// The security leads consulted before acting on a passive threat
    /// (`/herald consulted @login`).
    #[serde(default)]
    pub consulted: Vec<Consultation>,
    /// Which users or deployments are affected (`/herald affected`), as last said.
    #[serde(default)]
    pub affected: Option<Statement>,
    /// Telling downstreams before disclosure was approved (`/herald prenotify`).
    #[serde(default)]
    pub prenotify: Option<Prenotification>,
}

/// Something a maintainer said for the record: what, who, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub text: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A temporary action someone took to protect users: disable a feature, block traffic,
/// rotate a key. The response plans allow it at once under an active threat; every such
/// action stays temporary until reverted or made permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemporaryAction {
    pub taken: Statement,
    /// The threat as assessed when the action was taken.
    pub threat: Option<Threat>,
    /// How it ended, if it has.
    pub settled: Option<Settlement>,
}

impl TemporaryAction {
    pub fn is_open(&self) -> bool {
        self.settled.is_none()
    }
}

/// How a temporary action ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settlement {
    /// Made permanent (`/herald keep`) rather than undone (`/herald revert`).
    pub kept: bool,
    /// Who reverted it, or who agreed to keep it.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A security lead consulted, as a maintainer recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consultation {
    /// The lead's GitHub login.
    pub login: String,
    pub by: String,
    pub at: DateTime<Utc>,
}
