-- Restores from a physical backup (gateway/backup.py, migration 0009).

-- name: insert_restore
-- $1, $2: the transaction ids [lost_from, lost_to) that cursors from lost data carry.
INSERT INTO restores (lost_from, lost_to, backup) VALUES ($1::text::xid8, $2::text::xid8, $3);
