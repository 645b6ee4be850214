-- The incident a job is for, kept with the job: an incident's failed jobs (`herald
-- incidents show`, `/herald retry`) and `herald jobs` are found by it, instead of decoding
-- every dead job's payload. Jobs already queued get theirs from their payload, as herald
-- wrote it: the incident's id, or JSON with an `incident_id`.
ALTER TABLE outbox ADD COLUMN incident_id BIGINT;
UPDATE outbox SET incident_id = payload::BIGINT
    WHERE kind IN ('sync_tracking_issue', 'request_cve', 'publish_advisory', 'post_review',
                   'private_fork', 'changelog_pr', 'advisory_issue', 'blog_post_pr',
                   'forum_post', 'discussion_post', 'wiki_page', 'mediawiki_page',
                   'announce')
      AND payload ~ '^[0-9]{1,18}$';
-- (Read by pattern, as serde_json writes it, so that no row can fail the migration.)
UPDATE outbox SET incident_id = substring(payload FROM '^\{"incident_id":([0-9]{1,18})[,}]')::BIGINT
    WHERE kind IN ('send_mail', 'escalate', 'containment', 'chat', 'track_pull', 'prenotify',
                   'embargo_end')
      AND payload ~ '^\{"incident_id":[0-9]{1,18}[,}]';
-- Only given-up jobs are looked up by incident: the index holds just those.
CREATE INDEX outbox_dead_by_incident ON outbox (incident_id) WHERE state = 'dead';
