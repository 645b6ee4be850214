-- Which incident a pull request fixes, so that its later events (merged, closed) find the
-- incident even when they do not mention the GHSA id (a pull request a maintainer linked).
CREATE TABLE fix_pulls (
    repository TEXT NOT NULL,
    number BIGINT NOT NULL,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    PRIMARY KEY (repository, number, incident_id)
);
