-- The incident a job is for, kept with the job: an incident's failed jobs (`herald
-- incidents show`, `/herald retry`) and `herald jobs` are found by it, instead of decoding
-- every dead job's payload. Jobs already queued get theirs from their payload, as herald
-- wrote it: the incident's id, or JSON with an `incident_id`.
ALTER TABLE outbox ADD COLUMN incident_id INTEGER;
UPDATE outbox SET incident_id = CAST(payload AS INTEGER)
    WHERE kind IN ('sync_tracking_issue', 'request_cve', 'publish_advisory', 'post_review',
                   'private_fork', 'changelog_pr', 'advisory_issue', 'blog_post_pr',
                   'forum_post', 'discussion_post', 'wiki_page', 'mediawiki_page',
                   'announce')
      AND payload GLOB '[0-9]*' AND payload NOT GLOB '*[^0-9]*';
UPDATE outbox SET incident_id = json_extract(payload, '$.incident_id')
    WHERE kind IN ('send_mail', 'escalate', 'containment', 'chat', 'track_pull', 'prenotify',
                   'embargo_end')
      AND json_valid(payload);
-- Only given-up jobs are looked up by incident: the index holds just those.
CREATE INDEX outbox_dead_by_incident ON outbox (incident_id) WHERE state = 'dead';
