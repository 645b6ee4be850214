//! The per-repository configuration file `.github/herald.yml`: where tracking issues go,
//! label names, the changelog, and the mailing lists that get the announcement.
//!
//! Parsing is strict (unknown keys are errors) because a typo silently ignored could send
//! an embargoed report somewhere the maintainers did not intend. Every error names the line
//! and the dotted key, since maintainers read it on the tracking issue. Values are checked
//! inside their own deserializer, so a rejected value carries its own line, not its
//! section's. Reading the file from GitHub is someone else's job: this module is pure.
//!
//! Each section's types, defaults and checks are in the file named after it (`sla.rs` for
//! `sla:`), the checks several sections share in `check.rs`.

mod advisory_issue;
mod blog;
mod changelog;
mod channels;
mod check;
mod disclosure;
mod error;
mod escalation;
mod labels;
mod locked;
mod mailing_lists;
mod osv;
mod prenotify;
mod sla;
mod tracking;

pub use advisory_issue::AdvisoryIssueConfig;
pub use blog::BlogConfig;
pub use changelog::ChangelogConfig;
pub use channels::{
    ChannelsConfig, ChatConfig, ChatFormat, DiscourseConfig, DiscussionsConfig, MediaWikiConfig,
};
pub use disclosure::DisclosureConfig;
pub use error::RepoConfigError;
pub use escalation::{EscalationConfig, EscalationTarget};
pub use labels::LabelConfig;
pub use mailing_lists::{MailingList, SigningMode};
pub use osv::OsvConfig;
pub use prenotify::{OpenPgpFormat, PrenotifyConfig, PrenotifyRecipient};
pub use sla::{ReactionConfig, SlaConfig};
pub use tracking::TrackingConfig;

use check::{many, typed_many};
use error::second_document_line;
use escalation::EscalationRule;
use locked::SectionName;
use serde::Deserialize;
use serde::de::IgnoredAny;

pub const REPO_CONFIG_PATH: &str = ".github/herald.yml";

/// The whole file. Every section is optional; each is a struct of the file named after it,
/// and a new section is added the same way.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping of sections (`tracking`, `labels`, `changelog`, `advisory_issue`, \
                 `blog`, `mailing_lists`, `sla`, `escalation`, `notify`, `channels`, `osv`, \
                 `prenotify`, `disclosure`, `locked`)"
)]
pub struct RepoConfig {
    pub tracking: TrackingConfig,
    pub labels: LabelConfig,
    pub changelog: ChangelogConfig,
    pub advisory_issue: AdvisoryIssueConfig,
    /// Where the blog post of a critical incident is offered; `None`: nowhere.
    pub blog: Option<BlogConfig>,
    pub mailing_lists: Vec<MailingList>,
    /// The reaction SLA: business calendar and allowance per severity.
    pub sla: SlaConfig,
    /// Who hears of an incident whose reaction is running late, per severity.
    pub escalation: EscalationConfig,
    /// The security leads (the response plans' "Trust and Safety" and engineering manager):
    /// `@login`, `@org/team` or an email address, told when someone takes a temporary action
    /// under an active threat.
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub notify: Vec<EscalationTarget>,
    /// Where disclosed advisories are announced besides GitHub and the mailing lists.
    pub channels: ChannelsConfig,
    /// The OSV record committed with the CHANGELOG entry on disclosure.
    pub osv: OsvConfig,
    /// Downstreams (distributions, vendors) told before disclosure, under embargo.
    pub prenotify: PrenotifyConfig,
    /// What publishing an advisory asks beyond GitHub's roles.
    pub disclosure: DisclosureConfig,
    /// In an organisation's `.github` repository: the sections its repositories' own files
    /// may not change (the organisation's apply to them). Elsewhere it has no effect.
    #[serde(deserialize_with = "many::<SectionName, _>")]
    pub locked: Vec<String>,
}

impl RepoConfig {
    /// Parses the text of `.github/herald.yml`. An empty file, or one with only comments,
    /// is the default config.
    pub fn parse(text: &str) -> Result<RepoConfig, RepoConfigError> {
        // YAML syntax first, so a syntax mistake is reported as such rather than as whatever
        // the document read up to the mistake happens to mean.
        let mut documents = 0;
        for document in yaml_serde::Deserializer::from_str(text).take(2) {
            IgnoredAny::deserialize(document).map_err(|error| {
                let mut error = RepoConfigError::from_yaml(text, None, &error);
                error.message.insert_str(0, "invalid YAML: ");
                error
            })?;
            documents += 1;
        }
        if documents > 1 {
            return Err(RepoConfigError {
                line: second_document_line(text),
                column: None,
                key: None,
                message: "more than one YAML document (separated by `---`); \
                          herald reads a single document"
                    .into(),
            });
        }
        // `null`, like an empty document, means "no settings".
        let config: Option<RepoConfig> = serde_path_to_error::deserialize(
            yaml_serde::Deserializer::from_str(text),
        )
        .map_err(|error| {
            let key = Some(error.path().to_string()).filter(|path| path != ".");
            RepoConfigError::from_yaml(text, key, error.inner())
        })?;
        let config = config.unwrap_or_default();
        config
            .labels
            .approvals_apart()
            .map_err(|message| RepoConfigError {
                line: None,
                column: None,
                key: Some("labels".to_owned()),
                message,
            })?;
        Ok(config)
    }
}

/// Like [`RepoConfig::parse`], but on error returns the defaults plus the error: the caller
/// proceeds with defaults where safe and reports the error on the tracking issue, so an
/// incident is never dropped because of config.
pub fn parse_lenient(text: &str) -> (RepoConfig, Option<RepoConfigError>) {
    match RepoConfig::parse(text) {
        Ok(config) => (config, None),
        Err(error) => (RepoConfig::default(), Some(error)),
    }
}

/// A forum's or a wiki's instance name: what a repository writes (`channels.discourse.server`),
/// and part of the environment variable that holds its secret in herald's settings.
pub fn is_instance_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::RepoName;

    /// Why `text` is refused; the sections' tests use it too.
    pub(super) fn error(text: &str) -> RepoConfigError {
        RepoConfig::parse(text).expect_err("should be rejected")
    }

    #[test]
    fn full_example_parses() {
        let text = r#"
tracking:
  repository: acme/security-private
  assignees: [alice, bob-2]
labels:
  security: sec
  incident: incident
  severity_prefix: "sev:"
  threat_prefix: "threat:"
  disclosure_approved: "disclosure:approved"
changelog:
  path: docs/CHANGES.md
  base_branch: main
  heading: '## Unreleased'
  backport_branches: [release/1.x, release-2.0]
notify: ["@acme/trust-and-safety", "@em-lead", security-leads@acme.example]
advisory_issue:
  enabled: false
blog:
  repository: acme/website
  path: content/blog
mailing_lists:
  - address: oss-security@lists.example.org
    name: "Example announce"
    signing: pgp-mime
    attach_cleartext: true
  - address: announce@example.org
osv:
  path: security/osv
prenotify:
  days_before: 5
  max_days: 10
  contact: security@acme.example
  recipients:
    - address: distros@vs.openwall.org
      name: distros
      key_file: .github/keys/distros.asc
      subject_tag: "[vs]"
    - address: packager@example.com
      format: pgp-mime
"#;
        let config = RepoConfig::parse(text).expect("valid");
        let expected = RepoConfig {
            tracking: TrackingConfig {
                repository: Some(RepoName::parse("acme/security-private").expect("name")),
                assignees: vec!["alice".into(), "bob-2".into()],
            },
            labels: LabelConfig {
                security: "sec".into(),
                severity_prefix: "sev:".into(),
                ..LabelConfig::default()
            },
            changelog: ChangelogConfig {
                path: "docs/CHANGES.md".into(),
                base_branch: Some("main".into()),
                heading: "## Unreleased".into(),
                backport_branches: vec!["release/1.x".into(), "release-2.0".into()],
            },
            advisory_issue: AdvisoryIssueConfig { enabled: false },
            blog: Some(BlogConfig {
                repository: RepoName::parse("acme/website").expect("name"),
                path: "content/blog".into(),
                base_branch: None,
            }),
            mailing_lists: vec![
                MailingList {
                    address: "oss-security@lists.example.org".into(),
                    name: Some("Example announce".into()),
                    signing: SigningMode::PgpMime,
                    attach_cleartext: true,
                },
                MailingList {
                    address: "announce@example.org".into(),
                    name: None,
                    signing: SigningMode::Cleartext,
                    attach_cleartext: false,
                },
            ],
            sla: SlaConfig::default(),
            escalation: EscalationConfig::default(),
            notify: vec![
                EscalationTarget::GitHub("acme/trust-and-safety".into()),
                EscalationTarget::GitHub("em-lead".into()),
                EscalationTarget::Email("security-leads@acme.example".into()),
            ],
            channels: ChannelsConfig::default(),
            osv: OsvConfig {
                enabled: true,
                path: "security/osv".into(),
            },
            prenotify: PrenotifyConfig {
                recipients: vec![
                    PrenotifyRecipient {
                        address: "distros@vs.openwall.org".into(),
                        name: Some("distros".into()),
                        key_file: Some(".github/keys/distros.asc".into()),
                        key: None,
                        subject_tag: Some("[vs]".into()),
                        format: OpenPgpFormat::Inline,
                    },
                    PrenotifyRecipient {
                        address: "packager@example.com".into(),
                        name: None,
                        key_file: None,
                        key: None,
                        subject_tag: None,
                        format: OpenPgpFormat::PgpMime,
                    },
                ],
                days_before: 5,
                max_days: 10,
                contact: Some("security@acme.example".into()),
            },
            disclosure: DisclosureConfig::default(),
            locked: Vec::new(),
        };
        assert_eq!(config, expected);
        assert_eq!(
            config.osv.file("GHSA-abcd-efgh-ijkm"),
            "security/osv/GHSA-abcd-efgh-ijkm.json"
        );
        assert_eq!(
            config.tracking.repository.expect("set").to_string(),
            "acme/security-private"
        );
    }

    #[test]
    fn empty_or_comment_only_file_is_the_default() {
        for text in [
            "",
            "\n\n",
            "# herald settings\n  # nothing yet\n",
            "---\n",
            "~\n",
            "labels:\n",
        ] {
            assert_eq!(
                RepoConfig::parse(text),
                Ok(RepoConfig::default()),
                "{text:?}"
            );
        }
        let defaults = RepoConfig::default();
        assert_eq!(defaults.labels.severity_prefix, "severity:");
        assert_eq!(defaults.changelog.path, "CHANGELOG.md");
        assert_eq!(defaults.tracking.repository, None);
    }

    #[test]
    fn unknown_top_level_key_names_line_and_key() {
        let e = error("tracking:\n  assignees: [alice]\n\nmailing_list:\n  - address: a@b.org\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("mailing_list")));
        assert!(
            e.message
                .starts_with("unknown field `mailing_list`, expected one of"),
            "{e}"
        );
    }

    /// Every ```yaml block in the docs: `.github/herald.yml` examples, but those whose
    /// first line names another file (`# prometheus.yml`).
    fn documented_repo_configs() -> Vec<&'static str> {
        crate::DOCS
            .iter()
            .flat_map(|(_, text)| text.split("```yaml\n").skip(1))
            .filter_map(|rest| rest.split("```").next())
            .filter(|block| !block.starts_with("# ") || block.starts_with("# .github/herald.yml"))
            .collect()
    }

    #[test]
    fn every_documented_repository_configuration_parses() {
        let examples = documented_repo_configs();
        assert!(!examples.is_empty(), "docs/configuration.md has an example");
        for example in &examples {
            RepoConfig::parse(example).unwrap_or_else(|error| panic!("{error}\n{example}"));
        }
        let full = RepoConfig::parse(examples[0]).expect("parsed");
        assert_eq!(
            full.prenotify.recipients.len(),
            3,
            "the full example comes first"
        );
        assert_eq!(full.osv.file("GHSA-x"), "advisories/GHSA-x.json");
    }

    #[test]
    fn wrong_type_names_line() {
        let e = error("labels: {}\nmailing_lists: yes\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("mailing_lists")));
        assert!(e.message.contains("expected a sequence"), "{e}");
        let e = error("- tracking\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(1), None));
        assert!(e.message.contains("expected a mapping of sections"), "{e}");
        let e = error("changelog:\n  heading: [a]\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("changelog.heading"))
        );
    }

    #[test]
    fn other_bad_values_are_rejected() {
        let cases = [
            ("labels:\n  incident: \"a,b\"\n", "labels.incident"),
            ("labels:\n  security: \"\"\n", "labels.security"),
            ("labels:\n  threat_prefix: ", "labels.threat_prefix"),
            ("changelog:\n  path: /etc/passwd\n", "changelog.path"),
            ("changelog:\n  path: ../x.md\n", "changelog.path"),
            (
                "changelog:\n  backport_branches: [\"a b\"]\n",
                "changelog.backport_branches[0]",
            ),
            (
                "tracking:\n  assignees: [\"-x\"]\n",
                "tracking.assignees[0]",
            ),
            ("mailing_lists:\n  - name: x\n", "mailing_lists[0]"),
        ];
        for (text, key) in cases {
            assert_eq!(error(text).key.as_deref(), Some(key), "{text:?}");
        }
        let long = format!("labels:\n  security: {}\n", "x".repeat(51));
        assert_eq!(error(&long).key.as_deref(), Some("labels.security"));
    }

    #[test]
    fn lenient_parse_returns_defaults_and_the_error() {
        let (config, error) = parse_lenient("labels:\n  security: sec\ntracking: 3\n");
        assert_eq!(config, RepoConfig::default());
        let error = error.expect("reported");
        assert_eq!(
            (error.line, error.key.as_deref()),
            (Some(3), Some("tracking"))
        );
        let (config, error) = parse_lenient("labels:\n  security: sec\n");
        assert_eq!((config.labels.security.as_str(), error), ("sec", None));
    }

    mod properties {
        use super::*;
        use crate::properties::config;
        use proptest::prelude::*;
        use serde_json::Value;

        /// Keys herald reads, at any depth, beside others.
        const KEYS: &[&str] = &[
            "tracking",
            "repository",
            "labels",
            "security",
            "changelog",
            "path",
            "branch",
            "advisory_issue",
            "enabled",
            "blog",
            "mailing_lists",
            "address",
            "name",
            "signing",
            "format",
            "sla",
            "critical",
            "high",
            "escalation",
            "after",
            "to",
            "notify",
            "channels",
            "discussions",
            "category",
            "discourse",
            "server",
            "mediawiki",
            "osv",
            "prenotify",
            "max_days",
            "downstreams",
            "key",
            "contact",
            "disclosure",
            "second_person",
            "locked",
            "subject_tag",
            "url",
            "unknown",
        ];

        fn value() -> impl Strategy<Value = Value> {
            crate::properties::json(
                KEYS,
                &[
                    "acme/security",
                    "https://x.example",
                    "30d",
                    "announce@lists.example.org",
                ],
            )
        }

        /// What YAML reads as structure.
        const YAML: &[&str] = &[
            "tracking:\n",
            "  repository: ",
            "- ",
            "&a ",
            "*a ",
            "!!binary ",
            "---\n",
            "[",
            "]",
            "{",
            "}",
            ": ",
            "\t",
            "\n",
            "'",
            "\"",
            "|\n",
            ">\n",
            "#",
            "x",
        ];

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                value().prop_map(|value| yaml_serde::to_string(&value).unwrap_or_default()),
                crate::properties::text_of(YAML, 40),
            ]
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn any_text_is_a_config_or_an_error_with_the_defaults(own in text(), policy in text()) {
                let (own, _) = parse_lenient(&own);
                let (policy, _) = parse_lenient(&policy);
                let _ = own.under(&policy);
            }
        }

        #[test]
        fn a_deep_nest_or_an_alias_bomb_is_refused_without_exhausting_anything() {
            let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
            assert!(RepoConfig::parse(&deep).is_err());
            let mut bomb = String::from(
                "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
            );
            let names: Vec<char> = ('b'..='j').collect();
            let mut previous = 'a';
            for name in names {
                bomb.push_str(&format!(
                    "{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
                ));
                previous = name;
            }
            assert!(RepoConfig::parse(&bomb).is_err());
        }
    }
}
