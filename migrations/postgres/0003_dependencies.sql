-- The dependencies of each served repository, read from its dependency graph (SBOM) and
-- kept for a while, so a burst of global advisories costs one request per repository.
CREATE TABLE dependency_graphs (
    repository   TEXT PRIMARY KEY,
    -- JSON: [{"ecosystem", "name", "version"}], or null when the graph is off.
    dependencies TEXT,
    fetched_at   BIGINT NOT NULL
);
