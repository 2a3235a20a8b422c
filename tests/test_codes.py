"""Identifiers compare the way people read them (issue 12, item 2): a respondent code is unique
within its study ignoring case and surrounding spaces, on every write path and in the database;
site names likewise."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from studies import exchange, services
from studies.models import Respondent, Site

from .test_write_rules import cohort_file

TAKEN = "This respondent code is already used in this study."


def enrolment_post(code: str, site) -> dict:
    return {
        "code": code,
        "site": site.pk,
        "delivery_date": "2026-06-01",
        "enrolled_on": "2026-06-03",
        "consent_date": "2026-06-03",
        "age_years": "25",
        "parity": "2",
        "education": "basic",
        "employment": "not_working",
        "on_start_day": "on",
        "breastfeeding": "on",
        "consent_obtained": "on",
    }


@pytest.mark.parametrize("typed", ["r01", " R01 ", "R01"])
def test_the_enrolment_form_refuses_a_code_that_reads_the_same(
    client, make_respondent, midwife_a, site_a, typed, time_machine
):
    time_machine.move_to("2026-06-03 10:00 +07:00")
    make_respondent("R01")
    client.force_login(midwife_a)
    response = client.post(
        reverse("studies:respondent_enrol", args=["PIJAT"]), enrolment_post(typed, site_a)
    )
    assert response.status_code == 200
    assert TAKEN in response.content.decode()
    assert list(Respondent.objects.values_list("code", flat=True)) == ["R01"]


def test_the_service_and_the_database_refuse_it(make_respondent):
    make_respondent("R01")
    with pytest.raises(ValidationError) as caught:
        make_respondent("r01")
    assert caught.value.message_dict["code"] == [TAKEN]
    original = Respondent.objects.get(code="R01")
    with pytest.raises(IntegrityError), transaction.atomic():
        Respondent.objects.bulk_create([Respondent(**{**_fields(original), "code": "r01"})])
    assert Respondent.objects.count() == 1


def _fields(respondent) -> dict:
    return {
        field.attname: getattr(respondent, field.attname)
        for field in Respondent._meta.concrete_fields
        if not field.primary_key
    }


def test_the_importer_compares_codes_within_the_file_and_with_the_study(
    study, data_manager, make_respondent
):
    two = cohort_file(respondent_code="X01") + cohort_file(respondent_code="x01").split(b"\n", 1)[1]
    report = exchange.import_cohort(study=study, data=two, user=data_manager)
    assert [(e.row, e.column) for e in report.errors] == [(3, "respondent_code")]
    assert "already on row 2 of this file" in report.errors[0].message
    make_respondent("R01")
    report = exchange.import_cohort(
        study=study, data=cohort_file(respondent_code="r01"), user=data_manager
    )
    assert [(e.column, e.message) for e in report.errors] == [("respondent_code", TAKEN)]
    assert Respondent.objects.count() == 1


def test_the_importer_reads_site_names_ignoring_case_and_spaces(study, data_manager):
    report = exchange.import_cohort(
        study=study, data=cohort_file(site="  klinik a "), user=data_manager
    )
    assert report.ok, report.errors
    assert Respondent.objects.get(code="X01").site.name == "Klinik A"


def test_a_mothers_page_answers_to_her_code_in_any_case(client, make_respondent, midwife_a):
    make_respondent("R01")
    client.force_login(midwife_a)
    response = client.get(reverse("studies:respondent_detail", args=["PIJAT", "r01"]))
    assert response.status_code == 200
    assert "R01" in response.content.decode()


def test_site_names_are_unique_ignoring_case(study, capsys):
    services.create_study(code="LAIN", title="Studi lain", site_names=["klinik a", "Klinik C"])
    assert sorted(Site.objects.values_list("name", flat=True)) == [
        "Klinik A",
        "Klinik B",
        "Klinik C",
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        Site.objects.create(name="KLINIK B")
    user, _created = services.assign_role(
        username="bidan_c", role="midwife", site_names=["klinik c"], password="Pw-for-bidan-c-1"
    )
    assert [site.name for site in user.sites.all()] == ["Klinik C"]


@pytest.mark.django_db(transaction=True)
def test_the_migration_names_codes_that_differ_only_in_case():
    executor = MigrationExecutor(connection)
    before = [("studies", "0006_performance_indexes")]
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(before)
        executor.loader.build_graph()
        old_apps = executor.loader.project_state(before).apps
        study = old_apps.get_model("studies", "Study").objects.create(code="OLD", title="Lama")
        site = old_apps.get_model("studies", "Site").objects.create(name="Klinik Lama")
        model = old_apps.get_model("studies", "Respondent")
        for code in ("A01", "a01"):
            model.objects.create(
                study=study,
                site=site,
                code=code,
                delivery_date="2026-06-01",
                enrolled_on="2026-06-03",
                age_years=25,
                parity=1,
                education="basic",
                employment="working",
            )
        executor = MigrationExecutor(connection)
        with pytest.raises(RuntimeError, match="study OLD: A01, a01"):
            executor.migrate(latest)
        model.objects.filter(code="a01").update(code="A02")
    finally:
        call_command("migrate", verbosity=0)
    assert sorted(Respondent.objects.values_list("code", flat=True)) == ["A01", "A02"]
