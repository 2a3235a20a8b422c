"""Tests of Normality, Friedman, Cochran's Q, McNemar and the display rounding against GNU PSPP.

Each test writes a fixture (ties, zeros, missing values) and the SPSS syntax, runs
``pspp -O format=csv``, parses the printed tables and compares them with Lancar's figures
number by number at PSPP's decimals (``SET FORMAT=F12.6`` makes PSPP print its statistics
with six).  Like tests/test_spss_pspp.py, it skips without PSPP unless LANCAR_REQUIRE_PSPP
is set (CI sets it)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from studies.analysis import (
    cochran_q,
    format_p,
    format_spss,
    friedman,
    mcnemar_exact,
)
from studies.analysis import tests_of_normality as normality_table  # "test*" names are collected

PSPP = shutil.which("pspp") or "/usr/bin/pspp"

# How many numbers each test compared with PSPP (printed at the end with ``pytest -s``).
COMPARED: Counter[str] = Counter()


@pytest.fixture
def pspp():
    if not Path(PSPP).exists():
        if os.environ.get("LANCAR_REQUIRE_PSPP"):
            pytest.fail(f"{PSPP} is missing: apt-get install pspp")
        pytest.skip("GNU PSPP is not installed (apt-get install pspp)")
    return PSPP


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    if COMPARED:
        print(f"\nnumbers compared with PSPP: {dict(COMPARED)}, total {sum(COMPARED.values())}")


def run(pspp: str, folder: Path, syntax: str) -> list[tuple[str, list[list[str]]]]:
    """Run the syntax with PSPP; return its tables as (title, rows) in output order."""
    path = folder / "within.sps"
    path.write_text(syntax, encoding="utf-8")
    done = subprocess.run(
        [pspp, "-O", "format=csv", str(path)],
        capture_output=True, text=True, timeout=120, cwd=folder, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in done.stdout.lower(), done.stdout
    tables: list[tuple[str, list[list[str]]]] = []
    for block in done.stdout.split("\n\n"):
        lines = block.strip().splitlines()
        if lines and lines[0].startswith("Table: "):
            tables.append((lines[0][len("Table: ") :], list(csv.reader(lines[1:]))))
    return tables


def tables_named(tables, title: str) -> list[list[list[str]]]:
    return [rows for name, rows in tables if name == title]


def data_lines(columns: list[list[float | int | None]]) -> str:
    """BEGIN DATA lines, one case per line; None is PSPP's system-missing '.'."""
    cases = zip(*columns, strict=True)
    return "\n".join(" ".join("." if v is None else repr(float(v)) for v in case) for case in cases)


def fixed6(value: float, theirs: str) -> str:
    """Lancar's value as PSPP printed it: six decimals, or PSPP's E notation for tiny values
    (``8.315470E-005``) with as many mantissa digits and a three-digit exponent."""
    if "E" not in theirs:
        return format_spss(value, 6)
    digits = len(theirs.split("E")[0].split(".")[1])
    mantissa, exponent = f"{value:.{digits}E}".split("E")
    return f"{mantissa}E{int(exponent):+04d}"


def compare(label: str, ours: str, theirs: str) -> None:
    assert ours == theirs, f"{label}: Lancar {ours!r}, PSPP {theirs!r}"
    COMPARED[label.split(":")[0]] += 1


# ---------------------------------------------------------------------------
# Tests of Normality
# ---------------------------------------------------------------------------

RNG = np.random.default_rng(15)
NORMALITY_SAMPLES: dict[str, list[float | None]] = {
    # Counts with ties and zeros, one missing value.
    "counts": [0, 0, 1, 2, 2, 2, 3, 3, 4, 5, 5, 5, 6, 8, None, 11],
    # Paired differences of the kind the paper's design tests: many ties, all positive.
    "diffs": [3, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 8, 9, 12],
    # Strongly skewed: a Lilliefors p below .1 (Dallal-Wilkinson region).
    "skewed": [1, 1, 1, 1, 2, 2, 3, 9, 10, 30, 2, 3, None],
    # The smallest sample either test is computed for.
    "five": [1.5, 2.25, 2.5, 4.0, 7.75],
    "three": [2, 3, 7],
    # A larger continuous sample with decimals.
    "normal60": [round(float(v), 1) for v in RNG.normal(100, 15, 60)],
    "uniform40": [round(float(v), 2) for v in RNG.uniform(0, 10, 40)],
}


def test_tests_of_normality_match_pspp(pspp, tmp_path) -> None:
    """PSPP's EXAMINE prints Shapiro-Wilk; its NPAR TESTS /K-S prints the same D as the
    Lilliefors test (the statistic is the same, only the p-value is corrected)."""
    for name, values in NORMALITY_SAMPLES.items():
        syntax = f"""SET FORMAT=F12.6.
DATA LIST LIST /y (F12.4).
BEGIN DATA
{data_lines([values])}
END DATA.
EXAMINE VARIABLES=y /PLOT NPPLOT.
NPAR TESTS /KOLMOGOROV-SMIRNOV (NORMAL)=y.
"""
        tables = run(pspp, tmp_path, syntax)
        ours = normality_table(values)
        (normality,) = tables_named(tables, "Tests of Normality")
        statistic, df, p = normality[-1][1:4]
        sw = ours["shapiro_wilk"]
        # PSPP 1.6.2's Shapiro-Wilk is wrong below 6 values: NaN for 5, W = 10915305375 for
        # 1, 2, 4, 8, and W = .876851 for 2, 3, 7 where the exact W is 25/28 = .892857.
        # test_normality.py checks those sizes against the exact formula instead.
        if int(df) >= 6:
            compare(f"shapiro_wilk: {name} W", fixed6(sw["statistic"], statistic), statistic)
            compare(f"shapiro_wilk: {name} df", str(sw["df"]), df)
            compare(f"shapiro_wilk: {name} p", fixed6(sw["p"], p), p)

        (ks,) = tables_named(tables, "One-Sample Kolmogorov-Smirnov Test")
        rows = {(r[0] or r[1]): r for r in ks}
        compare(f"lilliefors: {name} N", str(ours["n"]), rows["N"][2])
        absolute = next(r for r in ks if r[1] == "Absolute")[2]
        if ours["kolmogorov_smirnov"] is None:
            assert ours["n"] < 5 and ours["not_computed"]["kolmogorov_smirnov"] == "too_few"
        else:
            compare(
                f"lilliefors: {name} D",
                format_spss(ours["kolmogorov_smirnov"]["statistic"], 6),
                absolute,
            )


# ---------------------------------------------------------------------------
# Friedman, Cochran's Q, McNemar
# ---------------------------------------------------------------------------

# Five time points' worth of three: ties within rows, zeros, missing values (two rows drop).
FRIEDMAN_ROWS: list[list[float | None]] = [
    [5, 6, 7], [4, 4, 6], [3, 5, 5], [6, 6, 8], [5, 7, 7], [2, 3, 3], [5, None, 6],
    [4, 6, 6], [0, 0, 0], [0, 2, 1], [7, 7, 7], [3, 8, 6], [None, 4, 4], [1, 0, 2],
]  # fmt: skip
FRIEDMAN_FOUR: list[list[float | None]] = [
    [1.5, 2.0, 2.0, 3.5], [0, 1, 1, 1], [2, 1, 3, 3], [4, 4, 4, 5], [3, 2, 1, 0],
    [2.5, 2.5, 3.0, None], [1, 3, 2, 4], [0, 0, 1, 1],
]  # fmt: skip


def friedman_syntax(rows: list[list[float | None]]) -> str:
    k = len(rows[0])
    names = [f"t{j + 1}" for j in range(k)]
    columns = [[row[j] for row in rows] for j in range(k)]
    return f"""SET FORMAT=F12.6.
DATA LIST LIST /{" ".join(names)} (F12.4).
BEGIN DATA
{data_lines(columns)}
END DATA.
NPAR TESTS /FRIEDMAN={" ".join(names)}.
"""


@pytest.mark.parametrize("rows", [FRIEDMAN_ROWS, FRIEDMAN_FOUR], ids=["k3", "k4"])
def test_friedman_matches_pspp(pspp, tmp_path, rows) -> None:
    tables = run(pspp, tmp_path, friedman_syntax(rows))
    ours = friedman(rows)
    (ranks,) = tables_named(tables, "Ranks")
    for j, row in enumerate(ranks[1:]):
        compare(f"friedman: mean rank {j}", format_spss(ours["mean_ranks"][j], 6), row[1])
    (statistics,) = tables_named(tables, "Test Statistics")
    printed = dict(statistics)
    compare("friedman: N", str(ours["n"]), printed["N"])
    compare("friedman: chi-square", format_spss(ours["chi_square"], 6), printed["Chi-Square"])
    compare("friedman: df", str(ours["df"]), printed["df"])
    compare("friedman: p", format_p(ours["p"]), printed["Asymp. Sig."])


COCHRAN_ROWS: list[list[int | None]] = [
    [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 1, 1],
    [0, 1, 1], [0, 0, 0], [1, 0, 1], [None, 1, 1], [0, 1, None], [1, 1, 0],
]  # fmt: skip


def test_cochran_q_matches_pspp(pspp, tmp_path) -> None:
    columns = [[row[j] for row in COCHRAN_ROWS] for j in range(3)]
    syntax = f"""SET FORMAT=F12.6.
DATA LIST LIST /u v w (F1.0).
BEGIN DATA
{data_lines(columns)}
END DATA.
NPAR TESTS /COCHRAN=u v w /MISSING=LISTWISE.
"""
    # LISTWISE: a respondent missing at one time point leaves the test, as SPSS does for k
    # related samples and as PSPP does for Friedman; PSPP 1.6.2's default for /COCHRAN keeps
    # such a case (N = 13 here, with its missing value counted nowhere).
    tables = run(pspp, tmp_path, syntax)
    ours = cochran_q(COCHRAN_ROWS)
    (frequencies,) = tables_named(tables, "Frequencies")
    # PSPP heads the columns "Success (0)" and "Failure (1)": the counts of 0 and of 1.
    assert frequencies[1][1:] == ["Success (0)", "Failure (1)"]
    for j, row in enumerate(frequencies[2:]):
        compare(f"cochran: zeros {j}", str(ours["frequencies"][j]["0"]), row[1])
        compare(f"cochran: ones {j}", str(ours["frequencies"][j]["1"]), row[2])
    (statistics,) = tables_named(tables, "Test Statistics")
    printed = {r[0]: r[1] for r in statistics}
    compare("cochran: N", str(ours["n"]), printed["N"])
    compare("cochran: Q", format_spss(ours["q"], 3), printed["Cochran's Q"])
    compare("cochran: df", str(ours["df"]), printed["df"])
    compare("cochran: p", format_p(ours["p"]), printed["Asymp. Sig."])


MCNEMAR_PAIRS = [
    # (before, after): both 3, before only 1, after only 7, neither 4, one pair missing.
    *[(1, 1)] * 3,
    (1, 0),
    *[(0, 1)] * 7,
    *[(0, 0)] * 4,
    (None, 1),
]


def test_mcnemar_matches_pspp(pspp, tmp_path) -> None:
    before = [b for b, _ in MCNEMAR_PAIRS]
    after = [a for _, a in MCNEMAR_PAIRS]
    syntax = f"""SET FORMAT=F12.6.
DATA LIST LIST /u v (F1.0).
BEGIN DATA
{data_lines([before, after])}
END DATA.
NPAR TESTS /MCNEMAR=u WITH v (PAIRED).
"""
    tables = run(pspp, tmp_path, syntax)
    kept = [(b, a) for b, a in MCNEMAR_PAIRS if b is not None and a is not None]
    ours = mcnemar_exact([bool(b) for b, _ in kept], [bool(a) for _, a in kept])
    (crosstab,) = tables_named(tables, "u & v")
    # Rows are u (before), columns v (after), each in PSPP's order of first appearance.
    columns = crosstab[1][1:]
    cells = {
        (row[0], column): n
        for row in crosstab[2:]
        for column, n in zip(columns, row[1:], strict=True)
    }
    compare("mcnemar: neither", str(ours["neither"]), cells["0", "0"])
    compare("mcnemar: after_only", str(ours["after_only"]), cells["0", "1"])
    compare("mcnemar: before_only", str(ours["before_only"]), cells["1", "0"])
    compare("mcnemar: both", str(ours["both"]), cells["1", "1"])
    (statistics,) = tables_named(tables, "Test Statistics")
    compare("mcnemar: N", str(ours["n"]), statistics[1][1])
    compare("mcnemar: p_exact", format_p(ours["p_exact"]), statistics[1][2])


# ---------------------------------------------------------------------------
# Display rounding at the half
# ---------------------------------------------------------------------------


def boundary_values() -> list[float]:
    """Values at a rounding half for 0 to 3 decimals: exact binary halves (k/8), decimal
    halves whose double lies below (2.675) or above (2.665) the half, negatives, and means of
    small counts that end in 5 (107 / 40 = 2.675)."""
    halves = [k / 8 for k in range(-24, 25)]
    decimal_halves = [round(k * 0.01 + 0.005, 3) for k in range(0, 300)]
    thousandths = [round(k * 0.001 + 0.0005, 4) for k in range(0, 200, 7)]
    means = [total / n for n in (4, 8, 20, 40, 200) for total in range(0, 4 * n, 3)]
    values = halves + decimal_halves + [-v for v in decimal_halves[::5]] + thousandths + means
    return sorted(set(values))


def test_format_spss_rounds_as_pspp_prints(pspp, tmp_path) -> None:
    values = boundary_values()
    syntax = f"""DATA LIST LIST /x (F20.8).
BEGIN DATA
{data_lines([values])}
END DATA.
COMPUTE x0 = x.
COMPUTE x1 = x.
COMPUTE x2 = x.
COMPUTE x3 = x.
FORMATS x0 (F12.0) x1 (F12.1) x2 (F12.2) x3 (F12.3).
LIST x0 x1 x2 x3.
"""
    tables = run(pspp, tmp_path, syntax)
    (listing,) = tables_named(tables, "Data List")
    assert listing[0] == ["x0", "x1", "x2", "x3"]
    assert len(listing) - 1 == len(values)
    for value, printed in zip(values, listing[1:], strict=True):
        for places in range(4):
            compare(f"rounding: {value!r} ({places})", format_spss(value, places), printed[places])
