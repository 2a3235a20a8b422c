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

from studies import definition
from studies.exchange import COHORT_COLUMNS, cohort_columns

# The second demo study (DESIGN.md 6): two arms by permuted blocks, breast-milk volume with one
# decimal, feeds, and a binary outcome measured at the post-test only; the control arm has no
# sessions.
TWO_GROUP = {
    "design": "two_group_pre_post",
    "arms": [
        {"key": "intervention", "label": {"id": "Pijat oksitosin", "en": "Oxytocin massage"}},
        {"key": "control", "label": {"id": "Kontrol", "en": "Control"}},
    ],
    "allocation": "blocks",
    "sessions": {
        "intervention": {
            "first_day": 2, "days": 3, "per_day": 2, "minutes": [15, 20],
            "label": {"id": "Pijat oksitosin", "en": "Oxytocin massage"},
        }
    },
    "timepoints": [
        {"key": "pre", "day": 2, "label": {"id": "Sebelum", "en": "Before"}},
        {"key": "post", "day": 5, "label": {"id": "Sesudah", "en": "After"}},
    ],
    "outcomes": [
        {"key": "milk_ml", "label": {"id": "Volume ASI", "en": "Breast-milk volume"},
         "type": "continuous", "unit": {"id": "ml", "en": "ml"}, "min": 0, "max": 500,
         "decimals": 1},
        {"key": "feeds", "label": {"id": "Frekuensi menyusu", "en": "Breastfeeding frequency"},
         "type": "count", "unit": {"id": "kali/24 jam", "en": "times/24 h"}, "min": 0, "max": 40,
         "adequate_at_least": 8},
        {"key": "lancar", "label": {"id": "ASI lancar", "en": "Milk flows smoothly"},
         "type": "binary",
         "categories": [{"value": 0, "label": {"id": "Tidak lancar", "en": "Not smooth"}},
                        {"value": 1, "label": {"id": "Lancar", "en": "Smooth"}}],
         "timepoints": ["post"]},
    ],
}  # fmt: skip

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
    study_definition: dict | None = None,
) -> bytes:
    """N mothers as a cohort CSV of the paper's study, or with ``study_definition`` (such as
    ``TWO_GROUP``) of that study: its columns (``arm`` after ``site``, an outcome column per
    time point and outcome) with values drawn in each outcome's range and decimals, the arms
    alternating, a control mother without sessions."""
    if study_definition is not None:
        return _defined_csv(n, sites, seed, today or datetime.date.today(), days, study_definition)
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
            # No more than were planned before today: a mother delivered two days ago and
            # withdrawn already has none behind her.
            done = min(rng.randint(0, 3), max(0, SESSIONS_PER_DAY * (age_days - FIRST_SESSION_DAY)))
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


def _defined_csv(
    n: int, sites: list[str], seed: int, today: datetime.date, days: int, data: dict
) -> bytes:
    protocol = definition.parse(data)
    header = cohort_columns(protocol)
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    last_day = protocol.last_timepoint.day
    for index in range(n):
        arm = protocol.arm_keys[index % len(protocol.arm_keys)]
        schedule = protocol.schedule(arm)
        age_days = rng.randrange(protocol.enrolment_day, days)
        delivered = today - datetime.timedelta(days=age_days)
        withdrawn = rng.random() < 0.03
        row = {
            "respondent_code": f"S{index:06d}",
            "site": sites[index % len(sites)],
            "arm": arm,
            "delivery_date": delivered.isoformat(),
            "enrolled_on": (
                delivered + datetime.timedelta(days=protocol.enrolment_day)
            ).isoformat(),
            "age_years": rng.randint(16, 44),
            "parity": rng.choice([1, 1, 2, 2, 3, 4]),
            "education": rng.choice(["basic", "secondary", "secondary", "higher"]),
            "employment": rng.choice(["working", "not_working"]),
            "status": "withdrawn" if withdrawn else "completed",
            "withdrawal_reason": "Pindah domisili" if withdrawn else "",
        }
        for column, point, key in protocol.cohort_value_columns:
            day = protocol.timepoint(point).day
            if day >= age_days or (withdrawn and day > protocol.enrolment_day):
                continue  # not due yet, or after her withdrawal
            outcome = protocol.outcome(key)
            if outcome.numeric:
                low, high = float(outcome.min), float(outcome.max)
                value = rng.uniform(low, low + (high - low) / 2)
                row[column] = f"{value:.{outcome.decimals}f}"
            else:
                row[column] = rng.choice(outcome.category_values)
        if schedule is not None:
            done_days = min(age_days, schedule.last_day + 1) - schedule.first_day
            row["sessions_completed"] = max(
                0, min(schedule.sessions_planned, done_days * schedule.per_day)
            )
            if withdrawn:
                row["sessions_completed"] = min(row["sessions_completed"], 3)
        if age_days <= last_day and not withdrawn:
            row["status"] = "enrolled"
        writer.writerow([row.get(column, "") for column in header])
    return out.getvalue().encode()
