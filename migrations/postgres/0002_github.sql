-- herald as a GitHub App: installations, which installation serves which repository,
-- incident revisions (so effects know what they have caught up with), leased effect jobs
-- and the tracking issue of each incident.

-- Bumped on every change of the incident record.
ALTER TABLE incidents ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;

-- A job with effects outside the store (a GitHub call) is leased while it runs, so the
-- store's write lock is never held across the network; an expired lease is taken over.
ALTER TABLE outbox ADD COLUMN locked_until BIGINT;

CREATE TABLE installations (
    id          BIGINT PRIMARY KEY,
    account     TEXT NOT NULL,
    state       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The installation through which herald reaches a repository.
CREATE TABLE repositories (
    full_name       TEXT PRIMARY KEY,
    installation_id BIGINT NOT NULL,
    private         BOOLEAN,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX repositories_installation ON repositories (installation_id);

-- One tracking issue per incident, ever. `status` is `open` (linked) or `refused`
-- (herald would not create it; `detail` says why).
CREATE TABLE tracking_issues (
    incident_id     BIGINT PRIMARY KEY REFERENCES incidents (id),
    repository      TEXT,
    number          BIGINT,
    url             TEXT,
    status          TEXT NOT NULL,
    detail          TEXT,
    synced_revision BIGINT NOT NULL DEFAULT 0,
    -- The one comment that shows the drafts for private review.
    drafts_comment_id BIGINT,
    updated_at      BIGINT NOT NULL
);

-- The rendered drafts of each incident, as last shown for review.
CREATE TABLE drafts (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    name        TEXT NOT NULL,
    text        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (incident_id, name)
);

-- The draft-advisory reconciler's conditional-request state per repository.
CREATE TABLE advisory_polls (
    repository  TEXT PRIMARY KEY,
    etag        TEXT,
    polled_at   BIGINT NOT NULL
);
