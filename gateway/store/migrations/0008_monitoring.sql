-- A fourth key scope, monitoring: it may read /metrics (when metrics_auth is on) and
-- nothing else, so a Prometheus server never holds a key that can replay or read data.

ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check
    CHECK (scope IN ('operator', 'targeting', 'admin', 'monitoring'));
