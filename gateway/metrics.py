"""Prometheus metrics (``aedgw_`` prefix), served at ``/metrics``.

Labels are bounded sets (operators, codes, statuses, targets), never item or message ids.
Every name starts ``aedgw_``: the client library's own process and platform collectors
are left out of the registry.
"""

from __future__ import annotations

import asyncio
import os

import asyncpg
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.multiprocess import MultiProcessCollector

for _collector in (GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR):
    REGISTRY.unregister(_collector)

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

MESSAGE_REFUSALS = Counter(
    "aedgw_message_refusals_total",
    "Whole messages refused (4xx), by operator and error code",
    ["operator", "code"],
)
HTTP_SECONDS = Histogram(
    "aedgw_http_request_seconds",
    "Time to answer an HTTP request, by method, route and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DECISIONS = Counter(
    "aedgw_decisions_total",
    "Customs decisions posted, by code and outcome (created, repeated)",
    ["code", "outcome"],
)
POOL_CONNECTIONS = Gauge(
    "aedgw_db_pool_connections",
    "Database connections of the pool by state (in_use, idle, max), sampled every few seconds",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_SAMPLE_S = 5.0

# Read from the database by every process alike: one process's latest reading, not a sum.
OUTBOX_DEPTH = Gauge(
    "aedgw_outbox_depth",
    "Outbox rows per target and state (pending, in_flight, dead), refreshed by the workers",
    ["target", "state"],
    multiprocess_mode="livemostrecent",
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "aedgw_outbox_oldest_pending_seconds",
    "Age of the oldest row waiting for delivery per target (0 when none)",
    ["target"],
    multiprocess_mode="livemostrecent",
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
# Each process has its own breaker: the worst of the live processes.
CIRCUIT_STATE = Gauge(
    "aedgw_circuit_state", "Circuit breaker per target: 0 closed, 1 open, 2 half-open", ["target"],
    multiprocess_mode="livemax",
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


def exposition_registry() -> CollectorRegistry:
    """What ``/metrics`` shows: this process's metrics, or, under ``serve --workers``
    (which sets PROMETHEUS_MULTIPROC_DIR), the sum over every worker process."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


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
    refusal = body.get("error")
    if refusal:
        MESSAGE_REFUSALS.labels(operator, refusal["code"]).inc()


async def sample_pool(pool: asyncpg.Pool, every_s: float = POOL_SAMPLE_S) -> None:
    """Keep the pool gauges current (sampled, since a scrape may reach another process)."""
    while True:
        size, idle = pool.get_size(), pool.get_idle_size()
        POOL_CONNECTIONS.labels("in_use").set(size - idle)
        POOL_CONNECTIONS.labels("idle").set(idle)
        POOL_CONNECTIONS.labels("max").set(pool.get_max_size())
        await asyncio.sleep(every_s)
