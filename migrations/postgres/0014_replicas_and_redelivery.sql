-- Which replica holds a leased effect job (HERALD_REPLICA_ID): shown by `herald jobs`,
-- and released by that replica when it stops, so another takes the job at once.
ALTER TABLE outbox ADD COLUMN locked_by TEXT;

-- A poll of an advisory list is claimed by one replica until it ends (`polled_at` then
-- moves on) or the claim runs out; a replica that stops releases its claims.
ALTER TABLE advisory_polls ADD COLUMN claimed_by TEXT;
ALTER TABLE advisory_polls ADD COLUMN claimed_until BIGINT;

-- The scan of GitHub's failed webhook deliveries: one replica at a time holds it, and
-- `scanned_through` is the newest attempt a finished scan had handled (Unix ms). The row
-- is made on the first start, so a new herald never asks for what failed before it came.
CREATE TABLE redelivery_scans (
    name            TEXT PRIMARY KEY,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    scanned_through BIGINT NOT NULL,
    scanned_at      BIGINT,
    -- A scan that stopped at its bound of pages: the page the next goes on from, and the
    -- newest attempt of the pages read before it (`scanned_through` once it finishes).
    resume_page     TEXT,
    resume_newest   BIGINT
);

-- What herald asked GitHub to deliver again, per delivery (its X-GitHub-Delivery GUID):
-- the failed attempt it asked for, how often, and GitHub's words when it refused.
CREATE TABLE redelivery_requests (
    guid         TEXT PRIMARY KEY,
    attempt_id   BIGINT NOT NULL,
    event        TEXT NOT NULL,
    action       TEXT,
    requests     BIGINT NOT NULL,
    requested_at BIGINT NOT NULL,
    refusal      TEXT
);
