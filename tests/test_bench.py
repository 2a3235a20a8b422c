"""``make bench`` itself: the harness runs end to end on a small study and writes every figure
the README's table and the targets are made of (the real sizes take minutes; see README)."""

import json
import subprocess
import sys
from pathlib import Path

from bench.run import PAGES, TWO_GROUP_PAGES

BASE_DIR = Path(__file__).resolve().parent.parent


def test_the_benchmark_measures_every_page_and_floor(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sizes", "40", "--databases", "sqlite"]
        + ["--runs", "1", "--out", str(out)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())["databases"]["sqlite"]["sizes"]["40"]
    for key, _label in PAGES:
        assert figures[key]["median_ms"] > 0, key
        assert 1 <= figures[key]["queries"] <= 10, key
    assert figures["floor_pandas"]["median_ms"] > 0
    for key, _label in TWO_GROUP_PAGES:
        assert figures["two_group"][key]["median_ms"] > 0, key
        assert 1 <= figures["two_group"][key]["queries"] <= 10, key
    assert figures["two_group"]["floor_pandas"]["median_ms"] > 0
    assert figures["import_two_group"]["rows_per_s"] > 0
    assert figures["floor_export"]["median_ms"] > 0
    assert figures["import"]["rows_per_s"] > 0
    assert figures["export"]["bytes"] > 40 * 50  # a header and 40 mothers
    assert "results.json" in result.stdout
    targets = json.loads(out.read_text())["targets"]
    assert {check["target"] for check in targets} >= {
        "import ≥ 2,000 rows/s at 40",
        "worklist: query count independent of N, ≤ 10",
        "two groups: worklist (arms): query count independent of N, ≤ 10",
        "two groups: sheet form: query count independent of N, ≤ 10",
    }


def test_the_synthetic_two_group_cohort_imports(db):
    """The benchmark's two-group cohort (arms, decimals, a binary outcome at the post-test, a
    control arm without sessions) is a valid file for a study of its definition."""
    from bench.synthetic import TWO_GROUP, cohort_csv
    from studies import exchange, services
    from studies.models import MassageSession, Respondent

    study = services.create_study(
        code="DUA", title="two groups", site_names=["S1", "S2"], definition=TWO_GROUP
    )
    data = cohort_csv(200, sites=["S1", "S2"], study_definition=TWO_GROUP)
    report = exchange.import_cohort(study=study, data=data, user=None)
    assert report.ok, [str(error) for error in report.errors[:5]]
    assert report.created == 200
    assert set(Respondent.objects.values_list("arm", flat=True)) == {"intervention", "control"}
    assert not MassageSession.objects.filter(respondent__arm="control").exists()


def _records(path):
    import pandas as pd

    frame = pd.read_csv(path)
    frame = frame[frame["status"] != "withdrawn"]
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_the_floor_computes_the_documents_figures_of_the_paper(tmp_path):
    """bench/floor.py is the product's rival, not its copy: written apart, it must still find
    the same Wilcoxon, paired t, Hodges–Lehmann, McNemar and Table 1 on a cohort file."""
    import pytest

    from bench import floor
    from bench.synthetic import cohort_csv
    from studies import analysis, definition

    path = tmp_path / "cohort.csv"
    path.write_bytes(cohort_csv(700, sites=["A", "B", "C"], seed=5))
    mine = json.loads(floor.floor(path, definition.paper_definition())())
    product = analysis.analyze(
        _records(path), study_code="P", n_withdrawn=mine["n_withdrawn"],
        outcomes=("feeds", "urinations"), thresholds={"feeds": 8, "urinations": 6}, alpha=0.05,
    )  # fmt: skip
    for name in ("feeds", "urinations"):
        theirs, ours = product["outcomes"][name], mine["outcomes"][name]
        assert ours["wilcoxon"]["z"] == pytest.approx(theirs["wilcoxon"]["z"], rel=1e-12)
        assert ours["wilcoxon"]["n_positive"] == theirs["wilcoxon"]["positive_ranks"]["n"]
        assert ours["paired_t"]["t"] == pytest.approx(theirs["paired_t"]["t"], rel=1e-12)
        hl = theirs["hodges_lehmann"]
        assert [ours["hodges_lehmann"][key] for key in ("estimate", "ci_low", "ci_high")] == [
            hl["estimate"], hl["ci_low"], hl["ci_high"]
        ]  # fmt: skip
        assert ours["descriptives"]["change"]["n"] == theirs["paired_t"]["n"]
    for name, rows in product["characteristics"].items():
        assert sorted((row["key"], row["n"]) for row in rows) == sorted(
            (row["key"], row["n"]) for row in mine["characteristics"][name]
        )


def test_the_floor_computes_the_documents_figures_between_two_arms(tmp_path):
    import numpy as np
    import pytest

    from bench import floor
    from bench.synthetic import TWO_GROUP, cohort_csv
    from studies.analysis import between
    from studies.analysis.crosstab import chi_square

    path = tmp_path / "two.csv"
    path.write_bytes(cohort_csv(600, sites=["A", "B"], seed=9, study_definition=TWO_GROUP))
    mine = json.loads(floor.floor(path, TWO_GROUP)())
    records = _records(path)
    complete = [r for r in records if None not in (r["pre_milk_ml"], r["post_milk_ml"])]
    groups = {
        arm: [r["post_milk_ml"] - r["pre_milk_ml"] for r in complete if r["arm"] == arm]
        for arm in ("intervention", "control")
    }
    change = mine["outcomes"]["milk_ml"]["between"]["change"]
    assert change["mann_whitney"]["z"] == pytest.approx(between.mann_whitney(groups)["z"])
    theirs = between.independent_t(groups)
    assert change["independent_t"]["equal_variances"]["t"] == pytest.approx(
        theirs["equal_variances"]["t"]
    )
    assert change["independent_t"]["levene_f"] == pytest.approx(theirs["levene_f"])
    lancar = [r for r in records if r["post_lancar"] is not None]
    table = {
        arm: {value: sum(r["arm"] == arm and r["post_lancar"] == value for r in lancar)
              for value in (0, 1)}
        for arm in ("intervention", "control")
    }  # fmt: skip
    ours = mine["outcomes"]["lancar"]["between"]["post"]["chi_square"]
    assert np.array(ours["table"]).tolist() == [[table[a][0], table[a][1]] for a in table]
    assert ours["pearson"]["value"] == pytest.approx(chi_square(table)["pearson"]["value"])
