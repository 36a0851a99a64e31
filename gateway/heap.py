"""How a serving process sets Python's garbage collector, in one place.

A message's items are tens of thousands of small containers (canonical objects, their
dicts) that reference counting frees; the cyclic collector only walks them, and with
them everything else alive. What start-up built (modules, schemas, compiled mappings)
lives as long as the process: frozen out of the collector's generations, no collection
walks it again (measured: about 15 % of the gateway's CPU an item in a batch; a larger
youngest generation on top made no difference that the noise did not hide).
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Call once start-up is over: ``aedgw serve`` once it listens, and the bench before
    it times translate, so that it measures the stage as the gateway runs it."""
    gc.collect()
    gc.freeze()
