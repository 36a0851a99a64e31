-- API keys: stored as SHA-256 of the secret; NOTIFY on revocation.

-- name: insert_key
-- $5: the key's lifetime, NULL for a key that lives until revoked.
INSERT INTO api_keys (key_id, secret_sha256, scope, subject, lifetime, expires_at)
VALUES ($1, $2, $3, $4, $5::interval, now() + $5::interval)
RETURNING expires_at;

-- name: get_key
-- A key is live until revoked or past its expiry (set by a rotation's overlap).
SELECT k.key_id, k.secret_sha256, k.scope, k.subject, k.expires_at
FROM api_keys k
LEFT JOIN operators o ON k.scope = 'operator' AND o.code = k.subject
WHERE k.key_id = $1 AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > now())
  AND o.disabled_at IS NULL;

-- name: key_subject
SELECT key_id, scope, subject, revoked_at, lifetime FROM api_keys WHERE key_id = $1;

-- name: revoke_key
UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL
RETURNING key_id;

-- name: expire_key
UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'), now() + $2::interval)
WHERE key_id = $1 AND revoked_at IS NULL
RETURNING key_id, expires_at;

-- name: notify_keys
SELECT pg_notify('aedgw_keys', $1);

-- name: touch_key
UPDATE api_keys SET last_used_at = now() WHERE key_id = $1;

-- name: list_keys
SELECT key_id, scope, subject, created_at, expires_at, revoked_at, last_used_at
FROM api_keys ORDER BY scope, subject, created_at;

-- name: expiring_keys
-- Live keys that have an expiry (issued with one, or rotated), soonest first.
SELECT key_id, scope, subject, expires_at
FROM api_keys
WHERE revoked_at IS NULL AND expires_at > now()
ORDER BY expires_at;
