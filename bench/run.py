"""``make bench``: Lancar at 1,000, 10,000 and 100,000 mothers on SQLite and PostgreSQL.

    make bench                                   # both databases, 1k, 10k and 100k mothers
    make bench SIZES="1000 10000"                # quicker
    .venv/bin/python -m bench.run --sizes 1000 --databases sqlite --runs 5

For each database and size: a fresh database (a SQLite file in a temporary directory; the
PostgreSQL database ``lancar_bench``, dropped and created through psycopg, the server started
if it is down), N synthetic mothers of the paper's study and N of a two-group study imported
with their sessions, sheets and history (that is the import measurement), then the median of
``--runs`` timed runs after a warm-up of results.json, the results page, the midwife's
worklist, the respondent list, one mother's page and the cohort CSV export (and for the
two-group study its results, worklist with arms, list, a mother's page and her sheet form),
with each one's SQL query count and the export's peak memory growth; and the two floors:
(a) the same cohort read from its CSV file with pandas and every statistic of the results
document computed by ``bench/floor.py`` (independent numpy/scipy), (b) ``COPY (SELECT …) TO
STDOUT`` of the export's rows.

Prints a table, checks the targets, and writes everything to artifacts/bench.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/lancar_bench"

PAGES = (
    ("results_json", "results.json"),
    ("results_page", "results page"),
    ("worklist", "worklist"),
    ("respondent_list", "respondent list"),
    ("respondent_page", "respondent page"),
    ("export", "cohort CSV"),
)
# The two-group study's pages (bench.measure.read_two_group).
TWO_GROUP_PAGES = (
    ("results_json", "results.json"),
    ("results_page", "results page"),
    ("worklist", "worklist (arms)"),
    ("respondent_list", "respondent list"),
    ("respondent_page", "respondent page"),
    ("sheet_form", "sheet form"),
)
MAX_QUERIES = 10
FLOOR_RATIO = 3.0
PAGE_MS = 100
EXPORT_MEMORY_MIB = 50
IMPORT_ROWS_PER_S = 2000


# --- databases ----------------------------------------------------------------------------------


def postgres_database(url: str) -> str:
    """A fresh, empty ``lancar_bench`` (the load test's helper: starts the cluster if it is
    down and falls back to the Unix socket if TCP asks for a password)."""
    from bench.loadtest import fresh_database

    return fresh_database(url)


def drop_postgres_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def versions(database: str, url: str) -> str:
    if database == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    import psycopg

    with psycopg.connect(url) as connection:
        return "PostgreSQL " + connection.execute("SHOW server_version").fetchone()[0]


# --- running the children -----------------------------------------------------------------------


def child(phase: str, size: int, url: str, runs: int, workdir: Path) -> dict:
    """Run ``bench.measure`` for one phase and size in a fresh process; its figures."""
    out = workdir / f"{phase}-{size}.json"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "PYTHONHASHSEED": "0",
    }
    command = [sys.executable, "-m", "bench.measure", phase, str(size), "--runs", str(runs)]
    command += ["--out", str(out), "--csv", str(workdir / f"cohort-{size}.csv")]
    subprocess.run(command, cwd=BASE_DIR, env=env, check=True)
    return json.loads(out.read_text())


def measure_database(
    database: str, sizes: list[int], runs: int, workdir: Path, import_runs: int | None = None
) -> dict:
    results: dict = {"sizes": {}}
    for size in sizes:
        if database == "sqlite":
            path = workdir / f"bench-{size}.sqlite3"
            url = f"sqlite:///{path}"
        else:
            url = postgres_database(POSTGRES_URL)
        print(f"  {database}: {size} mothers — import …", flush=True)
        figures = child("load", size, url, import_runs or runs, workdir)
        print(f"  {database}: {size} mothers — pages …", flush=True)
        figures.update(child("read", size, url, runs, workdir))
        results["sizes"][str(size)] = figures
        results["version"] = versions(database, url)
        if database == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            drop_postgres_database(url)
    return results


# --- the table and the targets ------------------------------------------------------------------


def table(results: dict) -> str:
    lines = []
    for figures in results["databases"].values():
        sizes = list(figures["sizes"])
        lines.append(f"{figures['version']}")
        header = f"  {'':<22}" + "".join(f"{int(size):>16,}" for size in sizes)
        lines.append(header.replace(",", " "))
        for key, label in PAGES:
            cells = []
            for size in sizes:
                page = figures["sizes"][size][key]
                cells.append(f"{page['median_ms']:>9.1f} ms {page['queries']:>2}q")
            lines.append(f"  {label:<22}" + "".join(f"{cell:>16}" for cell in cells))
        rows = {
            "floor (a) pandas": lambda f: f"{f['floor_pandas']['median_ms']:>9.1f} ms    ",
            "results.json / (a)": lambda f: f"{ratio(f, 'results_json', 'floor_pandas'):>8.2f}×",
            "floor (b) export": lambda f: f"{f['floor_export']['median_ms']:>9.1f} ms    ",
            "export / (b)": lambda f: f"{ratio(f, 'export', 'floor_export'):>8.2f}×",
            "export rows/s": lambda f: f"{f['export']['rows_per_s']:>10,.0f}",
            "export memory growth": lambda f: mib(f["export"]["memory_growth_mib"]),
            "(b) memory growth": lambda f: mib(f["floor_export"]["memory_growth_mib"]),
            "import": lambda f: f"{f['import']['median_ms'] / 1000:>9.2f} s     ",
            "import rows/s": lambda f: f"{f['import']['rows_per_s']:>10,.0f}",
            "import 2 arms rows/s": lambda f: f"{f['import_two_group']['rows_per_s']:>10,.0f}",
            "results page / json": lambda f: f"{ratio(f, 'results_page', 'results_json'):>8.2f}×",
        }
        for label, render in rows.items():
            cells = [render(figures["sizes"][size]).replace(",", " ") for size in sizes]
            lines.append(f"  {label:<22}" + "".join(f"{cell:>16}" for cell in cells))
        lines.append("  two groups (BENCH2)")
        for key, label in TWO_GROUP_PAGES:
            cells = []
            for size in sizes:
                page = figures["sizes"][size]["two_group"][key]
                cells.append(f"{page['median_ms']:>9.1f} ms {page['queries']:>2}q")
            lines.append(f"  {label:<22}" + "".join(f"{cell:>16}" for cell in cells))
        two_rows = {
            "floor (a) pandas": lambda f: f"{f['floor_pandas']['median_ms']:>9.1f} ms    ",
            "results.json / (a)": lambda f: f"{ratio(f, 'results_json', 'floor_pandas'):>8.2f}×",
            "results page / json": lambda f: f"{ratio(f, 'results_page', 'results_json'):>8.2f}×",
        }
        for label, render in two_rows.items():
            cells = [render(figures["sizes"][size]["two_group"]) for size in sizes]
            lines.append(f"  {label:<22}" + "".join(f"{cell:>16}" for cell in cells))
        lines.append("")
    return "\n".join(lines)


def mib(value) -> str:
    return "—" if value is None else f"{value:>8.1f} MiB"


def ratio(figures: dict, key: str, floor: str) -> float:
    return figures[key]["median_ms"] / figures[floor]["median_ms"]


def targets(results: dict) -> list[dict]:
    """Issue 7's targets, each with what was measured and whether it holds."""
    checks = []

    def check(database, target, measured, holds):
        checks.append(
            {"database": database, "target": target, "measured": measured, "holds": holds}
        )

    for database, figures in results["databases"].items():
        sizes = figures["sizes"]
        designs = (
            ("", lambda size, sizes=sizes: sizes[size], PAGES),
            ("two groups: ", lambda size, sizes=sizes: sizes[size]["two_group"], TWO_GROUP_PAGES),
        )
        for design, at, pages in designs:
            for size in ("10000", "100000"):
                if size in sizes:
                    value = ratio(at(size), "results_json", "floor_pandas")
                    check(
                        database,
                        f"{design}results.json ≤ {FLOOR_RATIO:g}× floor (a) at {int(size):,}",
                        f"{value:.2f}×",
                        value <= FLOOR_RATIO,
                    )
                    value = ratio(at(size), "results_page", "results_json")
                    check(
                        database,
                        f"{design}results page ≤ {FLOOR_RATIO:g}× results.json at {int(size):,}",
                        f"{value:.2f}×",
                        value <= FLOOR_RATIO,
                    )
            for key, label in pages:
                counts = [at(size)[key]["queries"] for size in sizes]
                check(
                    database,
                    f"{design}{label}: query count independent of N, ≤ {MAX_QUERIES}",
                    ", ".join(map(str, counts)),
                    len(set(counts)) == 1 and max(counts) <= MAX_QUERIES,
                )
            if "10000" in sizes:
                for key in ("worklist", "respondent_list"):
                    value = at("10000")[key]["median_ms"]
                    check(
                        database,
                        f"{design}{dict(pages)[key]} < {PAGE_MS} ms at 10,000",
                        f"{value:.1f} ms",
                        value < PAGE_MS,
                    )
        # At 1,000 mothers the floor is a few milliseconds and any request costs more.
        for size, figures_at in sizes.items():
            if int(size) < 10000:
                continue
            value = ratio(figures_at, "export", "floor_export")
            check(
                database,
                f"export ≤ {FLOOR_RATIO:g}× floor (b) at {int(size):,}",
                f"{value:.2f}×",
                value <= FLOOR_RATIO,
            )
        if "100000" in sizes:
            value = sizes["100000"]["export"]["memory_growth_mib"]
            check(
                database,
                f"export memory growth < {EXPORT_MEMORY_MIB} MB at 100,000",
                mib(value).strip(),
                value is not None and value * 1.048576 < EXPORT_MEMORY_MIB,
            )
        for size, figures_at in sizes.items():
            for design, key in (("", "import"), ("two groups: ", "import_two_group")):
                value = figures_at[key]["rows_per_s"]
                check(
                    database,
                    f"{design}import ≥ {IMPORT_ROWS_PER_S:,} rows/s at {int(size):,}",
                    f"{value:,.0f} rows/s",
                    value >= IMPORT_ROWS_PER_S,
                )
    return checks


def calibration_ms() -> float:
    """A fixed pure-Python loop (best of three): how fast this machine was at the time. A
    shared virtual machine can vary by half between runs; compare figures with this beside."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for number in range(2_000_000):
            total += number * number
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


def machine() -> dict:
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "calibration_ms_at_start": calibration_ms(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000 10000 100000")
    parser.add_argument("--databases", default="sqlite postgresql")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after the warm-up")
    parser.add_argument(
        "--import-runs", type=int, default=None,
        help="timed imports of the paper's study (default: --runs); the two-group study's once",
    )
    parser.add_argument("--out", type=Path, default=BASE_DIR / "artifacts" / "bench.json")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.replace(",", " ").split()]
    databases = args.databases.replace(",", " ").split()
    results = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "make bench SIZES=" + repr(" ".join(map(str, sizes))),
        "runs": args.runs,
        "import_runs": args.import_runs or args.runs,
        "machine": machine(),
        "databases": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="lancar-bench-"))
    try:
        for database in databases:
            results["databases"][database] = measure_database(
                database, sizes, args.runs, workdir, args.import_runs
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["machine"]["calibration_ms_at_end"] = calibration_ms()
    results["targets"] = targets(results)
    print()
    print(table(results))
    for check in results["targets"]:
        mark = "ok  " if check["holds"] else "MISS"
        print(f"  {mark} [{check['database']}] {check['target']}: {check['measured']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    shown = args.out.relative_to(BASE_DIR) if args.out.is_relative_to(BASE_DIR) else args.out
    print(f"\nwritten to {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
