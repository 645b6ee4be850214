-- Mail to the security team's address, each message as it arrived (`herald intake mail`,
-- the mailbox reader): kept whole, before herald answers the mail server, so nothing is
-- lost if herald stops half-way. A message is taken once: the same bytes again (a mail
-- server retrying after a timeout) are the same row.
CREATE TABLE intakes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- SHA-256 of the raw message, hex.
    digest        TEXT NOT NULL UNIQUE,
    -- Where it came from: `pipe` (handed over on standard input) or the mailbox's name.
    source        TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    message_id    TEXT,
    -- `report` opens an intake issue; anything else (`auto_reply`, `bounce`, `loop`,
    -- `list`, `bulk`) is kept and shown, never answered.
    kind          TEXT NOT NULL,
    -- Why it is not a report, or what of it could not be read.
    reason        TEXT,
    raw           BLOB NOT NULL,
    -- `new`, then `open` (its issue exists), `accepted` or `dismissed`; `ignored`
    -- for what is not a report.
    state         TEXT NOT NULL,
    repository    TEXT,
    issue_number  BIGINT,
    issue_url     TEXT,
    incident_id   BIGINT,
    -- The draft advisory an accepted report became.
    advisory_repository TEXT,
    ghsa_id       TEXT,
    decided_by    TEXT,
    decision      TEXT,
    -- Where herald's acknowledgement to the reporter went, and when.
    acknowledged_to TEXT,
    acknowledged_at BIGINT,
    updated_at    BIGINT NOT NULL
);
-- Commands on an intake's issue find the intake by it.
CREATE INDEX intakes_issue ON intakes (repository, issue_number);
