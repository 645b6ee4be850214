//! herald: security incident response for open-source projects, as a GitHub App.
//!
//! Data flows one way: ingest → incident → drafts → outbox → channels.

pub mod channels;
pub mod cli;
pub mod config;
pub mod drafts;
pub mod github;
pub mod incident;
pub mod ingest;
pub mod mail;
pub mod markers;
pub mod outbox;
pub mod pipeline;
pub mod poller;
pub mod redact;
pub mod report;
pub mod server;
pub mod store;
pub mod webhook;
