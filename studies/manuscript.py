"""The results document as the paper prints it: Tables 1–4, the extra analyses and a plain
conclusion, formatted as SPSS does and in the active language.

One builder serves the results page, the CSV downloads and ``manage.py analyze``, so a figure
reads the same everywhere. Numbers are rounded here and only here (``analysis.format_spss``);
the decimal separator is the caller's (the user's locale on the page, "." on the command line).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.utils.formats import number_format
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from .analysis import SHAPIRO_WILK_MAX, SHAPIRO_WILK_MIN, format_p, format_spss
from .analysis.choice import MIN_EXPECTED
from .analysis.normality import KOLMOGOROV_SMIRNOV_MIN
from .analysis.prose import format_alpha_in_text, format_in_text, format_p_in_text
from .cohort import characteristic_labels


@dataclass(frozen=True)
class Cell:
    """One table cell; ``note`` is a footnote letter printed as a superscript."""

    text: str
    note: str = ""

    def __post_init__(self) -> None:
        # A label may come lazy (a model field's verbose name, a ``gettext_lazy`` constant):
        # every output (page, CSV, .xlsx, .docx, terminal) reads a cell as plain text.
        if type(self.text) is not str:
            object.__setattr__(self, "text", str(self.text))
        if type(self.note) is not str:
            object.__setattr__(self, "note", str(self.note))

    def plain(self) -> str:
        return self.text + self.note


@dataclass
class TablePart:
    caption: str
    header: list[Cell]
    rows: list[list[Cell]]
    footnotes: list[str] = field(default_factory=list)
    caption_note: str = ""
    label_columns: int = 1  # leading columns of words; the rest are numbers

    def cells(self) -> list[list[tuple[Cell, bool]]]:
        """Rows of (cell, is_label) for templates."""
        return [
            [(cell, index < self.label_columns) for index, cell in enumerate(row)]
            for row in self.rows
        ]


@dataclass
class Table:
    number: int | None
    label: str  # "Table 4" / "Tabel 4"
    title: str
    parts: list[TablePart]
    chosen: bool = False  # the test DESIGN §7 (or the researcher) chose for this comparison
    outcome: str = ""  # the outcome key the table speaks of ("" for the whole cohort)

    @property
    def heading(self) -> str:
        return f"{self.label}. {self.title}" if self.label else self.title


def _cells(*values: Any) -> list[Cell]:
    return [value if isinstance(value, Cell) else Cell(str(value)) for value in values]


class Formatter:
    """Numbers with one decimal separator: the tables' as SPSS prints them (``fixed``, ``p``:
    ".50"), a sentence's with its leading zero (``number``, ``p_in_prose``, ``alpha``,
    ``percent``: "0.50")."""

    def __init__(self, decimal_separator: str = ".") -> None:
        self.sep = decimal_separator

    def fixed(self, value: Any, places: int) -> str:
        return format_spss(value, places, decimal_separator=self.sep)

    def p(self, value: float | None) -> str:
        return format_p(value, decimal_separator=self.sep)

    def count(self, value: Any) -> str:
        return "" if value is None else self.fixed(value, 0)

    def number(self, value: Any, places: int) -> str:
        """A number in a sentence: rounded as the table beside it, with its leading zero and a
        minus sign ("0,50", "−0.447"), where the table prints ",50" and "-.447"; "" for
        None."""
        return format_in_text(value, places, decimal_separator=self.sep)

    def p_in_prose(self, value: float | None, name: str = "p") -> str:
        """p = 0.012, or p < 0.001 where SPSS's table prints .000 (never p = 0); ``name`` is the
        p's name in the sentence ("exact p")."""
        return format_p_in_text(value, decimal_separator=self.sep, name=name)

    def alpha(self, alpha: float) -> str:
        """The significance level in a sentence: "0,05", "0.025"."""
        return format_alpha_in_text(alpha, decimal_separator=self.sep)

    def percent(self, value: float | None, places: int = 1) -> str:
        """A percentage in a sentence or a footnote, with its leading zero as SPSS prints one
        in its footnotes ("0 cells (0.0%)"): "0,0", "12,5" with a comma separator; "" for
        None. The sign follows with no space, as everywhere in Lancar's text: "(12,5%)"."""
        return self.number(value, places)

    def plain(self, value: Any) -> str:
        """A number of the study's definition (a threshold: 8, 7.5) as written, with the
        separator: "7,5"; whole floats without decimals ("8")."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).replace(".", self.sep)

    def confidence(self, alpha: float) -> str:
        """The confidence level of the study's α in percent: "95", "97,5" with a comma."""
        return f"{round(100 * (1 - alpha), 1):g}".replace(".", self.sep)


def in_sentence(label: Any) -> str:
    """A label (an outcome's, a test's) as it reads inside an Indonesian sentence: a common
    noun phrase takes a small first letter there ("frekuensi menyusu", "uji Mann–Whitney U"),
    an acronym keeps its capitals ("ASI lancar"): the first letter is lowered only when the
    second is a small letter. English keeps the label as written (a test named after its
    author, "Wilcoxon signed-rank test", keeps its capital). A sentence that begins with the
    label capitalises it again (``capfirst``)."""
    text = str(label)
    language = get_language() or ""
    if language.startswith("id") and len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def paired(document: dict) -> list[str]:
    """The outcomes analysed as the paper's (pre/post, Wilcoxon), in the definition's order."""
    return [name for name, outcome in document["outcomes"].items() if "wilcoxon" in outcome]


def table_label(number: int) -> str:
    return _("Table %(number)s") % {"number": number}


def comparison_label(outcome: dict) -> str:
    return _("%(outcome)s: post-test − pre-test") % {"outcome": outcome["label"]}


def table_1(document: dict, fmt: Formatter) -> Table:
    labels = characteristic_labels()
    rows = []
    for name, categories in document["characteristics"].items():
        heading, _category_labels = labels[name]
        for index, row in enumerate(categories):
            rows.append(
                _cells(
                    heading if index == 0 else "",
                    row["label"],
                    row["n"],
                    fmt.fixed(row["percent"], 1),
                )
            )
    return Table(
        1,
        table_label(1),
        _("Frequency distribution of the respondents' characteristics (N = %(n)s)")
        % {"n": document["n_enrolled"]},
        [
            TablePart(
                "",
                _cells(_("Characteristic"), _("Category"), _("N"), _("Percent (%)")),
                rows,
                label_columns=2,
            )
        ],
    )


def _descriptives_table(document: dict, fmt: Formatter, phase: str) -> Table:
    number, title, column = {
        "pre": (2, _("Breast-milk production before the oxytocin massage (pre-test)"), _("Pre")),
        "post": (3, _("Breast-milk production after the oxytocin massage (post-test)"), _("Post")),
    }[phase]
    enrolled = document["n_enrolled"]
    rows = []
    for name in paired(document):
        outcome = document["outcomes"][name]
        stats = outcome[phase]
        percent = 100.0 * stats["n"] / enrolled if enrolled else None
        rows.append(
            _cells(
                outcome["label"],
                stats["n"],
                fmt.fixed(percent, 1),
                fmt.fixed(stats["mean"], 2),
                fmt.fixed(stats["sd"], 3),
                fmt.count(stats["min"]),
                fmt.count(stats["max"]),
            )
        )
    return Table(
        number,
        table_label(number),
        title,
        [
            TablePart(
                "",
                _cells(
                    column,
                    _("N"),
                    _("Percent (%)"),
                    _("Mean"),
                    _("Std. deviation"),
                    _("Minimum"),
                    _("Maximum"),
                ),
                rows,
            )
        ],
    )


def table_2(document: dict, fmt: Formatter) -> Table:
    return _descriptives_table(document, fmt, "pre")


def table_3(document: dict, fmt: Formatter) -> Table:
    return _descriptives_table(document, fmt, "post")


def _based_on_note(wilcoxon: dict) -> str:
    negative = wilcoxon["negative_ranks"]["sum_of_ranks"]
    positive = wilcoxon["positive_ranks"]["sum_of_ranks"]
    if wilcoxon["total"] == 0:
        return ""
    if negative == positive:
        return "equal"
    return wilcoxon["based_on"]


def table_4(document: dict, fmt: Formatter) -> Table:
    """SPSS NPAR TESTS /WILCOXON: the Ranks table and the Test Statistics table."""
    ranks_rows = []
    for name in paired(document):
        outcome = document["outcomes"][name]
        w = outcome["wilcoxon"]
        negative, positive = w["negative_ranks"], w["positive_ranks"]
        ranks_rows += [
            _cells(
                comparison_label(outcome),
                _("Negative Ranks"),
                Cell(str(negative["n"]), "a"),
                fmt.fixed(negative["mean_rank"], 2),
                fmt.fixed(negative["sum_of_ranks"], 2),
            ),
            _cells(
                "",
                _("Positive Ranks"),
                Cell(str(positive["n"]), "b"),
                fmt.fixed(positive["mean_rank"], 2),
                fmt.fixed(positive["sum_of_ranks"], 2),
            ),
            _cells("", _("Ties"), Cell(str(w["ties"]), "c"), "", ""),
            _cells("", _("Total"), w["total"], "", ""),
        ]
    ranks = TablePart(
        _("Ranks"),
        _cells("", "", _("N"), _("Mean Rank"), _("Sum of Ranks")),
        ranks_rows,
        [
            "a. " + _("post-test < pre-test"),
            "b. " + _("post-test > pre-test"),
            "c. " + _("post-test = pre-test"),
        ],
        label_columns=2,
    )

    # Footnote letters as SPSS assigns them: a for the test's name, then one per basis used.
    basis_text = {
        "negative_ranks": _("Based on negative ranks."),
        "positive_ranks": _("Based on positive ranks."),
        "equal": _("The sum of negative ranks equals the sum of positive ranks."),
    }
    letters: dict[str, str] = {}
    z_row = [Cell(_("Z"))]
    names = paired(document)
    for name in names:
        w = document["outcomes"][name]["wilcoxon"]
        basis = _based_on_note(w)
        if basis and basis not in letters:
            letters[basis] = "bcd"[len(letters)]
        z_row.append(Cell(fmt.fixed(w["z"], 3), letters.get(basis, "")))
    statistics = TablePart(
        _("Test Statistics"),
        [Cell("")] + [Cell(comparison_label(document["outcomes"][n])) for n in names],
        [
            z_row,
            [Cell(_("Asymp. Sig. (2-tailed)"))]
            + [Cell(fmt.p(document["outcomes"][n]["wilcoxon"]["p_asymptotic"])) for n in names],
            [Cell(_("Exact Sig. (2-tailed)"))]
            + [Cell(fmt.p(document["outcomes"][n]["wilcoxon"]["p_exact"])) for n in names],
        ],
        ["a. " + _("Wilcoxon Signed Ranks Test")]
        + [f"{letter}. {basis_text[basis]}" for basis, letter in letters.items()],
        caption_note="a",
    )
    return Table(
        4,
        table_label(4),
        _("Wilcoxon signed-rank test of the effect of oxytocin massage on breast-milk production"),
        [ranks, statistics],
    )


def _interval(fmt: Formatter, low: Any, high: Any, places: int) -> str:
    if low is None or high is None:
        return "—"
    return _("%(low)s to %(high)s") % {
        "low": fmt.fixed(low, places),
        "high": fmt.fixed(high, places),
    }


def _share(fmt: Formatter, share: dict) -> str:
    if share["percent"] is None:
        return "—"
    return f"{share['n_adequate']} ({fmt.percent(share['percent'])}%)"


def extra_table(document: dict, fmt: Formatter) -> Table:
    """What the paper did not print: effect sizes, the Hodges–Lehmann shift, normality of the
    differences, the paired t-test as a sensitivity analysis and adequacy with McNemar."""
    confidence = fmt.confidence(document["alpha"])
    outcomes = [document["outcomes"][name] for name in paired(document)]

    def row(label: str, values: list[str]) -> list[Cell]:
        return _cells(label, *[value if value != "" else "—" for value in values])

    rows = [
        row(
            _("Median (Q1–Q3), pre-test"),
            [_quartiles(fmt, o["pre"]) for o in outcomes],
        ),
        row(
            _("Median (Q1–Q3), post-test"),
            [_quartiles(fmt, o["post"]) for o in outcomes],
        ),
        row(
            _("Effect size r = |Z| / √N"),
            [fmt.fixed(o["wilcoxon"]["effect_size_r"], 3) for o in outcomes],
        ),
        row(
            _("Matched-pairs rank-biserial correlation (S+ − S−) / (S+ + S−)"),
            [fmt.fixed(o["wilcoxon"]["rank_biserial"], 3) for o in outcomes],
        ),
        row(
            _("Hodges–Lehmann median difference"),
            [fmt.fixed(o["hodges_lehmann"]["estimate"], 2) for o in outcomes],
        ),
        row(
            _("%(confidence)s%% confidence interval") % {"confidence": confidence},
            [
                _interval(fmt, o["hodges_lehmann"]["ci_low"], o["hodges_lehmann"]["ci_high"], 2)
                for o in outcomes
            ],
        ),
        _shapiro_row(_("Shapiro–Wilk W of the differences"), outcomes, "w", fmt),
        _shapiro_row(_("Shapiro–Wilk p"), outcomes, "p", fmt),
        row(
            _("Paired t-test: mean difference"),
            [fmt.fixed(o["paired_t"]["mean_difference"], 2) for o in outcomes],
        ),
        row(
            _("%(confidence)s%% confidence interval") % {"confidence": confidence},
            [
                _interval(fmt, o["paired_t"]["ci_low"], o["paired_t"]["ci_high"], 2)
                for o in outcomes
            ],
        ),
        row(
            _("t (df)"),
            [
                f"{fmt.fixed(o['paired_t']['t'], 3)} ({o['paired_t']['df']})"
                if o["paired_t"]["t"] is not None
                else ""
                for o in outcomes
            ],
        ),
        row(_("Paired t-test p"), [fmt.p(o["paired_t"]["p"]) for o in outcomes]),
    ]
    for phase, label in (("pre", _("Adequate, pre-test")), ("post", _("Adequate, post-test"))):
        rows.append(
            row(
                label,
                [
                    _("%(share)s at ≥ %(threshold)s")
                    % {
                        "share": _share(fmt, o["adequacy"][phase]),
                        "threshold": fmt.plain(o["adequacy"]["threshold"]),
                    }
                    if o["adequacy"] and o["adequacy"]["n"]
                    else ""
                    for o in outcomes
                ],
            )
        )
    rows.append(
        row(
            _("McNemar exact p"),
            [
                fmt.p(o["adequacy"]["mcnemar"]["p"]) if o["adequacy"] and o["adequacy"]["n"] else ""
                for o in outcomes
            ],
        )
    )
    footnotes = []
    if any(o["shapiro_wilk_differences"].get("not_computed") == "too_many" for o in outcomes):
        footnotes.append(
            "a. "
            + _(
                "Shapiro–Wilk is not computed above %(max)s differences, as in SPSS: its "
                "p-value is only trusted for 3 to %(max)s values."
            )
            % {"max": number_format(SHAPIRO_WILK_MAX, force_grouping=True)}
        )
    return Table(
        None,
        "",
        _("Further analyses"),
        [TablePart("", _cells("", *[o["label"] for o in outcomes]), rows, footnotes)],
    )


def _shapiro_row(label: str, outcomes: list[dict], key: str, fmt: Formatter) -> list[Cell]:
    """A Shapiro–Wilk row: the figure, or an empty cell with footnote a where SPSS would not
    compute it (above 5,000 differences)."""
    cells = [Cell(label)]
    for outcome in outcomes:
        test = outcome["shapiro_wilk_differences"]
        if test.get("not_computed") == "too_many":
            cells.append(Cell("—", "a"))
        else:
            value = fmt.fixed(test["w"], 3) if key == "w" else fmt.p(test["p"])
            cells.append(Cell(value or "—"))
    return cells


def _quartiles(fmt: Formatter, stats: dict) -> str:
    if stats["median"] is None:
        return ""
    median, q1, q3 = (fmt.fixed(stats[key], 2) for key in ("median", "q1", "q3"))
    return f"{median} ({q1}–{q3})"


def descriptives_table(document: dict, fmt: Formatter) -> Table:
    """Table 2 of a design other than the paper's: every outcome's descriptives by arm and time
    point (SPSS's EXAMINE/DESCRIPTIVES figures), over the mothers analysed for it."""
    points = {point["key"]: point["label"] for point in document.get("timepoints", [])}
    arms = document.get("arms", [])
    rows = []
    for outcome in document["outcomes"].values():
        for arm in arms:
            for point, stats in outcome.get("descriptives", {}).get(arm["key"], {}).items():
                places = 3 if outcome["type"] == "binary" else 2
                rows.append(
                    _cells(
                        outcome["label"] + (f" ({outcome['unit']})" if outcome["unit"] else ""),
                        arm["label"] if len(arms) > 1 else "",
                        points.get(point, point),
                        stats["n"],
                        fmt.fixed(stats["mean"], places),
                        fmt.fixed(stats["sd"], 3),
                        fmt.fixed(stats["median"], places),
                        fmt.fixed(stats["min"], places),
                        fmt.fixed(stats["max"], places),
                    )
                )
    header = _cells(_("Outcome"), _("Arm"), _("Time point"), _("N"), _("Mean"),
                    _("Std. Deviation"), _("Median"), _("Minimum"), _("Maximum"))  # fmt: skip
    return Table(
        2,
        table_label(2),
        _("Descriptive statistics of the outcomes by arm and time point")
        if len(arms) > 1
        else _("Descriptive statistics of the outcomes by time point"),
        [_one_group(document, TablePart("", header, rows, label_columns=3), 1)],
    )


def tables(document: dict, fmt: Formatter) -> list[Table]:
    """Every table of the study's design in order, numbered 1, 2, … (the .docx numbers them
    Tabel 4.1 …): the paper's Tables 1–4 for its design, else Table 1 (by arm, with the
    baseline comparison, in two-group designs) and the descriptives; then SPSS's tables of every
    test of the design's row (DESIGN.md §7), each outcome's within-arm tests before its
    between-arm ones. Only the §7 keys the document holds are read."""
    if paired(document):
        built = [table_1(document, fmt), table_2(document, fmt), table_3(document, fmt),
                 table_4(document, fmt)]  # fmt: skip
    else:
        built = [table_1_by_arm(document, fmt) or table_1(document, fmt),
                 descriptives_table(document, fmt)]  # fmt: skip
    built += design_tables(document, fmt, skip_wilcoxon=set(paired(document)))
    for number, table in enumerate(built, start=1):
        table.number = number
        table.label = table_label(number)
    return built


def manuscript_table(document: dict, fmt: Formatter, number: int) -> Table | None:
    """Table ``number`` (1-based) of the study, or None when its design has no such table."""
    built = tables(document, fmt)
    return built[number - 1] if 1 <= number <= len(built) else None


# ---------------------------------------------------------------------------
# SPSS's tables of every design (DESIGN.md §7, issue 15): built from the document's §7 keys
# ---------------------------------------------------------------------------

# SPSS's display decimals in these tables: means 2, SDs, standard errors and test statistics 3,
# rank means and sums 2, p-values 3 (format_p), counts and integer df 0.
MEAN_PLACES, SD_PLACES, STATISTIC_PLACES, RANK_PLACES = 2, 3, 3, 2

TEST_NAMES = {
    "wilcoxon": gettext_lazy("Wilcoxon signed-rank test"),
    "paired_t": gettext_lazy("paired-samples t test"),
    "mcnemar": gettext_lazy("McNemar test"),
    "friedman": gettext_lazy("Friedman test"),
    "cochran_q": gettext_lazy("Cochran's Q test"),
    "mann_whitney": gettext_lazy("Mann–Whitney U test"),
    "independent_t": gettext_lazy("independent-samples t test"),
    "chi_square": gettext_lazy("Pearson chi-square test"),
    "fisher_exact": gettext_lazy("Fisher's exact test"),
}


def _arms(document: dict) -> list[dict]:
    return document.get("arms") or [{"key": "all", "label": ""}]


def _arm_label(document: dict, key: str) -> str:
    for arm in _arms(document):
        if arm["key"] == key:
            return arm["label"] or key
    return key


def _two_groups(document: dict) -> bool:
    return str(document.get("design", "")).startswith("two_group")


def point_label(document: dict, outcome: dict, point: str) -> str:
    """A time point's label, or for ``change`` "Change (last − first)"."""
    labels = {p["key"]: p["label"] for p in document.get("timepoints", [])}
    if point == "change":
        points = outcome.get("timepoints") or list(labels)
        return _("Change (%(last)s − %(first)s)") % {
            "last": labels.get(points[-1], points[-1]),
            "first": labels.get(points[0], points[0]),
        }
    return labels.get(point, point)


def _pair_label(document: dict, outcome: dict) -> str:
    """The within-arm pair as SPSS names it: "last − first" (d = last − first)."""
    points = outcome.get("timepoints") or [p["key"] for p in document.get("timepoints", [])]
    labels = {p["key"]: p["label"] for p in document.get("timepoints", [])}
    return f"{labels.get(points[-1], points[-1])} − {labels.get(points[0], points[0])}"


def _titled(outcome: dict) -> str:
    return outcome["label"] + (f" ({outcome['unit']})" if outcome.get("unit") else "")


def _design_table(title: str, parts: list[TablePart], *, chosen: bool = False,
                  outcome: str = "") -> Table:  # fmt: skip
    return Table(None, "", title, parts, chosen=chosen, outcome=outcome)


def _one_group(document: dict, part: TablePart, column: int = 0) -> TablePart:
    """``part`` without its arm column (``column``) in a study of one group, where it would be
    empty; as it is in a study of two arms."""
    if len(_arms(document)) > 1:
        return part
    part.header = part.header[:column] + part.header[column + 1 :]
    part.rows = [row[:column] + row[column + 1 :] for row in part.rows]
    if column < part.label_columns:
        part.label_columns -= 1
    return part


class _Why:
    """Footnotes saying why a figure is empty (SPSS prints a note where it computes nothing):
    one letter per reason, from ``first`` on, in the order the reasons are met."""

    def __init__(self, first: str = "a") -> None:
        self.first = first
        self.texts: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        """The footnote letter of ``text`` (a reason in the active language)."""
        if text not in self.texts:
            self.texts[text] = chr(ord(self.first) + len(self.texts))
        return self.texts[text]

    def footnotes(self) -> list[str]:
        return [f"{letter}. {text}" for text, letter in self.texts.items()]


def _empty(fmt_text: str, why: _Why, reason: str) -> Cell:
    """A figure's cell: the figure, or (when it is empty) the letter of ``reason``."""
    return Cell(fmt_text) if fmt_text else Cell("", why(reason) if reason else "")


def _paired_t_reason(t: dict) -> str:
    if t.get("t") is not None:
        return ""
    if (t.get("n") or 0) < 2:
        return _("t cannot be computed from fewer than 2 pairs.")
    return _("t cannot be computed: every difference is the same (no variation in the "
             "differences, so the standard error of the difference is 0).")  # fmt: skip


def _independent_t_reason(row: dict, sizes: list[int]) -> str:
    if row.get("t") is not None:
        return ""
    if min(sizes, default=0) < 2:
        return _("t cannot be computed: an arm has fewer than 2 values.")
    return _("t cannot be computed: no variation within either arm (the standard error of the "
             "difference is 0).")  # fmt: skip


def _levene_reason(t: dict, sizes: list[int]) -> str:
    """Why Levene's F is empty (``independent_t``'s ``levene_not_computed``; a document without
    it tells only the arms' sizes)."""
    if t.get("levene_f") is not None:
        return ""
    why = t.get("levene_not_computed")
    if why == "too_few" or (why is None and min(sizes, default=0) < 2):
        return _("Levene's test cannot be computed: an arm has fewer than 2 values.")
    if why == "constant":
        return _("Levene's test cannot be computed: every value within each arm is the same "
                 "(no variation).")  # fmt: skip
    if why == "equal_deviations":
        return _("Levene's test cannot be computed: the values vary, but within each arm they "
                 "all lie at the same distance from the arm's mean (as 2 values always do), so "
                 "the deviations from each arm's mean do not vary and F is undefined.")  # fmt: skip
    return _("Levene's test cannot be computed: an arm has fewer than 2 values, no variation, "
             "or deviations from each arm's mean that do not vary.")  # fmt: skip


def _se(stats: dict) -> float | None:
    if stats.get("sd") is None or not stats.get("n"):
        return None
    return stats["sd"] / stats["n"] ** 0.5


def table_1_by_arm(document: dict, fmt: Formatter) -> Table | None:
    """Table 1 of a two-group design: each characteristic's n and % per arm, and the baseline
    comparison between the arms (Pearson chi-square's p; Fisher's exact two-sided p, footnoted,
    when a 2 × 2 table has an expected count below 5). A p whose table has expected counts
    below 5 is footnoted as SPSS footnotes its Chi-Square Tests: how many cells, their share and
    the minimum expected count; an empty p says why it is not computed. None for one-group
    designs or a document without
    ``characteristics_by_arm``."""
    by_arm = document.get("characteristics_by_arm")
    arms = _arms(document)
    if not by_arm or len(arms) < 2:
        return None
    labels = characteristic_labels()
    rows = []
    notes = _Why()
    tests = by_arm.get("test") if isinstance(by_arm.get("test"), dict) else {}
    for name, entry in by_arm.items():
        if name not in labels or not all(arm["key"] in entry for arm in arms):
            continue
        heading, category_labels = labels[name]
        # The baseline comparison beside the arms' rows, or in a "test" mapping by characteristic.
        test = entry.get("test") or tests.get(name) or {}
        p = (test.get("pearson") or {}).get("p")
        letters = []
        fisher = test.get("fisher_exact")
        if fisher and (test.get("min_expected") or 0) < MIN_EXPECTED:
            p = fisher.get("p_two_sided")
            letters.append(notes(capfirst(_("Fisher's exact test (2-sided): an expected count "
                                            "is below 5."))))  # fmt: skip
        if test.get("min_expected") is not None and test.get("expected_below_5"):
            # SPSS's footnote of the characteristic's Chi-Square Tests, on its p.
            letters.append(notes(expected_count_note(test, fmt)))
        if test and p is None:
            letters.append(notes(
                _("Not computed: no valid cases.") if not test.get("n_valid") else
                _("Not computed: a row or a column of the table is empty (every mother in one "
                  "arm or one category).")))  # fmt: skip
        note = ",".join(letters)
        first_arm = entry[arms[0]["key"]]
        for index, row in enumerate(first_arm):
            category = category_labels.get(row["key"], row.get("label", row["key"]))
            cells = [Cell(heading if index == 0 else ""), Cell(str(category))]
            for arm in arms:
                match = next((r for r in entry[arm["key"]] if r["key"] == row["key"]), None)
                cells += [
                    Cell(fmt.count(match["n"] if match else 0)),
                    Cell(fmt.fixed(match["percent"] if match else None, 1)),
                ]
            cells.append(Cell(fmt.p(p), note) if index == 0 else Cell(""))
            rows.append(cells)
    if not rows:
        return None
    header = [Cell(_("Characteristic")), Cell(_("Category"))]
    for arm in arms:
        header += [Cell(_("%(arm)s: N") % {"arm": arm["label"]}),
                   Cell(_("%(arm)s: %%") % {"arm": arm["label"]})]  # fmt: skip
    header.append(Cell(_("p")))
    footnotes = ["p: " + _("Pearson chi-square test between the arms (Asymp. Sig.)."),
                 *notes.footnotes()]  # fmt: skip
    n = sum(arm.get("n_enrolled", 0) for arm in arms)
    return Table(
        1,
        table_label(1),
        _("Characteristics of the respondents by arm and their comparison at baseline "
          "(N = %(n)s)") % {"n": n},  # fmt: skip
        [TablePart("", header, rows, footnotes, label_columns=2)],
    )


def normality_table(document: dict, fmt: Formatter) -> Table | None:
    """SPSS's Tests of Normality (EXAMINE): Kolmogorov–Smirnov with Lilliefors' correction and
    Shapiro–Wilk for every distribution the test choice looked at (``normality``)."""
    arms = _arms(document)
    rows = []
    lower_bound = False
    why = _Why("b")  # "a" is Lilliefors' correction
    for outcome in document["outcomes"].values():
        for arm_key, points in (outcome.get("normality") or {}).items():
            for point, result in points.items():
                ks = result.get("kolmogorov_smirnov") or {}
                sw = result.get("shapiro_wilk") or {}
                bound = bool(ks.get("p_is_lower_bound"))
                lower_bound |= bound
                reasons = result.get("not_computed") or {}
                rows.append([
                    Cell(_titled(outcome)),
                    Cell(_arm_label(document, arm_key) if len(arms) > 1 else ""),
                    Cell(point_label(document, outcome, point)),
                    _empty(fmt.fixed(ks.get("statistic"), STATISTIC_PLACES), why,
                           _normality_reason("kolmogorov_smirnov",
                                             reasons.get("kolmogorov_smirnov"))),
                    Cell(fmt.count(ks.get("df"))),
                    Cell(fmt.p(ks.get("p")), "*" if bound else ""),
                    _empty(fmt.fixed(sw.get("statistic"), STATISTIC_PLACES), why,
                           _normality_reason("shapiro_wilk", reasons.get("shapiro_wilk"))),
                    Cell(fmt.count(sw.get("df"))),
                    Cell(fmt.p(sw.get("p"))),
                ])  # fmt: skip
    if not rows:
        return None
    header = [Cell(_("Outcome")), Cell(_("Arm")), Cell(_("Time point")),
              Cell(_("Kolmogorov-Smirnov Statistic"), "a"), Cell(_("df")), Cell(_("Sig.")),
              Cell(_("Shapiro-Wilk Statistic")), Cell(_("df")), Cell(_("Sig."))]  # fmt: skip
    footnotes = []
    if lower_bound:
        footnotes.append("*. " + _("This is a lower bound of the true significance."))
    footnotes.append("a. " + _("Lilliefors Significance Correction"))
    footnotes += why.footnotes()
    part = TablePart(_("Tests of Normality"), header, rows, footnotes, label_columns=3)
    return _design_table(_("Tests of Normality"), [_one_group(document, part, 1)])


def _normality_reason(test: str, reason: str | None) -> str:
    """Why a test of normality printed nothing (``tests_of_normality``'s ``not_computed``)."""
    if reason == "too_few":
        minimum = SHAPIRO_WILK_MIN if test == "shapiro_wilk" else KOLMOGOROV_SMIRNOV_MIN
        return {
            "shapiro_wilk": _("Shapiro–Wilk is not computed from fewer than %(min)s values."),
            "kolmogorov_smirnov": _(
                "Kolmogorov–Smirnov is not computed from fewer than %(min)s values."
            ),
        }[test] % {"min": minimum}
    if reason == "too_many":
        return _("Shapiro–Wilk is not computed above %(max)s values, as in SPSS.") % {
            "max": number_format(SHAPIRO_WILK_MAX, force_grouping=True)
        }
    if reason == "constant":
        return _("Not computed: every value is the same (no variation).")
    return ""


def _chosen(outcome: dict, side: str, *names: str) -> bool:
    return (outcome.get("chosen") or {}).get(side) in names


def _arms_with(document: dict, within: dict, test: str) -> list[dict]:
    """The document's arms whose within-arm results hold ``test``, in the document's order."""
    return [arm for arm in _arms(document) if test in within.get(arm["key"], {})]


def paired_t_table(document: dict, fmt: Formatter, name: str) -> Table | None:
    """SPSS's Paired Samples Statistics and Paired Samples Test, one pair per arm."""
    outcome = document["outcomes"][name]
    within = outcome.get("within") or {}
    arms = _arms_with(document, within, "paired_t")
    if not arms:
        return None
    points = outcome.get("timepoints") or []
    first, last = points[0], points[-1]
    show_arm = len(_arms(document)) > 1
    statistics, tests = [], []
    why = _Why()
    for arm in arms:
        label = arm["label"] if show_arm else ""
        for index, point in enumerate((first, last)):
            stats = outcome["descriptives"][arm["key"]][point]
            statistics.append(_cells(
                label if index == 0 else "",
                point_label(document, outcome, point),
                fmt.fixed(stats["mean"], MEAN_PLACES),
                fmt.count(stats["n"]),
                fmt.fixed(stats["sd"], SD_PLACES),
                fmt.fixed(_se(stats), SD_PLACES),
            ))  # fmt: skip
        t = within[arm["key"]]["paired_t"]
        tests.append(_cells(
            label,
            _pair_label(document, outcome),
            fmt.fixed(t.get("mean_difference"), MEAN_PLACES),
            fmt.fixed(t.get("sd"), SD_PLACES),
            fmt.fixed(t.get("se"), SD_PLACES),
            fmt.fixed(t.get("ci_lower"), MEAN_PLACES),
            fmt.fixed(t.get("ci_upper"), MEAN_PLACES),
            _empty(fmt.fixed(t.get("t"), STATISTIC_PLACES), why, _paired_t_reason(t)),
            fmt.count(t.get("df")),
            fmt.p(t.get("p")),
        ))  # fmt: skip
    confidence = fmt.confidence(document.get("alpha", 0.05))
    title = (_("%(outcome)s: paired-samples t test within each arm") if show_arm
             else _("%(outcome)s: paired-samples t test"))  # fmt: skip
    return _design_table(
        title % {"outcome": outcome["label"]},
        [
            _one_group(document, TablePart(
                _("Paired Samples Statistics"),
                _cells(_("Arm"), _("Time point"), _("Mean"), _("N"), _("Std. Deviation"),
                       _("Std. Error Mean")),  # fmt: skip
                statistics,
                label_columns=2,
            )),  # fmt: skip
            _one_group(document, TablePart(
                _("Paired Samples Test"),
                _cells(_("Arm"), _("Pair"), _("Mean"), _("Std. Deviation"), _("Std. Error Mean"),
                       _("%(c)s%% CI of the Difference: Lower") % {"c": confidence},
                       _("%(c)s%% CI of the Difference: Upper") % {"c": confidence},
                       _("t"), _("df"), _("Sig. (2-tailed)")),  # fmt: skip
                tests,
                why.footnotes(),
                label_columns=2,
            )),  # fmt: skip
        ],
        chosen=_chosen(outcome, "within", "paired_t"),
        outcome=name,
    )


def wilcoxon_table(document: dict, fmt: Formatter, name: str) -> Table | None:
    """SPSS's Ranks and Test Statistics of NPAR TESTS /WILCOXON, one pair per arm."""
    outcome = document["outcomes"][name]
    within = outcome.get("within") or {}
    arms = _arms_with(document, within, "wilcoxon")
    if not arms:
        return None
    show_arm = len(_arms(document)) > 1
    pair = _pair_label(document, outcome)
    rows = []
    for arm in arms:
        w = within[arm["key"]]["wilcoxon"]
        negative, positive = w["negative_ranks"], w["positive_ranks"]
        label = arm["label"] if show_arm else ""
        rows += [
            _cells(label, pair, _("Negative Ranks"), Cell(fmt.count(negative["n"]), "a"),
                   fmt.fixed(negative["mean_rank"], RANK_PLACES),
                   fmt.fixed(negative["sum_of_ranks"], RANK_PLACES)),
            _cells("", "", _("Positive Ranks"), Cell(fmt.count(positive["n"]), "b"),
                   fmt.fixed(positive["mean_rank"], RANK_PLACES),
                   fmt.fixed(positive["sum_of_ranks"], RANK_PLACES)),
            _cells("", "", _("Ties"), Cell(fmt.count(w["ties"]), "c"), "", ""),
            _cells("", "", _("Total"), fmt.count(w["total"]), "", ""),
        ]  # fmt: skip
    points = outcome.get("timepoints") or []
    labels = {p["key"]: p["label"] for p in document.get("timepoints", [])}
    last, first = labels.get(points[-1], ""), labels.get(points[0], "")
    ranks = _one_group(document, TablePart(
        _("Ranks"),
        _cells(_("Arm"), _("Pair"), "", _("N"), _("Mean Rank"), _("Sum of Ranks")),
        rows,
        [f"a. {last} < {first}", f"b. {last} > {first}", f"c. {last} = {first}"],
        label_columns=3,
    ))  # fmt: skip
    basis_text = {
        "negative_ranks": _("Based on negative ranks."),
        "positive_ranks": _("Based on positive ranks."),
        "equal": _("The sum of negative ranks equals the sum of positive ranks."),
    }
    letters: dict[str, str] = {}
    z_row = [Cell(_("Z"))]
    for arm in arms:
        w = within[arm["key"]]["wilcoxon"]
        basis = _based_on_note({**w, "based_on": w.get("based_on", "negative_ranks")})
        if basis and basis not in letters:
            letters[basis] = "bcd"[len(letters)]
        z_row.append(Cell(fmt.fixed(w["z"], STATISTIC_PLACES), letters.get(basis, "")))
    why = _Why(chr(ord("b") + len(letters)))
    z_row = [
        _empty(cell.text, why, _("Not computed: no complete pair.")) if index else cell
        for index, cell in enumerate(z_row)
    ]
    header = [Cell("")] + [
        Cell(f"{arm['label']}: {pair}" if show_arm else pair) for arm in arms
    ]
    statistics = TablePart(
        _("Test Statistics"),
        header,
        [
            z_row,
            [Cell(_("Asymp. Sig. (2-tailed)"))]
            + [Cell(fmt.p(within[a["key"]]["wilcoxon"]["p_asymptotic"])) for a in arms],
            [Cell(_("Exact Sig. (2-tailed)"))]
            + [Cell(fmt.p(within[a["key"]]["wilcoxon"]["p_exact"])) for a in arms],
        ],
        ["a. " + _("Wilcoxon Signed Ranks Test")]
        + [f"{letter}. {basis_text[basis]}" for basis, letter in letters.items()]
        + why.footnotes(),
        caption_note="a",
    )
    title = (_("%(outcome)s: Wilcoxon signed-rank test within each arm") if show_arm
             else _("%(outcome)s: Wilcoxon signed-rank test"))  # fmt: skip
    return _design_table(
        title % {"outcome": outcome["label"]},
        [ranks, statistics],
        chosen=_chosen(outcome, "within", "wilcoxon"),
        outcome=name,
    )


def mcnemar_table(document: dict, fmt: Formatter, name: str) -> Table | None:
    """SPSS's Test Statistics of NPAR TESTS /MCNEMAR, one column per arm."""
    outcome = document["outcomes"][name]
    within = outcome.get("within") or {}
    arms = _arms_with(document, within, "mcnemar")
    if not arms:
        return None
    show_arm = len(_arms(document)) > 1
    pair = _pair_label(document, outcome)
    header = [Cell("")] + [Cell(f"{a['label']}: {pair}" if show_arm else pair) for a in arms]
    why = _Why("c")
    rows = [
        [Cell(_("N"))] + [Cell(fmt.count(within[a["key"]]["mcnemar"]["n"])) for a in arms],
        [Cell(_("Exact Sig. (2-tailed)"))]
        + [Cell(text, "b") if (text := fmt.p(within[a["key"]]["mcnemar"]["p_exact"]))
           else Cell("", why(_("Not computed: no complete pair."))) for a in arms],
    ]  # fmt: skip
    title = (_("%(outcome)s: McNemar test within each arm") if show_arm
             else _("%(outcome)s: McNemar test"))  # fmt: skip
    return _design_table(
        title % {"outcome": outcome["label"]},
        [TablePart(_("Test Statistics"), header, rows,
                   ["a. " + _("McNemar Test"), "b. " + _("Binomial distribution used.")]
                   + why.footnotes(),
                   caption_note="a")],  # fmt: skip
        chosen=_chosen(outcome, "within", "mcnemar"),
        outcome=name,
    )


def _repeated_reason(result: dict, test: str) -> str:
    """Why Friedman's or Cochran's statistic is empty."""
    if not result.get("n"):
        return _("Not computed: no mother has a value at every time point.")
    if test == "cochran_q":
        return _("Not computed: every mother's answer is the same at every time point.")
    return _("Not computed: every mother's values are tied across the time points (no "
             "variation).")  # fmt: skip


def _mean_ranks(friedman: dict, points: list[str]) -> dict[str, Any]:
    ranks = friedman.get("mean_ranks") or {}
    if isinstance(ranks, list):
        return dict(zip(points, ranks, strict=False))
    return ranks


def friedman_table(document: dict, fmt: Formatter, name: str) -> Table | None:
    """SPSS's Ranks and Test Statistics of NPAR TESTS /FRIEDMAN, per arm."""
    outcome = document["outcomes"][name]
    within = outcome.get("within") or {}
    arms = _arms_with(document, within, "friedman")
    if not arms:
        return None
    show_arm = len(_arms(document)) > 1
    points = outcome.get("timepoints") or []
    ranks_rows = []
    for arm in arms:
        mean_ranks = _mean_ranks(within[arm["key"]]["friedman"], points)
        for index, point in enumerate(points):
            ranks_rows.append(_cells(
                arm["label"] if show_arm and index == 0 else "",
                point_label(document, outcome, point),
                fmt.fixed(mean_ranks.get(point), RANK_PLACES),
            ))  # fmt: skip
    header = [Cell("")] + [Cell(a["label"] if show_arm else outcome["label"]) for a in arms]

    why = _Why("b")

    def row(label: str, key: str, show) -> list[Cell]:
        return [Cell(label)] + [
            _empty(show(within[a["key"]]["friedman"].get(key)), why,
                   _repeated_reason(within[a["key"]]["friedman"], "friedman"))
            for a in arms
        ]  # fmt: skip

    return _design_table(
        _("%(outcome)s: Friedman test over the time points") % {"outcome": outcome["label"]},
        [
            _one_group(document, TablePart(_("Ranks"), _cells(_("Arm"), _("Time point"),
                                                              _("Mean Rank")), ranks_rows,
                                           label_columns=2)),  # fmt: skip
            TablePart(
                _("Test Statistics"),
                header,
                [
                    row(_("N"), "n", fmt.count),
                    row(_("Chi-Square"), "chi_square",
                        lambda v: fmt.fixed(v, STATISTIC_PLACES)),  # fmt: skip
                    row(_("df"), "df", fmt.count),
                    row(_("Asymp. Sig."), "p", fmt.p),
                ],
                ["a. " + _("Friedman Test")] + why.footnotes(),
                caption_note="a",
            ),
        ],
        chosen=_chosen(outcome, "within", "friedman"),
        outcome=name,
    )


def cochran_table(document: dict, fmt: Formatter, name: str) -> Table | None:
    """SPSS's Frequencies and Test Statistics of NPAR TESTS /COCHRAN, per arm."""
    outcome = document["outcomes"][name]
    within = outcome.get("within") or {}
    arms = _arms_with(document, within, "cochran_q")
    if not arms:
        return None
    show_arm = len(_arms(document)) > 1
    points = outcome.get("timepoints") or []
    frequencies = []
    for arm in arms:
        counts = within[arm["key"]]["cochran_q"].get("frequencies") or []
        for index, (point, count) in enumerate(zip(points, counts, strict=False)):
            frequencies.append(_cells(
                arm["label"] if show_arm and index == 0 else "",
                point_label(document, outcome, point),
                fmt.count(count.get("0")),
                fmt.count(count.get("1")),
            ))  # fmt: skip
    header = [Cell("")] + [Cell(a["label"] if show_arm else outcome["label"]) for a in arms]

    why = _Why("b")

    def row(label: str, key: str, show) -> list[Cell]:
        return [Cell(label)] + [
            _empty(show(within[a["key"]]["cochran_q"].get(key)), why,
                   _repeated_reason(within[a["key"]]["cochran_q"], "cochran_q"))
            for a in arms
        ]  # fmt: skip

    return _design_table(
        _("%(outcome)s: Cochran's Q test over the time points") % {"outcome": outcome["label"]},
        [
            _one_group(document, TablePart(_("Frequencies"), _cells(_("Arm"), _("Time point"),
                                                                    "0", "1"), frequencies,
                                           label_columns=2)),  # fmt: skip
            TablePart(
                _("Test Statistics"),
                header,
                [
                    row(_("N"), "n", fmt.count),
                    row(_("Cochran's Q"), "q", lambda v: fmt.fixed(v, STATISTIC_PLACES)),
                    row(_("df"), "df", fmt.count),
                    row(_("Asymp. Sig."), "p", fmt.p),
                ],
                ["a. " + _("1 is treated as a success.")] + why.footnotes(),
                caption_note="a",
            ),
        ],
        chosen=_chosen(outcome, "within", "cochran_q"),
        outcome=name,
    )


def _group_statistics(document: dict, outcome: dict, point: str, arm: str) -> dict:
    """N, mean, SD and SE of one arm at a time point (its descriptives) or of its change (the
    paired t test's differences, last − first)."""
    if point != "change":
        stats = outcome["descriptives"][arm][point]
        return {**stats, "se": _se(stats)}
    t = ((outcome.get("within") or {}).get(arm) or {}).get("paired_t") or {}
    points = outcome.get("timepoints") or []
    n = outcome["descriptives"][arm][points[0]]["n"] if points else None
    mean = t.get("mean_difference")
    if points and mean is not None and _difference_is_first_minus_last(outcome, arm, mean):
        mean = -mean
    return {"n": n, "mean": mean, "sd": t.get("sd"), "se": t.get("se")}


def _difference_is_first_minus_last(outcome: dict, arm: str, difference: float) -> bool:
    """Whether a paired difference is first − last: it equals the difference of the two means
    over the same mothers, so the descriptives tell its direction."""
    points = outcome.get("timepoints") or []
    means = [outcome["descriptives"][arm][p]["mean"] for p in (points[0], points[-1])]
    if None in means:
        return False
    forward = means[1] - means[0]
    return abs(-forward - difference) < abs(forward - difference)


def independent_t_table(document: dict, fmt: Formatter, name: str) -> Table | None:
    """SPSS's Group Statistics and Independent Samples Test (Levene's test, the equal-variances
    and the Welch row) for every between-arm comparison of the outcome."""
    outcome = document["outcomes"][name]
    between = {p: tests for p, tests in (outcome.get("between") or {}).items()
               if "independent_t" in tests}  # fmt: skip
    if not between:
        return None
    arms = _arms(document)
    confidence = fmt.confidence(document.get("alpha", 0.05))
    groups, tests = [], []
    why = _Why()
    for point, comparison in between.items():
        where = point_label(document, outcome, point)
        sizes = []
        for index, arm in enumerate(arms):
            stats = _group_statistics(document, outcome, point, arm["key"])
            sizes.append(stats["n"] or 0)
            groups.append(_cells(
                where if index == 0 else "", arm["label"], fmt.count(stats["n"]),
                fmt.fixed(stats["mean"], MEAN_PLACES), fmt.fixed(stats["sd"], SD_PLACES),
                fmt.fixed(stats["se"], SD_PLACES),
            ))  # fmt: skip
        t = comparison["independent_t"]
        for index, (key, label) in enumerate(
            (("equal_variances", _("Equal variances assumed")),
             ("unequal_variances", _("Equal variances not assumed")))  # fmt: skip
        ):
            row = t.get(key) or {}
            df = row.get("df")
            levene = (_empty(fmt.fixed(t.get("levene_f"), STATISTIC_PLACES), why,
                             _levene_reason(t, sizes)) if index == 0 else "")  # fmt: skip
            tests.append(_cells(
                where if index == 0 else "",
                label,
                levene,
                fmt.p(t.get("levene_p")) if index == 0 else "",
                _empty(fmt.fixed(row.get("t"), STATISTIC_PLACES), why,
                       _independent_t_reason(row, sizes)),
                fmt.count(df) if index == 0 else fmt.fixed(df, STATISTIC_PLACES),
                fmt.p(row.get("p")),
                fmt.fixed(row.get("mean_difference"), MEAN_PLACES),
                fmt.fixed(row.get("se_difference"), SD_PLACES),
                fmt.fixed(row.get("ci_lower"), MEAN_PLACES),
                fmt.fixed(row.get("ci_upper"), MEAN_PLACES),
            ))  # fmt: skip
    return _design_table(
        _("%(outcome)s: independent-samples t test between the arms")
        % {"outcome": outcome["label"]},
        [
            TablePart(
                _("Group Statistics"),
                _cells(_("Time point"), _("Arm"), _("N"), _("Mean"), _("Std. Deviation"),
                       _("Std. Error Mean")),  # fmt: skip
                groups,
                label_columns=2,
            ),
            TablePart(
                _("Independent Samples Test"),
                _cells(_("Time point"), "", _("Levene's Test: F"), _("Levene's Test: Sig."),
                       _("t"), _("df"), _("Sig. (2-tailed)"), _("Mean Difference"),
                       _("Std. Error Difference"),
                       _("%(c)s%% CI of the Difference: Lower") % {"c": confidence},
                       _("%(c)s%% CI of the Difference: Upper") % {"c": confidence}),  # fmt: skip
                tests,
                [_("Mean Difference: %(first)s − %(second)s.")
                 % {"first": arms[0]["label"], "second": arms[-1]["label"]}]
                + why.footnotes(),  # fmt: skip
                label_columns=2,
            ),
        ],
        chosen=_chosen(outcome, "between", "independent_t"),
        outcome=name,
    )


def mann_whitney_table(document: dict, fmt: Formatter, name: str) -> Table | None:
    """SPSS's Ranks and Test Statistics of NPAR TESTS /M-W for every between-arm comparison."""
    outcome = document["outcomes"][name]
    between = {p: tests for p, tests in (outcome.get("between") or {}).items()
               if "mann_whitney" in tests}  # fmt: skip
    if not between:
        return None
    arms = _arms(document)
    rows = []
    for point, comparison in between.items():
        ranks = comparison["mann_whitney"]["ranks"]
        where = point_label(document, outcome, point)
        for index, arm in enumerate(arms):
            entry = ranks.get(arm["key"]) or {}
            rows.append(_cells(
                where if index == 0 else "", arm["label"], fmt.count(entry.get("n")),
                fmt.fixed(entry.get("mean_rank"), RANK_PLACES),
                fmt.fixed(entry.get("sum_of_ranks"), RANK_PLACES),
            ))  # fmt: skip
        rows.append(_cells("", _("Total"), fmt.count(sum((r.get("n") or 0) for r in
                                                         ranks.values())), "", ""))  # fmt: skip
    points = list(between)
    why = _Why("c")

    def reason(test: dict) -> str:
        if any(not (entry or {}).get("n") for entry in test["ranks"].values()):
            return _("Not computed: an arm has no values.")
        return _("Not computed: every value is the same (no variation).")

    def row(label: str, key: str, show, note: str = "") -> list[Cell]:
        return [Cell(label, note)] + [
            _empty(show(between[p]["mann_whitney"].get(key)), why,
                   reason(between[p]["mann_whitney"]))
            for p in points
        ]  # fmt: skip

    statistics = TablePart(
        _("Test Statistics"),
        [Cell("")] + [Cell(point_label(document, outcome, p)) for p in points],
        [
            row(_("Mann-Whitney U"), "u", lambda v: fmt.fixed(v, STATISTIC_PLACES)),
            row(_("Wilcoxon W"), "w", lambda v: fmt.fixed(v, STATISTIC_PLACES)),
            row(_("Z"), "z", lambda v: fmt.fixed(v, STATISTIC_PLACES)),
            row(_("Asymp. Sig. (2-tailed)"), "p_asymptotic", fmt.p),
            row(_("Exact Sig. [2*(1-tailed Sig.)]"), "p_exact", fmt.p, "b"),
        ],
        ["a. " + _("Grouping Variable: Arm"), "b. " + _("Not corrected for ties.")]
        + why.footnotes(),
        caption_note="a",
    )
    return _design_table(
        _("%(outcome)s: Mann–Whitney U test between the arms") % {"outcome": outcome["label"]},
        [
            TablePart(_("Ranks"), _cells(_("Time point"), _("Arm"), _("N"), _("Mean Rank"),
                                         _("Sum of Ranks")), rows, label_columns=2),  # fmt: skip
            statistics,
        ],
        chosen=_chosen(outcome, "between", "mann_whitney"),
        outcome=name,
    )


def _category_label(outcome: dict, value: Any) -> str:
    for category in outcome.get("categories") or []:
        if str(category.get("value")) == str(value):
            return str(category.get("label", value))
    return str(value)


def expected_count_note(test: dict, fmt: Formatter) -> str:
    """SPSS's footnote on a computed chi-square table (``min_expected`` not None): "1 cells
    (25.0%) have expected count less than 5. The minimum expected count is 3.91." """
    below = test.get("expected_below_5")
    percent = test.get("expected_below_5_percent")
    return _("%(n)s cells (%(percent)s%%) have expected count less than 5. The minimum "
             "expected count is %(min)s.") % {  # fmt: skip
        "n": fmt.count(below if below is not None else 0),
        "percent": fmt.percent(percent if percent is not None else 0),
        "min": fmt.fixed(test.get("min_expected"), 2),
    }


def chi_square_tables(document: dict, fmt: Formatter, name: str) -> list[Table]:
    """SPSS's Crosstabulation and Chi-Square Tests, one table per between-arm comparison, with
    the footnote on expected counts below 5."""
    outcome = document["outcomes"][name]
    built = []
    for point, comparison in (outcome.get("between") or {}).items():
        test = comparison.get("chi_square")
        if not test:
            continue
        table = test["table"]
        arms = [arm for arm in _arms(document) if arm["key"] in table] or [
            {"key": key, "label": key} for key in table
        ]
        categories = list(next(iter(table.values())))
        counts = [[table[arm["key"]][c] for c in categories] for arm in arms]
        crosstab = [
            _cells(arm["label"], *[fmt.count(n) for n in row], fmt.count(sum(row)))
            for arm, row in zip(arms, counts, strict=True)
        ]
        totals = [sum(column) for column in zip(*counts, strict=True)]
        crosstab.append(_cells(_("Total"), *[fmt.count(n) for n in totals],
                               fmt.count(sum(totals))))  # fmt: skip
        two_by_two = test.get("fisher_exact") is not None
        # SPSS's footnote on expected counts speaks of a computed table only: with no expected
        # count (an empty row or column) there is no figure to print, and no footnote.
        computed = test.get("min_expected") is not None
        continuity = test.get("continuity_correction") is not None
        letters = iter("abcdefgh")
        expected_note = next(letters) if computed else ""
        continuity_note = next(letters) if continuity else ""
        why = _Why(next(letters))
        if not test.get("n_valid"):
            empty = _("Not computed: no valid cases.")
        else:
            empty = _("Not computed: a row or a column of the table is empty (every mother in "
                      "one arm or one category).")  # fmt: skip

        def statistic(label: str, key: str, note: str = "", test: dict = test,
                      why: _Why = why, empty: str = empty) -> list[Cell]:  # fmt: skip
            row = test.get(key) or {}
            return [Cell(label, note),
                    _empty(fmt.fixed(row.get("value"), STATISTIC_PLACES), why, empty),
                    Cell(fmt.count(row.get("df"))), Cell(fmt.p(row.get("p"))),
                    Cell(""), Cell("")]  # fmt: skip

        rows = [statistic(_("Pearson Chi-Square"), "pearson", expected_note)]
        if continuity:
            rows.append(statistic(_("Continuity Correction"), "continuity_correction",
                                  continuity_note))  # fmt: skip
        rows.append(statistic(_("Likelihood Ratio"), "likelihood_ratio"))
        if two_by_two:
            fisher = test["fisher_exact"]
            rows.append(_cells(_("Fisher's Exact Test"), "", "", "",
                               fmt.p(fisher.get("p_two_sided")),
                               fmt.p(fisher.get("p_one_sided"))))  # fmt: skip
        rows.append(statistic(_("Linear-by-Linear Association"), "linear_by_linear"))
        rows.append(_cells(_("N of Valid Cases"), fmt.count(test.get("n_valid")), "", "", "",
                           ""))  # fmt: skip
        footnotes = []
        if computed:
            footnotes.append(f"{expected_note}. " + expected_count_note(test, fmt))
        if continuity:
            footnotes.append(f"{continuity_note}. " + _("Computed only for a 2x2 table"))
        footnotes += why.footnotes()
        where = point_label(document, outcome, point)
        title = (_("%(outcome)s by arm, %(timepoint)s: chi-square test") if point == "change"
                 else _("%(outcome)s by arm at the %(timepoint)s measurement: chi-square test"))
        built.append(_design_table(
            title % {"outcome": outcome["label"], "timepoint": where},
            [
                TablePart(
                    _("%(outcome)s * Arm Crosstabulation") % {"outcome": outcome["label"]},
                    [Cell(_("Arm"))] + [Cell(_category_label(outcome, c)) for c in categories]
                    + [Cell(_("Total"))],
                    crosstab,
                ),
                TablePart(
                    _("Chi-Square Tests"),
                    _cells("", _("Value"), _("df"), _("Asymp. Sig. (2-sided)"),
                           _("Exact Sig. (2-sided)"), _("Exact Sig. (1-sided)")),  # fmt: skip
                    rows,
                    footnotes,
                ),
            ],
            chosen=_chosen(outcome, "between", "chi_square", "fisher_exact"),
            outcome=name,
        ))  # fmt: skip
    return built


def design_tables(document: dict, fmt: Formatter, *, skip_wilcoxon: set[str] = frozenset()
                  ) -> list[Table]:  # fmt: skip
    """SPSS's tables of every test of the design's row (DESIGN.md §7) that the document holds:
    Tests of Normality, then per outcome its within-arm tests (paired t, Wilcoxon, McNemar,
    Friedman, Cochran's Q) and its between-arm tests (independent t, Mann–Whitney, chi-square).
    ``skip_wilcoxon`` names the outcomes whose Wilcoxon test the paper's Table 4 already
    prints. Unnumbered: ``tables`` numbers them."""
    built = []
    if normality := normality_table(document, fmt):
        built.append(normality)
    for name in document["outcomes"]:
        candidates = [
            paired_t_table(document, fmt, name),
            None if name in skip_wilcoxon else wilcoxon_table(document, fmt, name),
            mcnemar_table(document, fmt, name),
            friedman_table(document, fmt, name),
            cochran_table(document, fmt, name),
            independent_t_table(document, fmt, name),
            mann_whitney_table(document, fmt, name),
            *chi_square_tables(document, fmt, name),
        ]
        built += [table for table in candidates if table is not None]
    return built


# ---------------------------------------------------------------------------
# Words: the conclusion and what an edge case means
# ---------------------------------------------------------------------------


# Below this many pairs the normal approximation of the Wilcoxon statistic is rough, and the
# exact p is the one to report (Siegel & Castellan's rule of thumb, which SPSS's manuals echo).
EXACT_P_ADVISED_BELOW = 25


def conclusion(document: dict, outcome_name: str, fmt: Formatter) -> str:
    """One plain sentence: did this outcome change significantly at the study's α?

    It decides on the asymptotic p (SPSS's "Asymp. Sig."), as the paper does. When the exact p
    falls on the other side of α it says plainly which p to report (``_reported_p``): the exact
    one with fewer than 25 pairs, and then decides on it; else the asymptotic one."""
    outcome = document["outcomes"][outcome_name]
    w = outcome["wilcoxon"]
    n = w["total"]
    values = {
        "outcome": in_sentence(outcome["label"]),
        "z": fmt.number(w["z"], 3),
        "p": fmt.p_in_prose(w["p_asymptotic"]),
        "alpha": fmt.alpha(document["alpha"]),
        "n": n,
        "up": w["positive_ranks"]["n"],
        "down": w["negative_ranks"]["n"],
    }
    if n == 0:
        return capfirst(
            _(
                "%(outcome)s: no mother has both a pre-test and a post-test value yet, so there "
                "is nothing to test."
            )
            % values
        )
    if w["ties"] == n:
        return capfirst(
            ngettext(
                "%(outcome)s did not change: the post-test equals the pre-test for the %(n)s "
                "mother analysed (Z = 0, p = 1).",
                "%(outcome)s did not change: the post-test equals the pre-test for every one of "
                "the %(n)s mothers (Z = 0, p = 1).",
                n,
            )
            % values
        )
    p, values["p"], advice = _reported_p("wilcoxon", w, document["alpha"], fmt)
    significant = p < document["alpha"]
    if significant and w["positive_ranks"]["sum_of_ranks"] > w["negative_ranks"]["sum_of_ranks"]:
        sentence = ngettext(
            "%(outcome)s rose significantly after the oxytocin massage (Wilcoxon Z = %(z)s, "
            "%(p)s, below α = %(alpha)s): higher in %(up)s and lower in %(down)s of %(n)s "
            "mother.",
            "%(outcome)s rose significantly after the oxytocin massage (Wilcoxon Z = %(z)s, "
            "%(p)s, below α = %(alpha)s): higher in %(up)s and lower in %(down)s of %(n)s "
            "mothers.",
            n,
        )
    elif significant:
        sentence = ngettext(
            "%(outcome)s fell significantly after the oxytocin massage (Wilcoxon Z = %(z)s, "
            "%(p)s, below α = %(alpha)s): lower in %(down)s and higher in %(up)s of %(n)s "
            "mother.",
            "%(outcome)s fell significantly after the oxytocin massage (Wilcoxon Z = %(z)s, "
            "%(p)s, below α = %(alpha)s): lower in %(down)s and higher in %(up)s of %(n)s "
            "mothers.",
            n,
        )
    else:
        sentence = ngettext(
            "%(outcome)s did not change significantly after the oxytocin massage (Wilcoxon "
            "Z = %(z)s, %(p)s, not below α = %(alpha)s; %(n)s mother).",
            "%(outcome)s did not change significantly after the oxytocin massage (Wilcoxon "
            "Z = %(z)s, %(p)s, not below α = %(alpha)s; %(n)s mothers).",
            n,
        )
    sentence = capfirst(sentence % values)
    return f"{sentence} {advice}" if advice else sentence


# The conclusion of every design: one sentence per comparison of the chosen test, then which test
# was chosen and why (DESIGN.md §7's ``chosen``).


def _stats_text(test: str, result: dict, fmt: Formatter, pick: str = "") -> str:
    """The test's statistic as a thesis reports it, with a sentence's leading zero and minus
    sign: "Z = −2.201", "t(7) = 4.512", "Z = −0.447" …"""
    if test == "wilcoxon":
        return "Z = " + fmt.number(result.get("z"), STATISTIC_PLACES)
    if test == "paired_t":
        return (f"t({fmt.count(result.get('df'))}) = "
                f"{fmt.number(result.get('t'), STATISTIC_PLACES)}")  # fmt: skip
    if test in ("mcnemar", "fisher_exact"):
        return _("exact test")
    if test == "friedman":
        return (f"χ²({fmt.count(result.get('df'))}) = "
                f"{fmt.number(result.get('chi_square'), STATISTIC_PLACES)}")  # fmt: skip
    if test == "cochran_q":
        return (f"Q({fmt.count(result.get('df'))}) = "
                f"{fmt.number(result.get('q'), STATISTIC_PLACES)}")  # fmt: skip
    if test == "mann_whitney":
        return (f"U = {fmt.number(result.get('u'), STATISTIC_PLACES)}, "
                f"Z = {fmt.number(result.get('z'), STATISTIC_PLACES)}")  # fmt: skip
    if test == "independent_t":
        row = result.get(pick) or {}
        df = row.get("df")
        shown = fmt.count(df) if pick == "equal_variances" else fmt.number(df, STATISTIC_PLACES)
        return f"t({shown}) = {fmt.number(row.get('t'), STATISTIC_PLACES)}"
    if test == "chi_square":
        pearson = result.get("pearson") or {}
        return (f"χ²({fmt.count(pearson.get('df'))}) = "
                f"{fmt.number(pearson.get('value'), STATISTIC_PLACES)}")  # fmt: skip
    return ""


def _t_row(result: dict, alpha: float) -> str:
    """SPSS's reading of the Independent Samples Test: the Welch row when Levene's test finds
    the variances unequal at α, else the equal-variances row."""
    levene_p = result.get("levene_p")
    return "unequal_variances" if levene_p is not None and levene_p < alpha else "equal_variances"


def _decision(test: str, result: dict, alpha: float, pick: str = "") -> tuple[Any, Any]:
    """(the p the decision rests on, the other p that may disagree at α or None)."""
    if test in ("wilcoxon", "mann_whitney"):
        return result.get("p_asymptotic"), result.get("p_exact")
    if test == "mcnemar":
        return result.get("p_exact"), None
    if test == "independent_t":
        return (result.get(pick) or {}).get("p"), None
    if test == "chi_square":
        fisher = result.get("fisher_exact") or {}
        return (result.get("pearson") or {}).get("p"), fisher.get("p_two_sided")
    if test == "fisher_exact":
        return (result.get("fisher_exact") or {}).get("p_two_sided"), None
    return result.get("p"), None


def _cases(test: str, result: dict) -> int:
    """The pairs (Wilcoxon) or mothers (Mann–Whitney) a test's exact p is computed over."""
    if test == "wilcoxon":
        return result.get("total") or 0
    return sum((entry or {}).get("n") or 0 for entry in (result.get("ranks") or {}).values())


def _reported_p(test: str, result: dict, alpha: float, fmt: Formatter,
                pick: str = "") -> tuple[Any, str, str]:  # fmt: skip
    """The p a sentence decides on, as the sentence prints it ("p = 0.025", "exact p = 0.063"),
    and the advice to add when the test's two p-values fall on either side of α ("" when they
    agree): SPSS prints both, so the sentence says plainly which one to report. Wilcoxon and
    Mann–Whitney: the exact p with fewer than ``EXACT_P_ADVISED_BELOW`` pairs or mothers (and the
    decision rests on it), else the asymptotic one. Chi-square beside Fisher's exact test:
    Fisher's when an expected count is below 5, else the chi-square p."""
    p, other = _decision(test, result, alpha, pick)
    if p is None or other is None or (other < alpha) == (p < alpha):
        return p, fmt.p_in_prose(p), ""
    if test in ("wilcoxon", "mann_whitney"):
        values = {"cases": EXACT_P_ADVISED_BELOW}
        if _cases(test, result) < EXACT_P_ADVISED_BELOW:
            values["p"] = fmt.p_in_prose(p)
            advice = (_("Report the exact p: with fewer than %(cases)s pairs the asymptotic p "
                        "(%(p)s) is only an approximation, and it falls on the other side of "
                        "α.") if test == "wilcoxon" else
                      _("Report the exact p: with fewer than %(cases)s mothers the asymptotic p "
                        "(%(p)s) is only an approximation, and it falls on the other side of "
                        "α."))  # fmt: skip
            return other, fmt.p_in_prose(other, _("exact p")), advice % values
        values["p"] = fmt.p_in_prose(other)
        advice = (_("Report the asymptotic p, the usual one with %(cases)s pairs or more; the "
                    "exact p (%(p)s) falls on the other side of α, so give both.")
                  if test == "wilcoxon" else
                  _("Report the asymptotic p, the usual one with %(cases)s mothers or more; the "
                    "exact p (%(p)s) falls on the other side of α, so give both."))  # fmt: skip
        return p, fmt.p_in_prose(p), advice % values
    # Pearson's chi-square beside Fisher's exact test (a 2 × 2 table).
    if (result.get("min_expected") or 0) < MIN_EXPECTED:
        advice = _("Report Fisher's exact p: an expected count is below 5, so the chi-square p "
                   "(%(p)s) is only an approximation, and it falls on the other side of α.")
        return (other, fmt.p_in_prose(other, _("Fisher's exact p")),
                advice % {"p": fmt.p_in_prose(p)})  # fmt: skip
    advice = _("Report the chi-square p: every expected count is at least 5; Fisher's exact p "
               "(%(p)s) falls on the other side of α.")  # fmt: skip
    return p, fmt.p_in_prose(p), advice % {"p": fmt.p_in_prose(other)}


def _within_direction(test: str, result: dict, outcome: dict, arm: str) -> int:
    """+1 when the outcome rose from the first to the last time point, -1 when it fell."""
    if test == "wilcoxon":
        up = result["positive_ranks"]["sum_of_ranks"] - result["negative_ranks"]["sum_of_ranks"]
        return (up > 0) - (up < 0)
    points = outcome.get("timepoints") or []
    stats = (outcome.get("descriptives") or {}).get(arm) or {}
    means = [(stats.get(p) or {}).get("mean") for p in (points[0], points[-1])] if points else []
    if len(means) < 2 or None in means:
        return 0
    return (means[1] > means[0]) - (means[1] < means[0])


def _within_sentence(document, name, arm, test, fmt) -> str:
    outcome = document["outcomes"][name]
    result = outcome["within"][arm][test]
    alpha = document.get("alpha", 0.05)
    labels = {p["key"]: p["label"] for p in document.get("timepoints", [])}
    points = outcome.get("timepoints") or list(labels)
    p, p_text, advice = _reported_p(test, result, alpha, fmt)
    subject = in_sentence(outcome["label"])
    if _two_groups(document):
        subject = _("%(outcome)s in the %(arm)s arm") % {
            "outcome": subject, "arm": _arm_label(document, arm)}  # fmt: skip
    values = {
        "subject": subject,
        "first": labels.get(points[0], points[0]),
        "last": labels.get(points[-1], points[-1]),
        "test": in_sentence(TEST_NAMES[test]),
        "stats": _stats_text(test, result, fmt),
        "p": p_text,
        "alpha": fmt.alpha(alpha),
    }
    if p is None:
        return capfirst(_("%(subject)s: the %(test)s cannot be computed yet (too few values or "
                          "no variation).") % values)  # fmt: skip
    if test in ("friedman", "cochran_q"):
        if p < alpha:
            sentence = _("%(subject)s differed significantly between the time points (%(test)s, "
                         "%(stats)s, %(p)s, below α = %(alpha)s).")  # fmt: skip
        else:
            sentence = _("%(subject)s did not differ significantly between the time points "
                         "(%(test)s, %(stats)s, %(p)s, not below α = %(alpha)s).")  # fmt: skip
        return capfirst(sentence % values)
    direction = _within_direction(test, result, outcome, arm)
    if p < alpha and direction > 0:
        sentence = _("%(subject)s rose significantly from %(first)s to %(last)s (%(test)s, "
                     "%(stats)s, %(p)s, below α = %(alpha)s).")  # fmt: skip
    elif p < alpha:
        sentence = _("%(subject)s fell significantly from %(first)s to %(last)s (%(test)s, "
                     "%(stats)s, %(p)s, below α = %(alpha)s).")  # fmt: skip
    else:
        sentence = _("%(subject)s did not change significantly from %(first)s to %(last)s "
                     "(%(test)s, %(stats)s, %(p)s, not below α = %(alpha)s).")  # fmt: skip
    return capfirst(sentence % values) + (" " + advice if advice else "")


def _between_direction(test: str, result: dict, arms: list[str], pick: str) -> int:
    """+1 when the first arm is higher than the second, -1 when lower."""
    if test == "mann_whitney":
        ranks = result.get("ranks") or {}
        a, b = ((ranks.get(arm) or {}).get("mean_rank") for arm in arms[:2])
        difference = (a or 0) - (b or 0)
    else:
        difference = (result.get(pick) or {}).get("mean_difference") or 0
    return (difference > 0) - (difference < 0)


def _between_sentence(document, name, point, test, fmt) -> str:
    outcome = document["outcomes"][name]
    comparison = outcome["between"][point]
    source = "chi_square" if test == "fisher_exact" else test
    result = comparison[source]
    alpha = document.get("alpha", 0.05)
    arms = [arm["key"] for arm in _arms(document)]
    pick = _t_row(result, alpha) if test == "independent_t" else ""
    p, p_text, advice = _reported_p(test, result, alpha, fmt, pick)
    labels = {p_["key"]: p_["label"] for p_ in document.get("timepoints", [])}
    points = outcome.get("timepoints") or list(labels)
    if point == "change":
        where = _("For the change from %(first)s to %(last)s") % {
            "first": labels.get(points[0], points[0]), "last": labels.get(points[-1], points[-1])}
    else:
        where = _("At the %(timepoint)s measurement") % {"timepoint": labels.get(point, point)}
    values = {
        "where": where,
        "outcome": in_sentence(outcome["label"]),
        "first_arm": _arm_label(document, arms[0]),
        "second_arm": _arm_label(document, arms[-1]),
        "test": in_sentence(TEST_NAMES[test]),
        "stats": _stats_text(source if test != "fisher_exact" else test, result, fmt, pick),
        "p": p_text,
        "alpha": fmt.alpha(alpha),
    }
    if p is None:
        return capfirst(_("%(where)s, the %(test)s of %(outcome)s cannot be computed yet (too "
                          "few values or no variation).") % values)  # fmt: skip
    if source == "chi_square":
        table = result["table"]
        last = list(next(iter(table.values())))[-1]
        shares = []
        for arm in arms:
            total = sum(table[arm].values())
            shares.append(100 * table[arm][last] / total if total else 0.0)
        higher = 0 if shares[0] >= shares[-1] else -1
        category = _category_label(outcome, last)
        values.update(
            # "Milk flows smoothly “Smooth”"; the outcome alone when its 1 has no label.
            share_of=values["outcome"] if category == str(last)
            else f"{values['outcome']} “{category}”",
            higher=_arm_label(document, arms[higher]),
            lower=_arm_label(document, arms[-1 - higher]),
            high_share=fmt.percent(shares[higher]),
            low_share=fmt.percent(shares[-1 - higher]),
            first_share=fmt.percent(shares[0]),
            second_share=fmt.percent(shares[-1]),
            # Fisher's exact test has no statistic to print beside its name.
            test=values["test"] if test == "fisher_exact"
            else f"{values['test']}, {values['stats']}",
        )  # fmt: skip
        if p < alpha:
            sentence = _("%(where)s, the share of %(share_of)s was significantly "
                         "higher in %(higher)s (%(high_share)s%%) than in %(lower)s "
                         "(%(low_share)s%%) (%(test)s, %(p)s, below α = %(alpha)s).")  # fmt: skip
        else:
            sentence = _("%(where)s, the share of %(share_of)s did not differ "
                         "significantly between %(first_arm)s (%(first_share)s%%) and "
                         "%(second_arm)s (%(second_share)s%%) (%(test)s, %(p)s, not below α = "
                         "%(alpha)s).")  # fmt: skip
        return capfirst(sentence % values) + (" " + advice if advice else "")
    direction = _between_direction(test, result, arms, pick)
    higher = 0 if direction >= 0 else -1
    values.update(higher=_arm_label(document, arms[higher]),
                  lower=_arm_label(document, arms[-1 - higher]))  # fmt: skip
    if p < alpha:
        sentence = _("%(where)s, %(outcome)s was significantly higher in %(higher)s than in "
                     "%(lower)s (%(test)s, %(stats)s, %(p)s, below α = %(alpha)s).")  # fmt: skip
    else:
        sentence = _("%(where)s, %(outcome)s did not differ significantly between %(first_arm)s "
                     "and %(second_arm)s (%(test)s, %(stats)s, %(p)s, not below α = "
                     "%(alpha)s).")  # fmt: skip
    return capfirst(sentence % values) + (" " + advice if advice else "")


def chosen_sentence(outcome: dict) -> str:
    """Which test was chosen for the outcome and why, or by whom when overridden."""
    chosen = outcome.get("chosen") or {}
    names = [in_sentence(TEST_NAMES[chosen[side]]) for side in ("within", "between")
             if chosen.get(side) in TEST_NAMES]  # fmt: skip
    if not names:
        return ""
    values = {
        "outcome": in_sentence(outcome["label"]),
        "tests": _(" and ").join(names) if len(names) > 1 else names[0],
        "reason": str(chosen.get("reason_text") or chosen.get("reason") or "").rstrip("."),
        "override": str(chosen.get("override_reason") or "").rstrip("."),
    }
    if chosen.get("overridden"):
        return capfirst(_("%(outcome)s: the researcher chose the %(tests)s; reason given: "
                          "%(override)s.") % values)  # fmt: skip
    return capfirst(_("%(outcome)s: test chosen: %(tests)s; why: %(reason)s.") % values)


def outcome_conclusions(document: dict, name: str, fmt: Formatter) -> list[str]:
    """The outcome's conclusion, a list of sentences in the active language. The paper's
    design: the chosen test's sentence first, introduced as the chosen test, then the other test
    of the pair (Wilcoxon's ``conclusion`` or the paired t test's) introduced as shown for
    comparison. Other designs: one sentence per comparison of the chosen test (within each arm,
    then between the arms at each time point and on the change), each naming the test, the
    groups or time points, the direction and p, and which p to report when the exact and the
    asymptotic one fall on either side of α (``_reported_p``). Last, which test was chosen and
    why."""
    outcome = document["outcomes"][name]
    sentences = []
    chosen = outcome.get("chosen") or {}
    within = chosen.get("within")
    if name in paired(document):
        # The paper's design: the chosen test's sentence first and said to be the chosen one,
        # then the other test of the pair, shown for comparison (DESIGN §7: every test stays).
        by_test = {"wilcoxon": conclusion(document, name, fmt)}
        for arm in _arms(document):
            if "paired_t" in ((outcome.get("within") or {}).get(arm["key"]) or {}):
                by_test["paired_t"] = _within_sentence(document, name, arm["key"], "paired_t",
                                                       fmt)  # fmt: skip
        first = within if within in by_test else "wilcoxon"
        for test, sentence in sorted(by_test.items(), key=lambda item: item[0] != first):
            if len(by_test) == 1:
                sentences.append(sentence)
            elif test == first:
                sentences.append(_("Chosen test: %(sentence)s") % {"sentence": sentence})
            else:
                sentences.append(_("For comparison only, not the chosen test: %(sentence)s")
                                 % {"sentence": sentence})  # fmt: skip
    elif within:
        for arm in _arms(document):
            if within in ((outcome.get("within") or {}).get(arm["key"]) or {}):
                sentences.append(_within_sentence(document, name, arm["key"], within, fmt))
    between = chosen.get("between")
    if between:
        source = "chi_square" if between == "fisher_exact" else between
        for point, tests in (outcome.get("between") or {}).items():
            if source in tests:
                sentences.append(_between_sentence(document, name, point, between, fmt))
    if sentence := chosen_sentence(outcome):
        sentences.append(sentence)
    return sentences


def conclusions(document: dict, fmt: Formatter) -> list[str]:
    """Every outcome's conclusion sentences, in the definition's order (page, .docx, CLI)."""
    return [s for name in document["outcomes"] for s in outcome_conclusions(document, name, fmt)]


def left_out_rows(document: dict) -> list[tuple[str, str]]:
    """The mothers left out, as (code, why) in the active language, for the results page. A
    missing value is named by its time point's label in the study ("Before value missing"),
    whatever the reason's key (``missing_pre``/``missing_post`` name the first and the last
    time point); "pre-test"/"post-test" only for a reason that names no time point."""
    labels = {name: outcome["label"] for name, outcome in document["outcomes"].items()}
    points = {point["key"]: point["label"] for point in document.get("timepoints", [])}
    rows = []
    for mother in document.get("left_out", []):
        reasons = []
        for item in mother["reasons"]:
            values = {
                "outcome": labels.get(item["outcome"], ""),
                "timepoint": points.get(item.get("timepoint"), item.get("timepoint")),
            }
            fixed = {
                "withdrawn": _("withdrawn"),
                "not_per_protocol": _("not every planned session done (per protocol)"),
            }
            if not values["timepoint"]:
                fixed["missing_pre"] = _("%(outcome)s: pre-test value missing") % values
                fixed["missing_post"] = _("%(outcome)s: post-test value missing") % values
            reasons.append(
                fixed.get(item["reason"], _("%(outcome)s: %(timepoint)s value missing") % values)
            )
        rows.append((mother["code"], "; ".join(reasons)))
    return rows


def notices(document: dict) -> dict[str, list[str]]:
    """What the reader must know to read each outcome's figures: left-out mothers, too few
    pairs, no change at all. Keys are outcome names plus "" for the whole cohort."""
    result: dict[str, list[str]] = {"": []}
    if document["n_enrolled"] == 0:
        result[""].append(
            _(
                "No mothers to analyse yet with these filters: the tables fill in as sheets "
                "are saved."
            )
        )
    if document["n_withdrawn"]:
        result[""].append(
            ngettext(
                "%(n)s withdrawn mother is excluded from the analysis.",
                "%(n)s withdrawn mothers are excluded from the analysis.",
                document["n_withdrawn"],
            )
            % {"n": document["n_withdrawn"]}
        )
    if document.get("n_not_per_protocol"):
        count = document["n_not_per_protocol"]
        result[""].append(
            ngettext(
                "Per-protocol analysis: %(n)s mother without every planned session done is "
                "left out.",
                "Per-protocol analysis: %(n)s mothers without every planned session done are "
                "left out.",
                count,
            )
            % {"n": count}
        )
    for name in paired(document):
        outcome = document["outcomes"][name]
        w = outcome["wilcoxon"]
        messages = []
        points = [p["label"] for p in document.get("timepoints", [])]
        values = {
            "outcome": outcome["label"],
            "n": outcome["n_missing"],
            # The study's own names of its first and last time points ("Before", "After").
            "first": points[0] if points else _("pre-test"),
            "last": points[-1] if points else _("post-test"),
        }
        if outcome["n_missing"] and document["n_enrolled"]:
            messages.append(
                ngettext(
                    "%(n)s mother is left out of %(outcome)s: her %(first)s or %(last)s value "
                    "is missing.",
                    "%(n)s mothers are left out of %(outcome)s: their %(first)s or %(last)s "
                    "value is missing.",
                    outcome["n_missing"],
                )
                % {**values, "outcome": in_sentence(outcome["label"])}
            )
        if w["total"] == 0 and document["n_enrolled"]:
            messages.append(
                _("%(outcome)s: no complete pair yet, so no test statistic (Z and p are empty).")
                % values
            )
        elif w["total"] == 1:
            messages.append(
                _(
                    "%(outcome)s: only one mother has both values. The standard deviation is "
                    "undefined and one pair cannot show an effect."
                )
                % values
            )
        if w["total"] and w["ties"] == w["total"]:
            messages.append(
                _("%(outcome)s: every difference is zero, so Z = 0 and p = 1.") % values
            )
        result[name] = messages
    return result


# ---------------------------------------------------------------------------
# Text outputs: CSV and the command line
# ---------------------------------------------------------------------------


def table_csv(table: Table, *, delimiter: str = ",") -> str:
    """A manuscript table as CSV: the title row, then each part with its header and
    footnotes, parts separated by an empty row."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([table.heading])
    for index, part in enumerate(table.parts):
        if index:
            writer.writerow([])
        if part.caption:
            writer.writerow([part.caption + part.caption_note])
        writer.writerow([cell.plain() for cell in part.header])
        for row in part.rows:
            writer.writerow([cell.plain() for cell in row])
        for note in part.footnotes:
            writer.writerow([note])
    return out.getvalue()


def table_text(table: Table) -> str:
    """A manuscript table as aligned plain text for a terminal."""
    lines = [table.heading]
    for part in table.parts:
        grid = [[cell.plain() for cell in part.header]] + [
            [cell.plain() for cell in row] for row in part.rows
        ]
        widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
        if part.caption:
            lines.append("")
            lines.append(part.caption + part.caption_note)
        rule = "  ".join("-" * width for width in widths)
        lines.append(rule)
        for index, row in enumerate(grid):
            cells = [
                text.ljust(width) if column == 0 or not _numeric(text) else text.rjust(width)
                for column, (text, width) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
            if index == 0:
                lines.append(rule)
        lines.append(rule)
        lines.extend(part.footnotes)
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    stripped = text.rstrip("abcd").replace(",", "").replace(".", "").replace("-", "")
    return stripped.isdigit()
