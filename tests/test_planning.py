import datetime

import pytest
from django.core.exceptions import ValidationError

from studies import services
from studies.definition import paper_definition
from studies.models import MassageSession

from .conftest import DELIVERY


def test_paper_protocol_plans_six_sessions_on_days_two_to_four(make_respondent):
    respondent = make_respondent()
    planned = list(
        respondent.sessions.order_by("postpartum_day", "planned_date", "slot").values_list(
            "postpartum_day", "slot", "planned_date", "status"
        )
    )
    expected = [
        (day, slot, DELIVERY + datetime.timedelta(days=day), "planned")
        for day in (2, 3, 4)
        for slot in ("afternoon", "morning")
    ]
    assert planned == expected
    assert respondent.study.protocol.timepoint("post").day == 5


def test_other_protocol_numbers_plan_accordingly(db, midwife_a, site_a):
    study = services.create_study(
        code="NEXT",
        title="Next study",
        site_names=[site_a.name],
        definition={
            **paper_definition(),
            "sessions": {
                "all": {"first_day": 1, "days": 2, "per_day": 3, "minutes": [15, 20],
                        "label": {"id": "Pijat oksitosin", "en": "Oxytocin massage"}},
            },
            "timepoints": [
                {"key": "pre", "day": 1, "label": "pre-test"},
                {"key": "post", "day": 3, "label": "post-test"},
            ],
        },
    )
    respondent = services.enrol_respondent(
        study=study,
        site=site_a,
        user=midwife_a,
        code="N01",
        delivery_date=DELIVERY,
        enrolled_on=DELIVERY + datetime.timedelta(days=1),
        age_years=30,
        parity=2,
        education="basic",
        employment="not_working",
    )
    sessions = MassageSession.objects.filter(respondent=respondent)
    assert sessions.count() == 6
    assert sorted(set(sessions.values_list("postpartum_day", flat=True))) == [1, 2]
    assert set(sessions.values_list("slot", flat=True)) == {"morning", "afternoon", "evening"}
    assert set(sessions.values_list("planned_date", flat=True)) == {
        DELIVERY + datetime.timedelta(days=1),
        DELIVERY + datetime.timedelta(days=2),
    }
    assert study.protocol.timepoint("post").day == 3


def test_a_failed_enrolment_plans_nothing(make_respondent):
    make_respondent("R01")
    with pytest.raises(ValidationError):
        make_respondent("R01")
    assert MassageSession.objects.count() == 6


def test_sessions_sort_by_time_of_day_everywhere(db, midwife_a, site_a):
    """Morning, afternoon, evening — not alphabetically (afternoon, evening, morning): the
    model's default order (admin, her page) and the sessions export."""
    from studies import exchange

    definition = paper_definition()
    definition["sessions"]["all"]["per_day"] = 3
    study = services.create_study(
        code="TIGA", title="Three a day", site_names=[site_a.name], definition=definition
    )
    respondent = services.enrol_respondent(
        study=study, site=site_a, user=midwife_a, code="T01", delivery_date=DELIVERY,
        enrolled_on=DELIVERY + datetime.timedelta(days=2), age_years=30, parity=2,
        education="basic", employment="not_working",
    )  # fmt: skip
    day_two = ["morning", "afternoon", "evening"]
    assert list(respondent.sessions.values_list("slot", flat=True))[:3] == day_two
    rows = list(exchange.session_rows(study))
    slot = rows[0].index("slot")
    assert [row[slot] for row in rows[1:4]] == day_two
