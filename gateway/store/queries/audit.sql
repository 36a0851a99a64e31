-- The audit trail (append-only; see migration 0006).

-- name: insert_audit
-- $4 is JSON text, so that a connection without the pool's jsonb codec can write too.
INSERT INTO audit_log (actor, action, subject, details, source)
VALUES ($1, $2, $3, ($4::text)::jsonb, $5)
RETURNING id, at;

-- name: list_audit
-- $1 since, $2 action prefix, $3 actor: NULL = any; $4 after this id, $5 limit.
SELECT id, at, actor, action, subject, details, source
FROM audit_log
WHERE ($1::timestamptz IS NULL OR at >= $1)
  AND ($2::text IS NULL OR action = $2 OR action LIKE $2 || '.%')
  AND ($3::text IS NULL OR actor = $3)
  AND id > $4
ORDER BY id
LIMIT $5;
