"""Import and export of N synthetic mothers: rows per second and memory growth.

    .venv/bin/python -m bench.exchange_bench 1000 10000 100000

Runs against DATABASE_URL (a fresh SQLite file under /tmp by default). Memory growth is the
process's peak resident set during the step minus its resident set before it (Linux: the peak
is reset through /proc/self/clear_refs)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure(step):
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kib("VmRSS")
    started = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - started
    growth_mib = (_rss_kib("VmHWM") - before) / 1024
    return result, seconds, growth_mib


def main(sizes: list[int]) -> None:
    os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/lancar-bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    if os.environ["DATABASE_URL"].startswith("sqlite:////tmp/"):
        Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///")).unlink(missing_ok=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bench.synthetic import cohort_csv
    from studies import exchange, services

    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}")
    columns = ("mothers", "import s", "rows/s", "MiB", "export s", "rows/s", "MiB")
    print(" ".join(f"{name:>9}" for name in columns))
    for n in sizes:
        study = services.create_study(
            code=f"BENCH{n}", title="benchmark", site_names=["Site 1", "Site 2", "Site 3"]
        )
        data = cohort_csv(n, sites=["Site 1", "Site 2", "Site 3"])
        report, import_s, import_mib = measure(
            lambda study=study, data=data: exchange.import_cohort(study=study, data=data, user=None)
        )
        assert report.ok and report.created == n, report.errors[:3]

        def export(study=study) -> int:
            lines = 0
            for chunk in exchange.stream_csv(exchange.cohort_rows(study)):
                lines += chunk.count("\n")
            return lines

        lines, export_s, export_mib = measure(export)
        assert lines == n + 1
        print(
            f"{n:>9} {import_s:>9.2f} {n / import_s:>9.0f} {import_mib:>9.1f}"
            f" {export_s:>9.2f} {n / export_s:>9.0f} {export_mib:>9.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 10000])
