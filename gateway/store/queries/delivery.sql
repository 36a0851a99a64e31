-- Delivery: outbox claims, settlements, the lease reaper, depth for metrics, and the
-- dead-letter views. An outbox row's queue is its target (a delivery endpoint's name).

-- name: claim_outbox
-- Lease due rows of one queue in priority order, in ONE statement that commits.
-- $1 queue, $2 batch size, $3 lease (interval), $4 id for a new batch, $5 lease id.
-- The head row decides the batch: a row of an earlier batch brings the rest of that
-- batch along (same batch id, so the retry keeps its Idempotency-Key, which therefore
-- never names other records than its first attempt did); only the head of
-- a batch may start its claim, so two workers never split one batch between them. A
-- fresh head takes fresh rows. Items with an older revision still in flight wait, so
-- revisions never overtake each other. SKIP LOCKED lets workers share the queue.
-- Plans stay proportional to the batch, whatever the backlog and the statistics: fresh
-- rows and a batch's rows are picked by two branches (one of them empty), and the
-- in-flight check is a per-row lookup (a scalar subquery with LIMIT is never turned
-- into a join against every in-flight row). The records' stored bytes come back with
-- the claim: the batch is built from them without another query.
-- The commit does not wait for the WAL flush (see ``relaxed``).
WITH relaxed AS (
    -- A claim or a settlement lost in a crash of the database server only sends its
    -- rows again (delivery is at least once), so its commit need not wait for the WAL
    -- to reach the disk: set for this statement's transaction alone.
    SELECT set_config('synchronous_commit', 'off', true) AS done
), head AS (
    SELECT o.batch_id
    FROM outbox o
    WHERE o.target = $1 AND o.state = 'pending' AND o.next_attempt_at <= now()
      AND NOT coalesce((SELECT true FROM outbox f
                        WHERE f.target = o.target AND f.operator = o.operator
                          AND f.item_id = o.item_id AND f.state = 'in_flight'
                        LIMIT 1), false)
      AND (o.batch_id IS NULL OR NOT EXISTS (
              SELECT 1 FROM outbox e
              WHERE e.batch_id = o.batch_id AND e.state = 'pending'
                AND (e.priority, e.id) < (o.priority, o.id)))
    ORDER BY o.priority, o.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), fresh AS (
    SELECT o.id, o.record_id
    FROM outbox o
    WHERE EXISTS (SELECT 1 FROM head WHERE batch_id IS NULL)
      AND o.target = $1 AND o.state = 'pending' AND o.batch_id IS NULL
      AND o.next_attempt_at <= now()
      AND NOT coalesce((SELECT true FROM outbox f
                        WHERE f.target = o.target AND f.operator = o.operator
                          AND f.item_id = o.item_id AND f.state = 'in_flight'
                        LIMIT 1), false)
    ORDER BY o.priority, o.id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), retried AS (
    SELECT o.id, o.record_id
    FROM outbox o
    WHERE EXISTS (SELECT 1 FROM head WHERE batch_id IS NOT NULL)
      AND o.batch_id = (SELECT batch_id FROM head)
      AND o.target = $1 AND o.state = 'pending' AND o.next_attempt_at <= now()
    ORDER BY o.priority, o.id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), partial AS (
    -- Part of a retried batch (a probe of one row, a smaller batch size since) is other
    -- content: it gets a new id, and the rows left behind keep the old one.
    SELECT (SELECT count(*) FROM retried) < (SELECT count(*) FROM outbox
                                             WHERE batch_id = (SELECT batch_id FROM head)
                                               AND state = 'pending') AS yes
)
UPDATE outbox o
SET state = 'in_flight', lease_id = $5, lease_until = now() + $3::interval,
    attempts = o.attempts + 1,
    batch_id = CASE WHEN o.batch_id IS NULL OR (SELECT yes FROM partial) THEN $4
                    ELSE o.batch_id END
FROM (SELECT id, record_id FROM fresh UNION ALL SELECT id, record_id FROM retried) picked
     LEFT JOIN records r ON r.record_id = picked.record_id
WHERE o.id = picked.id AND (SELECT done IS NOT NULL FROM relaxed)
RETURNING o.id, o.priority, o.operator, o.item_id, o.record_id, o.decision_id, o.revision,
          o.attempts, o.batch_id, r.body, r.destination;

-- name: deliver_outbox
-- Every row still held by lease $1 was delivered: the common settlement, without the
-- per-row arrays of settle_outbox. Not waiting for the WAL flush, as claim_outbox.
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true) AS done)
UPDATE outbox
SET state = 'delivered', delivered_at = now(), lease_id = NULL, lease_until = NULL
WHERE lease_id = $1 AND state = 'in_flight' AND (SELECT done IS NOT NULL FROM relaxed);

-- name: settle_outbox
-- Record the outcome of one attempt, row by row, for rows still held by lease $1, in the
-- order given (outbox.settle sorts by operator and item, the order ingest writes in).
-- A record row going back to the queue while a newer revision of its item waits there
-- is superseded instead: the newer revision carries the item's latest state. Decision
-- rows are never superseded: every decision is delivered. Not waiting for the WAL
-- flush, as claim_outbox.
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true) AS done)
UPDATE outbox o
SET state = CASE
        WHEN s.state = 'pending' AND o.decision_id IS NULL AND EXISTS (
            SELECT 1 FROM outbox n
            WHERE n.target = o.target AND n.operator = o.operator AND n.item_id = o.item_id
              AND n.state = 'pending')
        THEN 'superseded'
        ELSE s.state END,
    batch_id = s.batch_id,
    attempts = o.attempts - s.refund,
    next_attempt_at = now() + s.delay_s * interval '1 second',
    lease_id = NULL, lease_until = NULL,
    delivered_at = CASE WHEN s.state = 'delivered' THEN now() END,
    dead_at = CASE WHEN s.state = 'dead' THEN now() END,
    last_error = coalesce(s.error, o.last_error),
    error_code = coalesce(s.code, o.error_code),
    http_status = coalesce(s.http_status, o.http_status)
FROM unnest($2::bigint[], $3::text[], $4::uuid[], $5::float8[], $6::int[], $7::text[],
            $8::text[], $9::int[])
     AS s(id, state, batch_id, delay_s, refund, error, code, http_status)
WHERE o.id = s.id AND o.lease_id = $1 AND o.state = 'in_flight'
  AND (SELECT done IS NOT NULL FROM relaxed)
RETURNING o.id, o.state, o.error_code;

-- name: reap_outbox
-- Expired leases of one queue go back to it (their worker died or hung); the batch id
-- stays, so the retry keeps its Idempotency-Key. A row out of attempts is a dead letter.
-- Rows are locked and moved in (operator, item id) order, the order ingest writes in.
WITH expired AS (
    SELECT id FROM outbox
    WHERE target = $1 AND state = 'in_flight' AND lease_until < now()
    ORDER BY operator, item_id, id
    FOR UPDATE
)
UPDATE outbox o
SET state = CASE
        WHEN o.attempts >= $2 THEN 'dead'
        WHEN o.decision_id IS NULL AND EXISTS (
            SELECT 1 FROM outbox n
            WHERE n.target = o.target AND n.operator = o.operator AND n.item_id = o.item_id
              AND n.state = 'pending')
        THEN 'superseded'
        ELSE 'pending' END,
    dead_at = CASE WHEN o.attempts >= $2 THEN now() END,
    next_attempt_at = now(), lease_id = NULL, lease_until = NULL,
    error_code = 'lease_expired', http_status = NULL,
    last_error = 'the lease expired before the worker recorded an answer'
FROM expired
WHERE o.id = expired.id AND o.state = 'in_flight'
RETURNING o.id, o.state, o.error_code;

-- name: outbox_depth
-- Rows per live state of one queue and the age of the oldest, for the metrics.
SELECT state, count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS age_s
FROM outbox
WHERE target = $1 AND state IN ('pending', 'in_flight', 'dead')
GROUP BY state;

-- name: list_dead_letters
-- $1 target, $2 operator, $3 since, $4 until (dead_at), $5 error code: NULL = any;
-- $6 after this id, $7 limit.
SELECT id, target, operator, item_id, record_id, revision, attempts, error_code,
       http_status, last_error, batch_id, created_at, dead_at
FROM outbox
WHERE state = 'dead'
  AND ($1::text IS NULL OR target = $1) AND ($2::text IS NULL OR operator = $2)
  AND ($3::timestamptz IS NULL OR dead_at >= $3) AND ($4::timestamptz IS NULL OR dead_at < $4)
  AND ($5::text IS NULL OR error_code = $5)
  AND id > $6
ORDER BY id
LIMIT $7;

-- name: count_dead_letters
-- Filters as list_dead_letters.
SELECT count(*) FROM outbox
WHERE state = 'dead'
  AND ($1::text IS NULL OR target = $1) AND ($2::text IS NULL OR operator = $2)
  AND ($3::timestamptz IS NULL OR dead_at >= $3) AND ($4::timestamptz IS NULL OR dead_at < $4)
  AND ($5::text IS NULL OR error_code = $5);

-- name: replay_dead_letters
-- Up to $6 dead letters (filters as list_dead_letters) back to the queue with attempts
-- reset and no batch (a new Idempotency-Key: the receiver refused the old one). A row
-- whose item has a newer revision for the same target is superseded instead, since
-- sending it now would overtake that revision.
WITH picked AS (
    SELECT id FROM outbox
    WHERE state = 'dead'
      AND ($1::text IS NULL OR target = $1) AND ($2::text IS NULL OR operator = $2)
      AND ($3::timestamptz IS NULL OR dead_at >= $3)
      AND ($4::timestamptz IS NULL OR dead_at < $4)
      AND ($5::text IS NULL OR error_code = $5)
    ORDER BY id
    LIMIT $6
    FOR UPDATE SKIP LOCKED
), ordered AS (
    -- Moved in (target, operator, item id) order, the order ingest writes in.
    SELECT o.id FROM outbox o JOIN picked USING (id)
    ORDER BY o.target, o.operator, o.item_id, o.id
)
UPDATE outbox o
SET state = CASE
        WHEN o.decision_id IS NULL AND EXISTS (
            SELECT 1 FROM outbox n
            WHERE n.target = o.target AND n.operator = o.operator AND n.item_id = o.item_id
              AND (n.revision > o.revision OR n.state = 'pending'))
        THEN 'superseded'
        ELSE 'pending' END,
    attempts = 0, next_attempt_at = now(), batch_id = NULL, dead_at = NULL
FROM ordered
WHERE o.id = ordered.id
RETURNING o.id, o.state, o.error_code;

-- name: outbox_states
-- Rows per state over every queue (the demo waits for pending and in_flight to drain).
SELECT state, count(*) AS n FROM outbox GROUP BY state;
