"""Dependency-free SVG line charts for the benchmarks: one chart, or several in a grid."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from html import escape

Point = tuple[float, float]
Series = tuple[str, Sequence[Point]]
Range = tuple[float, float]

SVG = "http://www.w3.org/2000/svg"
FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
# Okabe-Ito hues picked to differ in lightness too, and each with its own dash pattern, so
# the lines stay apart in grey and for colour-blind readers.
COLOURS = ("#1f3b73", "#d55e00", "#e69f00", "#009e73", "#cc79a7", "#56b4e9")
DASHES = ("", "7 4", "2 3", "9 3 2 3", "4 2", "1 2")
GRID, AXIS, INK, FAINT = "#e4e4e4", "#555", "#222", "#777"
LEFT, RIGHT, TOP = 60.0, 18.0, 48.0  # TOP leaves room for the marker's label
LEGEND_ROW = 18.0


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values covering [lo, hi], about ``target`` of them."""
    raw = (hi - lo) / max(target - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 10) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def number(value: float) -> str:
    return f"{value:g}"


def percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _text_width(text: str, size: float) -> float:
    return 0.58 * size * len(text)


def _text(x: float, y: float, text: str, size: float = 11, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}"{extra}>{escape(text)}</text>'


def _layout(entries: Sequence[str], width: float) -> list[tuple[float, int]]:
    """Legend entries' (x offset, row), wrapped to fit ``width``."""
    spots, x, row = [], 0.0, 0
    for label in entries:
        size = 30 + _text_width(label, 11) + 18
        if x and x + size > width:
            x, row = 0.0, row + 1
        spots.append((x, row))
        x += size
    return spots


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    x_range: Range,
    y_range: Range,
    *,
    marker: tuple[float, str] | None = None,
    diagonal: str | None = None,
    dots: bool = False,
    x_format: Callable[[float], str] = number,
    y_format: Callable[[float], str] = number,
    width: float = 520,
    height: float = 340,
) -> str:
    """A standalone SVG line chart.

    ``marker``: (x, label) for a vertical line; ``diagonal``: legend label of a y = x line;
    ``dots``: mark each point. Non-finite points are skipped. The legend sits under the plot.
    """
    (x0, x1), (y0, y1) = x_range, y_range
    entries = [name for name, _ in series] + ([diagonal] if diagonal else [])
    spots = _layout(entries, width - LEFT - RIGHT)
    rows = (spots[-1][1] + 1) if spots else 0
    bottom = height - 52 - rows * LEGEND_ROW  # plot's lower edge
    plot_w, plot_h = width - LEFT - RIGHT, bottom - TOP

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return bottom - (y - y0) / (y1 - y0) * plot_h

    out = [
        f'<svg xmlns="{SVG}" width="{width:g}" height="{height:g}" '
        f'viewBox="0 0 {width:g} {height:g}" font-family="{FONT}" fill="{INK}">',
        f'<rect width="{width:g}" height="{height:g}" fill="white"/>',
        _text(width / 2, 22, title, 13, font_weight="600", text_anchor="middle"),
        f'<rect class="plot" x="{LEFT:g}" y="{TOP:g}" width="{plot_w:g}" height="{plot_h:g}" '
        f'fill="none" stroke="{GRID}"/>',
    ]
    for t in nice_ticks(x0, x1):
        out.append(
            f'<line x1="{sx(t):.1f}" y1="{TOP}" x2="{sx(t):.1f}" y2="{bottom}" stroke="{GRID}"/>'
        )
        out.append(
            f'<line x1="{sx(t):.1f}" y1="{bottom}" x2="{sx(t):.1f}" y2="{bottom + 4}" stroke="{AXIS}"/>'
        )
        out.append(_text(sx(t), bottom + 16, x_format(t), 10, text_anchor="middle", fill=FAINT))
    for t in nice_ticks(y0, y1):
        out.append(
            f'<line x1="{LEFT}" y1="{sy(t):.1f}" x2="{LEFT + plot_w}" y2="{sy(t):.1f}" stroke="{GRID}"/>'
        )
        out.append(
            f'<line x1="{LEFT - 4}" y1="{sy(t):.1f}" x2="{LEFT}" y2="{sy(t):.1f}" stroke="{AXIS}"/>'
        )
        out.append(_text(LEFT - 7, sy(t) + 3.5, y_format(t), 10, text_anchor="end", fill=FAINT))
    out.append(f'<path d="M{LEFT},{TOP}V{bottom}H{LEFT + plot_w}" fill="none" stroke="{AXIS}"/>')
    out.append(_text(LEFT + plot_w / 2, bottom + 34, x_label, 11, text_anchor="middle"))
    mid = TOP + plot_h / 2
    out.append(
        _text(16, mid, y_label, 11, text_anchor="middle", transform=f"rotate(-90 16 {mid:.1f})")
    )
    if diagonal:
        lo, hi = max(x0, y0), min(x1, y1)
        out.append(
            f'<line class="diagonal" x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" '
            f'y2="{sy(hi):.1f}" stroke="{FAINT}" stroke-width="1.2" stroke-dasharray="3 3"/>'
        )
    if marker:
        at, label = marker
        right = at < x0 + 0.7 * (x1 - x0)  # label on the side with room
        out.append(
            f'<line class="marker" x1="{sx(at):.1f}" y1="{TOP - 14}" x2="{sx(at):.1f}" '
            f'y2="{bottom}" stroke="{INK}" stroke-width="1.2" stroke-dasharray="5 2 1 2"/>'
        )
        out.append(
            _text(
                sx(at) + (4 if right else -4),
                TOP - 5,
                label,
                10,
                text_anchor="start" if right else "end",
            )
        )
    for n, (_name, points) in enumerate(series):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        xy = [(sx(x), sy(y)) for x, y in points if math.isfinite(x) and math.isfinite(y)]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline class="series" points="{coords}" fill="none" stroke="{colour}" '
            f'stroke-width="2.2" stroke-linejoin="round"{dashed}/>'
        )
        if dots:
            out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in xy)
    for n, (label, (dx, row)) in enumerate(zip(entries, spots, strict=True)):
        x, y = LEFT + dx, bottom + 54 + row * LEGEND_ROW
        if diagonal and n == len(series):
            colour, dash, stroke = FAINT, "3 3", "1.2"
        else:
            colour, dash, stroke = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)], "2.2"
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 24:.1f}" y2="{y - 4:.1f}" stroke="{colour}" stroke-width="{stroke}"{dashed}/>'
        )
        out.append(_text(x + 30, y, label, 11))
    out.append("</svg>")
    return "\n".join(out)


def grid(charts: Sequence[str | None], columns: int, title: str = "", gap: float = 12) -> str:
    """Charts from ``line_chart`` laid out row by row in one SVG; None leaves a cell empty."""
    sizes = [
        (float(root.get("width", 0)), float(root.get("height", 0)))
        for root in (ET.fromstring(c) if c else ET.Element("svg") for c in charts)
    ]
    col_w = [max((w for w, _ in sizes[c::columns]), default=0.0) for c in range(columns)]
    row_h = [max(h for _, h in sizes[r : r + columns]) for r in range(0, len(sizes), columns)]
    head = 40.0 if title else 0.0
    width = sum(col_w) + gap * (columns + 1)
    height = head + sum(row_h) + gap * (len(row_h) + 1)
    out = [
        f'<svg xmlns="{SVG}" width="{width:g}" height="{height:g}" '
        f'viewBox="0 0 {width:g} {height:g}" font-family="{FONT}" fill="{INK}">',
        f'<rect width="{width:g}" height="{height:g}" fill="#f6f6f6"/>',
    ]
    if title:
        out.append(_text(gap + 4, 26, title, 16, font_weight="600"))
    for n, chart in enumerate(charts):
        if chart:
            row, col = divmod(n, columns)
            x = gap + sum(col_w[:col]) + gap * col
            y = head + gap + sum(row_h[:row]) + gap * row
            out.append(f'<g transform="translate({x:g} {y:g})">\n{chart}\n</g>')
    out.append("</svg>")
    return "\n".join(out)
