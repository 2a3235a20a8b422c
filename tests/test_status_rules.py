"""A mother's status and withdrawal against her records, on every write path: completed only
with her sheet at the study's last time point (rules.completion), nothing dated after her
withdrawal (rules.after_withdrawal); and a negative zero is stored as 0 (Outcome.check). The
import files are written as a clinic writes them: semicolons, a byte-order mark, day-first
dates, decimal commas."""

from __future__ import annotations

import datetime
import html
import math
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from studies import exchange, services
from studies.models import ImportJob, Observation, Respondent
from tests.conftest import laktasi_definition

JAKARTA = ZoneInfo("Asia/Jakarta")
HEADER = (
    "respondent_code;site;arm;delivery_date;enrolled_on;age_years;parity;education;employment;"
    "pre_milk_ml;pre_feeds;post_milk_ml;post_feeds;post_lancar;sessions_completed;status;"
    "withdrawal_reason;withdrawn_on;consent_date;eligibility_confirmed;pre_observed_on;"
    "post_observed_on"
)
# Rows as the clinic's file has them (delivered 11/11/2026, enrolled on day 2).
COMPLETE = (
    "K01;Klinik Amanda;Pijat oksitosin;11/11/2026;13/11/2026;19;2;SMP;Bekerja;12,5;5;40,0;9;1;"
    "6;Selesai;;;13/11/2026;1;13/11/2026;16/11/2026"
)
NO_POST_SHEET = (
    "K07;Klinik Amanda;Pijat oksitosin;11/11/2026;13/11/2026;25;2;SD;Swasta;30,0;6;;;;6;"
    "Selesai;;;13/11/2026;1;13/11/2026;16/11/2026"
)
WITHDRAWN_THEN_OBSERVED = (
    "W17;Klinik Amanda;Kontrol;12/11/2026;14/11/2026;35;3;Menengah;Swasta;20,0;5;25,0;6;0;0;"
    "Mengundurkan diri;Pindah rumah;14/11/2026;14/11/2026;1;14/11/2026;17/11/2026"
)


def clinic_file(*rows: str) -> bytes:
    return ("\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n").encode()


@pytest.fixture
def laktasi(db):
    return services.create_study(
        code="LAKTASI",
        title="Pijat oksitosin dan volume ASI",
        site_names=["Klinik Amanda", "Rumah Bersalin Sejahtera"],
        definition=laktasi_definition("chosen"),
    )


def import_errors(study, user, data: bytes) -> list[tuple[int, str, str]]:
    report = exchange.import_cohort(study=study, data=data, user=user)
    if report.errors:
        assert not Respondent.objects.filter(study=study).exists()
    return [(error.row, error.column, error.message) for error in report.errors]


# --- completed only with the sheet of the last time point ---------------------------------------


def test_an_imported_completed_mother_without_her_last_sheet_is_refused(laktasi, data_manager):
    errors = import_errors(laktasi, data_manager, clinic_file(COMPLETE, NO_POST_SHEET))
    assert errors == [
        (
            3,
            "status",
            "A mother is completed only with her After sheet (the study's last time point): "
            "record that sheet, or leave her enrolled.",
        )
    ]
    with translation.override("id"):
        report = exchange.import_cohort(
            study=laktasi, data=clinic_file(NO_POST_SHEET), user=data_manager
        )
    [error] = report.errors
    assert error.column == "status" and "Sesudah" in error.message
    assert error.message != errors[0][2]
    # Enrolled, she imports; with her sheet, completed she imports too.
    assert import_errors(
        laktasi, data_manager, clinic_file(COMPLETE, NO_POST_SHEET.replace("Selesai", ""))
    ) == []
    assert dict(Respondent.objects.values_list("code", "status")) == {
        "K01": "completed",
        "K07": "enrolled",
    }


def test_the_import_page_names_the_row_and_the_status(client, laktasi, data_manager):
    client.force_login(data_manager)
    url = reverse("studies:import_upload", args=[laktasi.code])
    upload = SimpleUploadedFile("klinik.csv", clinic_file(COMPLETE, NO_POST_SHEET), "text/csv")
    page = html.unescape(client.post(url, {"file": upload}, follow=True).content.decode())
    assert (
        "<td>3</td><td>status</td><td>A mother is completed only with her After sheet"
    ) in page
    assert "Import these mothers" not in page
    assert ImportJob.objects.get().report["errors"]


def test_a_mother_is_completed_by_her_last_sheet_and_not_otherwise(
    make_respondent, midwife_a, study, site_a
):
    with pytest.raises(ValidationError) as caught:
        make_respondent("R01", status="completed")
    assert "status" in caught.value.message_dict
    assert not Respondent.objects.exists()
    mother = make_respondent("R02")
    with pytest.raises(ValidationError) as caught:
        services.update_respondent(
            respondent=mother, user=midwife_a, reason="Selesai", status="completed"
        )
    assert caught.value.message_dict["status"] == [
        "A mother is completed only with her post-test sheet (the study's last time point): "
        "record that sheet, or leave her enrolled."
    ]
    assert Respondent.objects.get(pk=mother.pk).status == "enrolled"
    services.save_observation(
        respondent=Respondent.objects.get(pk=mother.pk),
        timepoint="pre",
        user=midwife_a,
        observed_on=datetime.date(2026, 6, 3),
        values={"feeds": 5},
    )
    do_sessions(mother, midwife_a, until=datetime.date(2026, 6, 5))
    services.save_observation(
        respondent=Respondent.objects.get(pk=mother.pk),
        timepoint="post",
        user=midwife_a,
        observed_on=datetime.date(2026, 6, 6),
        values={"feeds": 10},
    )
    assert Respondent.objects.get(pk=mother.pk).status == "completed"


# --- nothing after the withdrawal -------------------------------------------------------------


def test_an_imported_sheet_dated_after_the_withdrawal_is_refused(laktasi, data_manager):
    errors = import_errors(laktasi, data_manager, clinic_file(WITHDRAWN_THEN_OBSERVED))
    assert [(row, column) for row, column, _message in errors] == [(2, "withdrawn_on")]
    assert "After sheet is dated Nov. 17, 2026, after the withdrawal (Nov. 14, 2026)" in (
        errors[0][2]
    )
    # Her sheets on or before the day she withdrew are taken.
    fine = WITHDRAWN_THEN_OBSERVED.replace("25,0;6;0;0;", ";;;0;").replace(
        "14/11/2026;17/11/2026", "14/11/2026;"
    )
    assert import_errors(laktasi, data_manager, clinic_file(fine)) == []


def test_imported_sessions_done_after_the_withdrawal_are_refused(laktasi, data_manager):
    # Six sessions done are dated by the plan up to day 4 (15/11); she withdrew on day 3.
    row = (
        "W18;Klinik Amanda;Pijat oksitosin;11/11/2026;13/11/2026;30;1;SMA;Bekerja;20,0;5;;;;6;"
        "withdrawn;Pindah rumah;14/11/2026;13/11/2026;1;13/11/2026;"
    )
    errors = import_errors(laktasi, data_manager, clinic_file(row))
    assert [(r, column) for r, column, _message in errors] == [(2, "withdrawn_on")]
    assert "A session was done on Nov. 15, 2026, after the withdrawal" in errors[0][2]


def do_sessions(respondent, user, *, until: datetime.date) -> None:
    for session in respondent.sessions.filter(planned_date__lte=until):
        started = datetime.datetime.combine(
            session.planned_date,
            datetime.time(8 if session.slot == "morning" else 15),
            tzinfo=JAKARTA,
        )
        services.record_session(
            session=session, user=user, status="done", started_at=started, duration_minutes=15
        )


@pytest.fixture
def observed_mother(make_respondent, midwife_a):
    """Delivered 1 June 2026, pre-test sheet 3 June, sessions done 3 to 5 June, post-test sheet
    6 June (completed)."""
    mother = make_respondent("R01")
    services.save_observation(
        respondent=mother, timepoint="pre", user=midwife_a,
        observed_on=datetime.date(2026, 6, 3), values={"feeds": 5},
    )  # fmt: skip
    do_sessions(mother, midwife_a, until=datetime.date(2026, 6, 5))
    services.save_observation(
        respondent=Respondent.objects.get(pk=mother.pk), timepoint="post", user=midwife_a,
        observed_on=datetime.date(2026, 6, 6), values={"feeds": 10},
    )  # fmt: skip
    return Respondent.objects.get(pk=mother.pk)


def test_a_withdrawal_dated_before_a_sheet_is_refused_by_the_form(
    client, observed_mother, midwife_a
):
    client.force_login(midwife_a)
    url = reverse("studies:respondent_withdraw", args=["PIJAT", "R01"])
    response = client.post(url, {"withdrawn_on": "2026-06-05", "withdrawal_reason": "Pindah"})
    assert response.status_code == 200
    assert (
        "The post-test sheet is dated June 6, 2026, after the withdrawal (June 5, 2026)"
    ) in html.unescape(response.content.decode())
    assert Respondent.objects.get(pk=observed_mother.pk).status == "completed"
    # On the day of her last sheet, or later, she can be withdrawn.
    response = client.post(url, {"withdrawn_on": "2026-06-06", "withdrawal_reason": "Pindah"})
    assert response.status_code == 302
    assert Respondent.objects.get(pk=observed_mother.pk).status == "withdrawn"


def test_a_withdrawal_corrected_to_before_a_session_done_is_refused(
    make_respondent, midwife_a
):
    mother = make_respondent("R01")
    do_sessions(mother, midwife_a, until=datetime.date(2026, 6, 4))
    mother = services.withdraw_respondent(
        respondent=Respondent.objects.get(pk=mother.pk), user=midwife_a, reason="Pindah",
        on=datetime.date(2026, 6, 4),
    )  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        services.correct_withdrawal(
            respondent=mother, user=midwife_a, withdrawn_on=datetime.date(2026, 6, 3),
            withdrawal_reason="Pindah", reason="Tanggal salah",
        )  # fmt: skip
    assert caught.value.message_dict["withdrawn_on"] == [
        "A session was done on June 4, 2026, after the withdrawal (June 3, 2026): nothing is "
        "recorded for a mother after her withdrawal."
    ]
    assert Respondent.objects.get(pk=mother.pk).withdrawn_on == datetime.date(2026, 6, 4)


# --- a negative zero is zero ----------------------------------------------------------------


def positive_zero(value) -> bool:
    return value == 0 and math.copysign(1.0, value) == 1.0


def test_the_definition_reads_a_negative_zero_as_zero(laktasi):
    milk = laktasi.protocol.outcome("milk_ml")
    for typed in ("-0,0", "-0.0", "-0", -0.0):
        stored, problem = milk.check(typed)
        assert problem is None and positive_zero(stored), typed


def test_an_imported_negative_zero_is_stored_and_exported_as_zero(laktasi, data_manager):
    row = COMPLETE.replace(";12,5;5;", ";-0,0;5;")
    assert import_errors(laktasi, data_manager, clinic_file(row)) == []
    sheet = Observation.objects.get(respondent__code="K01", timepoint="pre")
    assert positive_zero(sheet.values["milk_ml"])
    exported = "\n".join(
        ";".join(str(cell) for cell in row) for row in exchange.cohort_values(laktasi)
    )
    assert "-0" not in exported


def test_a_negative_zero_typed_on_the_sheet_form_is_stored_as_zero(
    client, laktasi, make_respondent, site_a, midwife_a
):
    midwife_a.sites.add(*laktasi.sites.all())
    mother = make_respondent(
        "L01", study=laktasi, site=laktasi.sites.get(name="Klinik Amanda"), arm="control"
    )
    client.force_login(midwife_a)
    url = reverse("studies:observation_record", args=["LAKTASI", mother.code, "pre"])
    response = client.post(
        url, {"observed_on": "2026-06-03", "value_milk_ml": "-0,0", "value_feeds": "5"}
    )
    assert response.status_code == 302
    sheet = Observation.objects.get(respondent=mother, timepoint="pre")
    assert positive_zero(sheet.values["milk_ml"])


def test_a_new_last_time_point_cannot_leave_completed_mothers_without_its_sheet(
    laktasi, data_manager
):
    assert import_errors(laktasi, data_manager, clinic_file(COMPLETE)) == []
    definition = laktasi.protocol.to_dict()
    definition["design"] = "two_group_repeated"
    definition["timepoints"].append(
        {"key": "follow", "day": 10, "label": {"id": "Lanjutan", "en": "Follow-up"}}
    )
    with pytest.raises(services.DefinitionFrozen) as caught:
        services.change_definition(
            study=laktasi, definition=definition, user=data_manager, reason="Tindak lanjut"
        )
    assert caught.value.message_dict["definition"] == [
        "Completed mothers (K01) have no sheet at Follow-up, which would become the study's "
        "last time point."
    ]
    laktasi.refresh_from_db()
    assert laktasi.definition_version == 1
