-- Since when herald serves each repository: advisories settled before then are history,
-- recorded but never announced again. Rows from before this column take their last
-- update, the closest time known.
ALTER TABLE repositories ADD COLUMN first_seen_at BIGINT;
UPDATE repositories SET first_seen_at = updated_at;
