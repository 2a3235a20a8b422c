"""Synthetic cohorts for benchmarks: a cohort CSV of N mothers in the shape of DESIGN.md 4.4,
seeded, so every run measures the same data."""

from __future__ import annotations

import csv
import datetime
import io
import random

from studies.exchange import COHORT_COLUMNS


def cohort_csv(n: int, *, sites: list[str], seed: int = 20261129) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COHORT_COLUMNS)
    start = datetime.date(2025, 1, 1)
    for index in range(n):
        delivered = start + datetime.timedelta(days=rng.randrange(600))
        pre_feeds = rng.randint(3, 8)
        pre_urinations = rng.randint(3, 6)
        withdrawn = rng.random() < 0.03
        writer.writerow(
            [
                f"S{index:06d}",
                sites[index % len(sites)],
                delivered.isoformat(),
                (delivered + datetime.timedelta(days=2)).isoformat(),
                rng.randint(16, 44),
                rng.choice([1, 1, 2, 2, 3, 4]),
                rng.choice(["basic", "secondary", "secondary", "higher"]),
                rng.choice(["working", "not_working"]),
                pre_feeds,
                pre_urinations,
                "" if withdrawn else pre_feeds + rng.randint(0, 7),
                "" if withdrawn else pre_urinations + rng.randint(0, 6),
                rng.randint(0, 3) if withdrawn else rng.choice([6, 6, 6, 5]),
                "withdrawn" if withdrawn else "completed",
                "Pindah domisili" if withdrawn else "",
            ]
        )
    return out.getvalue().encode()
