"""No chart's words are cut at any width, in either language: the title is the page's heading
above the picture (HTML wraps it), and what stays in the SVG (the value axis's label, the
category labels, the arms' legend) is wrapped so that every line lies inside the figure.

Each ``<text>`` of the SVG is measured where matplotlib placed it: its width in matplotlib's
own font at its size, from its anchor, turned as it is turned, must lie inside the viewBox."""

from __future__ import annotations

import html
import re

import pytest
from django.utils import translation
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

from studies import charts

# Sixty characters of Indonesian, as a study's designer may name an outcome.
LONG_OUTCOME = "Frekuensi menyusu bayi dalam dua puluh empat jam sesudah ASI"
LONG_ARMS = ("Pijat oksitosin dengan minyak zaitun hangat", "Kontrol dengan perawatan payudara")
LONG_POINTS = ("Sebelum pijat pertama", "Sesudah pijat terakhir hari ketiga")
_TEXT = re.compile(r"<text\b([^>]*)>(.*?)</text>", re.DOTALL)
_NUMBER = r"(-?[0-9.]+(?:e-?[0-9]+)?)"


def test_long_outcome_label_is_sixty_characters():
    assert len(LONG_OUTCOME) == 60


def texts(svg: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every line of text in the SVG with its box (left, right, top, bottom) in the viewBox's
    units (points): measured in matplotlib's font, from its anchor, rotated as drawn."""
    found = []
    for attributes, content in _TEXT.findall(svg):
        text = html.unescape(re.sub(r"<[^>]+>", "", content))
        size = float(re.search(r'font-size="([0-9.]+)px"', attributes).group(1))
        anchor = re.search(r'text-anchor="(\w+)"', attributes)
        anchor = anchor.group(1) if anchor else "start"
        x, y = 0.0, 0.0
        if (moved := re.search(rf"translate\({_NUMBER} {_NUMBER}\)", attributes)) is not None:
            x, y = float(moved.group(1)), float(moved.group(2))
        if (at := re.search(rf'\bx="{_NUMBER}"', attributes)) is not None:
            x += float(at.group(1))
        if (at := re.search(rf'\by="{_NUMBER}"', attributes)) is not None:
            y += float(at.group(1))
        turned = re.search(rf"rotate\({_NUMBER}\)", attributes)
        width, height, descent = text_to_path.get_text_width_height_descent(
            text, FontProperties(size=size), ismath=False
        )
        start = {"start": 0.0, "middle": -width / 2, "end": -width}[anchor]
        along, across = (start, start + width), (-(height - descent), descent)
        if turned is None:
            box = (x + along[0], x + along[1], y + across[0], y + across[1])
        else:
            assert float(turned.group(1)) == -90, attributes
            box = (x + across[0], x + across[1], y - along[1], y - along[0])
        found.append((text, box))
    return found


def assert_inside(chart: charts.Chart) -> list[str]:
    svg = str(chart.svg)
    view = [float(n) for n in re.search(r'viewBox="([^"]+)"', svg).group(1).split()]
    left, top, right, bottom = view[0], view[1], view[0] + view[2], view[1] + view[3]
    lines = texts(svg)
    assert lines
    for text, (x0, x1, y0, y1) in lines:
        assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, (
            f"{text!r} at {(x0, x1, y0, y1)} outside {view} in {chart.slug}"
        )
    return [text for text, _box in lines]


def document(arms: tuple[str, ...], points: tuple[str, ...], label: str = LONG_OUTCOME) -> dict:
    keys = [f"p{index}" for index in range(len(points))]
    arm_keys = [f"a{index}" for index in range(len(arms))]
    return {
        "arms": [{"key": key, "label": text} for key, text in zip(arm_keys, arms, strict=True)],
        "timepoints": [{"key": k, "label": text} for k, text in zip(keys, points, strict=True)],
        "outcomes": {
            "feeds": {
                "label": label,
                "unit": "kali/24 jam",
                "type": "count",
                "timepoints": keys,
                "descriptives": {
                    arm: {
                        point: {"n": 4, "mean": 5.0 + a + p, "median": 5.0 + a + p}
                        for p, point in enumerate(keys)
                    }
                    for a, arm in enumerate(arm_keys)
                },
            }
        },
    }


def mothers(arms: int, points: int) -> list[dict]:
    return [
        {"arm": f"a{a}", **{f"p{p}_feeds": 4 + a + p + m for p in range(points)}}
        for a in range(arms)
        for m in range(4)
    ]


@pytest.mark.parametrize("language", ["id", "en"])
def test_every_chart_kind_keeps_its_words_inside_with_long_labels(language):
    with translation.override(language):
        paired, box = charts.outcome_charts(
            "feeds", LONG_OUTCOME, [4, 5, 6, 7], [8, 9, 10, 12], hours=24
        )
        found = [paired, box]
        for arms, points in [(LONG_ARMS, LONG_POINTS), (LONG_ARMS * 2, LONG_POINTS),
                             (LONG_ARMS[:1], LONG_POINTS * 2)]:  # fmt: skip
            found += charts.design_charts(
                document(arms, points), "feeds", mothers(len(arms), len(points)), sep=","
            )
    assert [chart.slug.rsplit("-", 1)[1] for chart in found] == [
        "paired", "box", "means", "arms", "means", "arms", "means", "arms",
    ]  # fmt: skip
    for chart in found:
        words = " ".join(assert_inside(chart))
        # The title is not drawn (the page's heading shows it), in full on the chart itself.
        assert chart.title.startswith(LONG_OUTCOME + ": ")
        assert chart.title not in words
        # Wrapped, not dropped: every word of the value axis's label is drawn.
        for word in LONG_OUTCOME.split():
            assert word in words, (word, chart.slug)
    legend = " ".join(assert_inside(found[2]))
    for arm in LONG_ARMS:  # the legend names each arm in full, over as many lines as it needs
        assert all(word in legend for word in arm.split())


def test_a_long_label_is_wrapped_into_lines_that_fit():
    paired = charts.paired_chart("feeds", LONG_OUTCOME, [4, 5], [6, 7])
    lines = [text for text in assert_inside(paired) if text.split()[0] in LONG_OUTCOME]
    assert len(lines) >= 2, lines
    assert " ".join(lines).startswith(LONG_OUTCOME)
    tall = charts.FIGURE_SIZE[1] * 72  # the upright label's lines: no longer than the figure
    assert all(charts._text_width(line, 10) < tall for line in lines)


def test_wrap_breaks_between_words_and_inside_a_word_too_long_for_a_line():
    assert charts.wrap("Pijat oksitosin", 1000, 10) == "Pijat oksitosin"
    narrow = charts._text_width("oksitosin", 10)
    assert charts.wrap("Pijat oksitosin", narrow, 10) == "Pijat\noksitosin"
    pieces = charts.wrap("Menyusu" * 6, narrow, 10).split("\n")
    assert "".join(pieces) == "Menyusu" * 6 and len(pieces) > 1
    assert all(charts._text_width(piece, 10) <= narrow for piece in pieces)
    assert charts.wrap("Pijat\nSesudah", 1000, 8) == "Pijat\nSesudah"
