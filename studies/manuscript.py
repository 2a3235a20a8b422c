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
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .analysis import SHAPIRO_WILK_MAX, format_p, format_spss
from .cohort import characteristic_labels

TABLE_NUMBERS = (1, 2, 3, 4)


@dataclass(frozen=True)
class Cell:
    """One table cell; ``note`` is a footnote letter printed as a superscript."""

    text: str
    note: str = ""

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

    @property
    def heading(self) -> str:
        return f"{self.label}. {self.title}" if self.label else self.title


def _cells(*values: Any) -> list[Cell]:
    return [value if isinstance(value, Cell) else Cell(str(value)) for value in values]


class Formatter:
    """SPSS-style display numbers with one decimal separator."""

    def __init__(self, decimal_separator: str = ".") -> None:
        self.sep = decimal_separator

    def fixed(self, value: Any, places: int) -> str:
        return format_spss(value, places, decimal_separator=self.sep)

    def p(self, value: float | None) -> str:
        return format_p(value, decimal_separator=self.sep)

    def count(self, value: Any) -> str:
        return "" if value is None else self.fixed(value, 0)

    def p_in_prose(self, value: float | None) -> str:
        """p = .012, or p < .001 where SPSS would print .000 (never p = 0)."""
        if value is None:
            return "p = —"
        if value < 0.0005:
            return "p < " + self.fixed(0.001, 3)
        return "p = " + self.p(value)

    def alpha(self, alpha: float) -> str:
        text = f"{alpha:.3f}".rstrip("0")
        return text.lstrip("0").replace(".", self.sep) if alpha < 1 else text


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
    return f"{share['n_adequate']} ({fmt.fixed(share['percent'], 1)} %)"


def extra_table(document: dict, fmt: Formatter) -> Table:
    """What the paper did not print: effect sizes, the Hodges–Lehmann shift, normality of the
    differences, the paired t-test as a sensitivity analysis and adequacy with McNemar."""
    confidence = f"{round(100 * (1 - document['alpha']), 1):g}"
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
                        "threshold": o["adequacy"]["threshold"],
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
        _("Descriptive statistics of the outcomes by arm and time point"),
        [TablePart("", header, rows, label_columns=3)],
    )


def _builders(document: dict) -> dict:
    if paired(document):
        return {1: table_1, 2: table_2, 3: table_3, 4: table_4}
    return {1: table_1, 2: descriptives_table}


def tables(document: dict, fmt: Formatter) -> list[Table]:
    """The study's tables in order: the paper's Tables 1–4 for its design, else Table 1 and the
    descriptives by arm and time point (the tests of every design come with issue 15)."""
    return [build(document, fmt) for build in _builders(document).values()]


def manuscript_table(document: dict, fmt: Formatter, number: int) -> Table | None:
    """Table ``number`` of the study, or None when its design has no such table."""
    build = _builders(document).get(number)
    return build(document, fmt) if build else None


# ---------------------------------------------------------------------------
# Words: the conclusion and what an edge case means
# ---------------------------------------------------------------------------


# Below this many pairs the normal approximation of the Wilcoxon statistic is rough, and the
# exact p is the one to report (Siegel & Castellan's rule of thumb, which SPSS's manuals echo).
EXACT_P_ADVISED_BELOW = 25


def conclusion(document: dict, outcome_name: str, fmt: Formatter) -> str:
    """One plain sentence: did this outcome change significantly at the study's α?

    It decides on the asymptotic p (SPSS's "Asymp. Sig."); when the exact p falls on the other
    side of α it says so, and with fewer than 25 pairs it tells the reader to report the exact
    p rather than decide on the approximation."""
    outcome = document["outcomes"][outcome_name]
    w = outcome["wilcoxon"]
    n = w["total"]
    values = {
        "outcome": outcome["label"],
        "z": fmt.fixed(w["z"], 3),
        "p": fmt.p_in_prose(w["p_asymptotic"]),
        "p_exact": fmt.p_in_prose(w["p_exact"]),
        "alpha": fmt.alpha(document["alpha"]),
        "n": n,
        "up": w["positive_ranks"]["n"],
        "down": w["negative_ranks"]["n"],
        "pairs": EXACT_P_ADVISED_BELOW,
    }
    if n == 0:
        return (
            _(
                "%(outcome)s: no mother has both a pre-test and a post-test value yet, so there "
                "is nothing to test."
            )
            % values
        )
    if w["ties"] == n:
        return (
            ngettext(
                "%(outcome)s did not change: the post-test equals the pre-test for the %(n)s "
                "mother analysed (Z = 0, p = 1).",
                "%(outcome)s did not change: the post-test equals the pre-test for every one of "
                "the %(n)s mothers (Z = 0, p = 1).",
                n,
            )
            % values
        )
    significant = w["p_asymptotic"] < document["alpha"]
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
    sentence %= values
    exact = w["p_exact"]
    if exact is None or (exact < document["alpha"]) == significant:
        return sentence
    if significant:
        caveat = _("But the exact p (%(p_exact)s) is not below α = %(alpha)s.")
    else:
        caveat = _("But the exact p (%(p_exact)s) is below α = %(alpha)s.")
    if n < EXACT_P_ADVISED_BELOW:
        advice = _(
            "With fewer than %(pairs)s pairs the normal approximation is rough: report the "
            "exact p and decide on it."
        )
    else:
        advice = _(
            "With %(pairs)s pairs or more the asymptotic p is usually reported; give both."
        )
    return " ".join([sentence, caveat % values, advice % values])


def left_out_rows(document: dict) -> list[tuple[str, str]]:
    """The mothers left out, as (code, why) in the active language, for the results page."""
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
            reasons.append(
                {
                    "withdrawn": _("withdrawn"),
                    "not_per_protocol": _("not every planned session done (per protocol)"),
                    "missing_pre": _("%(outcome)s: pre-test value missing") % values,
                    "missing_post": _("%(outcome)s: post-test value missing") % values,
                }.get(item["reason"], _("%(outcome)s: %(timepoint)s value missing") % values)
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
        values = {"outcome": outcome["label"], "n": outcome["n_missing"]}
        if outcome["n_missing"] and document["n_enrolled"]:
            messages.append(
                ngettext(
                    "%(n)s mother is left out of %(outcome)s: her pre-test or post-test value "
                    "is missing.",
                    "%(n)s mothers are left out of %(outcome)s: their pre-test or post-test "
                    "value is missing.",
                    outcome["n_missing"],
                )
                % values
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
