-- The way back: decisions on items, the operators' outcomes feed and item view.

-- name: decision_targets
-- The item a decision names, with its latest revision; $2 NULL means any operator (the
-- caller refuses an id that two operators use). FOR SHARE waits for an ingest that is
-- committing a new revision of the item (it holds the row FOR UPDATE), then reads the
-- revision it committed: ``superseded`` is decided against the latest revision.
SELECT operator, revision, record_id
FROM items
WHERE item_id = $1 AND ($2::text IS NULL OR operator = $2) AND revision > 0
ORDER BY operator
FOR SHARE;

-- name: revision_record
SELECT record_id FROM records WHERE operator = $1 AND item_id = $2 AND revision = $3;

-- name: insert_decision
INSERT INTO decisions (decision_id, operator, item_id, revision, record_id, code,
                       reference, reason, decided_by, superseded)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (operator, item_id, revision, code, reference) DO NOTHING
RETURNING decision_id, operator, item_id, revision, record_id, code, reference, reason,
       decided_by, superseded, decided_at;

-- name: same_decision
SELECT decision_id, operator, item_id, revision, record_id, code, reference, reason,
       decided_by, superseded, decided_at
FROM decisions
WHERE operator = $1 AND item_id = $2 AND revision = $3 AND code = $4 AND reference = $5;

-- name: notify_outcomes
SELECT pg_notify('aedgw_outcomes', $1);

-- name: outcomes_page
-- The operator's decisions in the records feed's commit-safe order (see feed_page);
-- ORDER BY names the table's columns so that decisions_outcomes serves it.
SELECT d.xid::text::bigint AS position_xid, d.seq, d.decision_id, d.operator, d.item_id,
       d.revision, d.record_id, d.code, d.reference, d.reason, d.decided_by, d.superseded,
       d.decided_at
FROM decisions d
WHERE d.operator = $1
  AND (d.xid, d.seq) > ($2::text::xid8, $3::bigint)
  AND d.xid < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
ORDER BY d.xid, d.seq
LIMIT $4;

-- name: item_decisions
SELECT decision_id, operator, item_id, revision, record_id, code, reference, reason,
       decided_by, superseded, decided_at
FROM decisions WHERE operator = $1 AND item_id = $2 ORDER BY seq;

-- name: enqueue_decision
-- A decision for the operator's callback queue. DO_NOT_LOAD comes with priority 0, ahead
-- of everything else the operator is sent.
INSERT INTO outbox (target, operator, item_id, decision_id, revision, priority)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: callback_profiles
-- Operators whose decisions are pushed.
SELECT code, callback_url, callback_secret, formats
FROM operators
WHERE callback_url IS NOT NULL AND disabled_at IS NULL
ORDER BY code;

-- name: decisions_by_id
SELECT decision_id, operator, item_id, revision, record_id, code, reference, reason,
       decided_by, superseded, decided_at
FROM decisions WHERE decision_id = ANY($1::uuid[]);

-- name: operator_callback
SELECT callback_url FROM operators WHERE code = $1 AND disabled_at IS NULL;
