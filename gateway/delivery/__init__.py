"""Push delivery: outbox rows leave for their endpoint in leased batches, with durable
retries, dead letters and a circuit breaker. Targeting records are the first channel;
any queue of outbox rows with an endpoint and a payload renderer can use the same worker.
"""
