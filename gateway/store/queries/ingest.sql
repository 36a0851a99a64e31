-- Ingest: archived messages, idempotency claims, item revisions and outbox rows. A group
-- of messages (gateway/ingest/store.py) writes each table in one statement over arrays.

-- name: insert_message
-- One message refused before it reached the store (unparseable, wrong format ...).
INSERT INTO messages (message_id, operator, message_ref, idempotency_key, source_format,
                      content_type, raw, raw_sha256, received_at, status, http_status, receipt)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::bytea);

-- name: insert_messages
-- receipt: the answer's bytes as sent, so that a replay answers them byte for byte.
INSERT INTO messages (message_id, operator, message_ref, idempotency_key, source_format,
                      content_type, raw, raw_sha256, received_at, status, http_status, receipt)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::bytea[], $8::text[], $9::timestamptz[], $10::text[], $11::smallint[],
                     $12::bytea[]);

-- name: get_message
SELECT receipt, http_status FROM messages WHERE message_id = $1 AND operator = $2;

-- name: lock_item_keys
-- Advisory locks ($1 space, $2 key, $3 shared), taken in the order given (see
-- gateway/ingest/store.py, "Item locks"): the inner ORDER BY fixes the order in which
-- the outer aggregate takes them.
SELECT count(CASE WHEN k.shared THEN pg_advisory_xact_lock_shared(k.space, k.key)
                  ELSE pg_advisory_xact_lock(k.space, k.key) END)
FROM (SELECT u.space, u.key, u.shared
      FROM unnest($1::int[], $2::int[], $3::bool[]) WITH ORDINALITY AS u(space, key, shared, n)
      ORDER BY u.n) AS k;

-- name: claim_messages
-- Take (operator, dedupe key) for each message (sorted: groups claim in one order). A
-- claim whose message accepted nothing may be taken over by different bytes (a
-- corrected resend); otherwise the existing claim stands and no row is returned for it.
-- A racing identical submission waits here on the unique key until the first commits.
-- The keys of one call are distinct (the store runs a second one later).
INSERT INTO message_claims AS c (operator, dedupe_key, message_id, raw_sha256, accepted_any)
SELECT k.operator, k.dedupe_key, k.message_id, k.raw_sha256, false
FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[])
     AS k(operator, dedupe_key, message_id, raw_sha256)
ON CONFLICT (operator, dedupe_key) DO UPDATE
    SET message_id = excluded.message_id, raw_sha256 = excluded.raw_sha256,
        accepted_any = false
    WHERE NOT c.accepted_any AND c.raw_sha256 <> excluded.raw_sha256
RETURNING operator, dedupe_key;

-- name: get_claims
SELECT c.operator, c.dedupe_key, c.raw_sha256, m.receipt, m.http_status
FROM unnest($1::text[], $2::text[]) AS k(operator, dedupe_key)
JOIN message_claims c ON c.operator = k.operator AND c.dedupe_key = k.dedupe_key
JOIN messages m ON m.message_id = c.message_id;

-- name: settle_claims
UPDATE message_claims c SET accepted_any = s.accepted_any
FROM unnest($1::text[], $2::text[], $3::bool[]) AS s(operator, dedupe_key, accepted_any)
WHERE c.operator = s.operator AND c.dedupe_key = s.dedupe_key;

-- name: release_claims
-- A message refused whole (all or nothing) keeps no claim: sent again, it is judged again.
DELETE FROM message_claims c
USING unnest($1::text[], $2::text[], $3::uuid[]) AS r(operator, dedupe_key, message_id)
WHERE c.operator = r.operator AND c.dedupe_key = r.dedupe_key AND c.message_id = r.message_id;

-- name: reserve_items
-- Placeholders (revision 0) for items never seen, so that FOR UPDATE below locks
-- first sightings too; keys come sorted so that concurrent groups lock in one order.
INSERT INTO items (operator, item_id, revision)
SELECT k.operator, k.item_id, 0 FROM unnest($1::text[], $2::text[]) AS k(operator, item_id)
ON CONFLICT (operator, item_id) DO NOTHING;

-- name: lock_items
SELECT i.operator, i.item_id, i.revision, i.function, i.data_sha256
FROM items i
JOIN unnest($1::text[], $2::text[]) AS k(operator, item_id)
  ON i.operator = k.operator AND i.item_id = k.item_id
ORDER BY i.operator, i.item_id
FOR UPDATE OF i;

-- name: read_items
SELECT operator, item_id, revision, function, data_sha256
FROM items WHERE operator = $1 AND item_id = ANY($2::text[]);

-- name: insert_records
-- body: the record's canonical JSON as serialised at ingest, stored as those bytes. Rows
-- go in array order, so the seq (the feed's order within a transaction) follows it.
INSERT INTO records (record_id, operator, message_id, item_id, revision, function,
                     destination, data_sha256, body)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::int[], $6::text[],
                     $7::text[], $8::text[], $9::bytea[]);

-- name: update_items
UPDATE items SET revision = u.revision, function = u.function, data_sha256 = u.sha,
                 record_id = u.record_id, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::uuid[])
     AS u(operator, item_id, revision, function, sha, record_id)
WHERE items.operator = u.operator AND items.item_id = u.item_id;

-- name: drop_placeholders
-- Items reserved but refused (UPDATE of an unknown item, say) must not look "seen".
DELETE FROM items i
USING unnest($1::text[], $2::text[]) AS d(operator, item_id)
WHERE i.operator = d.operator AND i.item_id = d.item_id AND i.revision = 0;

-- name: insert_outbox
-- A newer revision replaces a pending one, so revisions never overtake each other. Rows
-- come sorted by (target, operator, item id), the order settle, reap and replay take.
INSERT INTO outbox (target, operator, item_id, record_id, revision, priority)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::int[], $6::smallint[])
ON CONFLICT (target, operator, item_id) WHERE state = 'pending' AND decision_id IS NULL
DO UPDATE
    SET record_id = excluded.record_id, revision = excluded.revision,
        priority = least(outbox.priority, excluded.priority), attempts = 0,
        next_attempt_at = now(), last_error = NULL;

-- name: notify_records
-- Wakes the feed's long-pollers when this transaction commits (NOTIFY is transactional),
-- one notification per operator ($1).
SELECT count(pg_notify('aedgw_records', op)) FROM unnest($1::text[]) AS op;
