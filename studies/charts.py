"""Server-side charts of one outcome, as inline SVG with a text alternative.

Two charts per outcome: a line per mother from her pre-test to her post-test value, and a box
plot per phase whose box and whiskers use the same quartiles as the tables (SPSS's HAVERAGE,
from ``analysis.describe``), so the picture never disagrees with the numbers beside it.
matplotlib runs without pyplot (no global state shared between requests) on the Agg backend.
"""

from __future__ import annotations

import functools
import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from matplotlib.ticker import ScalarFormatter

from .analysis import describe
from .analysis.prose import format_in_text

matplotlib.use("Agg")

UP, DOWN, SAME = "#198754", "#dc3545", "#6c757d"  # Bootstrap success, danger, secondary
RC = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, read by screen readers
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_SVG_ROOT = re.compile(r"<svg\b[^>]*>")
_ID = re.compile(r'\bid="([^"]+)"')
_STYLE_ELEMENT = re.compile(r"<style\b.*?</style>\s*", re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')


@dataclass(frozen=True)
class Chart:
    """One chart: its title is the page's heading above the picture (HTML wraps it at any
    width, in any language), never drawn in the SVG, where a long one would be cut."""

    slug: str
    title: str
    svg: SafeString
    description: str


def _svg(figure: Figure, slug: str, title: str, description_id: str) -> SafeString:
    """The figure as an ``<svg>`` element fit for inlining: no XML prolog, ids made unique on
    the page (several charts share one document), scalable, and labelled for assistive
    technology."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**RC, "svg.hashsalt": slug}):
        _fit_labels(figure)
        figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    for element_id in set(_ID.findall(text)):
        text = text.replace(f'id="{element_id}"', f'id="{slug}-{element_id}"')
        text = text.replace(f"#{element_id})", f"#{slug}-{element_id})")
        text = text.replace(f'"#{element_id}"', f'"#{slug}-{element_id}"')
    # The page's Content-Security-Policy allows no inline style: matplotlib's style="" attributes
    # become SVG presentation attributes (every property it writes is one), its <style> element's
    # defaults move to the root, whence they are inherited, and the size comes from lancar.css.
    text = _STYLE_ELEMENT.sub("", text)
    text = _STYLE_ATTRIBUTE.sub(_presentation_attributes, text)
    root = _SVG_ROOT.search(text).group(0)
    tidy = re.sub(r'\s(width|height)="[^"]*"', "", root)
    tidy = tidy.replace(
        "<svg",
        f'<svg role="img" aria-label="{_escape(title)}" aria-describedby="{description_id}" '
        'class="results-chart" stroke-linejoin="round" stroke-linecap="butt"',
        1,
    )
    # Safe: matplotlib escapes the text it writes, and the labels above are escaped too.
    return mark_safe(text.replace(root, tidy, 1))


def _presentation_attributes(match: re.Match) -> str:
    declarations = (part.split(":", 1) for part in match.group(1).split(";") if ":" in part)
    return "".join(f' {name.strip()}="{value.strip()}"' for name, value in declarations)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


class _DecimalTicks(ScalarFormatter):
    """matplotlib's own tick labels with the page's decimal separator ("22,5" in Indonesian)."""

    def __init__(self, sep: str) -> None:
        super().__init__()
        self.sep = sep

    def __call__(self, x, pos=None) -> str:
        return super().__call__(x, pos).replace(".", self.sep)


def _decimal_ticks(axes, sep: str) -> None:
    """Label the value axis with ``sep`` as the decimal separator, as the tables beside it."""
    if sep != ".":
        axes.yaxis.set_major_formatter(_DecimalTicks(sep))


FIGURE_SIZE = (4.2, 3.2)  # inches; the page scales the SVG to its column (lancar.css)
# The longest line a label may have, as a share of the figure's width (tick labels, legend) or
# height (the value axis's label, drawn upright). What is left is the margin and the other
# axis's labels; constrained layout then makes room for the lines a label was wrapped into.
LABEL_SHARE = 0.85
VALUE_LABEL_SHARE = 0.8


def _figure() -> tuple[Figure, object]:
    figure = Figure(figsize=FIGURE_SIZE, layout="constrained")
    return figure, figure.add_subplot()


def _text_width(text: str, size: float) -> float:
    """The width in points of one line of ``text`` in matplotlib's font (DejaVu Sans, wider
    than the fonts phones fall back to, so a line that fits here fits there)."""
    width, _height, _descent = text_to_path.get_text_width_height_descent(
        text, FontProperties(size=size), ismath=False
    )
    return width


def wrap(text: str, width: float, size: float) -> str:
    """``text`` broken into lines of at most ``width`` points at font ``size``: between words,
    and inside a word only when the word alone is wider than a line. Lines already in the
    text stay lines."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if _text_width(candidate, size) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for character in word:
                if line and _text_width(line + character, size) > width:
                    lines.append(line)
                    line = ""
                line += character
        lines.append(line)
    return "\n".join(lines)


def _points(share: float, inches: float) -> float:
    return share * inches * 72


def _value_label(axes, text: str) -> None:
    """The value axis's label, wrapped to a share of the figure's height (then to the plot's
    own height by :func:`_fit_labels`)."""
    axes.set_ylabel(wrap(text, _points(VALUE_LABEL_SHARE, FIGURE_SIZE[1]), RC["font.size"]))


def _tick_labels(labels: Sequence[str], size: float) -> list[str]:
    """The category axis's labels, each wrapped to its share of the figure's width (a first
    guess: :func:`_fit_labels` wraps them again to the plot's width once laid out)."""
    width = _points(LABEL_SHARE, FIGURE_SIZE[0]) / max(len(labels), 1)
    return [wrap(label, width, size) for label in labels]


def _categories(axes, labels: Sequence[str], size: float) -> None:
    """Remember the category axis's labels as written, for :func:`_fit_labels`."""
    axes.category_labels = (tuple(labels), size)


def _inches_to_points(value: float) -> float:
    return value * 72


def _fit_labels(figure: Figure) -> None:
    """Fit the labels to the plot as laid out. The category labels are wrapped to the room
    between two ticks (minus a gap), or, when a single word is wider than that room, turned
    upright in as few lines as the room holds side by side; the figure grows by what they take
    beyond two lines, so the plot keeps its height. Then each value axis's label is wrapped to
    its plot's height: it is centred on the plot, so it stays inside the figure."""
    figure.draw_without_rendering()
    grown = False
    for axes in figure.axes:
        if not hasattr(axes, "category_labels"):
            continue
        labels, size = axes.category_labels
        room = 0.9 * _inches_to_points(axes.get_window_extent().width / figure.dpi) / len(labels)
        widest_word = max(
            (_text_width(word, size) for label in labels for word in label.split()), default=0
        )
        ticks = axes.get_xticks()
        if widest_word <= room:
            axes.set_xticks(ticks, [wrap(label, room, size) for label in labels])
        else:
            lines = max(1, int(room // (1.25 * size)))
            longest = max(_text_width(label.replace("\n", " "), size) for label in labels)
            length = 1.05 * max(widest_word, longest / lines)
            axes.set_xticks(ticks, [wrap(label, length, size) for label in labels], rotation=90)
        figure.draw_without_rendering()
        block = max(text.get_window_extent().height for text in axes.get_xticklabels())
        extra = _inches_to_points(block / figure.dpi) - 2 * 1.25 * size
        if extra > 0 and not grown:
            width, height = figure.get_size_inches()
            figure.set_size_inches(width, height + extra / 72)
            grown = True
    figure.draw_without_rendering()
    for axes in figure.axes:
        label = axes.yaxis.label
        if label.get_text():
            height = _inches_to_points(axes.get_window_extent().height / figure.dpi)
            label.set_text(wrap(label.get_text().replace("\n", " "), height, label.get_size()))


def _legend(figure: Figure, labels: Sequence[str]) -> None:
    """The arms' legend below the plot, outside it (it never covers a line), one entry a row
    when side by side they would not fit the figure's width."""
    size = 8
    handle = 3 * size  # the line sample and the gaps beside it
    width = _points(LABEL_SHARE, FIGURE_SIZE[0])
    wrapped = [wrap(label, width - handle, size) for label in labels]
    widest = [max(_text_width(line, size) for line in label.split("\n")) for label in wrapped]
    across = sum(widest) + handle * len(wrapped) <= width
    handles = figure.axes[0].get_legend_handles_labels()[0]
    figure.legend(
        handles,
        wrapped,
        loc="outside lower center",
        ncols=len(wrapped) if across else 1,
        fontsize=size,
        frameon=False,
    )


def paired_chart(
    outcome: str, label: str, pre: Sequence[int], post: Sequence[int], *, hours: int = 24
) -> Chart:
    """One line per mother from pre to post; identical pairs share a thicker line."""
    slug = f"chart-{outcome}-paired"
    title = _("%(outcome)s: each mother before and after") % {"outcome": label}
    with matplotlib.rc_context(RC):
        figure, axes = _figure()
        pairs = Counter(zip(pre, post, strict=True))
        for (before, after), count in sorted(pairs.items()):
            colour = UP if after > before else DOWN if after < before else SAME
            axes.plot(
                [0, 1],
                [before, after],
                color=colour,
                linewidth=1 + 1.2 * (count - 1),
                alpha=0.75,
                marker="o",
                markersize=4,
            )
        phases = [_("Pre-test"), _("Post-test")]
        axes.set_xticks([0, 1], _tick_labels(phases, RC["font.size"]))
        _categories(axes, phases, RC["font.size"])
        axes.set_xlim(-0.25, 1.25)
        per_hours = _("%(outcome)s per %(hours)s hours") % {"outcome": label, "hours": hours}
        _value_label(axes, per_hours)
        axes.yaxis.get_major_locator().set_params(integer=True)
    up = sum(1 for a, b in zip(pre, post, strict=True) if b > a)
    down = sum(1 for a, b in zip(pre, post, strict=True) if b < a)
    description = _(
        "%(outcome)s of %(n)s mothers: %(up)s higher after the massage, %(down)s lower, "
        "%(same)s unchanged (green rising, red falling, grey unchanged; a thicker line is "
        "several mothers with the same values)."
    ) % {"outcome": label, "n": len(pre), "up": up, "down": down, "same": len(pre) - up - down}
    return Chart(slug, title, _svg(figure, slug, title, f"{slug}-text"), description)


def _box_stats(values: Sequence[int], label: str) -> dict:
    stats = describe(values)
    q1, q3 = stats["q1"], stats["q3"]
    reach = 1.5 * (q3 - q1)
    inside = [v for v in values if q1 - reach <= v <= q3 + reach]
    return {
        "label": label,
        "med": stats["median"],
        "q1": q1,
        "q3": q3,
        "whislo": min(inside),
        "whishi": max(inside),
        "fliers": sorted(v for v in values if v < q1 - reach or v > q3 + reach),
    }


def box_chart(
    outcome: str,
    label: str,
    pre: Sequence[int],
    post: Sequence[int],
    *,
    hours: int = 24,
    sep: str = ".",
) -> Chart:
    """A box per phase: median, quartiles, whiskers to 1.5 IQR, outliers as points."""
    slug = f"chart-{outcome}-box"
    title = _("%(outcome)s: distribution by phase") % {"outcome": label}
    with matplotlib.rc_context(RC):
        figure, axes = _figure()
        phases = [_("Pre-test"), _("Post-test")]
        shown = _tick_labels(phases, RC["font.size"])
        _categories(axes, phases, RC["font.size"])
        axes.bxp(
            [_box_stats(pre, shown[0]), _box_stats(post, shown[1])],
            showfliers=True,
            patch_artist=True,
            boxprops={"facecolor": "#d1e7dd"},
            medianprops={"color": "#0f5132", "linewidth": 2},
        )
        per_hours = _("%(outcome)s per %(hours)s hours") % {"outcome": label, "hours": hours}
        _value_label(axes, per_hours)
        axes.yaxis.get_major_locator().set_params(integer=True)
        _decimal_ticks(axes, sep)
    pre_stats, post_stats = describe(pre), describe(post)

    def summary(stats: dict) -> dict:
        return {
            "median": format_in_text(stats["median"], 1, decimal_separator=sep),
            "q1": format_in_text(stats["q1"], 1, decimal_separator=sep),
            "q3": format_in_text(stats["q3"], 1, decimal_separator=sep),
            "min": stats["min"],
            "max": stats["max"],
        }

    description = _(
        "%(outcome)s before the massage: median %(pre_median)s (quartiles %(pre_q1)s–%(pre_q3)s, "
        "range %(pre_min)s–%(pre_max)s); after: median %(post_median)s (quartiles "
        "%(post_q1)s–%(post_q3)s, range %(post_min)s–%(post_max)s)."
    ) % {
        "outcome": label,
        **{f"pre_{key}": value for key, value in summary(pre_stats).items()},
        **{f"post_{key}": value for key, value in summary(post_stats).items()},
    }
    return Chart(slug, title, _svg(figure, slug, title, f"{slug}-text"), description)


def outcome_charts(
    outcome: str,
    label: str,
    pre: Sequence[int | None],
    post: Sequence[int | None],
    *,
    hours: int = 24,
    sep: str = ".",
) -> list[Chart]:
    """Both charts of one outcome over its complete pairs; none when there is no pair.
    ``hours`` is the period one observation sheet covers; ``sep`` the decimal separator of
    the text alternative."""
    pairs = Counter(
        (a, b) for a, b in zip(pre, post, strict=True) if a is not None and b is not None
    )
    if not pairs:
        return []
    key = (outcome, label, hours, sep, translation.get_language(), tuple(sorted(pairs.items())))
    return list(_charts(key))


@functools.lru_cache(maxsize=64)
def _charts(key: tuple) -> tuple[Chart, Chart]:
    """The charts drawn from how many mothers have each (pre, post) pair, which is all they
    show. Drawing four charts costs more than the rest of the results page at 100,000 mothers
    (make bench), so they are kept for as long as the figures (and the language) stay the same:
    a sheet saved since changes the key, never shows a stale chart."""
    outcome, label, hours, sep, _language, counted = key
    before = [a for (a, _b), count in counted for _ in range(count)]
    after = [b for (_a, b), count in counted for _ in range(count)]
    return (
        paired_chart(outcome, label, before, after, hours=hours),
        box_chart(outcome, label, before, after, hours=hours, sep=sep),
    )


# ---------------------------------------------------------------------------
# Charts of the other designs (DESIGN.md §7): means over time points by arm, boxes by arm
# ---------------------------------------------------------------------------

ARM_COLOURS = ("#198754", "#0d6efd", "#6f42c1", "#fd7e14")  # success, primary, purple, orange


def _plain(values) -> list:
    """A column (list, array or masked array) as a list, ``None`` where masked."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _analysed(
    mothers: Sequence[dict] | Mapping[str, Sequence], name: str, points: Sequence[str]
) -> tuple[list, dict[str, list]]:
    """The mothers the outcome is analysed over (a value at every time point, DESIGN §7): their
    arms and their values at each time point. ``mothers`` are records (a dict each) or the
    cohort's columns (``Cohort.columns``)."""
    if isinstance(mothers, Mapping):
        size = len(mothers["code"]) if "code" in mothers else 0
        arms = _plain(mothers["arm"]) if "arm" in mothers else [None] * size
        values = {
            point: _plain(mothers[f"{point}_{name}"])
            if f"{point}_{name}" in mothers
            else [None] * size
            for point in points
        }
        keep = [
            index
            for index in range(size)
            if all(values[point][index] is not None for point in points)
        ]
        return [arms[i] for i in keep], {p: [values[p][i] for i in keep] for p in points}
    analysed = [r for r in mothers if all(r.get(f"{p}_{name}") is not None for p in points)]
    return [r.get("arm") for r in analysed], {
        point: [r[f"{point}_{name}"] for r in analysed] for point in points
    }


def _point_labels(document: dict) -> dict[str, str]:
    return {p["key"]: p["label"] for p in document.get("timepoints", [])}


def means_chart(document: dict, name: str, *, sep: str = ".") -> Chart | None:
    """A line per arm through its mean at each time point, with the medians dashed: both arms'
    before/after lines in pre/post designs, the course over time in repeated designs."""
    outcome = document["outcomes"][name]
    points = outcome.get("timepoints") or []
    descriptives = outcome.get("descriptives") or {}
    arms = [a for a in document.get("arms", []) if a["key"] in descriptives]
    if len(points) < 2 or not arms:
        return None
    if not any(descriptives[a["key"]][p]["n"] for a in arms for p in points):
        return None
    labels = _point_labels(document)
    lines = tuple(
        (
            arm["label"],
            tuple(descriptives[arm["key"]][p]["mean"] for p in points),
            tuple(descriptives[arm["key"]][p]["median"] for p in points),
        )
        for arm in arms
    )
    key = (name, outcome["label"], outcome.get("unit") or "", sep, translation.get_language(),
           tuple(labels.get(p, p) for p in points), lines)  # fmt: skip
    return _means_chart(key)


@functools.lru_cache(maxsize=64)
def _means_chart(key: tuple) -> Chart:
    """The means chart drawn from what it shows (kept while the figures and the language stay
    the same, as ``_charts``)."""
    name, label, unit, sep, _language, point_labels, lines = key
    slug = f"chart-{name}-means"
    title = _("%(outcome)s: mean by time point") % {"outcome": label}
    parts = []
    with matplotlib.rc_context(RC):
        figure, axes = _figure()
        positions = list(range(len(point_labels)))
        for index, (arm_label, means, medians) in enumerate(lines):
            colour = ARM_COLOURS[index % len(ARM_COLOURS)]
            shown = arm_label if len(lines) > 1 else _("Mean")
            axes.plot(positions, [m if m is not None else float("nan") for m in means],
                      color=colour, marker="o", linewidth=2, label=shown)  # fmt: skip
            axes.plot(positions, [m if m is not None else float("nan") for m in medians],
                      color=colour, linestyle="--", linewidth=1, alpha=0.7)  # fmt: skip
            parts.append(
                _("%(arm)s: means %(means)s, medians %(medians)s")
                % {
                    "arm": arm_label or label,
                    "means": ", ".join(format_in_text(m, 2, decimal_separator=sep) for m in means),
                    "medians": ", ".join(
                        format_in_text(m, 2, decimal_separator=sep) for m in medians
                    ),
                }
            )
        axes.set_xticks(positions, _tick_labels(point_labels, RC["font.size"]))
        _categories(axes, point_labels, RC["font.size"])
        axes.set_xlim(-0.3, len(point_labels) - 0.7)
        _value_label(axes, label + (f" ({unit})" if unit else ""))
        _decimal_ticks(axes, sep)
        if len(lines) > 1:
            _legend(figure, [arm_label for arm_label, _means, _medians in lines])
    description = _(
        "%(outcome)s by time point (%(points)s): the mean as a solid line, the median dashed. "
        "%(figures)s."
    ) % {"outcome": label, "points": ", ".join(point_labels), "figures": "; ".join(parts)}
    return Chart(slug, title, _svg(figure, slug, title, f"{slug}-text"), description)


def arm_box_chart(
    document: dict, name: str, mothers: Sequence[dict] | Mapping[str, Sequence], *,
    sep: str = ".",
) -> Chart | None:
    """A box per arm and time point (median, quartiles as the tables, whiskers to 1.5 IQR).
    ``mothers`` are records or the cohort's columns (:func:`_analysed`)."""
    outcome = document["outcomes"][name]
    points = outcome.get("timepoints") or []
    arms = document.get("arms", [])
    arm_of, at_point = _analysed(mothers, name, points)
    single_arm = len(arms) == 1
    boxes = []
    labels = _point_labels(document)
    for arm in arms:
        for point in points:
            values = [
                value
                for value, of in zip(at_point[point], arm_of, strict=True)
                if single_arm or of == arm["key"]
            ]
            if not values:
                continue
            label = labels.get(point, point)
            if len(arms) > 1:
                label = f"{arm['label']}\n{label}" if len(points) > 1 else arm["label"]
            stats = _box_stats(values, label)
            boxes.append((label, stats["med"], stats["q1"], stats["q3"], stats["whislo"],
                          stats["whishi"], tuple(stats["fliers"]), len(values)))  # fmt: skip
    if not boxes:
        return None
    key = (name, outcome["label"], outcome.get("unit") or "", single_arm, sep,
           translation.get_language(), tuple(boxes))  # fmt: skip
    return _arm_box_chart(key)


@functools.lru_cache(maxsize=64)
def _arm_box_chart(key: tuple) -> Chart:
    """The boxes drawn from what they show (kept as ``_charts`` keeps its charts)."""
    name, label, unit, single_arm, sep, _language, boxes = key
    slug = f"chart-{name}-arms"
    title = _("%(outcome)s: distribution by arm") % {"outcome": label}
    if single_arm:
        title = _("%(outcome)s: distribution by time point") % {"outcome": label}
    parts = [
        _("%(group)s: median %(median)s (quartiles %(q1)s–%(q3)s, n = %(n)s)")
        % {
            "group": group.replace("\n", " "),
            "median": format_in_text(median, 1, decimal_separator=sep),
            "q1": format_in_text(q1, 1, decimal_separator=sep),
            "q3": format_in_text(q3, 1, decimal_separator=sep),
            "n": n,
        }
        for group, median, q1, q3, _low, _high, _fliers, n in boxes
    ]
    shown = _tick_labels([group for group, *_rest in boxes], 8)
    with matplotlib.rc_context(RC):
        figure, axes = _figure()
        axes.bxp(
            [
                {"label": group, "med": median, "q1": q1, "q3": q3, "whislo": low,
                 "whishi": high, "fliers": list(fliers)}  # fmt: skip
                for group, (_label, median, q1, q3, low, high, fliers, _n) in zip(
                    shown, boxes, strict=True
                )
            ],
            showfliers=True,
            patch_artist=True,
            boxprops={"facecolor": "#d1e7dd"},
            medianprops={"color": "#0f5132", "linewidth": 2},
        )
        axes.tick_params(axis="x", labelsize=8)
        _categories(axes, [group for group, *_rest in boxes], 8)
        _value_label(axes, label + (f" ({unit})" if unit else ""))
        _decimal_ticks(axes, sep)
    return Chart(slug, title, _svg(figure, slug, title, f"{slug}-text"), "; ".join(parts) + ".")


def design_charts(
    document: dict, name: str, mothers: Sequence[dict] | Mapping[str, Sequence], *,
    sep: str = ".",
) -> list[Chart]:
    """The charts that fit the design for one numeric outcome: the arms' means over the time
    points (pre/post and repeated designs) and boxes by arm (and time point). None for a
    binary or ordinal outcome, whose crosstabulation is the picture. ``mothers`` are records or
    the cohort's columns."""
    outcome = document["outcomes"].get(name) or {}
    if outcome.get("type") in ("binary", "ordinal"):
        return []
    found = [means_chart(document, name, sep=sep), arm_box_chart(document, name, mothers, sep=sep)]
    return [chart for chart in found if chart is not None]
