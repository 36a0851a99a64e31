"""The fixtures of every operator as test cases; the comparison rules live in
:mod:`gateway.onboarding`, which ``aedgw adapters test`` uses too."""

from __future__ import annotations

from gateway import onboarding
from gateway.onboarding import Case, comparable, without_message
from tests.conftest import FIXTURES

__all__ = ["FIXTURES", "Case", "cases", "comparable", "without_message"]


def cases(operator: str | None = None) -> list[Case]:
    return onboarding.cases(FIXTURES, operator)
