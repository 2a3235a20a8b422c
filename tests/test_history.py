"""The audit trail records who changed what, when, the old and the new value, and why."""

import datetime

from studies import services
from studies.models import MassageSession, Respondent
from studies.selectors import respondent_history


def test_enrolment_is_recorded_with_its_author(make_respondent, midwife_a):
    respondent = make_respondent()
    created = Respondent.history.get(id=respondent.pk, history_type="+")
    assert created.history_user == midwife_a
    assert created.age_years == 27
    assert MassageSession.history.filter(respondent_id=respondent.pk).count() == 6


def test_correction_records_old_and_new_value_and_reason(make_respondent, data_manager):
    respondent = make_respondent()
    services.change_record(
        instance=respondent, user=data_manager, reason="Salah tulis umur", age_years=29
    )
    latest, previous = Respondent.history.filter(id=respondent.pk).order_by("-history_date")[:2]
    assert latest.history_user == data_manager
    assert latest.history_change_reason == "Salah tulis umur"
    delta = latest.diff_against(previous)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("age_years", 27, 29)]

    changes = respondent_history(respondent, include_identity=False)
    age_change = next(change for change in changes if change.field == "age")
    assert (age_change.who, age_change.old, age_change.new, age_change.reason) == (
        "pengelola",
        "27",
        "29",
        "Salah tulis umur",
    )


def test_correction_without_reason_is_refused(make_respondent, data_manager):
    respondent = make_respondent()
    try:
        services.change_record(instance=respondent, user=data_manager, reason=" ", age_years=29)
    except Exception as error:  # noqa: BLE001
        assert "Say why this record is being changed." in str(error)
    else:
        raise AssertionError("a correction without a reason was accepted")
    respondent.refresh_from_db()
    assert respondent.age_years == 27
    assert Respondent.history.filter(id=respondent.pk).count() == 1


def test_withdrawal_keeps_the_mother_and_records_the_reason(make_respondent, midwife_a):
    respondent = make_respondent()
    services.withdraw_respondent(
        respondent=respondent,
        user=midwife_a,
        reason="Pindah kota",
        on=respondent.enrolled_on + datetime.timedelta(days=1),
    )
    respondent.refresh_from_db()
    assert respondent.status == "withdrawn"
    assert respondent.sessions.count() == 6
    changes = respondent_history(respondent, include_identity=False)
    status_change = next(change for change in changes if change.field == "status")
    assert (status_change.old, status_change.new, status_change.reason) == (
        "Enrolled",
        "Withdrawn",
        "Pindah kota",
    )


def test_identity_history_is_shown_only_when_asked(make_respondent, midwife_a):
    respondent = make_respondent(identity={"full_name": "Siti Aminah"})
    services.change_record(
        instance=respondent.identity, user=midwife_a, reason="Ejaan", full_name="Siti Aminah S."
    )
    hidden = respondent_history(respondent, include_identity=False)
    shown = respondent_history(respondent, include_identity=True)
    assert not any("Siti" in change.new for change in hidden)
    assert any(change.new == "Siti Aminah S." for change in shown)
