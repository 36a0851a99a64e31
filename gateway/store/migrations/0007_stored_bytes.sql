-- Stored bytes (issue 9.3): a record's canonical JSON and a message's receipt are kept as
-- the bytes serialised once when the message was stored, not as jsonb. jsonb reorders
-- keys and costs a parse per write; the feed, pushed batches and a replayed receipt are
-- built from these bytes as they are, so a resend answers the first receipt byte for byte.
-- Queries that look inside read them through stored_json (migration 0011).
--
-- Numbered 0007 after 0008-0011 existed: the migrator applies every missing number, so a
-- database that has those gets this one too. Rows stored before it keep jsonb's key order.
ALTER TABLE records ALTER COLUMN body TYPE bytea USING convert_to(body::text, 'UTF8');
ALTER TABLE messages ALTER COLUMN receipt TYPE bytea USING convert_to(receipt::text, 'UTF8');
