-- How often a job was leased: a job leased before may have done part of its work on
-- GitHub before its runner died, so it looks for that work; a job leased the first time
-- has none to look for and saves the requests.
ALTER TABLE outbox ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
-- Urgent work (0: a fresh report's tracking issue, a disclosure, a maintainer's command)
-- is leased before background work (1: what polling finds, such as the back-fill of a
-- first install's draft advisories), each in due order. The index holds pending effect
-- jobs only: a burst of deliveries waiting for the worker is not walked by every lease.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_effects_due ON outbox (priority, run_after, id)
    WHERE state = 'pending' AND kind <> 'process_delivery';
-- The lane a job runs in (its incident, the issue it comments on, ...): jobs of different
-- lanes run at once, one lane's one at a time and in order (a job is not leased while
-- another of its lane is).
ALTER TABLE outbox ADD COLUMN lane TEXT;
CREATE INDEX outbox_lane_leases ON outbox (lane, state, locked_until);
-- The time slots of each installation's content-creating GitHub requests, kept as long as
-- the longest budget's window, so replicas sharing the store keep within GitHub's
-- secondary limits together.
CREATE TABLE github_write_slots (
    installation_id BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX github_write_slots_by_installation ON github_write_slots (installation_id, at);
