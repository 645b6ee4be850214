-- Who receives an incident's text by mail or chat (`notify:` and `escalation:` addresses,
-- chat quoting the summary), as its tracking issue last showed it, in JSON; NULL until
-- shown. herald mails and quotes only to what the tracking issue has shown.
ALTER TABLE tracking_issues ADD COLUMN audience TEXT;
