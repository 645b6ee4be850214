//! herald's integration tests, one binary (one link, one compile of the shared harness):
//! the real HTTP server, the real GitHub client against a fake GitHub on loopback, a real
//! SMTP server and GnuPG, a real MediaWiki, git, and the store on SQLite and (with
//! `both_stores!`) PostgreSQL.
//!
//! A file per feature, named for it (`commands.rs`, `publication.rs`, `forum.rs`, …;
//! `docs/development.md` lists them); the fakes and the setup more than one file uses in
//! `common/`.

mod common;

mod advisory_issue;
mod announcement_mail;
mod architecture;
mod blog;
mod changelog;
mod chat;
mod cli;
mod closing;
mod commands;
mod containment;
mod cvss_reference;
mod discussions;
mod doctor;
mod drafts;
mod durability;
mod embargo_break;
mod escalation;
mod fake_github_selftest;
mod fixes;
mod forum;
mod intake;
mod jobs;
mod logs;
mod mail;
mod mediawiki;
mod mermaid;
mod metrics;
mod outbox;
mod polling;
mod prenotify;
mod publication;
mod rate_limits;
mod redelivery;
mod replays;
mod replicas;
mod setup;
mod templates;
mod tracking_issue;
mod upstream;
mod upstream_announcements;
mod webhooks;
mod wiki;
