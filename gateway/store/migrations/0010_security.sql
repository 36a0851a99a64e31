-- Security hardening (issue 13): per-operator limits and client certificates on the
-- operator profile, and when each API key was last used.

-- NULL means the gateway-wide default (limits.operator_requests_per_s and
-- limits.operator_concurrency); both are totals for the whole gateway, divided by the
-- worker processes like the defaults.
ALTER TABLE operators
    ADD COLUMN rate_per_s          double precision CHECK (rate_per_s > 0),
    ADD COLUMN concurrency         integer CHECK (concurrency > 0),
    -- SHA-256 of each client certificate (DER) the operator may present, lower-case
    -- hex; several at once while a certificate is rotated.
    ADD COLUMN cert_fingerprints   text[] NOT NULL DEFAULT '{}'
        CHECK (array_to_string(cert_fingerprints, ',') ~ '^([0-9a-f]{64}(,[0-9a-f]{64})*)?$'),
    ADD COLUMN require_client_cert boolean NOT NULL DEFAULT false;

-- last_used_at is written at most once a minute per key and process, so that a busy key
-- costs no write per request. lifetime is the --expires-in it was issued with: a
-- rotation gives the new key the same.
ALTER TABLE api_keys
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN lifetime     interval CHECK (lifetime > interval '0');
