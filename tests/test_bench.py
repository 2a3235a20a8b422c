"""``make bench`` itself: the harness runs end to end on a small study and writes every figure
the README's table and the targets are made of (the real sizes take minutes; see README)."""

import json
import subprocess
import sys
from pathlib import Path

from bench.run import PAGES

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
    assert figures["floor_export"]["median_ms"] > 0
    assert figures["import"]["rows_per_s"] > 0
    assert figures["export"]["bytes"] > 40 * 50  # a header and 40 mothers
    assert "results.json" in result.stdout
    targets = json.loads(out.read_text())["targets"]
    assert {check["target"] for check in targets} >= {
        "import ≥ 2,000 rows/s at 40",
        "worklist: query count independent of N, ≤ 10",
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
