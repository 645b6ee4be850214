-- The SHA-256 of each delivery's body. GitHub's signature covers the body, not the
-- X-GitHub-Delivery header, so a captured body sent again under a new delivery id is
-- recognised by its digest and not processed twice. NULL for deliveries stored before.
ALTER TABLE deliveries ADD COLUMN body_digest BYTEA;
CREATE UNIQUE INDEX deliveries_body_digest ON deliveries (body_digest);
