"""Prometheus metrics (``aedgw_`` prefix), served at ``/metrics``.

Labels are bounded sets (operators, codes, statuses, targets), never item or message ids.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "aedgw_messages_total", "Messages received, by operator and outcome", ["operator", "status"]
)
ITEMS = Counter(
    "aedgw_items_total",
    "Items received, by operator and outcome (accepted, unchanged, rejected)",
    ["operator", "outcome"],
)
ITEM_ERRORS = Counter(
    "aedgw_item_errors_total", "Item rejections by operator and error code", ["operator", "code"]
)
INGEST_SECONDS = Histogram(
    "aedgw_ingest_seconds",
    "Time from a message's body being read to its receipt",
    ["operator"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

OUTBOX_DEPTH = Gauge(
    "aedgw_outbox_depth",
    "Outbox rows per target and state (pending, in_flight, dead), refreshed by the workers",
    ["target", "state"],
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "aedgw_outbox_oldest_pending_seconds",
    "Age of the oldest row waiting for delivery per target (0 when none)",
    ["target"],
)
DELIVERY_ATTEMPTS = Counter(
    "aedgw_delivery_attempts_total",
    "Batch POSTs per target by outcome: delivered, or the failure code",
    ["target", "outcome"],
)
DELIVERED_RECORDS = Counter(
    "aedgw_delivered_records_total", "Outbox rows delivered per target", ["target"]
)
DEAD_LETTERS = Counter(
    "aedgw_dead_letters_total", "Outbox rows moved to dead letters, per target and code",
    ["target", "code"],
)
CIRCUIT_STATE = Gauge(
    "aedgw_circuit_state", "Circuit breaker per target: 0 closed, 1 open, 2 half-open", ["target"]
)
DELIVERY_SECONDS = Histogram(
    "aedgw_delivery_seconds",
    "Time of one batch POST, answer or failure",
    ["target"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

KEY_EXPIRY = Gauge(
    "aedgw_key_expiry_timestamp_seconds",
    "When each live API key that has an expiry stops working (Unix time)",
    ["key_id", "scope", "subject"],
)
KEYS_EXPIRING = Gauge(
    "aedgw_keys_expiring",
    "Live API keys that stop working within key_expiry_warning_days",
)
REQUESTS_LIMITED = Counter(
    "aedgw_requests_limited_total",
    "Requests refused by a limit, by operator (empty when not known) and limit: rate, "
    "concurrency, body_memory, body_timeout, connections",
    ["operator", "limit"],
)


def count_receipt(operator: str, status: str, body: dict) -> None:
    """Count one answered message from its receipt (or error) body."""
    MESSAGES.labels(operator, status).inc()
    items = body.get("items")
    if items:
        for outcome in ("accepted", "unchanged", "rejected"):
            if items.get(outcome):
                ITEMS.labels(operator, outcome).inc(items[outcome])
    for error in body.get("errors") or ():
        ITEM_ERRORS.labels(operator, error["code"]).inc()
