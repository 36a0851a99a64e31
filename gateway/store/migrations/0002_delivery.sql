-- Delivery: what the outbox workers need beyond 0001's queue columns.
--
-- lease_id     the claim that holds an in_flight row; a late answer from a worker whose
--              lease expired (and whose row was claimed again) settles nothing.
-- error_code   the class of the last failure (connection, timeout, throttled,
--              server_error, client_error, rejected, lease_expired), http_status its
--              HTTP status when there was an answer; dead_at when it became a dead letter.

ALTER TABLE outbox
    ADD COLUMN lease_id    uuid,
    ADD COLUMN error_code  text,
    ADD COLUMN http_status smallint,
    ADD COLUMN dead_at     timestamptz;

-- Dead letters are listed and replayed by target, operator, time window and code.
CREATE INDEX outbox_dead ON outbox (dead_at, id) WHERE state = 'dead';
-- The claim skips an item whose older revision is still in flight (no overtaking); the
-- reaper looks for expired leases.
CREATE INDEX outbox_in_flight ON outbox (target, operator, item_id) WHERE state = 'in_flight';
-- A retried batch is claimed again whole, found by its id.
CREATE INDEX outbox_pending_batch ON outbox (batch_id) WHERE state = 'pending';

-- A batch id names fixed content: when ingest replaces a pending row's revision, the
-- row leaves its batch, so a retried batch never sends other records under the same
-- Idempotency-Key (a receiver that dedupes on the key would drop the new revision).
CREATE FUNCTION outbox_unbatch_replaced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.batch_id := NULL;
    RETURN NEW;
END $$;

CREATE TRIGGER outbox_unbatch_replaced
    BEFORE UPDATE OF record_id ON outbox
    FOR EACH ROW WHEN (OLD.record_id IS DISTINCT FROM NEW.record_id)
    EXECUTE FUNCTION outbox_unbatch_replaced();
