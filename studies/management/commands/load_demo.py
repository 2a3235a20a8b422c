"""Load a demo study into an empty database: two sites, fifteen mothers in varied states and one
user per role. The users' random passwords are printed once and kept in an untracked file."""

from __future__ import annotations

import datetime
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, no_translations
from django.db import transaction
from django.utils import timezone

from studies import services
from studies.definition import paper_definition
from studies.models import MassageSession, Slot, Study
from studies.paper_cohort import PAPER_COHORT

CREDENTIALS_FILE = "demo-credentials.txt"
DEMO_CODE = "PIJAT"
SITES = ("Klinik Amanda", "Rumah Bersalin Sejahtera")
USERS = (
    ("bidan_amanda", "midwife", [SITES[0]]),
    ("bidan_sejahtera", "midwife", [SITES[1]]),
    ("peneliti", "researcher", []),
    ("admin", "admin", []),
)
# How far each demo mother is in the protocol: the postpartum day she is on today.
# 9 completed (both sheets), 2 mid-protocol, 2 enrolled today, 1 with overdue sessions,
# 1 withdrawn.
STATES = ["completed"] * 9 + ["mid", "mid", "new", "new", "overdue", "withdrawn"]


LAKTASI_CODE = "LAKTASI"


def laktasi_definition() -> dict:
    """The second demo study's definition (two groups, pre/post; DESIGN.md §6)."""
    definition = paper_definition()
    definition.update(
        design="two_group_pre_post",
        arms=[
            {"key": "intervention", "label": {"id": "Pijat oksitosin", "en": "Oxytocin massage"}},
            {"key": "control", "label": {"id": "Kontrol", "en": "Control"}},
        ],
        allocation="blocks",
        sessions={"intervention": definition["sessions"]["all"]},
        timepoints=[
            {"key": "pre", "day": 2, "label": {"id": "Sebelum", "en": "Before"}},
            {"key": "post", "day": 5, "label": {"id": "Sesudah", "en": "After"}},
        ],
        outcomes=[
            {
                "key": "milk_ml",
                "label": {"id": "Volume ASI", "en": "Breast-milk volume"},
                "type": "continuous",
                "unit": {"id": "ml", "en": "ml"},
                "min": 0,
                "max": 500,
                "decimals": 1,
            },
            {**definition["outcomes"][0]},
            {
                "key": "lancar",
                "label": {"id": "ASI lancar", "en": "Milk flows smoothly"},
                "type": "binary",
                "categories": [
                    {"value": 0, "label": {"id": "Tidak lancar", "en": "Not smooth"}},
                    {"value": 1, "label": {"id": "Lancar", "en": "Smooth"}},
                ],
                "timepoints": ["post"],
            },
        ],
    )
    return definition


class Command(BaseCommand):
    help = "Load the demo study and users if the database has no study yet."

    def add_arguments(self, parser):
        parser.add_argument(
            "--credentials-file",
            default=str(Path(settings.BASE_DIR) / CREDENTIALS_FILE),
            help="Where to write the demo users' passwords (kept out of git).",
        )

    @no_translations  # operators' output is English, like Django's own commands
    def handle(self, *args, credentials_file: str, **options):
        if Study.objects.exists():
            self.stdout.write(
                f"The database already has data; demo not loaded. Demo passwords, if this is "
                f"the demo database, are in {credentials_file}."
            )
            return
        with transaction.atomic():
            passwords = self._load(timezone.localdate())
        lines = [f"{username}\t{role}\t{password}" for username, role, password in passwords]
        path = Path(credentials_file)
        path.write_text("username\trole\tpassword\n" + "\n".join(lines) + "\n", encoding="utf-8")
        path.chmod(0o600)
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded demo studies {DEMO_CODE} (15 mothers) and {LAKTASI_CODE} (8 mothers)."
            )
        )
        self.stdout.write("Demo users (shown once; also saved in " + str(path) + "):")
        for line in lines:
            self.stdout.write("  " + line)

    def _load(self, today: datetime.date) -> list[tuple[str, str, str]]:
        study = services.create_study(
            code=DEMO_CODE,
            title="Pengaruh pijat oksitosin terhadap kelancaran produksi ASI (demo)",
            site_names=SITES,
        )
        passwords = []
        users = {}
        for username, role, sites in USERS:
            password = secrets.token_urlsafe(12)
            users[username], _created = services.assign_role(
                username=username, role=role, site_names=sites, password=password
            )
            passwords.append((username, role, password))
        for index, (row, state) in enumerate(zip(PAPER_COHORT, STATES, strict=True)):
            site_index = index % 2
            midwife = users[USERS[site_index][0]]
            self._mother(study, study.sites.get(name=SITES[site_index]), midwife, row, state, today)
        self._laktasi(users, today)
        return passwords

    def _laktasi(self, users, today: datetime.date) -> None:
        """The second demo study, LAKTASI: two groups (oxytocin massage, control without
        sessions) allocated in permuted blocks, milk volume in ml, feeds and "lancar" (yes/no,
        at post). Eight mothers at both sites: some with both sheets, some mid-protocol."""
        study = services.create_study(
            code=LAKTASI_CODE,
            title="Pijat oksitosin dan volume ASI (demo)",
            site_names=SITES,
            definition=laktasi_definition(),
        )
        for index in range(8):
            site_index = index % 2
            midwife = users[USERS[site_index][0]]
            day_today = 7 if index < 4 else 3
            delivery = today - datetime.timedelta(days=day_today)
            enrolled = delivery + datetime.timedelta(days=study.protocol.enrolment_day)
            respondent = services.enrol_respondent(
                study=study,
                site=study.sites.get(name=SITES[site_index]),
                user=midwife,
                code=f"L{index + 1:02d}",
                delivery_date=delivery,
                enrolled_on=enrolled,
                age_years=22 + 2 * index,
                parity=1 + index % 3,
                education=("basic", "secondary", "higher")[index % 3],
                employment=("working", "not_working")[index % 2],
                eligibility_confirmed=True,
                consent_date=enrolled,
            )
            services.record_observation(
                respondent=respondent,
                timepoint="pre",
                user=midwife,
                observed_on=enrolled,
                values={"milk_ml": 20 + 2.5 * index, "feeds": 5 + index % 3},
            )
            for session in respondent.sessions.all():
                if session.planned_date >= today:
                    continue
                services.change_record(
                    instance=session,
                    user=midwife,
                    reason="demo",
                    status=MassageSession.Status.DONE,
                    started_at=timezone.make_aware(
                        datetime.datetime.combine(
                            session.planned_date,
                            datetime.time(8 if session.slot == Slot.MORNING else 16, 0),
                        )
                    ),
                    duration_minutes=16,
                    performed_by=midwife,
                )
            if day_today >= 6:
                treated = respondent.arm == "intervention"
                services.record_observation(
                    respondent=respondent,
                    timepoint="post",
                    user=midwife,
                    # On the post-test's day by the study's own definition (day 5): the demo
                    # obeys its protocol, so it shows no deviation because it has none.
                    observed_on=delivery
                    + datetime.timedelta(days=study.protocol.timepoint("post").day),
                    values={
                        "milk_ml": 20 + 2.5 * index + (30.5 if treated else 8.0),
                        "feeds": 9 + index % 3 if treated else 7,
                        "lancar": 1 if treated else index % 2,
                    },
                )

    def _mother(self, study, site, midwife, row, state, today) -> None:
        day_today = {"completed": 12, "mid": 3, "new": 2, "overdue": 4, "withdrawn": 3}[state]
        delivery = today - datetime.timedelta(days=day_today)
        enrolled = delivery + datetime.timedelta(days=study.protocol.enrolment_day)
        respondent = services.enrol_respondent(
            study=study,
            site=site,
            user=midwife,
            code=row["respondent_code"].replace("P", "D"),
            delivery_date=delivery,
            enrolled_on=enrolled,
            age_years=row["age_years"],
            parity=row["parity"],
            education=row["education"],
            employment=row["employment"],
            eligibility_confirmed=True,
            consent_date=enrolled,
        )
        if state == "new":
            return
        self._sheet(respondent, "pre", enrolled, row, "pre", midwife)
        for session in sorted(
            respondent.sessions.all(),
            key=lambda session: (session.postpartum_day, Slot.values.index(session.slot)),
        ):
            if session.planned_date >= today or (state == "overdue" and session.postpartum_day > 2):
                break
            started = timezone.make_aware(
                datetime.datetime.combine(
                    session.planned_date,
                    datetime.time(8 if session.slot == "morning" else 16, 0),
                )
            )
            services.change_record(
                instance=session,
                user=midwife,
                reason="demo",
                status=MassageSession.Status.DONE,
                started_at=started,
                duration_minutes=15 + (respondent.pk + session.pk) % 6,
                performed_by=midwife,
            )
        if state == "withdrawn":
            services.withdraw_respondent(
                respondent=respondent, user=midwife, reason="Pindah ke kota lain", on=today
            )
        elif state == "completed":
            post_day = respondent.delivery_date + datetime.timedelta(
                days=study.protocol.timepoint("post").day
            )
            # The last time point's sheet completes her follow-up (services.record_observation).
            self._sheet(respondent, "post", post_day, row, "post", midwife)

    def _sheet(self, respondent, timepoint, on, row, prefix, midwife) -> None:
        services.record_observation(
            respondent=respondent,
            timepoint=timepoint,
            user=midwife,
            observed_on=on,
            values={
                "feeds": row[f"{prefix}_feeds"],
                "urinations": row[f"{prefix}_urinations"],
            },
        )
