"""A correction that moves a mother outside the protocol is refused, or recorded as a protocol
deviation with a reason, visible on her page and in the per-protocol filter (issue 12, item 1);
never taken in silently, on any path."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from studies import exchange, services
from studies.models import MassageSession, ProtocolDeviation, Respondent

from .conftest import DELIVERY
from .test_write_rules import cohort_file

REFUSED = "This moves the mother outside the protocol"


def snapshot(respondent) -> tuple:
    fresh = Respondent.objects.get(pk=respondent.pk)
    return (
        fresh.delivery_date,
        fresh.version,
        fresh.history.count(),
        ProtocolDeviation.objects.count(),
        MassageSession.history.count(),
    )


def test_a_correction_to_another_enrolment_day_is_refused_without_a_reason(
    make_respondent, midwife_a
):
    respondent = make_respondent()
    before = snapshot(respondent)
    with pytest.raises(services.DeviationReasonRequired) as caught:
        services.update_respondent(
            respondent=respondent,
            user=midwife_a,
            reason="Tanggal persalinan salah tulis",
            delivery_date=DELIVERY - datetime.timedelta(days=1),
        )
    [message] = caught.value.message_dict["deviation_reason"]
    assert message.startswith(REFUSED)
    assert "Enrolled on postpartum day 3; the protocol enrols on day 2." in message
    assert snapshot(respondent) == before


def test_with_a_reason_it_is_recorded_and_a_later_correction_resolves_it(
    client, make_respondent, midwife_a
):
    respondent = make_respondent()
    make_respondent("R02")
    services.update_respondent(
        respondent=respondent,
        user=midwife_a,
        reason="Tanggal persalinan salah tulis",
        deviation_reason="Ibu datang sehari terlambat",
        delivery_date=DELIVERY - datetime.timedelta(days=1),
    )
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.kind, deviation.expected, deviation.actual) == ("enrolment_day", "2", "3")
    assert (deviation.reason, deviation.recorded_by, deviation.resolved_at) == (
        "Ibu datang sehari terlambat",
        midwife_a,
        None,
    )
    client.force_login(midwife_a)
    page = client.get(reverse("studies:respondent_detail", args=["PIJAT", "R01"])).content.decode()
    assert "Protocol deviations" in page and "Ibu datang sehari terlambat" in page
    listing = reverse("studies:respondent_list", args=["PIJAT"])
    per_protocol = client.get(listing, {"protocol": "per_protocol"}).content.decode()
    with_deviation = client.get(listing, {"protocol": "deviation"}).content.decode()
    assert ">R02<" in per_protocol and ">R01<" not in per_protocol
    assert ">R01<" in with_deviation and ">R02<" not in with_deviation

    respondent.refresh_from_db()
    services.update_respondent(
        respondent=respondent, user=midwife_a, reason="Dicek ulang", delivery_date=DELIVERY
    )
    deviation.refresh_from_db()
    assert deviation.resolved_at is not None
    assert deviation.history.first().history_change_reason == "Back within the protocol."
    per_protocol = client.get(listing, {"protocol": "per_protocol"}).content.decode()
    assert ">R01<" in per_protocol


@pytest.fixture
def on_day_3(time_machine):
    time_machine.move_to(timezone.make_aware(datetime.datetime(2026, 6, 4, 9, 0)))


def session_post(**changes) -> dict:
    return {
        "status": "done",
        "started_on": "2026-06-04",
        "started_time": "08:30",
        "duration_minutes": "15",
        "notes": "",
        "version": "1",
        **changes,
    }


def test_a_session_done_before_its_planned_day_asks_for_a_deviation_reason(
    client, make_respondent, midwife_a, on_day_3
):
    respondent = make_respondent()
    url = reverse("studies:session_record", args=["PIJAT", "R01", 4, "morning"])
    client.force_login(midwife_a)
    before = snapshot(respondent)
    response = client.post(url, session_post())
    page = response.content.decode()
    assert response.status_code == 200
    assert REFUSED in page
    assert 'name="deviation_reason"' in page
    assert 'value="08:30"' in page  # what she typed is kept
    assert snapshot(respondent) == before
    assert (
        MassageSession.objects.get(respondent=respondent, postpartum_day=4, slot="morning").status
        == "planned"
    )

    response = client.post(url, session_post(deviation_reason="Ibu pulang besok pagi"))
    assert response.status_code == 302
    session = MassageSession.objects.get(respondent=respondent, postpartum_day=4, slot="morning")
    assert session.status == "done"
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.kind, deviation.session, deviation.expected, deviation.actual) == (
        "session_early",
        session,
        "2026-06-05",
        "2026-06-04",
    )
    page = client.get(reverse("studies:respondent_detail", args=["PIJAT", "R01"])).content.decode()
    assert "before its planned day" in page and "Ibu pulang besok pagi" in page


def test_a_session_on_its_day_needs_no_reason(client, make_respondent, midwife_a, on_day_3):
    make_respondent()
    url = reverse("studies:session_record", args=["PIJAT", "R01", 3, "morning"])
    client.force_login(midwife_a)
    response = client.post(url, session_post())
    assert response.status_code == 302
    assert ProtocolDeviation.objects.count() == 0


def test_the_import_lists_and_records_deviations(study, data_manager):
    data = cohort_file(enrolled_on="2026-06-04", sessions_completed="4")
    preview = exchange.import_cohort(study=study, data=data, user=data_manager, dry_run=True)
    assert preview.ok
    assert [(d.row, d.column, d.message) for d in preview.deviations] == [
        (2, "enrolled_on", "Enrolled on postpartum day 3; the protocol enrols on day 2.")
    ]
    exchange.import_cohort(study=study, data=data, user=data_manager, filename="lama.csv")
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.respondent.code, deviation.actual, deviation.reason) == (
        "X01",
        "3",
        "Imported from lama.csv",
    )
    assert deviation.history.get().history_type == "+"
    audit = [row for row in exchange.audit_rows(study) if row[2] == "deviation"]
    assert [(row[3], row[4], row[8]) for row in audit] == [
        ("X01 · enrolment_day", "created", "Imported from lama.csv")
    ]
    assert exchange.export_counts(study)["audit"] == len(list(exchange.audit_rows(study))) - 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_records_the_deviations_already_in_the_database():
    executor = MigrationExecutor(connection)
    before = [("studies", "0007_codes_unique_ignoring_case")]
    try:
        executor.migrate(before)
        executor.loader.build_graph()
        old_apps = executor.loader.project_state(before).apps
        study = old_apps.get_model("studies", "Study").objects.create(code="OLD", title="Lama")
        site = old_apps.get_model("studies", "Site").objects.create(name="Klinik Lama")
        old_apps.get_model("studies", "Respondent").objects.create(
            study=study,
            site=site,
            code="A01",
            delivery_date="2026-06-01",
            enrolled_on="2026-06-04",
            age_years=25,
            parity=1,
            education="basic",
            employment="working",
        )
    finally:
        call_command("migrate", verbosity=0)
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.respondent.code, deviation.expected, deviation.actual) == ("A01", "2", "3")
    assert "Present before protocol deviations were recorded" in deviation.reason


def test_the_import_page_lists_the_deviations_before_confirmation(client, study, data_manager):
    """The upload runs its check at once in tests (the immediate task backend)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from studies.models import ImportJob

    client.force_login(data_manager)
    data = cohort_file(enrolled_on="2026-06-04", sessions_completed="4")
    client.post(
        reverse("studies:import_upload", args=[study.code]),
        {"file": SimpleUploadedFile("lama.csv", data, content_type="text/csv")},
    )
    job = ImportJob.objects.get()
    page = client.get(reverse("studies:import_job", args=[study.code, job.pk])).content.decode()
    assert "1 mother is outside the protocol" in page
    assert "row 2: Enrolled on postpartum day 3; the protocol enrols on day 2." in page
    assert "Import these mothers" in page
