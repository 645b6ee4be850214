-- Picking the next job without walking every pending one: with 10,006 reminders pending
-- for later, one pick walked them all in id order (about 1 ms here, 4 ms in herald's
-- worker). Effect jobs are picked by due time, the worker's own jobs by kind.
CREATE INDEX outbox_due ON outbox (state, run_after, id);
CREATE INDEX outbox_kind ON outbox (state, kind, id);
