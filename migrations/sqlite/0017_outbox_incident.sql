-- The incident a job is for, kept with the job: an incident's failed jobs (`herald
-- incidents show`, `/herald retry`) and `herald jobs` are found by it, instead of decoding
-- every dead job's payload. Jobs already queued get theirs from their payload, as herald
-- wrote it: the incident's id, or JSON with an `incident_id`.
ALTER TABLE outbox ADD COLUMN incident_id INTEGER;
-- At most 18 digits: SQLite would saturate a longer number at the largest id.
UPDATE outbox SET incident_id = CAST(payload AS INTEGER)
    WHERE kind IN ('sync_tracking_issue', 'request_cve', 'publish_advisory', 'post_review',
                   'private_fork', 'changelog_pr', 'advisory_issue', 'blog_post_pr',
                   'forum_post', 'discussion_post', 'wiki_page', 'mediawiki_page',
                   'announce')
      AND typeof(payload) = 'text' AND length(payload) BETWEEN 1 AND 18
      AND payload NOT GLOB '*[^0-9]*';
-- Only a whole number is an incident id: anything else (text, a fraction, an object) is
-- left NULL, as no job decodes from it. Nested CASEs, so that JSON is read only where it
-- is valid: no row can fail the migration.
UPDATE outbox SET incident_id =
    CASE WHEN typeof(payload) = 'text' THEN
        CASE WHEN json_valid(payload) THEN
            CASE WHEN json_type(payload, '$.incident_id') = 'integer'
                THEN json_extract(payload, '$.incident_id') END
        END
    END
    WHERE kind IN ('send_mail', 'escalate', 'containment', 'chat', 'track_pull', 'prenotify',
                   'embargo_end');
-- Only given-up jobs are looked up by incident: the index holds just those.
CREATE INDEX outbox_dead_by_incident ON outbox (incident_id) WHERE state = 'dead';
