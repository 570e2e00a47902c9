"""The manager digest's aging chart, drawn with Pillow."""

from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal

import pytest
from PIL import Image

from engine.mail import chart
from engine.mail.digest import BUCKET_LABELS, BUCKETS, aging_chart_png

TAB10 = {
    "not_due": (0x1F, 0x77, 0xB4),
    "overdue_1_30": (0xFF, 0x7F, 0x0E),
    "overdue_31_60": (0x2C, 0xA0, 0x2C),
    "overdue_61_90": (0xD6, 0x27, 0x28),
    "overdue_over_90": (0x94, 0x67, 0xBD),
}


def row(name: str, **amounts: str) -> dict:
    values = {bucket: Decimal(amounts.get(bucket, "0")) for bucket in BUCKETS}
    return {"salesperson": name, **values}


def image_of(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGB")


def colours_in_row(image: Image.Image, y: int) -> list[tuple[int, int, int]]:
    """Return the bar colours met from left to right along one pixel row."""
    found: list[tuple[int, int, int]] = []
    for x in range(image.width):
        pixel = image.getpixel((x, y))
        if pixel in TAB10.values() and (not found or found[-1] != pixel):
            found.append(pixel)
    return found


def bar_centres(image: Image.Image) -> list[int]:
    """Return the pixel rows of the bars' centres, top to bottom.

    Every bar starts at zero, so one pixel column just right of the zero line
    crosses each bar once.
    """
    colours = set(TAB10.values())
    x = 2 + min(
        x
        for x in range(image.width)
        for y in range(0, image.height, 4)
        if image.getpixel((x, y)) in colours
    )
    centres, start = [], None
    for y in range(image.height + 1):
        inside = y < image.height and image.getpixel((x, y)) in colours
        if inside and start is None:
            start = y
        elif not inside and start is not None:
            centres.append((start + y - 1) // 2)
            start = None
    return centres


def test_chart_size_follows_salespeople():
    png = aging_chart_png([row(f"S{i:02d}", not_due="100") for i in range(40)], "EUR")
    image = image_of(png)
    assert png.startswith(b"\x89PNG")
    assert image.size == (700, 60 * 40 + 160)


def test_chart_stacks_buckets_in_order():
    aging = [
        row("S01", not_due="500", overdue_1_30="200", overdue_over_90="300"),
        row("S02", overdue_31_60="400", overdue_61_90="100"),
    ]
    image = image_of(aging_chart_png(aging, "EUR"))
    first, second = (colours_in_row(image, y) for y in bar_centres(image))
    assert first == [
        TAB10["not_due"],
        TAB10["overdue_1_30"],
        TAB10["overdue_over_90"],
    ]
    assert second[:2] == [TAB10["overdue_31_60"], TAB10["overdue_61_90"]]


def test_chart_bar_lengths_match_amounts():
    aging = [row("S01", not_due="1000"), row("S02", not_due="250")]
    image = image_of(aging_chart_png(aging, "EUR"))
    blue = TAB10["not_due"]

    def length(y: int) -> int:
        return sum(1 for x in range(image.width) if image.getpixel((x, y)) == blue)

    long_bar, short_bar = (length(y) for y in bar_centres(image))
    assert long_bar > 0
    assert abs(short_bar / long_bar - 0.25) < 0.01


def test_chart_legend_shows_every_bucket():
    image = image_of(aging_chart_png([row("S01", not_due="10")], "EUR"))
    colours = {
        image.getpixel((x, y))
        for x in range(350, 700)
        for y in range(image.height)
    }
    for bucket in BUCKETS:
        assert TAB10[bucket] in colours, bucket
    assert len(BUCKET_LABELS) == len(BUCKETS)


def test_chart_without_rows_is_drawn():
    image = image_of(aging_chart_png([], "EUR"))
    assert image.size == (700, 220)


def test_chart_with_credit_balance_is_drawn():
    aging = [row("S01", not_due="-300.50", overdue_over_90="500")]
    image = image_of(aging_chart_png(aging, "EUR"))
    colours = {image.getpixel((x, y)) for x in range(700) for y in range(100)}
    assert TAB10["overdue_over_90"] in colours


def test_tick_steps_are_round():
    assert chart._tick_step(1680) == 250
    assert chart._tick_step(7) == 1
    assert chart._tick_step(0.7) == 0.1


def test_value_axis_range():
    """The value axis starts at zero and widens its far end by 5 %."""
    _ticks, labels, low, high = chart._value_ticks([[(0.0, 1000.0)]])
    assert low == 0.0
    assert high == 1050.0
    assert labels[0] == "0"
    assert labels[-1] == "1,000"


def test_chart_imports_no_matplotlib():
    program = (
        "import sys; from decimal import Decimal;"
        "from engine.mail.digest import aging_chart_png, BUCKETS;"
        "aging_chart_png([{'salesperson': 'S01',"
        " **{b: Decimal(1) for b in BUCKETS}}], 'EUR');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('matplotlib', 'numpy')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_accented_names_draw_real_letters():
    """A name with É draws that letter, not the box of a font that lacks it."""
    from PIL import Image, ImageDraw

    if chart.font_in_use() == "built-in":
        pytest.skip("no TrueType font with accented letters on this machine")

    def drawn(text: str) -> bytes:
        image = Image.new("L", (200, 40), 255)
        ImageDraw.Draw(image).text((5, 5), text, font=chart.chart_font(14), fill=0)
        return image.tobytes()

    assert drawn("CHLOÉ") != drawn("CHLO\U000f0000")
    assert drawn("CHLOÉ") != drawn("CHLOE")


def test_long_name_keeps_plot_wide():
    """A 60-character salesperson name is cut, so the bars keep most of the width."""
    long_name = "Agence de voyages du Grand Ouest et des Pays de la Loire SARL"
    image = image_of(aging_chart_png([row(long_name, not_due="1000")], "EUR"))
    blue = TAB10["not_due"]
    bar = [x for x in range(image.width) if image.getpixel((x, image.height // 3)) == blue]

    assert chart._short(long_name).endswith("\u2026")
    assert len(chart._short(long_name)) == chart.NAME_LENGTH
    assert len(bar) > image.width // 3
