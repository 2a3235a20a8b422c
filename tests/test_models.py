"""Every rule on the clinical model rejects its bad value with a clear message, through
full_clean (what forms, the admin and the importer use) and, where the database holds the rule,
in the database itself."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from studies import services
from studies.definition import paper_definition
from studies.models import MassageSession, Observation, Respondent, Study

from .conftest import DELIVERY


def messages_for(error: ValidationError, field: str) -> list[str]:
    return error.message_dict.get(field, [])


def test_valid_respondent_is_saved_with_identity_apart(make_respondent):
    respondent = make_respondent(
        "R01", identity={"full_name": "Siti Aminah", "phone": "+62 812 3456 7890"}
    )
    saved = Respondent.objects.get(pk=respondent.pk)
    assert saved.code == "R01"
    assert saved.status == Respondent.Status.ENROLLED
    assert saved.identity.full_name == "Siti Aminah"
    assert saved.consent_taken_by.username == "bidan_a"
    assert not hasattr(Respondent, "full_name")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"age_years": 9}, "age_years", "Age must be at least 10 years."),
        ({"age_years": 61}, "age_years", "Age must be at most 60 years."),
        ({"parity": 0}, "parity", "Parity counts this child, so it is at least 1."),
        (
            {"enrolled_on": DELIVERY - datetime.timedelta(days=1)},
            "enrolled_on",
            "Enrolment cannot be before the delivery date.",
        ),
        ({"education": "college"}, "education", "Value 'college' is not a valid choice."),
        ({"code": "R 01!"}, "code", "Use letters, digits, '.', '-' or '_' only."),
    ],
)
def test_respondent_rules(make_respondent, overrides, field, message):
    with pytest.raises(ValidationError) as caught:
        make_respondent(**overrides)
    assert message in messages_for(caught.value, field)
    assert Respondent.objects.count() == 0
    assert MassageSession.objects.count() == 0


def test_duplicate_code_in_study_is_refused_but_fine_in_another_study(make_respondent, site_a):
    make_respondent("R01")
    with pytest.raises(ValidationError) as caught:
        make_respondent("R01")
    assert "This respondent code is already used in this study." in messages_for(
        caught.value, "code"
    )
    other = services.create_study(code="NEXT", title="Next study", site_names=["Klinik A"])
    make_respondent("R01", study=other, site=site_a)
    assert Respondent.objects.filter(code="R01").count() == 2


def test_site_outside_the_study_is_refused(make_respondent):
    other_site_study = services.create_study(code="OTHER", title="x", site_names=["Klinik Z"])
    outside = other_site_study.sites.get()
    with pytest.raises(ValidationError) as caught:
        make_respondent(site=outside)
    assert "This site does not take part in the study." in messages_for(caught.value, "site")
    assert Respondent.objects.count() == 0


def test_database_refuses_enrolment_before_delivery_even_without_validation(make_respondent):
    respondent = make_respondent()
    respondent.enrolled_on = DELIVERY - datetime.timedelta(days=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        respondent.save()


def test_withdrawal_needs_a_reason(make_respondent, midwife_a):
    respondent = make_respondent()
    with pytest.raises(ValidationError) as caught:
        services.withdraw_respondent(respondent=respondent, user=midwife_a, reason="  ")
    assert "Give the reason for the withdrawal." in messages_for(caught.value, "withdrawal_reason")
    respondent.refresh_from_db()
    assert respondent.status == Respondent.Status.ENROLLED
    respondent.status = Respondent.Status.WITHDRAWN
    respondent.withdrawn_on = DELIVERY + datetime.timedelta(days=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        respondent.save()


def sheet(respondent, **overrides) -> Observation:
    fields = {
        "respondent": respondent,
        "timepoint": "pre",
        "observed_on": respondent.enrolled_on,
        "values": {"feeds": 5, "urinations": 4},
    }
    fields.update(overrides)
    return Observation(**fields)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"values": {"feeds": -1}}, "values", "Feeds: Enter a value between 0 and 40 times/24 h."),
        (
            {"values": {"urinations": 41}},
            "values",
            "Urinations: Enter a value between 0 and 40 times/24 h.",
        ),
        ({"values": {"feeds": 4.5}}, "values", "Feeds: Enter a whole number."),
        ({"values": {"feeds": "lima"}}, "values", "Feeds: Enter a number."),
        ({"values": {"weight": 3}}, "values", "weight is not measured at this time point."),
        ({"values": {}}, "values", "Enter at least one value: feeds, urinations."),
        ({"values": {"feeds": None, "urinations": ""}}, "values", "Enter at least one value"),
        ({"timepoint": "middle"}, "timepoint", "This is not one of the study's time points."),
        (
            {"observed_on": DELIVERY - datetime.timedelta(days=1)},
            "observed_on",
            "An observation cannot be before the delivery date.",
        ),
    ],
)
def test_observation_rules(make_respondent, overrides, field, message):
    respondent = make_respondent()
    with pytest.raises(ValidationError) as caught:
        sheet(respondent, **overrides).full_clean()
    assert any(message in text for text in messages_for(caught.value, field))


def test_one_count_may_be_missing(make_respondent, midwife_a):
    respondent = make_respondent()
    saved = services.record_observation(
        respondent=respondent,
        timepoint="pre",
        user=midwife_a,
        observed_on=respondent.enrolled_on,
        values={"feeds": "6", "urinations": ""},
    )
    assert Observation.objects.get(pk=saved.pk).values == {"feeds": 6}
    assert saved.observed_by == midwife_a


def test_second_pre_sheet_is_refused(make_respondent, midwife_a):
    respondent = make_respondent()
    sheet(respondent).save()
    with pytest.raises(ValidationError) as caught:
        services.record_observation(
            respondent=respondent,
            timepoint="pre",
            user=midwife_a,
            observed_on=respondent.enrolled_on,
            values={"feeds": 7},
        )
    assert "This mother already has a sheet for this time point." in messages_for(
        caught.value, "timepoint"
    )
    assert Observation.objects.filter(respondent=respondent).count() == 1
    day_5 = respondent.delivery_date + datetime.timedelta(days=5)
    sheet(respondent, timepoint="post", observed_on=day_5, values={"feeds": 11}).full_clean()


def test_the_database_holds_one_sheet_per_time_point(make_respondent):
    """Ranges depend on each study's definition, so the rule for values is the model's
    (every write path calls it); the database holds what does not depend on it."""
    respondent = make_respondent()
    sheet(respondent).save()
    with pytest.raises(IntegrityError), transaction.atomic():
        sheet(respondent, values={"feeds": 6}).save()


def test_a_value_outside_the_definition_is_refused_by_the_service(make_respondent, midwife_a):
    respondent = make_respondent()
    with pytest.raises(ValidationError):
        services.record_observation(
            respondent=respondent, timepoint="pre", user=midwife_a,
            observed_on=respondent.enrolled_on, values={"feeds": 41, "urinations": 4},
        )  # fmt: skip
    assert not Observation.objects.filter(respondent=respondent).exists()


def test_second_session_on_the_same_day_and_slot_is_refused(make_respondent):
    respondent = make_respondent()
    duplicate = MassageSession(
        respondent=respondent,
        postpartum_day=2,
        slot="morning",
        planned_date=DELIVERY + datetime.timedelta(days=2),
    )
    with pytest.raises(ValidationError) as caught:
        duplicate.full_clean()
    assert "This mother already has a session on that day and time of day." in messages_for(
        caught.value, "slot"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def done_session(respondent, **changes):
    session = respondent.sessions.get(postpartum_day=2, slot="morning")
    for name, value in changes.items():
        setattr(session, name, value)
    return session


def test_session_done_needs_time_and_duration(make_respondent):
    session = done_session(make_respondent(), status="done")
    with pytest.raises(ValidationError) as caught:
        session.full_clean()
    assert "Enter when the session started." in messages_for(caught.value, "started_at")
    assert "Enter how many minutes the session lasted." in messages_for(
        caught.value, "duration_minutes"
    )


def started(day: datetime.date, hour: int = 8) -> datetime.datetime:
    from django.utils import timezone

    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def test_duration_outside_the_protocol_needs_a_note(make_respondent):
    respondent = make_respondent()
    session = done_session(
        respondent, status="done", started_at=started(respondent.enrolled_on), duration_minutes=30
    )
    with pytest.raises(ValidationError) as caught:
        session.full_clean()
    assert (
        "The protocol asks for 15–20 minutes; add a note explaining the difference."
        in messages_for(caught.value, "notes")
    )
    session.notes = "Ibu meminta pijat lebih lama."
    session.full_clean()
    session.duration_minutes = 18
    session.notes = ""
    session.full_clean()


def test_session_before_enrolment_or_in_the_future_is_refused(make_respondent):
    respondent = make_respondent()
    early = done_session(
        respondent,
        status="done",
        started_at=started(respondent.enrolled_on - datetime.timedelta(days=1)),
        duration_minutes=15,
    )
    with pytest.raises(ValidationError) as caught:
        early.full_clean()
    assert "A session cannot be before the mother's enrolment." in messages_for(
        caught.value, "started_at"
    )
    early.started_at = started(datetime.date.today() + datetime.timedelta(days=2))
    with pytest.raises(ValidationError) as caught:
        early.full_clean()
    assert "A session cannot be recorded in the future." in messages_for(caught.value, "started_at")


def test_missed_session_needs_a_reason(make_respondent):
    session = done_session(make_respondent(), status="missed")
    with pytest.raises(ValidationError) as caught:
        session.full_clean()
    assert "Give the reason the session did not take place." in messages_for(caught.value, "notes")


def test_study_session_window_must_be_ordered(db):
    definition = paper_definition()
    definition["sessions"]["all"]["minutes"] = [30, 20]
    with pytest.raises(ValidationError) as caught:
        services.create_study(code="BAD", title="x", definition=definition)
    assert any(
        text.startswith("sessions.all.minutes: Give the shortest and longest session")
        for text in messages_for(caught.value, "definition")
    )
    assert not Study.objects.filter(code="BAD").exists()
