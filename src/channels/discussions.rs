//! GitHub Discussions: on disclosure, one discussion per incident in the configured
//! category (GraphQL `createDiscussion`, the category looked up by name), and a comment on
//! the same discussion (`addDiscussionComment`) for a later version. A hidden marker in the
//! body lets a retry find a discussion whose creation answer was lost.

use super::ChannelError;
use super::post::{PostChannel, PostText, Published, body_within, text_sha256};
use crate::drafts::{FORUM_POST, limits};
use crate::github::{Api, GitHubError};
use crate::incident::RepoName;
use crate::markers::marker;
use crate::repo_config::DiscussionsConfig;
use crate::store::ChannelPost;
use http::Method;
use serde_json::{Value, json};

const CATEGORIES: &str = "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { id discussionCategories(first: 100) { nodes { id name } } } }";
const RECENT: &str = "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { discussions(first: 50, orderBy: {field: CREATED_AT, direction: DESC}) { nodes { id url body } } } }";
const CREATE: &str = "mutation($repositoryId: ID!, $categoryId: ID!, $title: String!, $body: String!) { createDiscussion(input: {repositoryId: $repositoryId, categoryId: $categoryId, title: $title, body: $body}) { discussion { id url } } }";
const COMMENT: &str = "mutation($discussionId: ID!, $body: String!) { addDiscussionComment(input: {discussionId: $discussionId, body: $body}) { comment { id url } } }";

/// The incident's GitHub discussion (in the configured repository, else the advisory's):
/// opened once, commented on when the text changes.
pub(super) struct Discussion<'a> {
    pub api: &'a Api,
    pub settings: &'a DiscussionsConfig,
}

impl PostChannel for Discussion<'_> {
    const CHANNEL: crate::jobs::PublicChannel = crate::jobs::PublicChannel::DiscussionPost;
    const WHAT: &'static str = "discussion";
    const TEMPLATE: &'static str = FORUM_POST;

    async fn publish(
        &self,
        post: &PostText<'_>,
        known: Option<&ChannelPost>,
    ) -> Result<Option<Published>, ChannelError> {
        let incident = post.incident;
        let marker = marker::discussion(&incident.repository, &incident.ghsa_id);
        let text = body_within(&post.text, limits::GITHUB_BODY_CHARS, incident);
        let body = format!("{}\n\n{marker}\n", text.trim_end());
        let repository = self
            .settings
            .repository
            .as_ref()
            .unwrap_or(&incident.repository);
        publish(
            self.api,
            self.settings,
            repository,
            (&post.title, &body, &marker),
            known,
        )
        .await
    }
}

fn unreadable(what: &str) -> ChannelError {
    ChannelError::GitHub(GitHubError::Decode {
        method: Method::POST,
        path: "/graphql".to_owned(),
        source: format!("the answer lacks {what}").into(),
    })
}

fn text(value: &Value, what: &str) -> Result<String, ChannelError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| unreadable(what))
}

/// Opens the incident's discussion in the configured category: (its id, its address).
async fn create(
    api: &Api,
    settings: &DiscussionsConfig,
    repository: &RepoName,
    (title, body): (&str, &str),
) -> Result<(String, String), ChannelError> {
    let names = json!({ "owner": repository.owner(), "name": repository.name() });
    let repo = api.graphql(CATEGORIES, names).await?;
    let repository_id = text(&repo["repository"]["id"], "the repository id")?;
    let category = repo["repository"]["discussionCategories"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|node| {
            node["name"]
                .as_str()
                .is_some_and(|found| found.eq_ignore_ascii_case(&settings.category))
        })
        .ok_or_else(|| {
            ChannelError::GitHub(GitHubError::Decode {
                method: Method::POST,
                path: "/graphql".to_owned(),
                source: format!(
                    "{repository} has no discussion category {:?}",
                    settings.category
                )
                .into(),
            })
        })?;
    let variables = json!({
        "repositoryId": repository_id,
        "categoryId": text(&category["id"], "the category id")?,
        "title": title,
        "body": body,
    });
    let created = api.graphql(CREATE, variables).await?;
    let discussion = &created["createDiscussion"]["discussion"];
    Ok((
        text(&discussion["id"], "the discussion id")?,
        text(&discussion["url"], "the discussion url")?,
    ))
}

/// Publishes `body` (which carries `marker`) as the incident's discussion, or comments on
/// it when the text changed since `known`. `None`: nothing to do.
async fn publish(
    api: &Api,
    settings: &DiscussionsConfig,
    repository: &RepoName,
    (title, body, marker): (&str, &str, &str),
    known: Option<&ChannelPost>,
) -> Result<Option<Published>, ChannelError> {
    let sha = text_sha256(body);
    if known.is_some_and(|post| post.text_sha256 == sha) {
        return Ok(None);
    }
    if let Some(post) = known {
        api.graphql(
            COMMENT,
            json!({
                "discussionId": post.reference,
                "body": format!("**Update:** the advisory changed.\n\n{body}"),
            }),
        )
        .await?;
        return Ok(Some(Published {
            post: ChannelPost {
                text_sha256: sha,
                ..post.clone()
            },
            created: false,
        }));
    }
    let names = json!({ "owner": repository.owner(), "name": repository.name() });
    // A creation whose answer was lost shows up among the recent discussions.
    let recent = api.graphql(RECENT, names.clone()).await?;
    let found = recent["repository"]["discussions"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|node| {
            node["body"]
                .as_str()
                .is_some_and(|text| text.contains(marker))
        });
    let (id, url) = match found {
        Some(node) => (text(&node["id"], "an id")?, text(&node["url"], "a url")?),
        None => create(api, settings, repository, (title, body)).await?,
    };
    Ok(Some(Published {
        post: ChannelPost {
            reference: id,
            url,
            text_sha256: sha,
        },
        created: true,
    }))
}
