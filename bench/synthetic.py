"""Synthetic cohorts for benchmarks: a cohort CSV of N mothers in the shape of DESIGN.md 4.4,
seeded, so every run measures the same mothers.

Deliveries are spread over the ``days`` before ``today``, as in a registry that has been running
that long: most mothers have finished the protocol (or withdrew), and those delivered in the last
few days are still in it, with the sessions done so far, the pre-test sheet filled and now and
then a session left undone, so a midwife's worklist has today's and overdue work on it. The
number of mothers in the protocol grows with N, as it would in a larger registry.
"""

from __future__ import annotations

import csv
import datetime
import io
import random

from studies.exchange import COHORT_COLUMNS

# The paper's protocol (Study defaults): sessions on postpartum days 2–4, twice a day, post-test
# sheet on day 5.
FIRST_SESSION_DAY = 2
SESSIONS_PER_DAY = 2
POST_SHEET_DAY = 5


def cohort_csv(
    n: int,
    *,
    sites: list[str],
    seed: int = 20261129,
    today: datetime.date | None = None,
    days: int = 600,
) -> bytes:
    rng = random.Random(seed)
    today = today or datetime.date.today()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COHORT_COLUMNS)
    for index in range(n):
        # Enrolment is on day 2, so nobody delivered in the last two days is in the file yet.
        age_days = rng.randrange(FIRST_SESSION_DAY, days)
        delivered = today - datetime.timedelta(days=age_days)
        pre_feeds = rng.randint(3, 8)
        pre_urinations = rng.randint(3, 6)
        post_feeds = pre_feeds + rng.randint(0, 7)
        post_urinations = pre_urinations + rng.randint(0, 6)
        withdrawn = rng.random() < 0.03
        in_protocol = age_days <= POST_SHEET_DAY and not withdrawn
        if in_protocol:
            # The sessions planned before today are done, except now and then one (overdue).
            due_so_far = SESSIONS_PER_DAY * (age_days - FIRST_SESSION_DAY)
            done = max(0, due_so_far - (rng.random() < 0.2))
            post = ("", "")
            status = "enrolled"
        elif withdrawn:
            done = rng.randint(0, 3)
            post = ("", "")
            status = "withdrawn"
        else:
            done = rng.choice([6, 6, 6, 5])
            post = (post_feeds, post_urinations)
            status = "completed"
        writer.writerow(
            [
                f"S{index:06d}",
                sites[index % len(sites)],
                delivered.isoformat(),
                (delivered + datetime.timedelta(days=FIRST_SESSION_DAY)).isoformat(),
                rng.randint(16, 44),
                rng.choice([1, 1, 2, 2, 3, 4]),
                rng.choice(["basic", "secondary", "secondary", "higher"]),
                rng.choice(["working", "not_working"]),
                pre_feeds,
                pre_urinations,
                *post,
                done,
                status,
                "Pindah domisili" if withdrawn else "",
            ]
        )
    return out.getvalue().encode()
