//! The GraphQL endpoint: the Discussions operations herald sends.

use super::*;

impl World {
    /// The few GraphQL operations herald sends (Discussions), recognised by their fields;
    /// anything else is an error in GraphQL's shape.
    pub(super) fn graphql(&mut self, installation: u64, ctx: &Ctx) -> Answer {
        let Value::Object(body) = ctx.value()? else {
            return Err(Reply::invalid("GraphQL", "query", "invalid"));
        };
        let query = body
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let variables = body.get("variables").cloned().unwrap_or(Value::Null);
        let var = |name: &str| {
            variables
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let error = |message: &str| Ok(Reply::ok(json!({ "errors": [{ "message": message }] })));
        if query.contains("createDiscussion") {
            let lose = std::mem::take(&mut self.lose_next_discussion);
            let (Some(repository_id), Some(category_id), Some(title), Some(text)) = (
                var("repositoryId"),
                var("categoryId"),
                var("title"),
                var("body"),
            ) else {
                return error(
                    "Variable $input of type CreateDiscussionInput! was provided invalid value",
                );
            };
            let Some(repo) = self.repos.values_mut().find(|repo| {
                repo.installation_id == installation
                    && format!("R_fake{}", repo.id) == repository_id
            }) else {
                return error(&format!(
                    "Could not resolve to a node with the global id of '{repository_id}'"
                ));
            };
            let Some((_, category)) = DISCUSSION_CATEGORIES
                .iter()
                .find(|(id, _)| *id == category_id)
            else {
                return error(&format!(
                    "Could not resolve to a node with the global id of '{category_id}'"
                ));
            };
            let number = repo.issues.len() as u64 + repo.discussions.len() as u64 + 1;
            let discussion = FakeDiscussion {
                id: format!("D_kwDOfake{}_{number}", repo.id),
                number,
                category: (*category).to_owned(),
                title,
                body: text,
                comments: Vec::new(),
            };
            let answer = json!({ "data": { "createDiscussion": { "discussion": {
                "id": discussion.id,
                "url": format!("https://github.com/{}/discussions/{number}", repo.full_name()),
            } } } });
            repo.discussions.push(discussion);
            if lose {
                return Ok(Reply::message(StatusCode::BAD_GATEWAY, "Server Error"));
            }
            return Ok(Reply::ok(answer));
        }
        if query.contains("addDiscussionComment") {
            let (Some(discussion_id), Some(text)) = (var("discussionId"), var("body")) else {
                return error(
                    "Variable $input of type AddDiscussionCommentInput! was provided invalid value",
                );
            };
            let Some(discussion) = self
                .repos
                .values_mut()
                .filter(|repo| repo.installation_id == installation)
                .flat_map(|repo| repo.discussions.iter_mut())
                .find(|discussion| discussion.id == discussion_id)
            else {
                return error(&format!(
                    "Could not resolve to a node with the global id of '{discussion_id}'"
                ));
            };
            discussion.comments.push(text);
            let id = format!("DC_kwDOfake{}", discussion.comments.len());
            return Ok(Reply::ok(
                json!({ "data": { "addDiscussionComment": { "comment": {
                "id": id, "url": format!("https://github.com/discussion#{id}") } } } }),
            ));
        }
        let (Some(owner), Some(name)) = (var("owner"), var("name")) else {
            return error("fake GitHub: this GraphQL operation is not supported");
        };
        let Ok(repo) = self.repo(installation, &owner, &name) else {
            return error(&format!(
                "Could not resolve to a Repository with the name '{owner}/{name}'."
            ));
        };
        if query.contains("discussionCategories") {
            let nodes: Vec<Value> = DISCUSSION_CATEGORIES
                .iter()
                .map(|(id, name)| json!({ "id": id, "name": name }))
                .collect();
            return Ok(Reply::ok(json!({ "data": { "repository": {
                "id": format!("R_fake{}", repo.id),
                "discussionCategories": { "nodes": nodes } } } })));
        }
        if query.contains("discussions(") {
            let full_name = repo.full_name();
            let nodes: Vec<Value> = repo
                .discussions
                .iter()
                .rev()
                .take(50)
                .map(|discussion| json!({
                    "id": discussion.id,
                    "url": format!("https://github.com/{full_name}/discussions/{}", discussion.number),
                    "body": discussion.body,
                }))
                .collect();
            return Ok(Reply::ok(json!({ "data": { "repository": {
                "discussions": { "nodes": nodes } } } })));
        }
        error("fake GitHub: this GraphQL operation is not supported")
    }
}
