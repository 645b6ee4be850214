-- Every queued job writes an entry into each of the queue's indexes. outbox_kind serves
-- what outbox_pending and outbox_due did (the worker's pick by kind, pending effects,
-- `herald jobs`), and outbox_effects_due picks effects by due time: the two go, two index
-- entries fewer a job. (PostgreSQL's version also adds an index for the worker's pick,
-- which SQLite's planner finds in outbox_kind.)
DROP INDEX outbox_pending;
DROP INDEX outbox_due;
