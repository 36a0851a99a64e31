"""Prometheus metrics (``aedgw_`` prefix), served at ``/metrics``.

Labels are bounded sets (operators, codes, statuses, targets), never item or message ids.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
