//! herald: security incident response for open-source projects, as a GitHub App.
//!
//! Data flows one way: ingest → incident → drafts → outbox → channels.

mod channels;
pub mod cli;
pub mod config;
pub mod drafts;
pub mod feeds;
mod github;
pub mod incident;
pub mod ingest;
pub mod intake;
pub mod jobs;
pub mod mail;
pub mod mailbox;
mod markers;
pub mod metrics;
pub mod outbox;
mod pipeline;
mod poller;
mod printable;
#[cfg(test)]
mod properties;
mod redact;
mod redelivery;
pub mod repo_config;
mod report;
pub mod server;
pub mod setup;
pub mod store;
mod webhook;

/// The documentation, for the tests that keep its examples and lists true.
#[cfg(test)]
const DOCS: [(&str, &str); 8] = [
    ("README.md", include_str!("../README.md")),
    ("docs/guide.md", include_str!("../docs/guide.md")),
    (
        "docs/configuration.md",
        include_str!("../docs/configuration.md"),
    ),
    ("docs/operations.md", include_str!("../docs/operations.md")),
    (
        "docs/architecture.md",
        include_str!("../docs/architecture.md"),
    ),
    (
        "docs/performance.md",
        include_str!("../docs/performance.md"),
    ),
    (
        "docs/development.md",
        include_str!("../docs/development.md"),
    ),
    (
        "docs/threat-model.md",
        include_str!("../docs/threat-model.md"),
    ),
];
