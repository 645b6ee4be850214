-- The body signatures (0013) by which a replayed body is recognised, kept in a table of
-- their own and no longer indexed in `deliveries`. A signature's key is random, so each
-- delivery's entry dirtied a page of the index of its own, written to the write-ahead log
-- at each commit of a few deliveries: the largest single cost of admitting one. Now the
-- thread that admits deliveries keeps the signatures of those past `through_rowid` in
-- memory (read again from `deliveries` when it starts, or when another connection has
-- added deliveries), sets them apart by the thousand, sorted, and merges them here a few
-- per commit, in key order; the commit that merges the last of them moves `through_rowid`
-- on. A body is stored already when its signature is here or among those past
-- `through_rowid`.
CREATE TABLE body_signatures (signature BLOB NOT NULL PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE body_signatures_merged (through_rowid INTEGER NOT NULL);
INSERT INTO body_signatures (signature)
    SELECT body_signature FROM deliveries WHERE body_signature IS NOT NULL;
INSERT INTO body_signatures_merged (through_rowid) SELECT coalesce(max(rowid), 0) FROM deliveries;
DROP INDEX deliveries_body_signature;
