-- The audit trail: every administrative act (keys issued, rotated, revoked; operators
-- added, changed, disabled; replays, purges, backfills, console actions), who did it,
-- when and from where. Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE, so
-- that no code path (and no one with the gateway's own credentials by mistake) rewrites
-- history.

CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,   -- an admin key id, or cli:<user>@<host>
    action  text NOT NULL,   -- dotted: keys.issue, operators.disable, deadletters.replay …
    subject text,            -- what was acted on: a key id, an operator code, a target
    details jsonb NOT NULL DEFAULT '{}',
    source  text             -- where from: the client address, or the CLI's host
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
