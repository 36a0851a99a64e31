-- Daily rollups per operator (see gateway/rollups.py) and the scorecard's settings.

-- name: lock_rollups
-- One computation at a time, across processes; a second caller waits, then finds the
-- work done.
SELECT pg_advisory_xact_lock(1095057768);

-- name: rollups_final_through
SELECT final_through FROM rollup_progress;

-- name: rollups_first_day
-- The first UTC day that may hold data: nothing is older than the first operator.
SELECT least((SELECT min(created_at) FROM operators),
             (SELECT created_at FROM records ORDER BY seq LIMIT 1),
             (SELECT min(received_at) FROM messages))
       AT TIME ZONE 'UTC';

-- name: set_rollups_final_through
INSERT INTO rollup_progress (final_through) VALUES ($1)
ON CONFLICT (only_row) DO UPDATE SET final_through = excluded.final_through;

-- name: rollups_fresh
-- Whether the partial days from $1 on were all computed less than $2 seconds ago.
SELECT coalesce(min(computed_at) > now() - $2 * interval '1 second', false)
FROM daily_rollups
WHERE day >= $1;

-- name: compute_rollups
-- Every operator's rollups for the UTC days $1 to $2 (inclusive), marked final or not
-- ($3), replacing what was there: one set-based pass over the days' records and
-- receipts. Quality counts read the records' canonical JSON; rejections read receipts.
-- A record's day is when it was stored, a message's when it was received.
WITH recs AS (
    SELECT r.operator, (r.created_at AT TIME ZONE 'UTC')::date AS day, r.function,
           stored_json(r.body) AS body
    FROM records r
    WHERE r.created_at >= $1::date::timestamp AT TIME ZONE 'UTC'
      AND r.created_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
), record_facts AS (
    SELECT operator, day, function,
           CASE WHEN jsonb_typeof(body -> 'contents') = 'array'
                THEN body -> 'contents' ELSE '[]' END AS contents,
           coalesce(body -> 'quality_flags', '[]') AS flags,
           (body -> 'transport' ->> 'departure_at')::timestamptz
               - (body ->> 'received_at')::timestamptz AS lead
    FROM recs
), per_record AS (
    SELECT operator, day,
           count(*) FILTER (WHERE function <> 'CANCEL') AS records,
           count(*) FILTER (WHERE function = 'ORIGINAL') AS originals,
           count(*) FILTER (WHERE function <> 'ORIGINAL') AS amendments,
           coalesce(sum(l.lines) FILTER (WHERE function <> 'CANCEL'), 0) AS lines,
           coalesce(sum(l.hs) FILTER (WHERE function <> 'CANCEL'), 0) AS lines_hs,
           coalesce(sum(l.detailed) FILTER (WHERE function <> 'CANCEL'), 0) AS lines_hs_detailed,
           count(*) FILTER (WHERE function <> 'CANCEL' AND flags ? 'vague_description') AS vague,
           count(*) FILTER (WHERE function <> 'CANCEL' AND flags ? 'value_mismatch')
               AS value_mismatch,
           count(*) FILTER (WHERE function <> 'CANCEL' AND flags ? 'weight_mismatch')
               AS weight_mismatch,
           count(*) FILTER (WHERE function <> 'CANCEL' AND flags ? 'phone_invalid')
               AS phone_invalid,
           count(*) FILTER (WHERE function <> 'CANCEL' AND lead IS NULL) AS no_departure
    FROM record_facts,
         LATERAL (SELECT count(*) AS lines,
                         count(*) FILTER (WHERE c ->> 'hs_code' IS NOT NULL) AS hs,
                         count(*) FILTER (WHERE length(c ->> 'hs_code') > 6) AS detailed
                  FROM jsonb_array_elements(contents) AS c) AS l
    GROUP BY operator, day
), leads AS (
    SELECT operator, day,
           least(greatest(floor(extract(epoch FROM lead) / 3600), 0), 48)::int + 1 AS slot,
           count(*) AS n
    FROM record_facts
    WHERE function <> 'CANCEL' AND lead IS NOT NULL
    GROUP BY 1, 2, 3
), lead_histograms AS (
    SELECT p.operator, p.day, array_agg(coalesce(l.n, 0) ORDER BY s.slot) AS lead_hours
    FROM per_record p
    CROSS JOIN generate_series(1, 49) AS s(slot)
    LEFT JOIN leads l ON l.operator = p.operator AND l.day = p.day AND l.slot = s.slot
    GROUP BY p.operator, p.day
), msgs AS (
    SELECT m.operator, (m.received_at AT TIME ZONE 'UTC')::date AS day, m.http_status,
           stored_json(m.receipt) AS receipt
    FROM messages m
    WHERE m.received_at >= $1::date::timestamp AT TIME ZONE 'UTC'
      AND m.received_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
), msg_facts AS (
    SELECT operator, day, http_status >= 400 AS refused,
           coalesce((receipt -> 'items' ->> 'received')::bigint, 0) AS received,
           coalesce((receipt -> 'items' ->> 'rejected')::bigint, 0) AS rejected,
           receipt -> 'error' ->> 'code' AS refusal,
           CASE WHEN jsonb_typeof(receipt -> 'errors') = 'array'
                THEN receipt -> 'errors' ELSE '[]' END AS errors
    FROM msgs
), per_day_messages AS (
    SELECT operator, day, count(*) AS messages,
           count(*) FILTER (WHERE refused) AS messages_refused,
           sum(received) AS items_received,
           -- a refused message rejects every item it held
           sum(CASE WHEN refused THEN received ELSE rejected END) AS items_rejected
    FROM msg_facts
    GROUP BY operator, day
), rejection_codes AS (
    SELECT operator, day, jsonb_object_agg(code, n) AS rejections
    FROM (SELECT operator, day, e ->> 'code' AS code, count(*) AS n
          FROM msg_facts, jsonb_array_elements(errors) AS e
          GROUP BY 1, 2, 3) AS codes
    GROUP BY operator, day
), refusal_codes AS (
    SELECT operator, day, jsonb_object_agg(refusal, n) AS refusals
    FROM (SELECT operator, day, refusal, count(*) AS n
          FROM msg_facts WHERE refused AND refusal IS NOT NULL
          GROUP BY 1, 2, 3) AS codes
    GROUP BY operator, day
), keys AS (
    SELECT operator, day FROM per_record
    UNION
    SELECT operator, day FROM per_day_messages
)
INSERT INTO daily_rollups AS d (
    operator, day, records, originals, amendments, lines, lines_hs, lines_hs_detailed,
    vague, value_mismatch, weight_mismatch, phone_invalid, no_departure, lead_hours,
    messages, messages_refused, items_received, items_rejected, rejections, refusals,
    final, computed_at)
SELECT k.operator, k.day,
       coalesce(p.records, 0), coalesce(p.originals, 0), coalesce(p.amendments, 0),
       coalesce(p.lines, 0), coalesce(p.lines_hs, 0), coalesce(p.lines_hs_detailed, 0),
       coalesce(p.vague, 0), coalesce(p.value_mismatch, 0), coalesce(p.weight_mismatch, 0),
       coalesce(p.phone_invalid, 0), coalesce(p.no_departure, 0),
       coalesce(h.lead_hours, array_fill(0::bigint, ARRAY[49])),
       coalesce(m.messages, 0), coalesce(m.messages_refused, 0),
       coalesce(m.items_received, 0), coalesce(m.items_rejected, 0),
       coalesce(rc.rejections, '{}'), coalesce(fc.refusals, '{}'),
       $3, now()
FROM keys k
LEFT JOIN per_record p USING (operator, day)
LEFT JOIN lead_histograms h USING (operator, day)
LEFT JOIN per_day_messages m USING (operator, day)
LEFT JOIN rejection_codes rc USING (operator, day)
LEFT JOIN refusal_codes fc USING (operator, day)
ON CONFLICT (operator, day) DO UPDATE SET
    records = excluded.records, originals = excluded.originals,
    amendments = excluded.amendments, lines = excluded.lines,
    lines_hs = excluded.lines_hs, lines_hs_detailed = excluded.lines_hs_detailed,
    vague = excluded.vague, value_mismatch = excluded.value_mismatch,
    weight_mismatch = excluded.weight_mismatch, phone_invalid = excluded.phone_invalid,
    no_departure = excluded.no_departure, lead_hours = excluded.lead_hours,
    messages = excluded.messages, messages_refused = excluded.messages_refused,
    items_received = excluded.items_received, items_rejected = excluded.items_rejected,
    rejections = excluded.rejections, refusals = excluded.refusals,
    final = excluded.final, computed_at = excluded.computed_at;

-- name: list_rollups
-- Rollups of one operator ($1) or all (NULL), oldest first.
SELECT operator, day, records, originals, amendments, lines, lines_hs, lines_hs_detailed,
       vague, value_mismatch, weight_mismatch, phone_invalid, no_departure, lead_hours,
       messages, messages_refused, items_received, items_rejected, rejections, refusals,
       final, computed_at
FROM daily_rollups
WHERE $1::text IS NULL OR operator = $1
ORDER BY operator, day;

-- name: list_baselines
SELECT operator, from_day, to_day FROM scorecard_baselines
WHERE $1::text IS NULL OR operator = $1;

-- name: set_baseline
INSERT INTO scorecard_baselines (operator, from_day, to_day) VALUES ($1, $2, $3)
ON CONFLICT (operator) DO UPDATE
    SET from_day = excluded.from_day, to_day = excluded.to_day, set_at = now();

-- name: clear_baseline
DELETE FROM scorecard_baselines WHERE operator = $1 RETURNING operator;

-- name: list_targets
SELECT operator, measure, value, set_at FROM scorecard_targets
WHERE $1::text IS NULL OR operator = $1
ORDER BY operator, measure;

-- name: set_targets
INSERT INTO scorecard_targets (operator, measure, value)
SELECT $1, t.measure, t.value FROM unnest($2::text[], $3::float8[]) AS t(measure, value)
ON CONFLICT (operator, measure) DO UPDATE SET value = excluded.value, set_at = now();

-- name: clear_targets
-- $2 NULL clears every target of the operator.
DELETE FROM scorecard_targets
WHERE operator = $1 AND ($2::text[] IS NULL OR measure = ANY($2::text[]))
RETURNING measure;

-- name: operator_codes
SELECT code FROM operators WHERE $1::text IS NULL OR code = $1 ORDER BY code;
