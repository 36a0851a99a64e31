-- The operations console and the data-quality scorecard.
--
-- daily_rollups      per operator and UTC day, the counts the scorecard is made of,
--                    computed set-based from records and receipts (gateway/rollups.py),
--                    never on the ingest path; kept when the purge deletes their sources.
-- rollup_progress    every day up to final_through has final rollups (never recomputed).
-- scorecard_*        an operator's baseline period (default: its first 30 days) and its
--                    target per measure.
-- console_sessions   a login with an admin key; the session lives only as long as the
--                    key does (every request joins api_keys). The token is stored hashed.
-- circuit_states     what each process's circuit breaker per target says, so that pages
--                    read it from the database rather than one process's memory.

-- Stored JSON (record bodies, receipts) read through one function, whichever type the
-- column has: jsonb, or the canonical bytes themselves (bytea).
CREATE FUNCTION stored_json(jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT $1';
CREATE FUNCTION stored_json(bytea) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$SELECT convert_from($1, 'UTF8')::jsonb$$;

CREATE TABLE daily_rollups (
    operator          text NOT NULL,
    day               date NOT NULL,
    records           bigint NOT NULL,  -- revisions carrying item data (ORIGINAL, UPDATE)
    originals         bigint NOT NULL,
    amendments        bigint NOT NULL,  -- UPDATE and CANCEL revisions
    lines             bigint NOT NULL,  -- content lines of those records
    lines_hs          bigint NOT NULL,  -- ... with an HS code
    lines_hs_detailed bigint NOT NULL,  -- ... with an HS code of more than 6 digits
    vague             bigint NOT NULL,  -- records flagged vague_description
    value_mismatch    bigint NOT NULL,
    weight_mismatch   bigint NOT NULL,
    phone_invalid     bigint NOT NULL,
    no_departure      bigint NOT NULL,  -- records without a transport departure time
    -- Records with a departure time by whole hours between arrival and departure:
    -- [1] under 1 h (or after departure), [2] 1 to 2 h, ... [49] 48 h or more. Kept as a
    -- histogram so that the scorecard's "late" threshold can change after the fact.
    lead_hours        bigint[] NOT NULL,
    messages          bigint NOT NULL,
    messages_refused  bigint NOT NULL,  -- whole messages answered 4xx
    items_received    bigint NOT NULL,
    items_rejected    bigint NOT NULL,
    rejections        jsonb NOT NULL,   -- {item error code: items}
    refusals          jsonb NOT NULL,   -- {message error code: messages}
    final             boolean NOT NULL,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operator, day)
);

CREATE TABLE rollup_progress (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    final_through date NOT NULL
);

-- Rollups read a day of records and messages; BRIN indexes cost next to nothing on
-- insert (rows arrive in time order) and find a day's pages.
CREATE INDEX records_created_brin ON records USING brin (created_at);
CREATE INDEX messages_received_brin ON messages USING brin (received_at);

CREATE TABLE scorecard_baselines (
    operator  text PRIMARY KEY REFERENCES operators (code),
    from_day  date NOT NULL,
    to_day    date NOT NULL CHECK (to_day >= from_day),
    set_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE scorecard_targets (
    operator  text NOT NULL REFERENCES operators (code),
    measure   text NOT NULL,
    value     double precision NOT NULL,
    set_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operator, measure)
);

CREATE TABLE console_sessions (
    token_sha256 bytea PRIMARY KEY,
    key_id       text NOT NULL REFERENCES api_keys (key_id),
    csrf_token   text NOT NULL,
    source       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

CREATE TABLE circuit_states (
    target      text NOT NULL,
    process     text NOT NULL,   -- host:pid
    state       smallint NOT NULL CHECK (state IN (0, 1, 2)),  -- closed, open, half-open
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, process)
);
