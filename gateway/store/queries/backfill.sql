-- Backfill: queue for a target the records it never got (it was added after them).

-- name: backfill_candidates
-- Items whose latest revision was accepted at or after $1 (NULL: ever), of operator $2
-- (NULL: any), after the key ($3, $4), in key order, with what routing needs.
SELECT i.operator, i.item_id, r.destination
FROM items i JOIN records r ON r.record_id = i.record_id
WHERE i.revision > 0
  AND ($1::timestamptz IS NULL OR r.created_at >= $1)
  AND ($2::text IS NULL OR i.operator = $2)
  AND (i.operator, i.item_id) > ($3::text, $4::text)
ORDER BY i.operator, i.item_id
LIMIT $5;

-- name: backfill_outbox
-- Queue for target $1 the latest revision of each item named by ($2[i], $3[i]) unless
-- the target has it, or a later one, pending, in flight or delivered. The items are
-- read FOR SHARE in key order (ingest locks them FOR UPDATE in the same order, before it
-- writes the outbox): an ingest committing a newer revision is waited for, and that
-- revision is the one queued. A pending older revision is replaced in place, as ingest
-- does; rows are written in (target, operator, item_id) order.
WITH latest AS (
    SELECT i.operator, i.item_id, i.record_id, i.revision
    FROM items i
    JOIN unnest($2::text[], $3::text[]) AS n(operator, item_id)
      ON i.operator = n.operator AND i.item_id = n.item_id
    WHERE i.revision > 0
    ORDER BY i.operator, i.item_id
    FOR SHARE OF i
)
INSERT INTO outbox AS o (target, operator, item_id, record_id, revision)
SELECT $1, l.operator, l.item_id, l.record_id, l.revision
FROM latest l
WHERE NOT EXISTS (
    SELECT 1 FROM outbox x
    WHERE x.target = $1 AND x.operator = l.operator AND x.item_id = l.item_id
      AND x.decision_id IS NULL AND x.revision >= l.revision
      AND x.state IN ('pending', 'in_flight', 'delivered'))
ORDER BY l.operator, l.item_id
ON CONFLICT (target, operator, item_id) WHERE state = 'pending' AND decision_id IS NULL
DO UPDATE SET record_id = excluded.record_id, revision = excluded.revision, attempts = 0,
              next_attempt_at = now(), last_error = NULL
    WHERE o.revision < excluded.revision
RETURNING o.item_id;
