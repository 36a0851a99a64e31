-- The operations console: sessions, and what its pages read (gateway/overview.py).

-- name: insert_console_session
INSERT INTO console_sessions (token_sha256, key_id, csrf_token, source, expires_at)
VALUES ($1, $2, $3, $4, now() + $5 * interval '1 hour');

-- name: console_session
-- A session lives only as long as its admin key: revoked or expired, the key ends it.
SELECT s.key_id, s.csrf_token, k.subject
FROM console_sessions s JOIN api_keys k USING (key_id)
WHERE s.token_sha256 = $1 AND s.expires_at > now()
  AND k.scope = 'admin' AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > now());

-- name: delete_console_session
DELETE FROM console_sessions WHERE token_sha256 = $1 RETURNING key_id;

-- name: purge_console_sessions
DELETE FROM console_sessions s
WHERE s.expires_at < now()
   OR EXISTS (SELECT 1 FROM api_keys k WHERE k.key_id = s.key_id AND k.revoked_at IS NOT NULL);

-- name: hourly_traffic
-- Messages, items and rejected items per operator and UTC hour since $1.
SELECT operator, date_trunc('hour', received_at, 'UTC') AS hour, count(*) AS messages,
       sum(coalesce((stored_json(receipt) -> 'items' ->> 'received')::bigint, 0)) AS items,
       sum(CASE WHEN http_status >= 400
                THEN coalesce((stored_json(receipt) -> 'items' ->> 'received')::bigint, 0)
                ELSE coalesce((stored_json(receipt) -> 'items' ->> 'rejected')::bigint, 0)
           END) AS rejected,
       count(*) FILTER (WHERE http_status >= 400) AS refused
FROM messages
WHERE received_at >= $1
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: rejection_examples
-- Item errors and whole-message refusals since $1 (of operator $2, NULL = all) per
-- operator and code: how many, and the latest $3 examples of each. An example names the
-- item, the path into the document and the message, never the error's text or any
-- value sent (they may hold personal data).
WITH receipts AS (
    SELECT operator, message_id, received_at, http_status, stored_json(receipt) AS receipt
    FROM messages
    WHERE received_at >= $1 AND ($2::text IS NULL OR operator = $2)
), errors AS (
    SELECT r.operator, r.message_id, r.received_at, 'item' AS kind, e ->> 'code' AS code,
           e ->> 'item_id' AS item_id, e ->> 'path' AS path
    FROM receipts r,
         jsonb_array_elements(CASE WHEN jsonb_typeof(r.receipt -> 'errors') = 'array'
                                   THEN r.receipt -> 'errors' ELSE '[]' END) AS e
    UNION ALL
    SELECT operator, message_id, received_at, 'message', receipt -> 'error' ->> 'code',
           NULL, NULL
    FROM receipts
    WHERE http_status >= 400 AND receipt -> 'error' ->> 'code' IS NOT NULL
), ranked AS (
    SELECT *, count(*) OVER per_code AS n,
           row_number() OVER (per_code ORDER BY received_at DESC, message_id) AS example
    FROM errors
    WINDOW per_code AS (PARTITION BY operator, kind, code)
)
SELECT operator, kind, code, n, example, item_id, path, message_id, received_at
FROM ranked
WHERE example <= $3
ORDER BY operator, n DESC, kind, code, example;

-- name: outbox_by_target
-- Live outbox rows per queue, and how long the oldest waiting row has waited.
SELECT target,
       count(*) FILTER (WHERE state = 'pending') AS pending,
       count(*) FILTER (WHERE state = 'in_flight') AS in_flight,
       count(*) FILTER (WHERE state = 'dead') AS dead,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE state <> 'dead'))::float8
           AS oldest_s
FROM outbox
WHERE state IN ('pending', 'in_flight', 'dead')
GROUP BY target
ORDER BY target;

-- name: recent_circuit_states
-- What each live process's breaker says per target ($1: seconds a report stays live).
SELECT target, process, state, reported_at
FROM circuit_states
WHERE reported_at > now() - $1 * interval '1 second'
ORDER BY target, process;

-- name: report_circuit
-- A process's breaker state for a target, refreshed by its housekeeping; reports of
-- processes gone for a day are dropped on the way.
WITH gone AS (
    DELETE FROM circuit_states WHERE reported_at < now() - interval '1 day'
)
INSERT INTO circuit_states (target, process, state) VALUES ($1, $2, $3)
ON CONFLICT (target, process) DO UPDATE SET state = excluded.state, reported_at = now();
