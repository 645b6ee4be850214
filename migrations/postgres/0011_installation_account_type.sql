-- Whether an installation is on a user's account or an organisation's (`User`,
-- `Organization`, as GitHub says; NULL until its next event): an organisation's repository
-- advisories are polled in one list of the organisation's.
ALTER TABLE installations ADD COLUMN account_type TEXT;
