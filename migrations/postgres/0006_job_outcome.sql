-- What each finished job did, in herald's words (identifiers, never advisory text): shown
-- to operators beside the job. Jobs finished before this column have none.
ALTER TABLE outbox ADD COLUMN outcome TEXT;
