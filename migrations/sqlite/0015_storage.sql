-- PostgreSQL's storage of large values (its TOAST compression) is tuned in this version;
-- SQLite stores values as they are, so nothing changes here.
SELECT 1;
