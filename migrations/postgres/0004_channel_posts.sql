-- Where each incident was published on a channel outside GitHub's issues (a forum topic, a
-- discussion, a wiki page), so a later version updates it instead of publishing again.
CREATE TABLE channel_posts (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    channel     TEXT NOT NULL,
    -- The channel's own id for the post (a topic id, a discussion node id, a page title).
    reference   TEXT NOT NULL,
    url         TEXT NOT NULL,
    -- SHA-256 of the text last published, so an unchanged text is not posted again.
    text_sha256 TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (incident_id, channel)
);
