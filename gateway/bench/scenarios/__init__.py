"""One module per scenario; each ``measure(run)`` returns its figures, named with their
unit (``items_per_s``, ``p99_ms``, ``cpu_s_per_item`` …)."""
