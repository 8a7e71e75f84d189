-- The commit times of the key change log, from which the nodes of a fleet
-- measure how long a change took to reach them, are PostgreSQL's alone:
-- SQLite has no change log (see 0003). This file keeps the numbering of
-- the two backends' migrations in step.
SELECT 1;
