-- Delivery bodies are stored LZ4-compressed already: PostgreSQL need not try to compress
-- them again when they are large.
ALTER TABLE deliveries ALTER COLUMN payload_lz4 SET STORAGE EXTERNAL;

-- Incident records are JSON that PostgreSQL compresses when large; LZ4 takes a fraction
-- of the CPU of its default (pglz), where the server has it (PostgreSQL 14 and later,
-- built with LZ4, as Debian's and the official images are).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE incidents ALTER COLUMN record SET COMPRESSION lz4;
    END IF;
END
$$;

-- The queue's indexes hold unfinished jobs only (pending, and those given up, which
-- `herald jobs` lists): a job marked done then writes no entry into them. PostgreSQL's
-- update of a row writes an entry into every index whose condition the new row meets, so
-- each job's completion cost seven index entries; now it costs two (its id and its key).
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (state, id) WHERE state IN ('pending', 'dead');
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (state, run_after, id) WHERE state IN ('pending', 'dead');
DROP INDEX outbox_kind;
CREATE INDEX outbox_kind ON outbox (state, kind, id) WHERE state IN ('pending', 'dead');
DROP INDEX outbox_lane_leases;
CREATE INDEX outbox_lane_leases ON outbox (lane, state, locked_until)
    WHERE state IN ('pending', 'dead');
