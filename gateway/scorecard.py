"""The data-quality scorecard: each operator's measures over a period, read from the
daily rollups, beside its baseline (its first 30 days, or a period set) and its targets.

Every measure is a ratio of rollup counts, so a period's value is the sum of its days'
numerators over the sum of their denominators (never an average of daily ratios), and
a measure with nothing to count (no content lines, no items) has no value (None).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import asyncpg

from gateway import rollups
from gateway.store import Q

BASELINE_DAYS = 30
WEEKS_SHOWN = 8
LATE_HOURS_MAX = 48
"""The rollups' lead-time histogram has whole hours up to 48."""
READ_FRESH_S = 60.0
"""Scorecards read today's rollups as computed up to this long ago."""


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


class OperatorUnknown(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Totals:
    """Rollup counts summed over some days."""

    records: int = 0
    originals: int = 0
    amendments: int = 0
    lines: int = 0
    lines_hs: int = 0
    lines_hs_detailed: int = 0
    vague: int = 0
    value_mismatch: int = 0
    weight_mismatch: int = 0
    phone_invalid: int = 0
    no_departure: int = 0
    lead_hours: tuple[int, ...] = (0,) * (LATE_HOURS_MAX + 1)
    messages: int = 0
    messages_refused: int = 0
    items_received: int = 0
    items_rejected: int = 0
    rejections: Mapping[str, int] = field(default_factory=dict)
    refusals: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, Any]]) -> Totals:
        sums: Counter[str] = Counter()
        leads = [0] * (LATE_HOURS_MAX + 1)
        rejections: Counter[str] = Counter()
        refusals: Counter[str] = Counter()
        for row in rows:
            for name in _COUNTS:
                sums[name] += row[name]
            leads = [a + b for a, b in zip(leads, row["lead_hours"], strict=True)]
            rejections.update(row["rejections"])
            refusals.update(row["refusals"])
        return cls(
            **{name: sums[name] for name in _COUNTS},
            lead_hours=tuple(leads),
            rejections=dict(rejections.most_common()),
            refusals=dict(refusals.most_common()),
        )

    @property
    def with_departure(self) -> int:
        return sum(self.lead_hours)

    def late(self, hours: int) -> int:
        """Items that arrived less than ``hours`` before their departure (or after it)."""
        return sum(self.lead_hours[:hours])


_COUNTS = tuple(
    name for name in Totals.__dataclass_fields__
    if name not in {"lead_hours", "rejections", "refusals"}
)

Fraction = Callable[[Totals, int], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Measure:
    name: str
    label: str
    better: Better
    fraction: Fraction
    """(numerator, denominator) of the totals, given the late threshold in hours."""
    share: bool = True
    """A share from 0 to 1 (else a rate, like amendments per item)."""

    def value(self, totals: Totals, late_hours: int) -> float | None:
        numerator, denominator = self.fraction(totals, late_hours)
        return numerator / denominator if denominator else None


MEASURES: tuple[Measure, ...] = (
    Measure("hs_code_share", "content lines with an HS code", Better.HIGHER,
            lambda t, _h: (t.lines_hs, t.lines)),
    Measure("hs_detailed_share", "content lines with an HS code of more than 6 digits",
            Better.HIGHER, lambda t, _h: (t.lines_hs_detailed, t.lines)),
    Measure("vague_description_share", "items with a vague description", Better.LOWER,
            lambda t, _h: (t.vague, t.records)),
    Measure("value_mismatch_share", "items whose line values miss the total", Better.LOWER,
            lambda t, _h: (t.value_mismatch, t.records)),
    Measure("weight_mismatch_share", "items whose line weights exceed the gross weight",
            Better.LOWER, lambda t, _h: (t.weight_mismatch, t.records)),
    Measure("phone_invalid_share", "items with a phone not in E.164 form", Better.LOWER,
            lambda t, _h: (t.phone_invalid, t.records)),
    Measure("rejected_share", "items rejected", Better.LOWER,
            lambda t, _h: (t.items_rejected, t.items_received)),
    Measure("late_share", "items with a departure time that arrived late", Better.LOWER,
            lambda t, h: (t.late(h), t.with_departure)),
    Measure("no_departure_share", "items without a departure time", Better.LOWER,
            lambda t, _h: (t.no_departure, t.records)),
    Measure("amendments_per_item", "amendments per item first sent", Better.LOWER,
            lambda t, _h: (t.amendments, t.originals), share=False),
)
BY_NAME = {measure.name: measure for measure in MEASURES}


@dataclass(frozen=True, slots=True)
class Period:
    """UTC days ``first`` to ``last``, both included."""

    first: date
    last: date

    @classmethod
    def week_of(cls, day: date) -> Period:
        monday = day - timedelta(days=day.weekday())
        return cls(monday, monday + timedelta(days=6))

    @classmethod
    def parse(cls, since: str | None, until: str | None, today: date) -> Period:
        """``since``/``until`` as ISO dates; the UTC week of today when both are absent.
        ValueError names the bad one."""
        if since is None and until is None:
            return cls.week_of(today)
        last = _date("until", until) if until else today
        first = _date("since", since) if since else last - timedelta(days=6)
        if first > last:
            raise ValueError("since is after until")
        return cls(first, last)

    def __contains__(self, day: date) -> bool:
        return self.first <= day <= self.last

    def to_dict(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


FIRST_YEAR, LAST_YEAR = 1970, 2999
"""Days a period may name (the weekly trend reaches weeks back from its end)."""


def _date(name: str, text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} is not a date (YYYY-MM-DD): {text!r}") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"{name} is a day from {FIRST_YEAR} to {LAST_YEAR}")
    return day


def parse_target(measure: str, text: str) -> float:
    """A target as a person writes it: ``0.95`` or ``95%`` for a share."""
    if measure not in BY_NAME:
        raise ValueError(f"unknown measure {measure!r} (one of {', '.join(BY_NAME)})")
    percent = text.strip().endswith("%")
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise ValueError(f"{measure}: {text!r} is not a number") from None
    value = value / 100 if percent else value
    if value != value or value < 0 or (BY_NAME[measure].share and value > 1):
        bound = "0 to 1 (or 0% to 100%)" if BY_NAME[measure].share else "0 or more"
        raise ValueError(f"{measure}: a target is {bound}")
    return value


def baseline_of(rows: Sequence[Mapping[str, Any]], chosen: Period | None) -> Period | None:
    """The period set for the operator, else its first ``BASELINE_DAYS`` days with data."""
    if chosen is not None:
        return chosen
    active = [row["day"] for row in rows if row["messages"] or row["records"]]
    if not active:
        return None
    first = min(active)
    return Period(first, first + timedelta(days=BASELINE_DAYS - 1))


def card(
    operator: str,
    rows: Sequence[Mapping[str, Any]],
    period: Period,
    baseline: Period | None,
    targets: Mapping[str, float],
    late_hours: int,
) -> dict[str, Any]:
    """One operator's scorecard from its rollup rows (any days; those in the periods
    are used)."""
    now = Totals.of(row for row in rows if row["day"] in period)
    base = Totals.of(row for row in rows if baseline and row["day"] in baseline)
    measures = []
    for measure in MEASURES:
        value = measure.value(now, late_hours)
        reference = measure.value(base, late_hours) if baseline else None
        target = targets.get(measure.name)
        numerator, denominator = measure.fraction(now, late_hours)
        measures.append({
            "name": measure.name,
            "label": measure.label,
            "better": measure.better.value,
            "value": _round(value),
            "numerator": numerator,
            "denominator": denominator,
            "baseline": _round(reference),
            "vs_baseline": _compare(measure, value, reference),
            "target": target,
            "meets_target": None if value is None or target is None else _meets(
                measure, value, target
            ),
        })
    return {
        "operator": operator,
        "period": period.to_dict(),
        "baseline": baseline.to_dict() if baseline else None,
        "late_hours": late_hours,
        "measures": measures,
        "counts": {
            "messages": now.messages,
            "messages_refused": now.messages_refused,
            "items_received": now.items_received,
            "items_rejected": now.items_rejected,
            "records": now.records,
            "originals": now.originals,
            "amendments": now.amendments,
            "content_lines": now.lines,
            "with_departure": now.with_departure,
            "late": now.late(late_hours),
            "without_departure": now.no_departure,
        },
        "rejections": dict(now.rejections),
        "refusals": dict(now.refusals),
        "weeks": _weeks(rows, period, late_hours),
    }


def _weeks(
    rows: Sequence[Mapping[str, Any]], period: Period, late_hours: int
) -> list[dict[str, Any]]:
    """The measures week by week, the last ``WEEKS_SHOWN`` UTC weeks up to the period's
    end: the trend the console draws."""
    last = Period.week_of(period.last)
    weeks = []
    for back in range(WEEKS_SHOWN - 1, -1, -1):
        week = Period(last.first - timedelta(weeks=back), last.last - timedelta(weeks=back))
        totals = Totals.of(row for row in rows if row["day"] in week)
        weeks.append({
            "from": week.first.isoformat(),
            "values": {m.name: _round(m.value(totals, late_hours)) for m in MEASURES},
        })
    return weeks


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _compare(measure: Measure, value: float | None, reference: float | None) -> str | None:
    """``better``, ``worse`` or ``same`` than the baseline, as the measure reads."""
    if value is None or reference is None:
        return None
    if round(value - reference, 6) == 0:
        return "same"
    higher = value > reference
    return "better" if higher == (measure.better is Better.HIGHER) else "worse"


def _meets(measure: Measure, value: float, target: float) -> bool:
    value = round(value, 6)
    return value >= target if measure.better is Better.HIGHER else value <= target


async def scorecards(
    pool: asyncpg.Pool,
    period: Period,
    *,
    operator: str | None = None,
    late_hours: int = 4,
    max_age_s: float = READ_FRESH_S,
) -> list[dict[str, Any]]:
    """Scorecards of one operator or all, with today's rollups at most ``max_age_s``
    old (0: computed now)."""
    await rollups.ensure(pool, rollups.today(), max_age_s=max_age_s)
    codes = [row["code"] for row in await pool.fetch(Q.operator_codes, operator)]
    if operator is not None and not codes:
        raise OperatorUnknown(operator)
    rows: dict[str, list[asyncpg.Record]] = {}
    for row in await pool.fetch(Q.list_rollups, operator):
        rows.setdefault(row["operator"], []).append(row)
    chosen = {
        row["operator"]: Period(row["from_day"], row["to_day"])
        for row in await pool.fetch(Q.list_baselines, operator)
    }
    targets: dict[str, dict[str, float]] = {}
    for row in await pool.fetch(Q.list_targets, operator):
        targets.setdefault(row["operator"], {})[row["measure"]] = row["value"]
    return [
        card(
            code,
            rows.get(code, []),
            period,
            baseline_of(rows.get(code, []), chosen.get(code)),
            targets.get(code, {}),
            late_hours,
        )
        for code in codes
    ]


async def set_targets(
    conn: asyncpg.Connection, operator: str, targets: Mapping[str, float]
) -> None:
    """Set (or replace) the operator's target of each measure named."""
    try:
        await conn.execute(Q.set_targets, operator, list(targets), list(targets.values()))
    except asyncpg.ForeignKeyViolationError:
        raise OperatorUnknown(operator) from None


async def clear_targets(
    conn: asyncpg.Connection, operator: str, measures: Sequence[str] | None = None
) -> list[str]:
    """Drop the targets named (every target when None); the measures dropped."""
    rows = await conn.fetch(Q.clear_targets, operator, list(measures) if measures else None)
    return [row["measure"] for row in rows]


async def list_targets(
    conn: asyncpg.Connection | asyncpg.Pool, operator: str | None = None
) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(Q.list_targets, operator)]


async def set_baseline(conn: asyncpg.Connection, operator: str, period: Period) -> None:
    try:
        await conn.execute(Q.set_baseline, operator, period.first, period.last)
    except asyncpg.ForeignKeyViolationError:
        raise OperatorUnknown(operator) from None


async def clear_baseline(conn: asyncpg.Connection, operator: str) -> bool:
    """Back to the default baseline (the first 30 days); False when none was set."""
    return await conn.fetchval(Q.clear_baseline, operator) is not None
