-- Registered pull consumers of the records feed (see gateway/consumers.py).

-- name: register_consumer
INSERT INTO feed_consumers (name, xid, seq, updated_by) VALUES ($1, $2::text::xid8, $3, $4)
ON CONFLICT (name) DO UPDATE
    SET xid = excluded.xid, seq = excluded.seq, updated_by = excluded.updated_by,
        updated_at = now()
RETURNING name, xid::text::bigint AS xid, seq, updated_by, updated_at;

-- name: list_consumers
SELECT name, xid::text::bigint AS xid, seq, updated_by, updated_at
FROM feed_consumers ORDER BY name;

-- name: forget_consumer
DELETE FROM feed_consumers WHERE name = $1 RETURNING name;
