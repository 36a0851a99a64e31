-- aedgw bench: the floor's table, and the counts behind its exactly-once checks.

-- name: bench_floor_create
-- The floor stores what any gateway must: each item's id and bytes, in a logged table
-- with a primary key (an unlogged or key-less table would be a floor no gateway has).
CREATE TABLE IF NOT EXISTS bench_floor (item_id text PRIMARY KEY, element bytea NOT NULL);

-- name: bench_floor_truncate
TRUNCATE bench_floor;

-- name: bench_floor_drop
DROP TABLE IF EXISTS bench_floor;

-- name: bench_stored
-- Record rows and distinct items of the bench's operator: both equal what the receipts
-- accepted when every accepted item was stored exactly once (every item is fresh).
SELECT count(*) AS rows, count(DISTINCT item_id) AS items FROM records WHERE operator = $1;

-- name: bench_records_total
-- Every record revision the feed serves, whoever sent it.
SELECT count(*) FROM records;

-- name: bench_outbox_left
-- Rows of one target still to deliver ($1), and those that died.
SELECT count(*) FILTER (WHERE state IN ('pending', 'in_flight')) AS waiting,
       count(*) FILTER (WHERE state = 'dead') AS dead
FROM outbox WHERE target = $1;

-- name: bench_backend_pid
-- The server process of this connection: its parent is the postmaster, whose CPU the
-- bench reports when the database runs on the same machine.
SELECT pg_backend_pid();

-- name: bench_server_version
SHOW server_version;
