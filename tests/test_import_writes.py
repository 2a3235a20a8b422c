"""The import writes its rows with multi-row INSERTs instead of the ORM (studies/exchange.py,
"writing the import"). These tests hold it to what the ORM and simple-history write: the same
records with the same defaults, and the same audit trail."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from studies import exchange, services
from studies.exchange import bulk
from studies.models import MassageSession, Observation, Respondent, RespondentIdentity, Source

from .test_exchange import paper_csv, replace_cell

MODELS = (Respondent, RespondentIdentity, MassageSession, Observation)


def varied_csv() -> bytes:
    """The paper's mothers with a withdrawal, an identity, a missing count and an
    unfinished protocol, so every kind of row the import writes is there."""
    header = list(exchange.COHORT_COLUMNS) + list(exchange.IDENTITY_COLUMNS)
    lines = paper_csv().decode().splitlines()
    lines[0] = ",".join(header)
    lines[1:] = [line + ",,," for line in lines[1:]]
    data = "\n".join(lines).encode() + b"\n"
    data = replace_cell(data, 2, "full_name", "Siti Aminah")
    data = replace_cell(data, 2, "phone", "0812 345 678")
    data = replace_cell(data, 3, "status", "withdrawn")
    data = replace_cell(data, 3, "withdrawal_reason", "Pindah")
    data = replace_cell(data, 3, "sessions_completed", "2")
    data = replace_cell(data, 3, "post_feeds", "")
    data = replace_cell(data, 3, "post_urinations", "")
    data = replace_cell(data, 4, "pre_urinations", "")
    data = replace_cell(data, 5, "status", "enrolled")
    data = replace_cell(data, 5, "sessions_completed", "3")
    return data


def orm_import(study, data: bytes, user) -> None:
    """The yardstick: the records built as model instances and saved with simple-history's
    ``bulk_create_with_history``, as the import did before it wrote rows itself."""
    report, planned = exchange.read_cohort(study, data)
    assert report.ok, report.errors
    reason = "Imported from CSV"
    respondents = [item.respondent for item in planned]
    bulk_create_with_history(
        respondents, Respondent, default_user=user, default_change_reason=reason
    )
    identities, sessions, sheets = [], [], []
    for item in planned:
        respondent = item.respondent
        if item.identity:
            identities.append(RespondentIdentity(respondent=respondent, **item.identity))
        done_left = item.sessions_completed
        for plan in study.session_plan(respondent.delivery_date, respondent.arm):
            session = MassageSession(
                respondent=respondent,
                postpartum_day=plan.postpartum_day,
                slot=plan.slot,
                planned_date=plan.planned_date,
            )
            if done_left and plan.planned_date >= respondent.enrolled_on:
                done_left -= 1
                session.status = MassageSession.Status.DONE
                session.source = Source.IMPORTED
                session.started_at = timezone.make_aware(
                    datetime.datetime.combine(
                        plan.planned_date, datetime.time(exchange.SLOT_HOURS[plan.slot])
                    )
                )
            sessions.append(session)
        for sheet in item.sheets:
            sheets.append(Observation(respondent=respondent, **sheet))
    for model, objects in (
        (RespondentIdentity, identities),
        (MassageSession, sessions),
        (Observation, sheets),
    ):
        bulk_create_with_history(objects, model, default_user=user, default_change_reason=reason)
    services.recount_sessions([respondent.pk for respondent in respondents])


# Columns that differ between two imports of the same file by nature: keys and moments.
VOLATILE = {"id", "history_id", "history_date", "created_at", "study_id", "respondent_id"}


def snapshot(model, study, *, history: bool) -> list[dict]:
    """Every row of ``model`` (or of its history) in ``study``, with the mother's code in place
    of the keys, in a stable order."""
    codes = dict(Respondent.objects.filter(study=study).values_list("pk", "code"))
    mother = "id" if model is Respondent else "respondent_id"
    manager = model.history if history else model.objects
    rows = list(manager.filter(**{f"{mother}__in": codes}).values())
    for row in rows:
        row["mother"] = codes[row[mother]]
        for name in VOLATILE:
            row.pop(name, None)
    return sorted(rows, key=lambda row: sorted((name, str(value)) for name, value in row.items()))


@pytest.fixture
def copy_study():
    return services.create_study(code="ORM", title="copy", site_names=["Klinik A", "Klinik B"])


@pytest.mark.parametrize("user_fixture", ["data_manager", None])
def test_the_import_writes_what_the_orm_and_simple_history_write(
    request, study, copy_study, user_fixture
):
    user = request.getfixturevalue(user_fixture) if user_fixture else None
    data = varied_csv()
    report = exchange.import_cohort(study=study, data=data, user=user)
    assert report.ok, report.errors
    orm_import(copy_study, data, user)
    for model in MODELS:
        for history in (False, True):
            ours = snapshot(model, study, history=history)
            theirs = snapshot(model, copy_study, history=history)
            assert ours, (model, history)
            assert ours == theirs, (model, history)


def test_every_record_has_one_creation_entry_with_its_values(study, data_manager):
    before = timezone.now()
    exchange.import_cohort(study=study, data=varied_csv(), user=data_manager, filename="k.csv")
    for model in MODELS:
        tracked = [field.attname for field in model.history.model.tracked_fields]
        for record in model.objects.all():
            (entry,) = model.history.filter(**{model._meta.pk.attname: record.pk})
            assert entry.history_type == "+"
            assert entry.history_user == data_manager
            assert entry.history_change_reason == "Imported from k.csv"
            assert before <= entry.history_date <= timezone.now()
            assert [getattr(entry, name) for name in tracked] == [
                getattr(record, name) for name in tracked
            ]
    mother = Respondent.objects.get(code="P01")
    assert mother.created_at == mother.history.get().history_date
    assert mother.identity.full_name == "Siti Aminah"
    assert mother.history.get().version == 1


def test_a_large_import_crosses_the_insert_batches(study, data_manager, settings, monkeypatch):
    """More mothers than one INSERT or one chunk holds: every row still finds its key."""
    monkeypatch.setattr(bulk, "IMPORT_CHUNK", 7)
    monkeypatch.setattr(bulk, "MAX_ROWS_PER_INSERT", 5)
    steps = []
    report = exchange.import_cohort(
        study=study,
        data=varied_csv(),
        user=data_manager,
        progress=lambda done, total: steps.append((done, total)),
    )
    assert report.created == 15
    assert steps == [(7, 15), (14, 15), (15, 15)]
    assert MassageSession.objects.count() == MassageSession.history.count() == 90
    assert Observation.objects.count() == Observation.history.count() == report.sheets
    for mother in Respondent.objects.all():
        assert sorted(mother.sessions.values_list("postpartum_day", "slot")) == [
            (2, "afternoon"), (2, "morning"), (3, "afternoon"), (3, "morning"),
            (4, "afternoon"), (4, "morning"),
        ]  # fmt: skip


def test_the_cycle_collector_is_back_after_an_import_however_it_ends(study, data_manager):
    """The import pauses Python's cycle collector (make bench): it must be on again after a
    good file, a file with bad rows and a file that cannot be read, and stay off for a caller
    that had turned it off."""
    import gc

    from .test_exchange import paper_csv

    assert gc.isenabled()
    assert exchange.import_cohort(study=study, data=paper_csv(), user=data_manager).ok
    assert gc.isenabled()
    bad = exchange.import_cohort(study=study, data=paper_csv(age_years="9"), user=data_manager)
    assert not bad.ok and gc.isenabled()
    with pytest.raises(exchange.ImportFileError):
        exchange.import_cohort(study=study, data=b"", user=data_manager)
    assert gc.isenabled()
    gc.disable()
    try:
        exchange.import_cohort(study=study, data=b"respondent_code\n", user=data_manager)
    except exchange.ImportFileError:
        pass
    finally:
        still_off = not gc.isenabled()
        gc.enable()
    assert still_off
