-- On SQLite a delivery's processing job is queued by the worker, not by the commit that
-- admits the delivery: the worker queues one for every delivery past `through_rowid` (a rowid;
-- deliveries are never deleted, so rowids only grow), in its own unit of work, then
-- moves `through_rowid` on. Admitting then writes only the delivery: the job's row and its
-- three index entries were a quarter of each admitted delivery's pages in the
-- write-ahead log, written again at every commit of a few deliveries, where the worker
-- writes them once for a batch of dozens. Every delivery stored before this migration
-- has its job queued already.
CREATE TABLE deliveries_queued (through_rowid INTEGER NOT NULL);
INSERT INTO deliveries_queued (through_rowid) SELECT coalesce(max(rowid), 0) FROM deliveries;
