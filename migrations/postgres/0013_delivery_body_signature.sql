-- Each delivery's verified signature: the HMAC-SHA256 of its body under the webhook
-- secret (X-Hub-Signature-256). GitHub's signature covers the body, not the
-- X-GitHub-Delivery header, so a captured body sent again under a new delivery id is
-- recognised by it and not processed twice. NULL for the deliveries herald makes itself
-- (reconciled advisories, known by their version-keyed id) and those stored before.
ALTER TABLE deliveries ADD COLUMN body_signature BYTEA;
CREATE UNIQUE INDEX deliveries_body_signature ON deliveries (body_signature);
