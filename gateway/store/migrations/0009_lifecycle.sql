-- Reliability: the data lifecycle (retention and purge), registered feed consumers,
-- restores from a physical backup, and the readiness write probe.
-- The rules of what a purge may remove are in gateway/retention.py (the why) and
-- store/queries/purge.sql (the statements); record_purgeable below is the one rule that
-- both a purge and its dry run apply to records.

-- Raw bodies are blanked after their retention; the hash, content type, receipt (counts
-- and codes) and times stay, and so does the size the body had.
ALTER TABLE messages
    ADD COLUMN raw_bytes     integer,
    ADD COLUMN raw_purged_at timestamptz;
-- Personal fields of a stored record are blanked in place after their retention.
ALTER TABLE records ADD COLUMN personal_purged_at timestamptz;

-- How far the in-place purges (raw, personal) have gone: the next run starts there, so
-- it never scans the rows it already rewrote.
CREATE TABLE purge_progress (
    kind    text PRIMARY KEY CHECK (kind IN ('raw', 'personal')),
    through timestamptz NOT NULL
);

-- Each feed's purge mark: the feed position (xid, seq) of the last entry a purge
-- deleted. A cursor below it may have missed deleted entries: 410 cursor_purged.
-- Replaces 0003's feed_purged (never written), and covers the outcomes feed too.
CREATE TABLE purge_marks (
    feed      text PRIMARY KEY CHECK (feed IN ('records', 'outcomes')),
    xid       xid8 NOT NULL,
    seq       bigint NOT NULL,
    purged_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO purge_marks (feed, xid, seq, purged_at)
SELECT 'records', xid, seq, purged_at FROM feed_purged;
DROP TABLE feed_purged;

-- A restore from a physical backup loses what was written after the backup; the cursors
-- handed out from it carry transaction ids in [lost_from, lost_to). The restore moves the
-- transaction id epoch past them (pg_resetwal -e), so new entries sort after every such
-- cursor, and the feeds answer those cursors 410: reading on from them would skip entries.
CREATE TABLE restores (
    restored_at timestamptz NOT NULL DEFAULT now(),
    lost_from   xid8 NOT NULL,
    lost_to     xid8 NOT NULL,
    backup      text NOT NULL
);

-- Pull consumers that register their position, so that a purge reports who would lose
-- entries they have not read yet.
CREATE TABLE feed_consumers (
    name       text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    xid        xid8 NOT NULL,
    seq        bigint NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- /readyz truncates and fills this table in a transaction it rolls back: the cheapest
-- write that must take new disk space, so a full tablespace shows as well as a
-- read-only database.
CREATE TABLE readiness_probe (at timestamptz NOT NULL);

-- A record may go once its age is past the cutoff, no target still has it to receive
-- (pending, in flight, or a dead letter kept for replay), and no decision on it is
-- younger than the cutoff or still to be pushed to its operator. Delivered and
-- superseded outbox rows, and old decisions, go with it.
CREATE FUNCTION record_purgeable(r records, cutoff timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT r.created_at < cutoff
       AND NOT EXISTS (SELECT 1 FROM outbox o
                       WHERE o.record_id = r.record_id
                         AND o.state IN ('pending', 'in_flight', 'dead'))
       AND NOT EXISTS (SELECT 1 FROM decisions d
                       WHERE d.record_id = r.record_id
                         AND (d.decided_at >= cutoff OR EXISTS (
                                SELECT 1 FROM outbox o
                                WHERE o.decision_id = d.decision_id
                                  AND o.state IN ('pending', 'in_flight', 'dead'))))
$$;

-- Purges find their rows by age, and deletes check the foreign keys that point at the
-- rows they remove (without these, each deleted row would scan the referencing table).
CREATE INDEX records_created ON records (created_at);
CREATE INDEX records_message ON records (message_id);
CREATE INDEX messages_received ON messages (received_at);
CREATE INDEX message_claims_message ON message_claims (message_id);
CREATE INDEX items_updated ON items (updated_at);
CREATE INDEX outbox_record ON outbox (record_id) WHERE record_id IS NOT NULL;
CREATE INDEX outbox_decision ON outbox (decision_id) WHERE decision_id IS NOT NULL;
CREATE INDEX outbox_settled ON outbox ((coalesce(delivered_at, created_at)))
    WHERE state IN ('delivered', 'superseded');
CREATE INDEX decisions_record ON decisions (record_id);
