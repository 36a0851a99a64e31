-- The pull feed: pages in commit-safe order, the purge mark, and one item's ledger.

-- name: feed_page
-- Only rows of transactions below the oldest one still running: those are final, and
-- any row committed later has a larger xid, so it sorts after every cursor handed out.
-- The scalar subquery takes the statement's snapshot once, not per row. ORDER BY names
-- the table's columns (r.xid), not the bigint output column, so records_feed serves it.
SELECT r.xid::text::bigint AS xid, r.seq, r.body
FROM records r
WHERE (r.xid, r.seq) > ($1::text::xid8, $2::bigint)
  AND r.xid < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
ORDER BY r.xid, r.seq
LIMIT $3;

-- name: cursor_gone
-- Why entries after a cursor ($2 xid, $3 seq) of feed $1 ('records', 'outcomes') may be
-- missing: 'purged' below the feed's purge mark, 'restored' when the cursor was handed out
-- from data that a restore did not bring back (migration 0009); NULL when none is.
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM purge_marks m
                 WHERE m.feed = $1 AND ($2::text::xid8, $3::bigint) < (m.xid, m.seq))
    THEN 'purged'
    WHEN EXISTS (SELECT 1 FROM restores r
                 WHERE $2::text::xid8 >= r.lost_from AND $2::text::xid8 < r.lost_to)
    THEN 'restored'
END;

-- name: item_revisions
-- Every revision of an item, cancellations included, oldest first; $2 NULL means any
-- operator (the caller refuses an id that two operators use).
SELECT operator, body
FROM records
WHERE item_id = $1 AND ($2::text IS NULL OR operator = $2)
ORDER BY operator, revision;

-- name: item_deliveries
-- The push side of the same ledger: each outbox row of the item, per target.
SELECT target, record_id, revision, state, attempts, next_attempt_at, last_error,
       error_code, http_status, delivered_at, dead_at
FROM outbox
WHERE operator = $1 AND item_id = $2
ORDER BY target, id;
