"""One size on one database: the child process of ``bench.run`` (it needs its own process for
each database, and a fresh one for the reads so their memory is measured from a clean start).

    DATABASE_URL=... python -m bench.measure load N --runs 5 --out FILE
    DATABASE_URL=... python -m bench.measure read N --runs 5 --out FILE

``load`` migrates the (empty) database, creates the study ``BENCH`` (one site per 2,000
mothers, at least three), a midwife at its first site, a researcher and a data manager, and a
15-mother study ``WARM`` for warm-ups, then imports N synthetic mothers (``bench.synthetic``)
through ``studies.exchange.import_cohort``: the first timed run is kept (it is the benchmark's
data), the others import the same file into a scratch study inside a transaction that is
rolled back. It then imports N mothers of the two-group study ``BENCH2`` (sites and a midwife
of its own) once, kept. ``read`` times the pages of both studies through Django's test client
with debug off, counts their SQL statements (transaction control aside), and runs the two
floors (``bench.floor`` for results.json).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

STUDY = "BENCH"
TWO_GROUP_STUDY = "BENCH2"
WARM_STUDY = "WARM"
PASSWORD = "bench-Password-1234"


def sites_for(size: int) -> list[str]:
    """A larger registry has more sites, not busier ones: one site per 2,000 mothers (at least
    three), so a midwife's day at her site is about the same at every size."""
    return [f"Site {number}" for number in range(1, max(3, size // 2000) + 1)]


def two_group_sites(size: int) -> list[str]:
    """The two-group study's own sites (as many), so each midwife's worklist is one study's."""
    return [f"Site 2-{number}" for number in range(1, max(3, size // 2000) + 1)]


def _proc_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def memory_growth_mib(step) -> float | None:
    """Peak resident memory during ``step`` minus the resident memory before it (Linux: the
    peak is reset through /proc/self/clear_refs); None where that cannot be read."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        step()
        return None
    before = _proc_kib("VmRSS")
    step()
    peak = _proc_kib("VmHWM")
    return None if before is None or peak is None else (peak - before) / 1024


def timed(step, runs: int) -> dict:
    """Median (and spread) of ``runs`` timed calls after one warm-up call (timed too: the
    first call after the process started, with caches cold)."""
    started = time.perf_counter()
    step()
    first = time.perf_counter() - started
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    return {
        "median_ms": statistics.median(seconds) * 1000,
        "min_ms": min(seconds) * 1000,
        "max_ms": max(seconds) * 1000,
        "first_ms": first * 1000,
        "runs": runs,
    }


def timed_alternately(steps: dict, runs: int) -> dict[str, dict]:
    """``timed`` for several steps run in turn (a, b, a, b…), so that a page and its floor are
    measured under the same conditions on a shared machine, and their ratio is fair."""
    first = {}
    for name, step in steps.items():
        started = time.perf_counter()
        step()
        first[name] = time.perf_counter() - started
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(runs):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - started)
    return {
        name: {
            "median_ms": statistics.median(values) * 1000,
            "min_ms": min(values) * 1000,
            "max_ms": max(values) * 1000,
            "first_ms": first[name] * 1000,
            "runs": runs,
        }
        for name, values in seconds.items()
    }


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    # The test client calls itself "testserver"; debug stays on at import so the settings
    # pick the plain static-files storage (no collectstatic needed), then goes off below.
    hosts = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost")
    os.environ["DJANGO_ALLOWED_HOSTS"] = hosts + ",testserver"
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.conf import settings

    # Production behaviour where it costs time: no SQL log kept per query, no template debug.
    settings.DEBUG = False
    # scipy warns that Shapiro-Wilk's p is approximate above 5,000 values, on every request.
    warnings.filterwarnings("ignore", message="scipy.stats.shapiro: For N > 5000")
    logging.getLogger("lancar.auth").setLevel(logging.WARNING)  # the bench users' sign-ins


# --- load ---------------------------------------------------------------------------------------


def load(size: int, runs: int) -> dict:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.synthetic import cohort_csv
    from studies import exchange, services
    from studies.access import Role

    call_command("migrate", verbosity=0)
    sites = sites_for(size)
    study = services.create_study(code=STUDY, title="Benchmark", site_names=sites)
    warm = services.create_study(code=WARM_STUDY, title="Warm-up", site_names=sites[:3])
    users = {
        username: services.assign_role(
            username=username, role=role, site_names=member_of, password=PASSWORD
        )[0]
        for username, role, member_of in (
            ("bench_midwife", Role.MIDWIFE, sites[:1]),
            ("bench_researcher", Role.RESEARCHER, []),
            ("bench_admin", Role.ADMIN, []),
        )
    }
    # The data manager imports, as from the upload page: her name is on every history row.
    data_manager = users["bench_admin"]
    today = timezone.localdate()
    data = cohort_csv(size, sites=sites, today=today)
    warm_data = cohort_csv(15, sites=sites[:3], today=today)
    exchange.import_cohort(study=warm, data=warm_data, user=data_manager)

    class RolledBack(Exception):
        pass

    def import_into(target, payload: bytes, *, keep: bool) -> None:
        try:
            with transaction.atomic():
                report = exchange.import_cohort(study=target, data=payload, user=data_manager)
                assert report.ok, report.errors[:5]
                if not keep:
                    if connection.vendor == "postgresql":
                        # What COMMIT would do: run the deferred foreign-key checks (SQLite
                        # makes them as it inserts).
                        connection.check_constraints()
                    raise RolledBack
        except RolledBack:
            pass

    scratch = services.create_study(code="SCRATCH", title="Scratch", site_names=sites)
    # Warm-up: the first thousand rows, rolled back.
    import_into(scratch, b"\n".join(data.split(b"\n")[:1001]) + b"\n", keep=False)
    seconds, cpu = [], []
    for run in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        import_into(study if run == 0 else scratch, data, keep=run == 0)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    if connection.vendor == "postgresql":
        # The rolled-back runs leave dead rows; autovacuum would clear them soon after a load.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    # The two-group study (arms, decimals, a control arm without sessions) at sites of its own
    # with its own midwife: one timed import, kept, so its pages are measured too.
    from bench.synthetic import TWO_GROUP

    two_sites = two_group_sites(size)
    two_group = services.create_study(
        code=TWO_GROUP_STUDY, title="Two groups", site_names=two_sites, definition=TWO_GROUP
    )
    services.assign_role(
        username="bench_midwife2", role=Role.MIDWIFE, site_names=two_sites[:1], password=PASSWORD
    )
    two_group_data = cohort_csv(size, sites=two_sites, today=today, study_definition=TWO_GROUP)
    started = time.perf_counter()
    import_into(two_group, two_group_data, keep=True)
    two_group_seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    median = statistics.median(seconds)
    return {
        "import_two_group": {
            "median_ms": two_group_seconds * 1000,
            "rows_per_s": size / two_group_seconds,
            "bytes": len(two_group_data),
        },
        "import": {
            "median_ms": median * 1000,
            "min_ms": min(seconds) * 1000,
            "max_ms": max(seconds) * 1000,
            "cpu_median_ms": statistics.median(cpu) * 1000,
            "rows_per_s": size / median,
            "runs": runs,
            "bytes": len(data),
        }
    }


# --- read ---------------------------------------------------------------------------------------


def _client(username: str):
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(headers={"accept-language": "en"})
    client.force_login(get_user_model().objects.get(username=username))
    return client


def _get(client, url: str) -> int:
    """Fetch a page (a streamed one to the end); returns its size in bytes."""
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}")
    if response.streaming:
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def _queries(step) -> int:
    """SQL statements sent during ``step``, without transaction control (BEGIN, COMMIT…)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        step()
    return sum(
        not query["sql"].lstrip().upper().startswith(TRANSACTION_CONTROL)
        for query in captured.captured_queries
    )


def _page(client, url: str, runs: int) -> dict:
    size = _get(client, url)
    figures = timed(lambda: _get(client, url), runs)
    figures["queries"] = _queries(lambda: _get(client, url))
    figures["bytes"] = size
    return figures


# The export's rows in one statement, as a hand-written pivot: what the database must do
# whatever the application does around it. Each time point's sheet is joined once and its
# values read by key from the JSON column, in the database's own JSON syntax.
FLOOR_SQL = """
SELECT r.code, s.name, {arm}r.delivery_date, r.enrolled_on, r.age_years, r.parity, r.education,
       r.employment, {values}COALESCE(m.done, 0), r.status, r.withdrawal_reason, r.withdrawn_on,
       r.consent_date, r.eligibility_confirmed, {dates}COALESCE(m.total, 0),
       CASE WHEN r.age_years < 20 THEN 'lt20' WHEN r.age_years <= 35 THEN '20to35'
            ELSE 'gt35' END,
       CASE WHEN r.parity = 1 THEN 'primipara' ELSE 'multipara' END
FROM studies_respondent r
JOIN studies_site s ON s.id = r.site_id
{sheets}
LEFT JOIN (
    SELECT respondent_id, COUNT(*) FILTER (WHERE status = 'done') AS done, COUNT(*) AS total
    FROM studies_massagesession
    WHERE respondent_id IN (SELECT id FROM studies_respondent WHERE study_id = {study})
    GROUP BY respondent_id
) m ON m.respondent_id = r.id
WHERE r.study_id = {study}
ORDER BY r.code
"""


def floor_sql(study, vendor: str) -> str:
    """FLOOR_SQL for ``study``'s definition: its columns in the export's order, each outcome
    read from the sheet's JSON ``values`` (``json_extract`` on SQLite, ``->>`` on
    PostgreSQL)."""
    protocol = study.protocol
    points = protocol.timepoint_keys
    alias = {point: f"t{index}" for index, point in enumerate(points)}

    def value(point: str, key: str) -> str:
        column = f'{alias[point]}."values"'
        if vendor == "postgresql":
            return f"{column} ->> '{key}'"
        return f"json_extract({column}, '$.{key}')"

    sheets = "\n".join(
        f"LEFT JOIN studies_observation {alias[point]} ON {alias[point]}.respondent_id = r.id"
        f" AND {alias[point]}.timepoint = '{point}'"
        for point in points
    )
    return FLOOR_SQL.format(
        study=int(study.pk),
        arm="r.arm, " if protocol.has_arms else "",
        values="".join(
            f"{value(point, key)}, " for _name, point, key in protocol.cohort_value_columns
        ),
        dates="".join(f"{alias[point]}.observed_on, " for point in points),
        sheets=sheets,
    )


def export_floor(study) -> tuple[str, object]:
    """Floor (b): PostgreSQL ``COPY (SELECT …) TO STDOUT`` of the export's rows as CSV. On
    SQLite, which has no COPY, the same SELECT through the driver's cursor into
    ``csv.writer``."""
    from django.db import connection

    sql = floor_sql(study, connection.vendor)

    if connection.vendor == "postgresql":
        method = "COPY (SELECT …) TO STDOUT (CSV)"

        def step() -> int:
            lines = 0
            copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
            with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
                for chunk in copy:
                    lines += bytes(chunk).count(b"\n")
            return lines
    else:
        method = "SELECT through the sqlite3 cursor into csv.writer"

        def step() -> int:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            lines = 0
            with connection.cursor() as cursor:
                cursor.execute(sql)
                while rows := cursor.fetchmany(2000):
                    writer.writerows(rows)
                    lines += len(rows)
                    out.seek(0)
                    out.truncate()
            return lines

    return method, step


def read(size: int, runs: int, csv_path: Path) -> dict:
    from django.urls import reverse
    from django.utils import timezone

    from bench import floor
    from bench.synthetic import cohort_csv
    from studies import definition
    from studies.models import Respondent, Study

    study = Study.objects.get(code=STUDY)
    csv_path.write_bytes(cohort_csv(size, sites=sites_for(size), today=timezone.localdate()))
    midwife = _client("bench_midwife")
    researcher = _client("bench_researcher")
    admin = _client("bench_admin")

    def url(name: str, code: str = STUDY, **kwargs) -> str:
        return reverse(f"studies:{name}", kwargs={"study_code": code, **kwargs})

    figures: dict[str, dict] = {}
    # The export first, in a fresh process, so its memory growth is not hidden by memory the
    # other pages freed; the small study warms the code paths up.
    export_url = url("export_csv", kind="cohort")
    _get(admin, url("export_csv", WARM_STUDY, kind="cohort"))
    growth = memory_growth_mib(lambda: _get(admin, export_url))
    method, floor_step = export_floor(study)
    floor_growth = memory_growth_mib(floor_step)
    figures.update(
        timed_alternately(
            {"export": lambda: _get(admin, export_url), "floor_export": floor_step}, runs
        )
    )
    figures["export"].update(
        queries=_queries(lambda: _get(admin, export_url)),
        bytes=_get(admin, export_url),
        memory_growth_mib=growth,
        rows_per_s=size / (figures["export"]["median_ms"] / 1000),
    )
    figures["floor_export"].update(method=method, memory_growth_mib=floor_growth)
    results_json_url = url("results_json")
    figures.update(
        timed_alternately(
            {
                "results_json": lambda: _get(researcher, results_json_url),
                "floor_pandas": floor.floor(csv_path, definition.paper_definition()),
            },
            runs,
        )
    )
    figures["results_json"].update(
        queries=_queries(lambda: _get(researcher, results_json_url)),
        bytes=_get(researcher, results_json_url),
    )

    mother = Respondent.objects.filter(study=study).order_by("code").values_list("code", flat=True)
    pages = {
        "results_page": (researcher, url("results")),
        "worklist": (midwife, reverse("studies:home")),
        # The data manager's list: every mother of the study, 50 a page.
        "respondent_list": (admin, url("respondent_list")),
        "respondent_page": (midwife, url("respondent_detail", respondent_code=mother[0])),
    }
    for name, (client, address) in pages.items():
        figures[name] = _page(client, address, runs)
    # The same views on the 15-mother study: a query count that differs is one that grows.
    figures["small_study_queries"] = {
        "results_json": _queries(lambda: _get(researcher, url("results_json", WARM_STUDY))),
        "export": _queries(lambda: _get(admin, url("export_csv", WARM_STUDY, kind="cohort"))),
    }
    figures["two_group"] = read_two_group(size, runs, csv_path.with_name(f"two-{size}.csv"))
    return figures


def read_two_group(size: int, runs: int, csv_path: Path) -> dict:
    """The two-group study's results.json against its floor, its results page, its midwife's
    worklist (arms), the data manager's list, a mother's page and a sheet form."""
    from django.urls import reverse
    from django.utils import timezone

    from bench import floor
    from bench.synthetic import TWO_GROUP, cohort_csv
    from studies.models import Respondent, Study

    study = Study.objects.get(code=TWO_GROUP_STUDY)
    csv_path.write_bytes(
        cohort_csv(
            size, sites=two_group_sites(size), today=timezone.localdate(),
            study_definition=TWO_GROUP,
        )
    )
    midwife = _client("bench_midwife2")
    researcher = _client("bench_researcher")
    admin = _client("bench_admin")

    def url(name: str, **kwargs) -> str:
        return reverse(f"studies:{name}", kwargs={"study_code": TWO_GROUP_STUDY, **kwargs})

    figures: dict[str, dict] = {}
    results_json_url = url("results_json")
    figures.update(
        timed_alternately(
            {
                "results_json": lambda: _get(researcher, results_json_url),
                "floor_pandas": floor.floor(csv_path, TWO_GROUP),
            },
            runs,
        )
    )
    figures["results_json"].update(
        queries=_queries(lambda: _get(researcher, results_json_url)),
        bytes=_get(researcher, results_json_url),
    )
    mother = (
        Respondent.objects.filter(study=study, site__name=two_group_sites(size)[0])
        .order_by("code")
        .values_list("code", flat=True)
    )[0]
    pages = {
        "results_page": (researcher, url("results")),
        "worklist": (midwife, reverse("studies:home")),
        "respondent_list": (admin, url("respondent_list")),
        "respondent_page": (midwife, url("respondent_detail", respondent_code=mother)),
        "sheet_form": (midwife, url("observation_record", respondent_code=mother, timepoint="pre")),
    }
    for name, (client, address) in pages.items():
        figures[name] = _page(client, address, runs)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["load", "read"])
    parser.add_argument("size", type=int)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--csv", type=Path, help="where read writes the cohort file for floor (a)")
    args = parser.parse_args(argv)
    setup_django()
    if args.phase == "load":
        result = load(args.size, args.runs)
    else:
        result = read(args.size, args.runs, args.csv or args.out.with_suffix(".csv"))
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
