-- The data lifecycle (gateway/retention.py): one batch of one kind of data per statement
-- group, each in a short transaction of its own. Ages are compared with a cutoff ($1 or
-- $2 below, "older than"); $n limit is the batch size. What a batch removes is read
-- oldest first; rows someone else holds are skipped, never waited for.

-- name: purge_progress
SELECT through FROM purge_progress WHERE kind = $1;

-- name: advance_purge_progress
INSERT INTO purge_progress AS p (kind, through) VALUES ($1, $2)
ON CONFLICT (kind) DO UPDATE SET through = greatest(p.through, excluded.through);

-- name: purge_raw
-- Blank raw bodies received in [$1, $2): the size stays, so do the hash, content type,
-- receipt and times. Old messages are written by no one, so the lock is never waited on.
WITH due AS (
    SELECT message_id FROM messages
    WHERE received_at >= $1 AND received_at < $2 AND raw_purged_at IS NULL
    ORDER BY received_at
    LIMIT $3
    FOR NO KEY UPDATE
)
UPDATE messages m
SET raw_bytes = octet_length(m.raw), raw = ''::bytea, raw_purged_at = now()
FROM due
WHERE m.message_id = due.message_id
RETURNING m.received_at;

-- name: count_raw
SELECT count(*) FROM messages WHERE received_at < $1 AND raw_purged_at IS NULL;

-- name: personal_due
-- Records created in [$1, $2) whose personal fields are still there, with their bodies
-- to rewrite. NO KEY UPDATE: a decision being posted on the record (a key share lock)
-- neither waits for this nor blocks it.
SELECT record_id, created_at, body FROM records
WHERE created_at >= $1 AND created_at < $2 AND personal_purged_at IS NULL
ORDER BY created_at
LIMIT $3
FOR NO KEY UPDATE;

-- name: rewrite_personal
-- The new bodies are the stored bytes rewritten (gateway/retention.py), never jsonb.
UPDATE records r SET body = u.body, personal_purged_at = now()
FROM unnest($1::uuid[], $2::bytea[]) AS u(record_id, body)
WHERE r.record_id = u.record_id;

-- name: count_personal
SELECT count(*) FROM records WHERE created_at < $1 AND personal_purged_at IS NULL;

-- name: purge_delivered
-- Outbox rows whose delivery is over (delivered, or replaced by a newer revision).
WITH gone AS (
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox
        WHERE state IN ('delivered', 'superseded') AND coalesce(delivered_at, created_at) < $1
        ORDER BY coalesce(delivered_at, created_at)
        LIMIT $2
        FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: count_delivered
SELECT count(*) FROM outbox
WHERE state IN ('delivered', 'superseded') AND coalesce(delivered_at, created_at) < $1;

-- name: purge_dead_letters
-- Dead letters past their own retention: no longer kept for a replay.
WITH gone AS (
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox
        WHERE state = 'dead' AND dead_at < $1
        ORDER BY dead_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: count_dead_letters_due
SELECT count(*) FROM outbox WHERE state = 'dead' AND dead_at < $1;

-- name: records_due
-- Feed entries to delete: record_purgeable (migration 0009) is the rule, shared with
-- count_records and consumer_losses.
SELECT r.record_id, r.xid::text::bigint AS xid, r.seq
FROM records r
WHERE r.created_at < $1 AND record_purgeable(r, $1)
ORDER BY r.created_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: count_records
SELECT count(*) FROM records r WHERE r.created_at < $1 AND record_purgeable(r, $1);

-- name: consumer_losses
-- Registered pull consumers that have not read every record a purge at cutoff $1 would
-- delete, and how many of those they would never get.
SELECT c.name, c.xid::text::bigint AS xid, c.seq, count(*) AS records
FROM feed_consumers c
JOIN records r ON (r.xid, r.seq) > (c.xid, c.seq)
WHERE r.created_at < $1 AND record_purgeable(r, $1)
GROUP BY c.name, c.xid, c.seq
ORDER BY c.name;

-- name: delete_record_outbox
-- The delivered and superseded outbox rows of records being deleted (the rule leaves
-- no other); and the callback rows of the decisions on them, all pushed already.
DELETE FROM outbox
WHERE record_id = ANY($1::uuid[])
   OR decision_id IN (SELECT decision_id FROM decisions WHERE record_id = ANY($1::uuid[]));

-- name: delete_record_decisions
-- Decisions on records being deleted, all older than the cutoff (the rule): their
-- positions move the outcomes feed's purge mark.
DELETE FROM decisions WHERE record_id = ANY($1::uuid[])
RETURNING xid::text::bigint AS xid, seq;

-- name: delete_records
DELETE FROM records WHERE record_id = ANY($1::uuid[]);

-- name: advance_purge_mark
-- $1 feed, ($2 xid, $3 seq) the last position deleted: the mark only moves forward.
INSERT INTO purge_marks AS m (feed, xid, seq) VALUES ($1, $2::text::xid8, $3)
ON CONFLICT (feed) DO UPDATE SET xid = excluded.xid, seq = excluded.seq, purged_at = now()
WHERE (m.xid, m.seq) < (excluded.xid, excluded.seq);

-- name: purge_items
-- Revision state of items with no record left and no change since the cutoff (at least
-- 365 days: an S10 id is not reused within 12 months, so until then a resend must go on
-- from the item's last revision, never restart at 1). An item an ingest holds is skipped.
WITH gone AS (
    DELETE FROM items WHERE (operator, item_id) IN (
        SELECT i.operator, i.item_id FROM items i
        WHERE i.updated_at < $1 AND i.revision > 0
          AND NOT EXISTS (SELECT 1 FROM records r
                          WHERE r.operator = i.operator AND r.item_id = i.item_id)
        ORDER BY i.updated_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT count(*) FROM gone;

-- name: count_items
SELECT count(*) FROM items i
WHERE i.updated_at < $1 AND i.revision > 0
  AND NOT EXISTS (SELECT 1 FROM records r WHERE r.operator = i.operator AND r.item_id = i.item_id);

-- name: messages_due
-- Archived messages (their hash, receipt and times) with no record left, older than the
-- cutoff; their idempotency claims go with them.
SELECT m.message_id FROM messages m
WHERE m.received_at < $1
  AND NOT EXISTS (SELECT 1 FROM records r WHERE r.message_id = m.message_id)
ORDER BY m.received_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: count_messages
SELECT count(*) FROM messages m
WHERE m.received_at < $1
  AND NOT EXISTS (SELECT 1 FROM records r WHERE r.message_id = m.message_id);

-- name: delete_messages
WITH claims AS (
    DELETE FROM message_claims WHERE message_id = ANY($1::uuid[])
)
DELETE FROM messages WHERE message_id = ANY($1::uuid[]);

-- name: purge_lock
-- One purge at a time over every process (a session lock: released if the process dies).
SELECT pg_try_advisory_lock(1095057767, 1);

-- name: purge_unlock
SELECT pg_advisory_unlock(1095057767, 1);
