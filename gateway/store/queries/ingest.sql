-- Ingest: archived messages, idempotency claims, item revisions and outbox rows.

-- name: insert_message
INSERT INTO messages (message_id, operator, message_ref, idempotency_key, source_format,
                      content_type, raw, raw_sha256, received_at, status, http_status, receipt)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb);

-- name: get_message
SELECT receipt, http_status FROM messages WHERE message_id = $1 AND operator = $2;

-- name: lock_item_buckets
-- Serialise messages that touch the same items BEFORE the transaction first writes (and
-- so takes its xid): the feed orders by xid, so an amendment that waited for another
-- must get the later xid. Buckets (256) bound the advisory locks one message holds; they
-- are taken in bucket order, so two messages never deadlock on them.
SELECT count(pg_advisory_xact_lock(1095057767, bucket))
FROM (SELECT DISTINCT hashtext($1 || '/' || id) & 255 AS bucket
      FROM unnest($2::text[]) AS id ORDER BY bucket) AS buckets;

-- name: claim_message
-- Take (operator, dedupe key) for this message. A claim whose message accepted
-- nothing may be taken over by different bytes (a corrected resend); otherwise the
-- existing claim stands and no row is returned. A racing identical submission waits
-- here on the unique key until the first one commits.
INSERT INTO message_claims AS c (operator, dedupe_key, message_id, raw_sha256, accepted_any)
VALUES ($1, $2, $3, $4, false)
ON CONFLICT (operator, dedupe_key) DO UPDATE
    SET message_id = excluded.message_id, raw_sha256 = excluded.raw_sha256,
        accepted_any = false
    WHERE NOT c.accepted_any AND c.raw_sha256 <> excluded.raw_sha256
RETURNING message_id;

-- name: get_claim
SELECT c.raw_sha256, c.accepted_any, m.receipt, m.http_status
FROM message_claims c JOIN messages m USING (message_id)
WHERE c.operator = $1 AND c.dedupe_key = $2;

-- name: settle_claim
UPDATE message_claims SET accepted_any = $3 WHERE operator = $1 AND dedupe_key = $2;

-- name: reserve_items
-- Placeholders (revision 0) for items never seen, so that FOR UPDATE below locks
-- first sightings too; ids come sorted so that concurrent messages lock in one order.
INSERT INTO items (operator, item_id, revision)
SELECT $1, id, 0 FROM unnest($2::text[]) AS id
ON CONFLICT (operator, item_id) DO NOTHING;

-- name: lock_items
SELECT item_id, revision, function, data_sha256
FROM items WHERE operator = $1 AND item_id = ANY($2::text[])
ORDER BY item_id FOR UPDATE;

-- name: read_items
SELECT item_id, revision, function, data_sha256
FROM items WHERE operator = $1 AND item_id = ANY($2::text[]);

-- name: insert_records
INSERT INTO records (record_id, operator, item_id, revision, function, message_id,
                     destination, data_sha256, body)
SELECT r.record_id, $1, r.item_id, r.revision, r.function, $2, r.destination, r.sha,
       r.body::jsonb
FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[],
            $9::text[]) AS r(record_id, item_id, revision, function, destination, sha, body);

-- name: update_items
UPDATE items SET revision = u.revision, function = u.function, data_sha256 = u.sha,
                 record_id = u.record_id, updated_at = now()
FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::uuid[])
     AS u(item_id, revision, function, sha, record_id)
WHERE items.operator = $1 AND items.item_id = u.item_id;

-- name: drop_placeholders
-- Items reserved but refused (UPDATE of an unknown item, say) must not look "seen".
DELETE FROM items WHERE operator = $1 AND item_id = ANY($2::text[]) AND revision = 0;

-- name: insert_outbox
-- A newer revision replaces a pending one, so revisions never overtake each other.
INSERT INTO outbox (target, operator, item_id, record_id, revision, priority)
SELECT o.target, $1, o.item_id, o.record_id, o.revision, o.priority
FROM unnest($2::text[], $3::text[], $4::uuid[], $5::int[], $6::smallint[])
     AS o(target, item_id, record_id, revision, priority)
ON CONFLICT (target, operator, item_id) WHERE state = 'pending' AND decision_id IS NULL
DO UPDATE
    SET record_id = excluded.record_id, revision = excluded.revision,
        priority = least(outbox.priority, excluded.priority), attempts = 0,
        next_attempt_at = now(), last_error = NULL;

-- name: message_records
SELECT body FROM records WHERE message_id = $1 ORDER BY seq;

-- name: notify_records
-- Wakes the feed's long-pollers when this transaction commits (NOTIFY is transactional).
SELECT pg_notify('aedgw_records', $1);
