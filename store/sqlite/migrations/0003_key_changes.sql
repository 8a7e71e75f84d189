-- The key change log, by which the nodes of a fleet learn of each other's
-- key changes, is PostgreSQL's alone: one server owns a SQLite file and
-- hears of every change itself. This file keeps the numbering of the two
-- backends' migrations in step.
SELECT 1;
