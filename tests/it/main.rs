//! herald's integration tests, one binary (one link, one compile of the shared harness):
//! the real HTTP server, the real GitHub client against a fake GitHub on loopback, a real
//! SMTP server and GnuPG, a real MediaWiki, git and the store on SQLite.

mod common;

mod architecture;
mod cli;
mod cvss_reference;
mod drafts;
mod fake_github_selftest;
mod github_app;
mod mail;
mod mermaid;
mod metrics;
mod outbox;
mod replicas;
mod webhooks;
