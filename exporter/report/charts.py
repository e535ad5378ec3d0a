"""Inline SVG charts: a domain radar and a domain x quarter heatmap.

Why hand-written SVG: the report must open offline and print without JavaScript or
any external asset, and two charts do not justify a plotting dependency. Each domain
gets exactly one mark per series (``data-domain`` attributes), which the tests count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

# Colour per level 1-5 (colour-blind-safe sequential), and for "no data".
LEVEL_COLOURS = {1: "#d73027", 2: "#fc8d59", 3: "#fee08b", 4: "#91cf60", 5: "#1a9850"}
NO_DATA = "#e0e0e0"
SERIES = (("target", "#7f7f7f", "4 3"), ("previous", "#9e9ac8", ""),
          ("current", "#08519c", ""))


def _label(domain: str) -> str:
    return domain.replace("_", " ")


def radar(data: Mapping[str, Mapping[str, int | None]]) -> str:
    """Levels per domain on eight axes: current, previous quarter and target."""
    domains = list(data)
    width, size, centre, middle, radius = 760, 600, 380, 285, 200
    n = max(len(domains), 1)

    def point(index: int, level: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * index / n
        r = radius * level / 5
        return centre + r * math.cos(angle), middle + r * math.sin(angle)

    parts = [f'<svg class="chart radar" role="img" viewBox="0 0 {width} {size}" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="Maturity level per domain">']
    for ring in range(1, 6):
        ring_points = " ".join(f"{x:.1f},{y:.1f}" for x, y in
                               (point(i, ring) for i in range(n)))
        parts.append(f'<polygon points="{ring_points}" fill="none" stroke="#ccc"/>')
        x, y = point(0, ring)
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 4:.1f}" font-size="11" '
                     f'fill="#666">{ring}</text>')
    for i, domain in enumerate(domains):
        x, y = point(i, 5)
        parts.append(f'<line x1="{centre}" y1="{middle}" x2="{x:.1f}" y2="{y:.1f}" '
                     'stroke="#ccc"/>')
        lx, ly = point(i, 5.9)
        anchor = "middle" if abs(lx - centre) < 20 else ("start" if lx > centre else "end")
        words = _label(domain).split(" ")
        lines = [" ".join(words[:1]), " ".join(words[1:])] if len(words) > 1 else words
        spans = "".join(f'<tspan x="{lx:.1f}" dy="{0 if k == 0 else 18}">{escape(w)}</tspan>'
                        for k, w in enumerate(lines) if w)
        parts.append(f'<text x="{lx:.1f}" y="{ly - 4:.1f}" font-size="16" '
                     f'text-anchor="{anchor}">{spans}</text>')
    for series, colour, dash in SERIES:
        known = [(i, data[d].get(series)) for i, d in enumerate(domains)]
        if all(v is None for _, v in known):
            continue
        if all(v is not None for _, v in known):
            # A domain without a value gets no vertex at 0: "no data" is not level 0.
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in
                            (point(i, v) for i, v in known if v is not None))
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            fill = ' fill-opacity="0.15"' if series == "current" else ' fill-opacity="0"'
            parts.append(f'<polygon class="series-{series}" points="{line}" fill="{colour}"'
                         f'{fill} stroke="{colour}" stroke-width="2"{dash_attr}/>')
        for i, value in known:
            if value is None:
                continue
            x, y = point(i, value)
            parts.append(f'<circle class="mark mark-{series}" data-domain="{domains[i]}" '
                         f'cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
    legend_y = size - 24
    for index, (series, colour, _) in enumerate(reversed(SERIES)):
        x = 20 + index * 150
        parts.append(f'<rect x="{x}" y="{legend_y}" width="14" height="14" fill="{colour}"/>'
                     f'<text x="{x + 20}" y="{legend_y + 13}" font-size="16">'
                     f'{series}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heatmap(quarters: list[str], levels: Mapping[str, Mapping[str, int | None]]) -> str:
    """One cell per domain and quarter, coloured and labelled with the level."""
    left, top, cell_w, cell_h = 190, 30, 80, 30
    width = left + cell_w * max(len(quarters), 1) + 10
    height = top + cell_h * max(len(levels), 1) + 10
    parts = [f'<svg class="chart heatmap" role="img" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="Level per domain and quarter">']
    for j, quarter in enumerate(quarters):
        parts.append(f'<text x="{left + j * cell_w + cell_w / 2}" y="{top - 10}" '
                     f'font-size="13" text-anchor="middle">{escape(quarter)}</text>')
    for i, (domain, row) in enumerate(levels.items()):
        y = top + i * cell_h
        parts.append(f'<text x="{left - 8}" y="{y + cell_h / 2 + 5}" font-size="13" '
                     f'text-anchor="end">{escape(_label(domain))}</text>')
        for j, quarter in enumerate(quarters):
            value: Any = row.get(quarter)
            colour = LEVEL_COLOURS.get(value, NO_DATA)
            x = left + j * cell_w
            parts.append(f'<rect class="cell" data-domain="{domain}" data-quarter="{quarter}" '
                         f'x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" '
                         f'height="{cell_h - 2}" fill="{colour}"/>')
            text = "no data" if value is None else str(value)
            size = 10 if value is None else 14
            parts.append(f'<text x="{x + cell_w / 2}" y="{y + cell_h / 2 + 5}" '
                         f'font-size="{size}" text-anchor="middle">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)
