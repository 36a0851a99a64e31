-- Operator profiles.

-- name: insert_operator
INSERT INTO operators (code, name, formats, allow_bilateral, all_or_nothing,
                       callback_url, callback_secret)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (code) DO NOTHING
RETURNING code;

-- name: get_operator
SELECT code, name, formats, allow_bilateral, all_or_nothing, callback_url,
       callback_secret, disabled_at, rate_per_s, concurrency, cert_fingerprints,
       require_client_cert
FROM operators WHERE code = $1;

-- name: list_operators
SELECT o.code, o.name, o.formats, o.allow_bilateral, o.all_or_nothing, o.callback_url,
       o.disabled_at, o.created_at, o.rate_per_s, o.concurrency, o.cert_fingerprints,
       o.require_client_cert,
       (SELECT count(*) FROM api_keys k
        WHERE k.scope = 'operator' AND k.subject = o.code AND k.revoked_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())) AS live_keys
FROM operators o ORDER BY o.code;

-- name: disable_operator
UPDATE operators SET disabled_at = coalesce(disabled_at, now()) WHERE code = $1
RETURNING code;

-- name: lock_operator
-- The profile as stored, locked until the transaction that changes it commits.
SELECT code, name, formats, allow_bilateral, all_or_nothing, callback_url,
       callback_secret, disabled_at, rate_per_s, concurrency, cert_fingerprints,
       require_client_cert
FROM operators WHERE code = $1 FOR UPDATE;

-- name: update_operator_policy
UPDATE operators
SET rate_per_s = $2, concurrency = $3, cert_fingerprints = $4, require_client_cert = $5
WHERE code = $1;

-- name: notify_operators
-- Every process drops its cached profile of this operator ('*': all of them).
SELECT pg_notify('aedgw_operators', $1);
