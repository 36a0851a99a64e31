-- The ingest core: operators and keys, archived messages with their receipts, the
-- idempotency claims, items with every revision, and the outbox that feeds delivery.

CREATE TABLE operators (
    code            text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_-]{0,31}$'),
    name            text NOT NULL,
    formats         text[] NOT NULL,
    allow_bilateral boolean NOT NULL DEFAULT false,
    all_or_nothing  boolean NOT NULL DEFAULT false,
    callback_url    text,
    callback_secret text,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id        text PRIMARY KEY,
    secret_sha256 bytea NOT NULL,
    scope         text NOT NULL CHECK (scope IN ('operator', 'targeting', 'admin')),
    subject       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_subject ON api_keys (scope, subject);

-- Every body that passed the media-type and size checks, kept byte for byte.
CREATE TABLE messages (
    message_id      uuid PRIMARY KEY,
    operator        text NOT NULL REFERENCES operators (code),
    message_ref     text,
    idempotency_key text,
    source_format   text,
    content_type    text NOT NULL,
    raw             bytea NOT NULL,
    raw_sha256      text NOT NULL,
    received_at     timestamptz NOT NULL,
    status          text NOT NULL
                    CHECK (status IN ('accepted', 'partially_accepted', 'rejected')),
    http_status     smallint NOT NULL,
    receipt         jsonb NOT NULL
);
CREATE INDEX messages_operator_received ON messages (operator, received_at);

-- One live claim per operator and dedupe key (Idempotency-Key, else message reference):
-- the unique key serialises racing identical submissions.
CREATE TABLE message_claims (
    operator     text NOT NULL,
    dedupe_key   text NOT NULL,
    message_id   uuid NOT NULL,  -- the message is inserted after the claim is won
    raw_sha256   text NOT NULL,
    accepted_any boolean NOT NULL,
    PRIMARY KEY (operator, dedupe_key)
);

-- The latest state of each item (operator + item id); revision 0 never leaves a
-- transaction: it is the placeholder that lets first sightings lock a row too.
CREATE TABLE items (
    operator     text NOT NULL,
    item_id      text NOT NULL,
    revision     integer NOT NULL,
    function     text,
    data_sha256  text,
    record_id    uuid,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operator, item_id)
);

-- Every revision, cancellations included. seq orders the feed; xid lets the feed read
-- only below the oldest running transaction, so rows committing out of order are
-- never skipped.
CREATE TABLE records (
    record_id    uuid PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    operator     text NOT NULL,
    item_id      text NOT NULL,
    revision     integer NOT NULL,
    function     text NOT NULL CHECK (function IN ('ORIGINAL', 'UPDATE', 'CANCEL')),
    message_id   uuid NOT NULL REFERENCES messages (message_id),
    destination  text,
    data_sha256  text NOT NULL,
    body         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operator, item_id, revision)
);
CREATE INDEX records_xid ON records (xid);

-- Work for the delivery workers: one row per (target, record revision).
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target          text NOT NULL,
    operator        text NOT NULL,
    item_id         text NOT NULL,
    record_id       uuid NOT NULL REFERENCES records (record_id),
    revision        integer NOT NULL,
    priority        smallint NOT NULL DEFAULT 100,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead', 'superseded')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    batch_id        uuid,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
-- At most one pending row per (target, item): a newer revision replaces it.
CREATE UNIQUE INDEX outbox_one_pending ON outbox (target, operator, item_id)
    WHERE state = 'pending';
CREATE INDEX outbox_due ON outbox (target, priority, id) WHERE state = 'pending';
