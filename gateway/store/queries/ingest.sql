-- Ingest: archived messages, idempotency claims, item revisions and outbox rows. A group
-- of messages (gateway/ingest/store.py) is stored by one call over arrays (store_group), or,
-- when it meets earlier claims or items, in one transaction of two: begin_group (locks,
-- claims, item states) and write_group (the rest). The three are functions (0012).

-- name: insert_message
-- One message refused before it reached the store (unparseable, wrong format ...).
INSERT INTO messages (message_id, operator, message_ref, idempotency_key, source_format,
                      content_type, raw, raw_sha256, received_at, status, http_status, receipt)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::bytea);

-- name: set_receipt
-- A streamed message's answer, once its last chunk is written (gateway/ingest/store.py,
-- _stream): its archive row went first, as the records refer to it.
UPDATE messages SET status = $2, http_status = $3, receipt = $4::bytea WHERE message_id = $1;

-- name: get_message
SELECT receipt, http_status FROM messages WHERE message_id = $1 AND operator = $2;

-- name: begin_group
-- Locks, claims and item states of a group (migration 0012, ingest_begin_group).
SELECT * FROM ingest_begin_group($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: get_claims
SELECT c.operator, c.dedupe_key, c.raw_sha256, c.accepted_any, m.receipt, m.http_status
FROM unnest($1::text[], $2::text[]) AS k(operator, dedupe_key)
JOIN message_claims c ON c.operator = k.operator AND c.dedupe_key = k.dedupe_key
JOIN messages m ON m.message_id = c.message_id;

-- name: lock_items
-- An item's row, locked as begin_group locks it (other writers' tests play an ingest).
SELECT i.operator, i.item_id, i.revision, i.function, i.data_sha256
FROM items i
JOIN unnest($1::text[], $2::text[]) AS k(operator, item_id)
  ON i.operator = k.operator AND i.item_id = k.item_id
ORDER BY i.operator, i.item_id
FOR UPDATE OF i;

-- name: read_items
SELECT operator, item_id, revision, function, data_sha256
FROM items WHERE operator = $1 AND item_id = ANY($2::text[]);

-- name: write_group
-- Everything a group writes (migration 0012, ingest_write_group).
SELECT ingest_write_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42);

-- name: store_group
-- A group of new messages of items not seen before, in one call (migration 0012,
-- ingest_store_group): SQLSTATE AE001 when that was not so, and nothing is written.
SELECT ingest_store_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47, $48, $49, $50, $51);

-- name: insert_outbox
-- A newer revision queued as write_group queues it (other writers' tests play an ingest).
INSERT INTO outbox (target, operator, item_id, record_id, revision, priority)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::int[], $6::smallint[])
ON CONFLICT (target, operator, item_id) WHERE state = 'pending' AND decision_id IS NULL
DO UPDATE
    SET record_id = excluded.record_id, revision = excluded.revision,
        priority = least(outbox.priority, excluded.priority), attempts = 0,
        next_attempt_at = now(), last_error = NULL;
