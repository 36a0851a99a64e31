"""Decision renderers: an operator format may answer customs decisions in its own form
(epsilon gets a SOAP document); every other operator gets the gateway's JSON.

A renderer lives beside its operator's adapter, in ``adapters/<operator>/decisions.py``
(a ``RENDERERS`` list), or in another package under the entry point group
``aed_gateway.decision_renderers``: found by :mod:`adapters.plugins`, as adapters are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from importlib.resources import files
from typing import Any, Protocol

from adapters import plugins

ENTRY_POINT_GROUP = "aed_gateway.decision_renderers"


class DecisionRenderer(Protocol):
    format: str
    """The adapter format (``epsilon-soap``) whose operators get this rendering."""
    media_type: str

    def render(self, decisions: Sequence[dict[str, Any]]) -> bytes:
        """The document for these decisions (wire-form dicts, oldest first)."""
        ...


@cache
def renderers() -> dict[str, DecisionRenderer]:
    found: dict[str, DecisionRenderer] = {}
    for declared, _ in (
        *plugins.declared(files(__package__), "decisions", "RENDERERS"),
        *plugins.shipped(ENTRY_POINT_GROUP),
    ):
        found |= {r.format: r for r in declared}
    return found


def renderer_for(formats: Iterable[str]) -> DecisionRenderer | None:
    """The renderer of the first of an operator's formats that has one."""
    known = renderers()
    return next((known[f] for f in formats if f in known), None)
