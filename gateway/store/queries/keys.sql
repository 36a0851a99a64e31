-- API keys: stored as SHA-256 of the secret; NOTIFY on revocation.

-- name: insert_key
INSERT INTO api_keys (key_id, secret_sha256, scope, subject) VALUES ($1, $2, $3, $4);

-- name: get_key
-- A key is live until revoked or past its expiry (set by a rotation's overlap).
SELECT k.key_id, k.secret_sha256, k.scope, k.subject, k.expires_at
FROM api_keys k
LEFT JOIN operators o ON k.scope = 'operator' AND o.code = k.subject
WHERE k.key_id = $1 AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > now())
  AND o.disabled_at IS NULL;

-- name: key_subject
SELECT key_id, scope, subject, revoked_at FROM api_keys WHERE key_id = $1;

-- name: revoke_key
UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL
RETURNING key_id;

-- name: expire_key
UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'), now() + $2::interval)
WHERE key_id = $1 AND revoked_at IS NULL
RETURNING key_id, expires_at;

-- name: notify_keys
SELECT pg_notify('aedgw_keys', $1);
