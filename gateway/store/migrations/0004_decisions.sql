-- The way back: customs decisions on items, read by the operator that sent the item
-- (GET /v1/outcomes, a feed in the same (xid, seq) order as the records feed) and pushed
-- to its callback URL through the outbox.

CREATE TABLE decisions (
    decision_id uuid PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    operator    text NOT NULL,
    item_id     text NOT NULL,
    revision    integer NOT NULL,
    record_id   uuid NOT NULL REFERENCES records (record_id),
    code        text NOT NULL CHECK (code IN ('ASSESSMENT_COMPLETE', 'RELEASE', 'HOLD',
                'INFO_REQUESTED', 'SCREENING_REQUESTED', 'DO_NOT_LOAD', 'DETAINED',
                'RETURN_TO_SENDER')),
    reference   text NOT NULL,
    reason      text,
    decided_by  text NOT NULL,
    superseded  boolean NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    -- the same decision posted again is the same decision
    UNIQUE (operator, item_id, revision, code, reference)
);
CREATE INDEX decisions_outcomes ON decisions (operator, xid, seq);
CREATE INDEX decisions_item ON decisions (operator, item_id);
