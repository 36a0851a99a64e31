"""How a serving process sets Python's garbage collector, in one place.

A message's items are tens of thousands of small containers (canonical objects, their
dicts) that reference counting frees; the cyclic collector only walks them, and with
them everything else alive. What start-up built (modules, schemas, compiled mappings)
lives as long as the process: frozen out of the collector's generations, no collection
walks it again (measured: about 15 % of the gateway's CPU an item in a batch; a larger
youngest generation on top made no difference that the noise did not hide).

The middle generation is made ten times larger than Python's default. A translated
alpha item is about 23 containers that live exactly as long as their message; with the
default, the middle generation is collected every 10 young collections (7,000
survivors), so a 1,000-item message (some 23,000) is walked there a second time, a few
times over, just before all of it dies at once. Collected every 100 (70,000 survivors,
a few messages' worth), most of it is gone when the walk comes. Garbage in cycles waits
longer before it is found (up to 70,000 allocations, a few MB). Measured on the bench's
alpha messages, the two settings alternated in one process: collection time 2.8 -> 0.7
us an item (gc.callbacks), the translate stage about 2 us an item less.
"""

from __future__ import annotations

import gc

MIDDLE_GENERATION_THRESHOLD = 100
"""Young collections between two collections of the middle generation (Python: 10)."""


def settle() -> None:
    """Call once start-up is over: ``aedgw serve`` once it listens, and the bench before
    it times translate, so that it measures the stage as the gateway runs it."""
    gc.collect()
    gc.freeze()
    young, _, old = gc.get_threshold()
    gc.set_threshold(young, MIDDLE_GENERATION_THRESHOLD, old)
