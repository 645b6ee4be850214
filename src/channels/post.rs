//! What the channels that post outside GitHub's issues share (the forum, Discussions and
//! both wikis): each finds its earlier post, creates or updates it, and herald records
//! where it went, with a digest of the text so an unchanged text is not posted again.

use crate::store::ChannelPost;
use sha2::{Digest, Sha256};

/// What a channel now shows, to be recorded.
#[derive(Debug, Clone)]
pub struct Published {
    pub post: ChannelPost,
    /// A new post (`false`: the existing one was updated or replied to).
    pub created: bool,
}

/// The digest recorded with a post.
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
