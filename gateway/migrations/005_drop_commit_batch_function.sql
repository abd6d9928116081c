-- A batch is now written by one statement generated from the table specs in gateway/store.py
-- (a data-modifying CTE per table over unnest of its column arrays): still one round trip and
-- one transaction per batch, without a function whose 64 parallel arguments mirror the tables.

DROP FUNCTION commex_commit_batch;
