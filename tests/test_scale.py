"""Shortcuts taken for 100,000 mothers (issue 7) must give exactly what the plain way gives."""

from __future__ import annotations

import csv
import datetime
import io
import math
import random
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone, translation
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from studies import analysis, charts, exchange


def listed_hodges_lehmann(pre, post, confidence=0.95):
    """The textbook computation: every Walsh average listed and sorted. The order statistic C
    is the product's (exact up to HODGES_LEHMANN_EXACT_MAX pairs, checked against an
    enumeration in test_analysis.py); what is tested here is the counting of the averages."""
    diffs = np.asarray([b - a for a, b in zip(pre, post, strict=True)], dtype=float)
    n = len(diffs)
    walsh = np.sort((diffs[:, None] + diffs[None, :])[np.triu_indices(n)] / 2.0)
    if n <= analysis.HODGES_LEHMANN_EXACT_MAX:
        critical = analysis.signed_rank_critical_value(n, confidence)
        c = critical[0] if critical else 0
    else:
        z = float(special.ndtri(1 - (1 - confidence) / 2))
        c = math.floor(n * (n + 1) / 4 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24) + 0.5)
    low, high = (float(walsh[c - 1]), float(walsh[len(walsh) - c])) if c >= 1 else (None, None)
    return float(np.median(walsh)), low, high


counts = st.integers(min_value=0, max_value=40)
reals = st.floats(min_value=-50, max_value=50, allow_nan=False).map(lambda x: round(x, 2))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(counts, counts), min_size=1, max_size=80)
    | st.lists(st.tuples(reals, reals), min_size=1, max_size=80)
)
def test_hodges_lehmann_counted_equals_listed(pairs):
    pre, post = zip(*pairs, strict=True)
    result = analysis.hodges_lehmann(list(pre), list(post))
    assert (result["estimate"], result["ci_low"], result["ci_high"]) == listed_hodges_lehmann(
        pre, post
    )


def test_hodges_lehmann_of_many_distinct_values_lists_them(monkeypatch):
    monkeypatch.setattr(analysis, "WALSH_DISTINCT_MAX", 5)
    rng = random.Random(3)
    pre = [rng.uniform(0, 10) for _ in range(40)]
    post = [rng.uniform(0, 10) for _ in range(40)]
    result = analysis.hodges_lehmann(pre, post)
    assert (result["estimate"], result["ci_low"], result["ci_high"]) == listed_hodges_lehmann(
        pre, post
    )


def test_hodges_lehmann_of_100000_pairs_needs_no_5_billion_averages():
    rng = random.Random(7)
    pre = [rng.randint(3, 8) for _ in range(100_000)]
    post = [value + rng.randint(-1, 7) for value in pre]
    result = analysis.hodges_lehmann(pre, post)
    assert result["ci_low"] <= result["estimate"] <= result["ci_high"]
    # The shift is the median of (d_i + d_j) / 2: here 3 (d runs -1..7 uniformly).
    assert result["estimate"] == 3.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        0,
        -3,
        2.5,
        True,
        False,
        datetime.date(2026, 6, 1),
        datetime.datetime(2026, 6, 1, 8, 0, tzinfo=datetime.UTC),
        Decimal("0.050"),
        "",
        "ok",
        "=1+2",
        "-2",
        "@SUM(A1)",
        "'quoted",
        "\tTAB",
        "Klinik A",
    ],
)
def test_stream_csv_writes_every_value_as_cell_would(value):
    """A CSV reader gets back what cell() shows; text (and only text) is quoted."""
    line = "".join(exchange.stream_csv([[value]], bom=False))
    assert next(csv.reader(io.StringIO(line))) == [str(exchange.cell(value))]
    assert line.startswith('"') == isinstance(value, str | type(None)), line


def test_charts_are_drawn_once_per_figures_and_language():
    charts._charts.cache_clear()
    pre, post = [4, 5, 6, None], [8, 9, 9, 7]
    first = charts.outcome_charts("feeds", "Feeds", pre, post)
    again = charts.outcome_charts("feeds", "Feeds", list(reversed(pre)), list(reversed(post)))
    assert [chart.svg for chart in again] == [chart.svg for chart in first]
    assert charts._charts.cache_info().hits == 1
    changed = charts.outcome_charts("feeds", "Feeds", pre, [8, 9, 10, 7])
    assert "3 higher after the massage" in changed[0].description
    assert changed[1].svg != first[1].svg
    with translation.override("id"):
        charts.outcome_charts("feeds", "Feeds", pre, post)
    assert charts._charts.cache_info().misses == 3


def test_the_import_dates_done_sessions_in_the_current_time_zone(study, data_manager):
    """The session rows are built once per delivery date: still dated by the plan, at the slot's
    usual hour in the study's time zone."""
    from studies.models import MassageSession

    from .test_exchange import paper_csv

    exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    session = MassageSession.objects.get(respondent__code="P01", postpartum_day=3, slot="afternoon")
    assert timezone.localtime(session.started_at).replace(tzinfo=None) == datetime.datetime(
        2026, 6, 4, 15, 0
    )


@pytest.mark.parametrize(("before_only", "after_only"), [(700, 800), (30, 1500), (0, 4000)])
def test_mcnemar_above_the_exact_limit_agrees_with_the_exact_sum(before_only, after_only):
    before = [True] * before_only + [False] * after_only
    after = [False] * before_only + [True] * after_only
    discordant = before_only + after_only
    assert discordant > analysis.MCNEMAR_EXACT_MAX
    tail = sum(math.comb(discordant, k) for k in range(min(before_only, after_only) + 1))
    exact = min(1.0, 2 * tail / 2**discordant)
    assert analysis.mcnemar_exact(before, after)["p"] == pytest.approx(exact, rel=1e-9, abs=1e-300)


def test_mcnemar_of_a_registry_without_an_effect_takes_no_time():
    """Adequacy lost by half the mothers and gained by the other half: summed over integers
    this took half a minute at 20,000 discordant pairs."""
    n = 50_000
    result = analysis.mcnemar_exact([True] * n + [False] * n, [False] * n + [True] * n)
    assert result["p"] == 1.0 and result["n_discordant"] == 2 * n
