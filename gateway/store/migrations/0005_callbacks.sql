-- Decisions pushed to operators' callback URLs ride the same outbox as records: one
-- queue per operator ("callback:<code>"), one row per decision. A row carries either a
-- record or a decision. Decisions never replace one another (each is delivered), so
-- the one-pending-row-per-item rule and superseding apply to record rows only.

ALTER TABLE outbox
    ALTER COLUMN record_id DROP NOT NULL,
    ADD COLUMN decision_id uuid REFERENCES decisions (decision_id),
    ADD CONSTRAINT outbox_carries_one CHECK (num_nonnulls(record_id, decision_id) = 1);

DROP INDEX outbox_one_pending;
CREATE UNIQUE INDEX outbox_one_pending ON outbox (target, operator, item_id)
    WHERE state = 'pending' AND decision_id IS NULL;
