"""The seat usage chart as plain SVG geometry, drawn by the template with no script at all (the
Content-Security-Policy stays strict): seats in use at the end of each day against the limit, and
below it the seats claimed each day.

Each chart comes in two shapes, and the stylesheet shows one: the wide one, and a compact one for
phones. Scaled down to a phone, the wide one's labels shrink to 5 px and a scroll box cut off the
days either side; the compact one is drawn for about 360 px, so its text stays at its size and
every day, today included, is on the screen.

Its words (captions, the limit, each bar's tooltip, the summary read by screen readers) and its
dates and numbers are in the visitor's language: the chart is drawn per request."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from flask_babel import format_date, gettext

from portal.core.text import count_text, plural
from portal.services.outcomes import CompletionSeries
from portal.services.seat_usage import ContractUsage

WIDTH = 640
COMPACT_WIDTH = 360
LEFT = 44  # room for the y-axis labels
COMPACT_LEFT = 30
RIGHT = 12
TOP = 14
USE_HEIGHT = 140
GAP = 30
BAR_HEIGHT = 56
BOTTOM = 22
HEIGHT = TOP + USE_HEIGHT + GAP + BAR_HEIGHT + BOTTOM


def day_label(day: dt.date) -> str:
    """A day under the chart and in its tooltips: "04 Dec" ("04 déc.")."""
    return str(format_date(day, "dd MMM"))


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
    compact: UsageChart | None = None  # the same chart drawn for a phone


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
    """The geometry of a line (with an optional limit) over daily bars, wide and compact."""
    chart = _geometry(points, limit, captions, WIDTH, LEFT, labels=7)
    chart.compact = _geometry(points, limit, captions, COMPACT_WIDTH, COMPACT_LEFT, labels=4)
    return chart


def _geometry(
    points: list[Point],
    limit: int | None,
    captions: tuple[str, str],
    width: int,
    left: int,
    *,
    labels: int,
) -> UsageChart:
    """The chart drawn ``width`` units wide, with at most ``labels`` dates under it (the last one
    always: today)."""
    chart = UsageChart(
        width=width,
        plot_left=left,
        plot_right=width - RIGHT,
        line_caption=captions[0],
        bar_caption=captions[1],
    )
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
        chart.limit_label = gettext("limit %(num)s", num=count_text(limit))
    chart.y_ticks = [Tick(y_use(v), count_text(v)) for v in (0, y_max // 2, y_max) if v or y_max]

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
    chart.bar_ticks = [Tick(chart.bar_bottom, "0"), Tick(chart.bar_top, count_text(bar_max))]
    # Counted back from today, so the last label is today's and none crowds it.
    every = max(1, math.ceil(len(points) / labels))
    last = len(points) - 1
    chart.x_ticks = [
        Tick(round(chart.plot_left + step * (i + 0.5), 1), day_label(p.day))
        for i, p in enumerate(points)
        if (last - i) % every == 0
    ][-labels:]
    return chart


def usage_chart(usage: ContractUsage) -> UsageChart:
    days = usage.days
    points = [
        Point(
            d.day,
            d.in_use,
            d.claims,
            gettext(
                "%(day)s: %(claimed)s claimed, %(revoked)s revoked, %(in_use)s in use",
                day=day_label(d.day),
                claimed=count_text(d.claims),
                revoked=count_text(d.revokes),
                in_use=count_text(d.in_use),
            ),
        )
        for d in days
    ]
    captions = (gettext("Seats in use"), gettext("Seats claimed per day"))
    chart = series_chart(points, usage.limit, captions)
    if not days:
        return chart
    if usage.limit is None:
        in_use = plural(usage.claimed, "%(num)s seat in use", "%(num)s seats in use")
    else:
        in_use = plural(
            usage.claimed,
            "%(num)s seat in use of %(limit)s",
            "%(num)s seats in use of %(limit)s",
            limit=count_text(usage.limit),
        )
    chart.summary = plural(
        len(days),
        "%(in_use)s; %(claimed)s claimed in the last %(num)s day.",
        "%(in_use)s; %(claimed)s claimed in the last %(num)s days.",
        in_use=in_use,
        claimed=count_text(sum(d.claims for d in days)),
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
        title = gettext(
            "%(day)s: %(completed)s completed, %(total)s so far",
            day=day_label(day),
            completed=count_text(count),
            total=count_text(total),
        )
        points.append(Point(day, total, count, title))
        day += dt.timedelta(days=1)
    captions = (gettext("Completions so far"), gettext("Completions per day"))
    chart = series_chart(points, learners or None, captions)
    if learners:
        chart.limit_label = plural(learners, "%(num)s enrollment", "%(num)s enrollments")
    completed = plural(
        learners,
        "%(total)s of %(num)s enrollment completed",
        "%(total)s of %(num)s enrollments completed",
        total=count_text(total),
    )
    chart.summary = plural(
        len(points),
        "%(completed)s; %(recent)s in the last %(num)s day.",
        "%(completed)s; %(recent)s in the last %(num)s days.",
        completed=completed,
        recent=count_text(total - series.baseline),
    )
    return chart
