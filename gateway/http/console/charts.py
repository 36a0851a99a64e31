"""Charts drawn on the server as inline SVG: the console needs no JavaScript at all.

Each function returns SVG markup (numbers and escaped text only) for a template to
place as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup


def bars(
    values: Sequence[float], labels: Sequence[str], *, title: str,
    width: int = 360, height: int = 90, highlight: Sequence[float] | None = None,
) -> Markup:
    """A bar per value (e.g. items per hour), ``highlight`` drawn over each bar in the
    alert colour (e.g. the rejected part); a tooltip per bar."""
    top = max([*values, 1])
    gap = 1.0
    step = width / max(len(values), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 14}" width="{width}" '
        f'height="{height + 14}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="0" y1="{height}" x2="{width}" y2="{height}"/>',
    ]
    for i, value in enumerate(values):
        x = i * step
        h = height * value / top
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{height - h:.1f}" width="{step - gap:.1f}" '
            f'height="{h:.1f}"><title>{escape(labels[i])}: {value:g}</title></rect>'
        )
        if highlight and highlight[i]:
            hh = height * highlight[i] / top
            parts.append(
                f'<rect class="bar alert" x="{x:.1f}" y="{height - hh:.1f}" '
                f'width="{step - gap:.1f}" height="{hh:.1f}"/>'
            )
    if labels:
        parts.append(f'<text x="0" y="{height + 12}">{escape(labels[0])}</text>')
        parts.append(
            f'<text x="{width}" y="{height + 12}" text-anchor="end">{escape(labels[-1])}</text>'
        )
    parts.append(f'<text class="peak" x="2" y="10">{top:g}</text></svg>')
    return Markup("".join(parts))


def trend(
    values: Sequence[float | None], *, title: str, baseline: float | None = None,
    target: float | None = None, width: int = 160, height: int = 36,
) -> Markup:
    """A sparkline of weekly values (gaps where a week has none), with the baseline as
    a dashed line and the target as a dotted one."""
    known = [v for v in (*values, baseline, target) if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    pad = 3

    def y(value: float) -> float:
        return pad + (height - 2 * pad) * (1 - (value - low) / (high - low))

    step = (width - 2 * pad) / max(len(values) - 1, 1)
    parts = [
        f'<svg class="trend" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for name, level in (("baseline", baseline), ("target", target)):
        if level is not None:
            parts.append(
                f'<line class="{name}" x1="0" x2="{width}" y1="{y(level):.1f}" '
                f'y2="{y(level):.1f}"/>'
            )
    run: list[str] = []
    for i, value in enumerate([*values, None]):
        if value is None:
            if len(run) > 1:
                parts.append(f'<polyline class="line" points="{" ".join(run)}"/>')
            run = []
            continue
        x = pad + i * step
        run.append(f"{x:.1f},{y(value):.1f}")
        parts.append(f'<circle class="dot" cx="{x:.1f}" cy="{y(value):.1f}" r="1.8"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
