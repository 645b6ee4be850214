-- Times are Unix milliseconds (BIGINT) and documents are JSON text, so the same schema
-- reads the same on PostgreSQL.

-- Every webhook delivery herald accepted, keyed by GitHub's X-GitHub-Delivery id. The raw
-- body is kept LZ4-compressed (GitHub's JSON shrinks several times, and so does the
-- fsync'd volume per delivery).
CREATE TABLE deliveries (
    delivery_id     TEXT PRIMARY KEY,
    event           TEXT NOT NULL,
    action          TEXT,
    repository      TEXT,
    installation_id BIGINT,
    payload_lz4     BYTEA NOT NULL,
    received_at     BIGINT NOT NULL
);

-- The durable work queue: one row per job, unique by its idempotency key.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    run_after       BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
-- Claims walk pending jobs in queue order.
CREATE INDEX outbox_pending ON outbox (state, id);

-- One incident per (repository, GHSA id); `record` is the domain's JSON document, the
-- other columns are what lists sort and filter by.
CREATE TABLE incidents (
    id          BIGSERIAL PRIMARY KEY,
    repository  TEXT NOT NULL,
    ghsa_id     TEXT NOT NULL,
    phase       TEXT NOT NULL,
    severity    TEXT NOT NULL,
    record      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (repository, ghsa_id)
);
CREATE INDEX incidents_ghsa ON incidents (ghsa_id);

CREATE TABLE timeline (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    at          BIGINT NOT NULL,
    actor       TEXT,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    delivery_id TEXT
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);
