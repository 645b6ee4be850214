-- `herald incidents list` pages the most recently changed incidents, optionally of one
-- phase, severity or repository: each of these reads one page from its index instead of
-- sorting every incident.
CREATE INDEX incidents_updated ON incidents (updated_at, id);
CREATE INDEX incidents_phase_updated ON incidents (phase, updated_at, id);
CREATE INDEX incidents_severity_updated ON incidents (severity, updated_at, id);
CREATE INDEX incidents_repository_updated ON incidents (repository, updated_at, id);
