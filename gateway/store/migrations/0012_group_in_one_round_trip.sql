-- Group commit in one round trip (gateway/ingest/store.py). A group's two statements
-- become functions, so that the usual small group (new messages of items not seen
-- before) is stored by one call, ingest_store_group, in a transaction of its own: the locks, the
-- claims and the writes, with no BEGIN, COMMIT or second statement to wait for. Every
-- round trip costs both processes a wake-up, which on a small machine is most of what a
-- single-item message costs. A group that meets an earlier claim or an item seen before
-- gets SQLSTATE AE001 (everything it did is rolled back) and is stored again the long
-- way, in a transaction of two statements: ingest_begin_group, then, with the item
-- states it returned, ingest_write_group.

-- ingest_begin_group
-- 1. locked: the item advisory locks ($1 space, $2 key, $3 shared), in the order given
--    (see gateway/ingest/locks.py; the inner ORDER BY fixes the order in
--    which the aggregate takes them). Both inserts wait for it (a one-time filter), so
--    the locks are held before the first row written gives the transaction its xid.
-- 2. claimed: take (operator $4, dedupe key $5) for each message ($6 message id, $7
--    sha256 of its bytes), sorted so that groups claim in one order; the keys are
--    distinct. A claim whose message accepted nothing may be taken over by different
--    bytes (a corrected resend); otherwise the existing claim stands and is not returned.
--    A racing identical submission waits on the unique key until the first commits.
-- 3. reserved: each item ($8 operator, $9 item id, sorted) locked and read: a
--    placeholder (revision 0) for a first sighting, else the row's latest version (ON
--    CONFLICT reads past the statement's snapshot, taken before the locks were).
CREATE FUNCTION ingest_begin_group(
    int[], int[], bool[], text[], text[], uuid[], text[], text[], text[]
) RETURNS TABLE (kind text, operator text, key text, revision int, function text,
                 data_sha256 text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH locked AS (
        SELECT count(CASE WHEN k.shared THEN pg_advisory_xact_lock_shared(k.space, k.key)
                          ELSE pg_advisory_xact_lock(k.space, k.key) END) AS n
        FROM (SELECT u.space, u.key, u.shared
              FROM unnest($1::int[], $2::int[], $3::bool[])
                   WITH ORDINALITY AS u(space, key, shared, n)
              ORDER BY u.n) AS k
    ), claimed AS (
        INSERT INTO message_claims AS c (operator, dedupe_key, message_id, raw_sha256,
                                         accepted_any)
        SELECT k.operator, k.dedupe_key, k.message_id, k.raw_sha256, false
        FROM unnest($4::text[], $5::text[], $6::uuid[], $7::text[])
             AS k(operator, dedupe_key, message_id, raw_sha256)
        WHERE (SELECT n FROM locked) IS NOT NULL
        ON CONFLICT (operator, dedupe_key) DO UPDATE
            SET message_id = excluded.message_id, raw_sha256 = excluded.raw_sha256,
                accepted_any = false
            WHERE NOT c.accepted_any AND c.raw_sha256 <> excluded.raw_sha256
        RETURNING c.operator, c.dedupe_key
    ), reserved AS (
        INSERT INTO items AS i (operator, item_id, revision)
        SELECT k.operator, k.item_id, 0
        FROM unnest($8::text[], $9::text[]) AS k(operator, item_id)
        WHERE (SELECT n FROM locked) IS NOT NULL
        ON CONFLICT (operator, item_id) DO UPDATE SET revision = i.revision
        RETURNING i.operator, i.item_id, i.revision, i.function, i.data_sha256
    )
    SELECT 'claim' AS kind, operator, dedupe_key AS key, NULL::int AS revision,
           NULL::text AS function, NULL::text AS data_sha256
    FROM claimed
    UNION ALL
    SELECT 'item', operator, item_id, revision, function, data_sha256 FROM reserved;
END
$$;

-- ingest_write_group
-- Everything a group writes, one part a table, over arrays (foreign keys are checked
-- at the end of the statement, so parts may refer to rows other parts insert):
--   $1-$12   messages: receipt is the answer's bytes as sent (a replay sends them again)
--   $13-$21  records: body is the canonical JSON serialised at ingest; rows go in array
--            order, so seq (the feed's order within a transaction) follows it
--   $22-$27  items: each item's latest revision
--   $28-$29  placeholders of items reserved but refused (an UPDATE of an unknown
--            item, say), which must not look "seen"
--   $30-$35  outbox, sorted by (target, operator, item id) as settle, reap and replay
--            write it; a newer revision replaces a pending one, so revisions never
--            overtake each other
--   $36-$38  claims settled: whether their message accepted anything
--   $39-$41  claims released: a message refused whole (all or nothing) keeps none, so
--            sent again it is judged again
--   $42      operators to NOTIFY: wakes the feed's long-pollers at commit
CREATE FUNCTION ingest_write_group(
    uuid[], text[], text[], text[], text[], text[], bytea[], text[], timestamptz[],
    text[], smallint[], bytea[], uuid[], text[], uuid[], text[], int[], text[], text[],
    text[], bytea[], text[], text[], int[], text[], text[], uuid[], text[], text[],
    text[], text[], text[], uuid[], int[], smallint[], text[], text[], bool[], text[],
    text[], uuid[], text[]
) RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    notified bigint;
BEGIN
    WITH outbox_in AS (
        INSERT INTO outbox (target, operator, item_id, record_id, revision, priority)
        SELECT * FROM unnest($30::text[], $31::text[], $32::text[], $33::uuid[], $34::int[],
                             $35::smallint[])
        ON CONFLICT (target, operator, item_id) WHERE state = 'pending' AND decision_id IS NULL
        DO UPDATE
            SET record_id = excluded.record_id, revision = excluded.revision,
                priority = least(outbox.priority, excluded.priority), attempts = 0,
                next_attempt_at = now(), last_error = NULL
    ), records_in AS (
        INSERT INTO records (record_id, operator, message_id, item_id, revision, function,
                             destination, data_sha256, body)
        SELECT * FROM unnest($13::uuid[], $14::text[], $15::uuid[], $16::text[], $17::int[],
                             $18::text[], $19::text[], $20::text[], $21::bytea[])
    ), messages_in AS (
        INSERT INTO messages (message_id, operator, message_ref, idempotency_key, source_format,
                              content_type, raw, raw_sha256, received_at, status, http_status,
                              receipt)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::bytea[], $8::text[], $9::timestamptz[], $10::text[],
                             $11::smallint[], $12::bytea[])
    ), items_up AS (
        UPDATE items SET revision = u.revision, function = u.function, data_sha256 = u.sha,
                         record_id = u.record_id, updated_at = now()
        FROM unnest($22::text[], $23::text[], $24::int[], $25::text[], $26::text[], $27::uuid[])
             AS u(operator, item_id, revision, function, sha, record_id)
        WHERE items.operator = u.operator AND items.item_id = u.item_id
    ), placeholders AS (
        DELETE FROM items i
        USING unnest($28::text[], $29::text[]) AS d(operator, item_id)
        WHERE i.operator = d.operator AND i.item_id = d.item_id AND i.revision = 0
    ), settled AS (
        UPDATE message_claims c SET accepted_any = s.accepted_any
        FROM unnest($36::text[], $37::text[], $38::bool[]) AS s(operator, dedupe_key, accepted_any)
        WHERE c.operator = s.operator AND c.dedupe_key = s.dedupe_key
    ), released AS (
        DELETE FROM message_claims c
        USING unnest($39::text[], $40::text[], $41::uuid[]) AS r(operator, dedupe_key, message_id)
        WHERE c.operator = r.operator AND c.dedupe_key = r.dedupe_key
          AND c.message_id = r.message_id
    )
    SELECT count(pg_notify('aedgw_records', op)) INTO notified FROM unnest($42::text[]) AS op;
END
$$;

-- ingest_store_group: $1-$9 as ingest_begin_group's, $10-$51 as ingest_write_group's,
-- written only when every claim ($4, $5) was taken and every item ($8, $9) is a first
-- sighting, which is what the caller assumed when it made the writes.
CREATE FUNCTION ingest_store_group(
    int[], int[], bool[], text[], text[], uuid[], text[], text[], text[], uuid[],
    text[], text[], text[], text[], text[], bytea[], text[], timestamptz[], text[],
    smallint[], bytea[], uuid[], text[], uuid[], text[], int[], text[], text[], text[],
    bytea[], text[], text[], int[], text[], text[], uuid[], text[], text[], text[],
    text[], text[], uuid[], int[], smallint[], text[], text[], bool[], text[], text[],
    uuid[], text[]
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    claims int;
    seen int;
BEGIN
    SELECT count(*) FILTER (WHERE b.kind = 'claim'),
           count(*) FILTER (WHERE b.kind = 'item' AND b.revision > 0)
    INTO claims, seen
    FROM ingest_begin_group($1, $2, $3, $4, $5, $6, $7, $8, $9) AS b;
    IF claims <> cardinality($5) OR seen > 0 THEN
        RAISE EXCEPTION 'a claim was taken before or an item was seen before'
            USING ERRCODE = 'AE001';
    END IF;
    PERFORM ingest_write_group($10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47, $48, $49, $50, $51);
END
$$;
