"""The manager digest's aging chart: stacked horizontal bars per salesperson, as PNG.

Pillow draws it, because it imports in about 25 ms and draws 40 salespeople in about
70 ms. matplotlib 3.11 took about 0.5 s to import and 0.4 s to lay out and draw the
same chart, a fixed cost of every pass that sends a manager digest (both measured on
a 2-core AMD EPYC VM). The chart keeps matplotlib's look: 100
pixels per inch, the tab10 colours, a framed plot and ticks on the value axis. The
legend is drawn right of the plot, where it hides no bar.
"""

from __future__ import annotations

import functools
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

WIDTH = 700
ROW_PITCH = 60  # pixels per salesperson (0.6 inch at 100 dpi)
EXTRA_HEIGHT = 160  # axis, labels and margins (1.6 inch)
BAR_HEIGHT = 0.8  # share of a row the bar fills
MARGIN = 0.05  # share of the data range added beyond the bars on each axis
TICK = 5
PAD = 4
# matplotlib's tab10 colours, in the order of its default colour cycle.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
TEXT_SIZE = 14  # 10 pt at 100 dpi
LEGEND_SIZE = 12
NAME_LENGTH = 24  # longer salesperson names are cut and end in an ellipsis
# TrueType fonts with accented and other non-ASCII letters, which Pillow looks up in
# the system's font folders (Linux, Windows, macOS). Pillow's built-in font is the
# last resort: it draws a box for any letter outside ASCII.
FONT_FILES = (
    "DejaVuSans.ttf",
    "arial.ttf",
    "Arial Unicode.ttf",
    "Arial.ttf",
    "LiberationSans-Regular.ttf",
    "NotoSans-Regular.ttf",
)


@dataclass(frozen=True, slots=True)
class Plot:
    """Plot area in pixels and the data range it shows on the value axis."""

    left: int
    top: int
    right: int
    bottom: int
    low: float
    high: float

    def x(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return self.left + share * (self.right - self.left)


def aging_chart_png(
    aging: Sequence[dict[str, Any]],
    buckets: Sequence[str],
    labels: Sequence[str],
    currency: str,
) -> bytes:
    """Draw the aging buckets of each salesperson as stacked bars and return the PNG."""
    from PIL import Image, ImageDraw

    text_font = chart_font(TEXT_SIZE)
    legend_font = chart_font(LEGEND_SIZE)
    segments = _segments(aging, buckets)
    names = [_short(str(row["salesperson"])) for row in aging]
    height = ROW_PITCH * max(len(aging), 1) + EXTRA_HEIGHT
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)

    ticks, tick_labels, low, high = _value_ticks(segments)
    label_width = max(
        (draw.textlength(name, font=text_font) for name in names), default=0
    )
    text_height = _text_height(draw, text_font)
    plot = Plot(
        left=math.ceil(label_width) + TICK + 2 * PAD + 6,
        top=2 * PAD,
        right=WIDTH - _legend_size(draw, labels, legend_font)[0] - 4 * PAD,
        bottom=height - 2 * text_height - TICK - 4 * PAD,
        low=low,
        high=high,
    )

    _draw_bars(draw, plot, segments, len(aging))
    _draw_category_axis(draw, plot, names, text_font)
    title = f"Outstanding ({currency})"
    _draw_value_axis(draw, plot, ticks, tick_labels, title, text_font, text_height)
    draw.rectangle((plot.left, plot.top, plot.right, plot.bottom), outline="black")
    _draw_legend(draw, plot, labels, legend_font)

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


@functools.cache
def chart_font(size: int) -> Any:
    """Return the first system font of FONT_FILES at `size`, else Pillow's own."""
    from PIL import ImageFont

    for name in FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    log.info("no TrueType font found for the aging chart; names show in ASCII only")
    return ImageFont.load_default(size=size)


def font_in_use() -> str:
    """Return the path of the chart's font, or "built-in", for the chart cache key."""
    return str(getattr(chart_font(TEXT_SIZE), "path", "built-in"))


def _short(name: str) -> str:
    """Return `name` cut to NAME_LENGTH characters, so a long name cannot squeeze the bars."""
    if len(name) <= NAME_LENGTH:
        return name
    return name[: NAME_LENGTH - 1].rstrip() + "\u2026"


def _segments(
    aging: Sequence[dict[str, Any]], buckets: Sequence[str]
) -> list[list[tuple[float, float]]]:
    """Return each row's (start, end) per bucket, stacked left to right."""
    rows = []
    for row in aging:
        start = 0.0
        spans = []
        for bucket in buckets:
            value = float(row.get(bucket, Decimal(0)))  # float only for drawing
            spans.append((start, start + value))
            start += value
        rows.append(spans)
    return rows


def _value_ticks(
    segments: list[list[tuple[float, float]]],
) -> tuple[list[float], list[str], float, float]:
    """Return the tick values, their labels and the value axis range.

    The range is the data's, from zero, widened by 5 % at the far end as matplotlib
    autoscales bars. The ticks step by 1, 2, 2.5 or 5 times a power of ten.
    """
    ends = [end for spans in segments for span in spans for end in span]
    low = min([0.0, *ends])
    high = max([0.0, *ends])
    if high == low:
        high = low + 1.0
    span = high - low
    if low < 0:
        low -= MARGIN * span
    if high > 0:
        high += MARGIN * span
    step = _tick_step(high - low)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    values = [index * step for index in range(first, last + 1)]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    labels = [f"{value:,.{decimals}f}" for value in values]
    return values, labels, low, high


def _tick_step(span: float) -> float:
    """Return the smallest round step that gives at most eight ticks over `span`."""
    raw = span / 7
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def _text_height(draw: Any, font: Any) -> int:
    _left, top, _right, bottom = draw.textbbox((0, 0), "0123456789", font=font)
    return bottom - top


def _row_centre(plot: Plot, index: int, count: int) -> float:
    """Return the pixel row of a bar's centre; the first salesperson is at the top."""
    rows = max(count, 1)
    low, high = -BAR_HEIGHT / 2, rows - 1 + BAR_HEIGHT / 2
    extra = MARGIN * (high - low)
    low, high = low - extra, high + extra
    share = (index - low) / (high - low)
    return plot.top + share * (plot.bottom - plot.top)


def _draw_bars(draw: Any, plot: Plot, segments, count: int) -> None:
    half = _row_centre(plot, BAR_HEIGHT / 2, count) - _row_centre(plot, 0, count)
    for index, spans in enumerate(segments):
        centre = _row_centre(plot, index, count)
        for (start, end), colour in zip(spans, COLOURS):
            if start == end:
                continue
            x0, x1 = sorted((plot.x(start), plot.x(end)))
            # Pillow includes both edges, and a segment narrower than a pixel
            # still shows as one pixel.
            left, right = round(x0), max(round(x0), round(x1) - 1)
            top, bottom = round(centre - half), round(centre + half)
            draw.rectangle((left, top, right, bottom), fill=colour)


def _draw_category_axis(draw: Any, plot: Plot, names: list[str], font: Any) -> None:
    for index, name in enumerate(names):
        y = round(_row_centre(plot, index, len(names)))
        draw.line((plot.left - TICK, y, plot.left, y), fill="black")
        draw.text(
            (plot.left - TICK - PAD, y), name, fill="black", font=font, anchor="rm"
        )


def _draw_value_axis(
    draw: Any, plot: Plot, ticks, tick_labels, title: str, font: Any, text_height: int
) -> None:
    for value, label in zip(ticks, tick_labels):
        x = round(plot.x(value))
        draw.line((x, plot.bottom, x, plot.bottom + TICK), fill="black")
        draw.text(
            (x, plot.bottom + TICK + PAD), label, fill="black", font=font, anchor="mt"
        )
    centre = (plot.left + plot.right) / 2
    title_top = plot.bottom + TICK + 2 * PAD + text_height + PAD
    draw.text((centre, title_top), title, fill="black", font=font, anchor="mt")


def _legend_size(draw: Any, labels: Sequence[str], font: Any) -> tuple[int, int]:
    """Return the width and height of the legend box in pixels."""
    line = _text_height(draw, font) + PAD
    swatch = 2 * line // 3 + 6
    width = max(draw.textlength(label, font=font) for label in labels)
    return round(PAD + swatch + PAD + width + 2 * PAD), len(labels) * line + 2 * PAD


def _draw_legend(draw: Any, plot: Plot, labels: Sequence[str], font: Any) -> None:
    """Draw the bucket legend in a framed box right of the plot, so no bar is hidden."""
    line = _text_height(draw, font) + PAD
    swatch = 2 * line // 3 + 6
    box_width, box_height = _legend_size(draw, labels, font)
    left, top = plot.right + 2 * PAD, plot.top
    right, bottom = left + box_width, top + box_height
    draw.rectangle((left, top, right, bottom), fill="white", outline="#cccccc")
    for index, (label, colour) in enumerate(zip(labels, COLOURS)):
        middle = top + PAD + index * line + line // 2
        draw.rectangle(
            (left + PAD, middle - line // 3, left + PAD + swatch, middle + line // 3),
            fill=colour,
        )
        draw.text(
            (left + 2 * PAD + swatch, middle),
            label,
            fill="black",
            font=font,
            anchor="lm",
        )
