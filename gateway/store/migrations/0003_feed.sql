-- The pull feed. Pages are read in (xid, seq) order below the oldest running
-- transaction: rows there are final, and every row that can still appear has a larger
-- xid, so a cursor on (xid, seq) never skips one (seq alone would: see gateway/feed.py).
CREATE INDEX records_feed ON records (xid, seq);
-- Superseded by records_feed, and worse than useless: with it the planner scans by xid
-- and sorts every row of a big transaction for each page.
DROP INDEX records_xid;

-- GET /v1/records/{item_id} looks items up without their operator, and reads the
-- item's delivery ledger.
CREATE INDEX records_item ON records (item_id);
CREATE INDEX outbox_item ON outbox (operator, item_id);

-- The feed position (xid, seq) of the last record a purge deleted. A purge deletes a
-- prefix of the feed order and moves this mark in the same transaction; a cursor
-- below the mark may have missed deleted records, so the feed answers it 410.
CREATE TABLE feed_purged (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    xid       xid8 NOT NULL,
    seq       bigint NOT NULL,
    purged_at timestamptz NOT NULL DEFAULT now()
);
