-- SQLite's worker queues its deliveries' processing jobs after their admission (see the
-- SQLite migration of this number). On PostgreSQL the statement that admits a batch
-- queues them at once, as before: replicas' commits do not take ids in order, so a
-- position in the deliveries could not say which have their job.
SELECT 1;
