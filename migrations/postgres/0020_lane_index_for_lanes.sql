-- Only the effect runner's lease query reads outbox_lane_leases, always for a lane (its
-- `busy.lane = outbox.lane` implies a lane, as PostgreSQL's planner proves from the
-- operator). A delivery's processing job has no lane, so each admitted delivery wrote an
-- index entry no query reads. Now only unfinished jobs with a lane are in it.
DROP INDEX outbox_lane_leases;
CREATE INDEX outbox_lane_leases ON outbox (lane, state, locked_until)
    WHERE lane IS NOT NULL AND state IN ('pending', 'dead');
