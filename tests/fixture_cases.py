"""The fixtures of every operator as test cases, and how their outputs are compared.

Messages are free text written for people, so comparisons drop them; everything else
(codes, paths, indices, every canonical value) must match the hand-checked file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SOURCE_SUFFIXES = (".xml", ".json", ".ndjson")


@dataclass(frozen=True)
class Case:
    operator: str
    name: str
    source: Path
    expected: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.operator}/{self.name}"

    @property
    def content_type(self) -> str:
        return self.expected["request"]["content_type"]

    @property
    def headers(self) -> dict[str, str]:
        return self.expected["request"].get("headers") or {}


def cases(operator: str | None = None) -> list[Case]:
    found = []
    for expected in sorted(FIXTURES.glob(f"{operator or '*'}/*.expected.json")):
        stem = expected.name.removesuffix(".expected.json")
        sources = [expected.with_name(stem + s) for s in SOURCE_SUFFIXES]
        source = next(p for p in sources if p.exists())
        found.append(Case(expected.parent.name, stem, source, orjson.loads(expected.read_bytes())))
    return found


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """Drop free-text messages (and request metadata) from an expected-format result."""
    out: dict[str, Any] = {"http_status": result["http_status"]}
    if "error" in result:
        error = result["error"]
        details = error.get("details")
        out["error"] = {
            "code": error["code"],
            "paths": sorted(d["path"] for d in details) if isinstance(details, list) else None,
        }
    if "translation" in result:
        translation = dict(result["translation"])
        translation["errors"] = [without_message(e) for e in translation["errors"]]
        out["translation"] = translation
    return out


def without_message(error: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in error.items() if k != "message"}
