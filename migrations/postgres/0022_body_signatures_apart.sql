-- SQLite keeps its deliveries' body signatures apart from them (see the SQLite migration
-- of this number). PostgreSQL keeps its unique index on `deliveries.body_signature`:
-- replicas admit concurrently, and only the database can tell them apart.
SELECT 1;
