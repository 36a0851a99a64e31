-- The readiness write probe (see gateway/store/health.py); its transaction is rolled back.

-- name: probe_limits
-- Several processes probe at once; none waits long for another's lock on the table.
SET LOCAL lock_timeout = '500ms';

-- name: probe_truncate
TRUNCATE readiness_probe;

-- name: probe_insert
INSERT INTO readiness_probe (at) VALUES (now());
