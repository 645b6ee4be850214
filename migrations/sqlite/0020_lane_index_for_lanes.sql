-- Only the effect runner's lease query reads outbox_lane_leases, always for a lane (its
-- `busy.lane = outbox.lane` implies a lane, which SQLite's planner takes as this index's
-- condition). A delivery's processing job has no lane, so each admitted delivery wrote an
-- index entry no query reads: about a fifth of a page per delivery in the write-ahead
-- log, measured. Now only jobs with a lane are in it.
DROP INDEX outbox_lane_leases;
CREATE INDEX outbox_lane_leases ON outbox (lane, state, locked_until) WHERE lane IS NOT NULL;
