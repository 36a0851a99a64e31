"""The canonical rules of DOMAIN.md, applied to every item whatever its operator.

STUB: being implemented (S10, ISO 3166/4217, HS normalisation, required-by-category
table, value/weight consistency flags).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.canonical import CanonicalItem
from gateway.codes import ItemCode


@dataclass(frozen=True, slots=True)
class RuleError:
    """A rule an item breaks; ``field`` is the canonical field (``contents[2].hs_code``)."""

    field: str
    code: ItemCode
    message: str


def check(item: CanonicalItem, *, allow_bilateral: bool = False) -> list[RuleError]:
    """Normalise ``item`` in place, add its quality flags, and return the errors that
    reject it (an empty list means accepted)."""
    return []
