//! herald: security incident response for open-source projects, as a GitHub App.
//!
//! Data flows one way: ingest → incident → drafts → outbox → channels.

mod channels;
pub mod cli;
pub mod config;
pub mod drafts;
mod github;
pub mod incident;
pub mod ingest;
pub mod mail;
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
