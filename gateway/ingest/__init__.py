"""The receive path, stage by stage: adapt (choose the adapter, check the schema,
translate), rules (the canonical rules), revisions (amendments), store (archive,
idempotency, records and outbox rows) and the receipt."""
