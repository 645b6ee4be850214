//! Who a person is to herald on a repository: their role there, as GitHub says it, and for
//! what GitHub reserves for admins, the organisation's security managers.

use super::ChannelError;
use crate::github::api::Lookup;
use crate::incident::{Authority, RepoName};

/// What `sender` may do on `repository`, and their standing in GitHub's words; the
/// organisation's security managers are looked up only when `may_need_security` and the
/// repository role does not already grant it.
pub(super) async fn authority_of(
    api: &crate::github::Api,
    repository: &RepoName,
    sender: &str,
    may_need_security: bool,
) -> Result<(Authority, String), ChannelError> {
    let role = api.repository_role(repository, sender).await?;
    let name = role.role();
    let authority = Authority::of_repository_role(&name, &role.permission);
    let standing = format!("{} role on {repository}", name.as_str());
    if authority >= Authority::Security || !may_need_security {
        return Ok((authority, standing));
    }
    Ok(
        match api.security_manager(repository.owner(), sender).await? {
            Lookup::Found(()) => (
                Authority::Security,
                format!("security manager of {}", repository.owner()),
            ),
            Lookup::Absent => (authority, standing),
            Lookup::Unknown(words) => (
                authority,
                format!(
                    "{standing}; GitHub did not say whether they are a security manager of {}: {words}",
                    repository.owner()
                ),
            ),
        },
    )
}
