"""Named SQL queries, read once from ``queries/*.sql`` and called by name.

Keeping every statement in a few SQL files (procrastinate's pattern), one per concept,
means SQL is reviewed in one place, nothing is assembled with f-strings, and parameters
are always bound. Names are unique across the files.
"""

from __future__ import annotations

import re
from importlib.resources import files

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


class Queries:
    """Attribute access to the named queries: ``Q.insert_message``."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._queries: dict[str, str] = {}
        for source, text in sorted(texts.items()):
            parts = _NAME.split(text)
            for name, body in zip(parts[1::2], parts[2::2], strict=True):
                if name in self._queries:
                    raise ValueError(f"query {name!r} is defined twice ({source})")
                self._queries[name] = _without_comments(body)

    def __getattr__(self, name: str) -> str:
        try:
            return self._queries[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r} in gateway/store/queries") from None

    def names(self) -> list[str]:
        return sorted(self._queries)


def _without_comments(body: str) -> str:
    """The statement without its whole-line comments: they document the SQL files, and
    sent along they would push a long statement's text out of ``pg_stat_activity``
    (which keeps its first kilobyte) and cost bytes on every call."""
    lines = [line for line in body.strip().splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines)


def _read_all() -> dict[str, str]:
    folder = files("gateway.store").joinpath("queries")
    return {f.name: f.read_text() for f in folder.iterdir() if f.name.endswith(".sql")}


Q = Queries(_read_all())
