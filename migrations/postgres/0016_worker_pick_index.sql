-- The worker picks its own jobs (deliveries to process) in id order. Without an index of
-- just those, a planner with statistics walks the primary key through every job done and
-- every effect queued since the last vacuum, in each pick: a partial index holds only the
-- pending ones, as outbox_effects_due does for effects. The worker's query repeats its
-- condition word for word.
CREATE INDEX outbox_local_due ON outbox (id)
    WHERE state = 'pending' AND kind = 'process_delivery';

-- Every queued job writes an entry into each of the queue's indexes. outbox_kind serves
-- what outbox_pending and outbox_due did (pending effects, `herald jobs`), and
-- outbox_effects_due picks effects by due time: the two go, two index entries fewer a job.
DROP INDEX outbox_pending;
DROP INDEX outbox_due;

-- A delivery's compressed body (about 4 KB for a 20 KB advisory) stayed out of line in the
-- TOAST table past 2 KB: a second table and index written at ingest and read by the
-- worker. Rows of up to a page now keep it in line.
ALTER TABLE deliveries SET (toast_tuple_target = 8160);
