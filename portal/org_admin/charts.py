"""The seat usage chart as plain SVG geometry, drawn by the template with no script at all (the
Content-Security-Policy stays strict): seats in use at the end of each day against the limit, and
below it the seats claimed each day."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from portal.services.outcomes import CompletionSeries
from portal.services.seat_usage import ContractUsage

WIDTH = 640
LEFT = 44  # room for the y-axis labels
RIGHT = 12
TOP = 14
USE_HEIGHT = 140
GAP = 30
BAR_HEIGHT = 56
BOTTOM = 22
HEIGHT = TOP + USE_HEIGHT + GAP + BAR_HEIGHT + BOTTOM


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass
class Tick:
    pos: float
    label: str


@dataclass
class UsageChart:
    width: int = WIDTH
    height: int = HEIGHT
    line: str = ""  # polyline points of seats in use
    area: str = ""  # closed path under the line
    limit_y: float | None = None
    limit_label: str = ""
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    bar_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    summary: str = ""
    line_caption: str = ""
    bar_caption: str = ""
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    use_top: int = TOP
    use_bottom: int = TOP + USE_HEIGHT
    bar_top: int = TOP + USE_HEIGHT + GAP
    bar_bottom: int = TOP + USE_HEIGHT + GAP + BAR_HEIGHT


def _nice_max(value: int) -> int:
    """The axis top for ``value``: a multiple of a round step (1, 2 or 5 times a power of ten)
    chosen so the axis has about four steps, e.g. 28 -> 30, 110 -> 120, 3 -> 3."""
    if value <= 1:
        return 1
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next((s * power for s in (1, 2, 5, 10) if raw <= s * power), 10 * power)
    return int(math.ceil(value / step) * step)


@dataclass(frozen=True)
class Point:
    """One day of a chart: the line's value at the end of the day and the day's bar."""

    day: dt.date
    value: int
    bar: int
    title: str


def series_chart(points: list[Point], limit: int | None, captions: tuple[str, str]) -> UsageChart:
    """The geometry of a line (with an optional limit) over daily bars."""
    chart = UsageChart(line_caption=captions[0], bar_caption=captions[1])
    if not points:
        return chart
    plot_width = chart.plot_right - chart.plot_left
    step = plot_width / len(points)
    peak = max(max(p.value for p in points), limit or 0)
    y_max = _nice_max(math.ceil(peak * 1.1) if peak else 1)

    def y_use(value: int) -> float:
        return round(chart.use_bottom - (value / y_max) * USE_HEIGHT, 1)

    xy = [
        (round(chart.plot_left + step * (i + 0.5), 1), y_use(p.value)) for i, p in enumerate(points)
    ]
    chart.line = " ".join(f"{x},{y}" for x, y in xy)
    chart.area = (
        f"M{xy[0][0]},{chart.use_bottom} "
        + " ".join(f"L{x},{y}" for x, y in xy)
        + f" L{xy[-1][0]},{chart.use_bottom} Z"
    )
    if limit is not None:
        chart.limit_y = y_use(limit)
        chart.limit_label = f"limit {limit:,}"
    chart.y_ticks = [Tick(y_use(v), f"{v:,}") for v in (0, y_max // 2, y_max) if v or y_max]

    bar_max = _nice_max(max(p.bar for p in points))
    for i, p in enumerate(points):
        height = round((p.bar / bar_max) * BAR_HEIGHT, 1) if p.bar else 0
        chart.bars.append(
            Bar(
                x=round(chart.plot_left + step * i + step * 0.15, 1),
                y=round(chart.bar_bottom - height, 1),
                width=round(step * 0.7, 1),
                height=height,
                title=p.title,
            )
        )
    chart.bar_ticks = [Tick(chart.bar_bottom, "0"), Tick(chart.bar_top, f"{bar_max:,}")]
    every = max(1, len(points) // 6)
    chart.x_ticks = [
        Tick(round(chart.plot_left + step * (i + 0.5), 1), f"{p.day:%d %b}")
        for i, p in enumerate(points)
        if i % every == 0 or i == len(points) - 1
    ][-7:]
    return chart


def usage_chart(usage: ContractUsage) -> UsageChart:
    days = usage.days
    points = [
        Point(
            d.day,
            d.in_use,
            d.claims,
            f"{d.day:%d %b}: {d.claims} claimed, {d.revokes} revoked, {d.in_use} in use",
        )
        for d in days
    ]
    chart = series_chart(points, usage.limit, ("Seats in use", "Seats claimed per day"))
    if not days:
        return chart
    claimed = sum(d.claims for d in days)
    chart.summary = (
        f"{usage.claimed:,} seats in use"
        + (f" of {usage.limit:,}" if usage.limit is not None else "")
        + f"; {claimed:,} claimed in the last {len(days)} days."
    )
    return chart


def completion_chart(series: CompletionSeries, learners: int) -> UsageChart:
    """Completions so far (a line, with the enrollments as its limit) over completions per day. A
    completion is one learner passing one course run."""
    per_day = dict(series.days)
    total = series.baseline
    points = []
    day = series.start
    while day <= series.end:
        count = per_day.get(day, 0)
        total += count
        points.append(Point(day, total, count, f"{day:%d %b}: {count} completed, {total} so far"))
        day += dt.timedelta(days=1)
    chart = series_chart(points, learners or None, ("Completions so far", "Completions per day"))
    if learners:
        chart.limit_label = f"{learners:,} enrollments"
    recent = total - series.baseline
    chart.summary = f"{total:,} of {learners:,} enrollments completed; {recent:,} in the last {len(points)} days."
    return chart
