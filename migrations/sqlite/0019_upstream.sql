-- Software the project runs, as its upstreams announce it (`[[upstream]]` in herald.toml):
-- each feed, OSV and NVD answer herald read, each item judged once per product, and the
-- product incidents they opened.

-- Each item of a source, judged once for each product that reads the source: what it was
-- (`not_security`, `not_this_product`, `not_deployed`, `affects`, or `history` for what a
-- feed held when herald first read it) and the incident it opened or joined.
CREATE TABLE upstream_items (
    source        TEXT NOT NULL,
    item          TEXT NOT NULL,
    product       TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    incident_id   BIGINT,
    seen_at       BIGINT NOT NULL,
    PRIMARY KEY (source, item, product)
);

-- A vulnerability of a product the project runs, from every source that announced it
-- (the incident, JSON). Its issue, in the intake repository, once opened; `told` counts
-- the sources its issue names, so a later one is told there once.
CREATE TABLE product_incidents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    product       TEXT NOT NULL,
    incident_key  TEXT NOT NULL,
    record        TEXT NOT NULL,
    severity      TEXT NOT NULL,
    repository    TEXT,
    issue_number  BIGINT,
    issue_url     TEXT,
    told          BIGINT NOT NULL,
    opened_at     BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (product, incident_key)
);

-- Every id a product incident's sources named (CVE, GHSA, OSV's own): an announcement
-- naming one of them joins it instead of opening another.
CREATE TABLE product_incident_ids (
    product          TEXT NOT NULL,
    vulnerability_id TEXT NOT NULL,
    incident_id      BIGINT NOT NULL,
    PRIMARY KEY (product, vulnerability_id)
);

-- What each source last answered (its ETag and Last-Modified, for a conditional request
-- next time), and how it went.
CREATE TABLE upstream_sources (
    url           TEXT PRIMARY KEY,
    etag          TEXT,
    last_modified TEXT,
    checked_at    BIGINT NOT NULL,
    failures      BIGINT NOT NULL
);
