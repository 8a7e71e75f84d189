-- The rate-limit counts the nodes of a fleet share without Redis are
-- PostgreSQL's alone: one server owns a SQLite file and counts every call
-- itself. This file keeps the numbering of the two backends' migrations in
-- step.
SELECT 1;
