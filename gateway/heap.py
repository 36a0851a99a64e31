"""How a serving process sets Python's garbage collector, in one place.

A message's items are tens of thousands of small containers (canonical objects, their
dicts) that reference counting frees; the cyclic collector only walks them, and with
them everything else alive. What start-up built (modules, schemas, compiled mappings)
lives as long as the process: frozen out of the collector's generations, no collection
walks it again (measured: about 15 % of the gateway's CPU an item in a batch; a larger
youngest generation on top made no difference that the noise did not hide).

The middle generation is collected a hundred times less often than Python's default.
A translated alpha item is about 22 containers that live exactly as long as their
message; with the default, the middle generation is collected every 10 young
collections (7,000 survivors), so a 1,000-item message (some 22,000) is walked there a
second time, a few times over, just before all of it dies at once. Collected every
1,000 (700,000 allocations), most of what it would walk is gone when the walk comes.
Garbage in cycles waits longer before it is found (up to 700,000 allocations: about a
second of batch ingest, a few tens of MB). Measured on the bench's alpha messages
(4 December 2026), every 100 against every 1,000: collection time 2.3 -> 1.1 µs an item
in process (gc.callbacks), the longest pause 7 -> 4 ms; ``aedgw bench --scenario
translate --scenario batch`` twice each, translate 0.284/0.263 -> 0.294/0.290 of parse
and batch 8,662/8,784 -> 9,370/9,227 items/s (gateway 98-102 -> 95-96 µs an item);
single passed 1,600 msg/s with either (p99 41 and 34 ms). Every 10 -> 100, earlier:
2.8 -> 0.7 µs an item.
"""

from __future__ import annotations

import gc

MIDDLE_GENERATION_THRESHOLD = 1_000
"""Young collections between two collections of the middle generation (Python: 10)."""


def settle() -> None:
    """Call once start-up is over: ``aedgw serve`` once it listens, and the bench before
    it times translate, so that it measures the stage as the gateway runs it."""
    gc.collect()
    gc.freeze()
    young, _, old = gc.get_threshold()
    gc.set_threshold(young, MIDDLE_GENERATION_THRESHOLD, old)
