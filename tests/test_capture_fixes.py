"""What a fresh tester found on the capture pages (2026-12-06), each fixed for its whole kind:

1. a sheet dated on another day than its time point's (a control mother's post-test on day 3,
   LAKTASI L06) was taken in silently: in every arm, at every time point and on every write
   path it is now a protocol deviation, refused without a reason; the demo obeys its protocol;
2. the message after saving a session named the status it had before the save;
3. a withdrawn mother's forms opened as editable and refused only once filled in;
4. the designer named its problems by definition keys counted from 0 (``outcomes[1].max``)
   where the page numbers rows from 1 and labels its fields;
5. a mother of an arm without sessions read "0 of 0 sessions" on the worklist and the list.
"""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import translation

from studies import exchange, rules, services
from studies.definition import paper_definition, parse
from studies.models import MassageSession, Observation, ProtocolDeviation, Respondent

from .conftest import DELIVERY
from .test_designer import NEW, form_data, laktasi
from .test_write_rules import cohort_file

JAKARTA = datetime.timezone(datetime.timedelta(hours=7))
REFUSED = "This moves the mother outside the protocol"
DAY = datetime.timedelta(days=1)
PRE_DAY, POST_DAY = DELIVERY + 2 * DAY, DELIVERY + 5 * DAY  # 3 and 6 June 2026


def sheet_url(respondent, timepoint: str) -> str:
    return reverse(
        "studies:observation_record", args=[respondent.study.code, respondent.code, timepoint]
    )


@pytest.fixture
def mothers(make_laktasi, make_respondent):
    """LAKTASI (pre on day 2, post on day 5): one mother in each arm, enrolled on day 2."""
    study = make_laktasi("chosen")
    return {
        arm: make_respondent(f"L-{arm[:3].upper()}", study=study, arm=arm)
        for arm in ("intervention", "control")
    }


def state(respondent) -> tuple:
    fresh = Respondent.objects.get(pk=respondent.pk)
    return (
        fresh.status,
        fresh.version,
        Observation.objects.filter(respondent=respondent).count(),
        ProtocolDeviation.objects.count(),
    )


# --- 1. a sheet on another day than its time point's ----------------------------------------


def test_the_rule_flags_a_sheet_off_its_day_before_or_after():
    protocol = parse(paper_definition())  # pre-test on day 2 (the baseline), post on day 5

    def due(timepoint, enrolled_on=PRE_DAY):
        return rules.sheet_due_date(
            protocol, timepoint, delivery_date=DELIVERY, enrolled_on=enrolled_on
        )

    assert due("post") == POST_DAY
    assert due("pre") == PRE_DAY
    # A mother enrolled late has her baseline on her enrolment day (her own deviation).
    assert due("pre", enrolled_on=DELIVERY + 3 * DAY) == DELIVERY + 3 * DAY
    found = rules.protocol_deviations(
        enrolment_day=2,
        delivery_date=DELIVERY,
        enrolled_on=PRE_DAY,
        sheets=[("pre", PRE_DAY, PRE_DAY), ("post", DELIVERY + 3 * DAY, POST_DAY)],
    )
    assert found == [
        rules.Deviation("sheet_day", None, "2026-06-06", "2026-06-04", timepoint="post")
    ]
    late = rules.protocol_deviations(
        enrolment_day=2, delivery_date=DELIVERY, enrolled_on=PRE_DAY,
        sheets=[("post", POST_DAY + DAY, POST_DAY)],
    )  # fmt: skip
    assert [(d.kind, d.actual) for d in late] == [("sheet_day", "2026-06-07")]


def test_a_control_mothers_early_post_sheet_is_refused_without_a_reason(mothers, midwife_a):
    """L06 of the demo: a control mother (no sessions) with her post-test on day 3."""
    mother = mothers["control"]
    services.record_observation(
        respondent=mother, timepoint="pre", user=midwife_a, observed_on=PRE_DAY,
        values={"milk_ml": 20, "feeds": 5},
    )  # fmt: skip
    before = state(mother)
    early = {"observed_on": DELIVERY + 3 * DAY, "values": {"milk_ml": 30, "lancar": 1}}
    with pytest.raises(services.DeviationReasonRequired) as caught:
        services.save_observation(respondent=mother, timepoint="post", user=midwife_a, **early)
    [message] = caught.value.message_dict["deviation_reason"]
    assert message.startswith(REFUSED)
    assert (
        "The After sheet is dated June 4, 2026, before its day in the protocol (June 6, 2026)."
        in message
    )
    assert state(mother) == before  # nothing saved, not completed

    services.save_observation(
        respondent=mother, timepoint="post", user=midwife_a,
        deviation_reason="Ibu pulang lebih awal", **early,
    )  # fmt: skip
    deviation = ProtocolDeviation.objects.get()
    assert (
        deviation.kind, deviation.timepoint, deviation.session, deviation.expected,
        deviation.actual, deviation.reason, deviation.recorded_by,
    ) == (
        "sheet_day", "post", None, "2026-06-06", "2026-06-04", "Ibu pulang lebih awal", midwife_a,
    )  # fmt: skip
    assert Respondent.objects.get(pk=mother.pk).status == Respondent.Status.COMPLETED
    with translation.override("id"):
        assert deviation.description == (
            "Lembar Sesudah bertanggal 4 Juni 2026, sebelum harinya menurut protokol "
            "(6 Juni 2026)."
        )


@pytest.mark.parametrize(
    ("arm", "timepoint", "observed_on"),
    [
        ("intervention", "pre", PRE_DAY + DAY),  # a baseline late
        ("control", "pre", PRE_DAY + DAY),
        ("intervention", "post", POST_DAY + DAY),  # a follow-up late
        ("control", "post", POST_DAY - DAY),  # a follow-up early
        ("control", "post", POST_DAY + DAY),
    ],
)
def test_every_arm_and_time_point_is_held_to_its_day(
    mothers, midwife_a, arm, timepoint, observed_on
):
    mother = mothers[arm]
    values = {"feeds": 8}
    with pytest.raises(services.DeviationReasonRequired):
        services.save_observation(
            respondent=mother, timepoint=timepoint, user=midwife_a,
            observed_on=observed_on, values=values,
        )  # fmt: skip
    assert not Observation.objects.filter(respondent=mother).exists()
    on_day = {"pre": PRE_DAY, "post": POST_DAY}[timepoint]
    services.save_observation(
        respondent=mother, timepoint=timepoint, user=midwife_a, observed_on=on_day, values=values
    )
    assert ProtocolDeviation.objects.count() == 0


def test_the_sheet_form_asks_for_the_reason_and_her_page_shows_the_deviation(
    client, mothers, midwife_a
):
    mother = mothers["control"]
    client.force_login(midwife_a)
    data = {"observed_on": "2026-06-04", "value_milk_ml": "30", "value_lancar": "1"}
    response = client.post(sheet_url(mother, "post"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert REFUSED in page and 'name="deviation_reason"' in page
    assert 'value="2026-06-04"' in page  # what she typed is kept
    assert not Observation.objects.filter(respondent=mother).exists()

    response = client.post(
        sheet_url(mother, "post"), {**data, "deviation_reason": "Ibu pulang lebih awal"}
    )
    assert response.status_code == 302
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.kind, deviation.timepoint) == ("sheet_day", "post")
    detail = reverse("studies:respondent_detail", args=["LAKTASI", mother.code])
    page = client.get(detail).content.decode()
    assert "The After sheet is dated June 4, 2026, before its day in the protocol" in page
    assert "Ibu pulang lebih awal" in page
    listing = reverse("studies:respondent_list", args=["LAKTASI"])
    with_deviation = client.get(listing, {"protocol": "deviation"}).content.decode()
    assert f">{mother.code}<" in with_deviation


def test_a_correction_off_the_day_needs_a_reason_and_back_on_it_resolves(
    mothers, midwife_a, data_manager
):
    mother = mothers["intervention"]
    sheet = services.save_observation(
        respondent=mother, timepoint="pre", user=midwife_a, observed_on=PRE_DAY,
        values={"feeds": 5},
    )  # fmt: skip
    with pytest.raises(services.DeviationReasonRequired):
        services.save_observation(
            respondent=mother, timepoint="pre", user=data_manager, reason="Tanggal salah",
            observed_on=PRE_DAY - DAY, values={"feeds": 5},
        )  # fmt: skip
    assert Observation.objects.get(pk=sheet.pk).observed_on == PRE_DAY
    services.save_observation(
        respondent=mother, timepoint="pre", user=data_manager, reason="Tanggal salah",
        observed_on=PRE_DAY - DAY, values={"feeds": 5}, deviation_reason="Diisi sehari awal",
    )  # fmt: skip
    assert ProtocolDeviation.objects.get().resolved_at is None
    services.save_observation(
        respondent=mother, timepoint="pre", user=data_manager, reason="Tanggal benar",
        observed_on=PRE_DAY, values={"feeds": 5},
    )  # fmt: skip
    assert ProtocolDeviation.objects.get().resolved_at is not None


def test_the_import_lists_and_records_a_sheet_off_its_day(study, data_manager):
    data = cohort_file(post_observed_on="2026-06-08")  # day 7; the post-test is on day 5
    preview = exchange.import_cohort(study=study, data=data, user=data_manager, dry_run=True)
    assert preview.ok
    assert [(d.row, d.column, d.message) for d in preview.deviations] == [
        (
            2,
            "post_observed_on",
            "The post-test sheet is dated June 8, 2026, after its day in the protocol "
            "(June 6, 2026).",
        )
    ]
    exchange.import_cohort(study=study, data=data, user=data_manager, filename="lama.csv")
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.kind, deviation.timepoint, deviation.expected, deviation.actual) == (
        "sheet_day", "post", "2026-06-06", "2026-06-08",
    )  # fmt: skip
    assert deviation.reason == "Imported from lama.csv"
    audit = [row for row in exchange.audit_rows(study) if row[2] == "deviation"]
    assert [(row[3], row[4], row[8]) for row in audit] == [
        ("X01 · sheet_day · post", "created", "Imported from lama.csv")
    ]
    # A later write for her is not refused for the deviation the file brought.
    session = MassageSession.objects.filter(respondent=deviation.respondent).first()
    services.change_record(instance=session, user=data_manager, reason="Catatan", notes="x")


def test_the_import_dates_an_undated_sheet_on_its_day(study, data_manager):
    exchange.import_cohort(study=study, data=cohort_file(), user=data_manager, filename="a.csv")
    dates = dict(Observation.objects.values_list("timepoint", "observed_on"))
    assert dates == {"pre": PRE_DAY, "post": POST_DAY}
    assert ProtocolDeviation.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_migration_records_the_sheets_already_off_their_day():
    executor = MigrationExecutor(connection)
    before = [("studies", "0013_session_counts")]
    try:
        executor.migrate(before)
        executor.loader.build_graph()
        old_apps = executor.loader.project_state(before).apps
        study = old_apps.get_model("studies", "Study").objects.create(
            code="OLD", title="Lama", definition=paper_definition()
        )
        site = old_apps.get_model("studies", "Site").objects.create(name="Klinik Lama")
        mother = old_apps.get_model("studies", "Respondent").objects.create(
            study=study, site=site, code="A01", delivery_date=DELIVERY, enrolled_on=PRE_DAY,
            age_years=25, parity=1, education="basic", employment="working",
        )  # fmt: skip
        sheets = old_apps.get_model("studies", "Observation").objects
        sheets.create(respondent=mother, timepoint="pre", observed_on=PRE_DAY, values={})
        sheets.create(respondent=mother, timepoint="post", observed_on=POST_DAY + DAY, values={})
    finally:
        call_command("migrate", verbosity=0)
    deviation = ProtocolDeviation.objects.get()
    assert (deviation.kind, deviation.timepoint, deviation.expected, deviation.actual) == (
        "sheet_day", "post", "2026-06-06", "2026-06-07",
    )  # fmt: skip
    assert "migration 0013" in deviation.reason
    assert deviation.history.get().history_type == "+"


def test_the_demo_obeys_its_own_protocol(db, tmp_path):
    call_command("load_demo", "--credentials-file", str(tmp_path / "c.txt"), stdout=None)
    assert ProtocolDeviation.objects.count() == 0
    for sheet in Observation.objects.select_related("respondent__study"):
        protocol = sheet.respondent.study.protocol
        due = rules.sheet_due_date(
            protocol,
            sheet.timepoint,
            delivery_date=sheet.respondent.delivery_date,
            enrolled_on=sheet.respondent.enrolled_on,
        )
        assert sheet.observed_on == due, (sheet.respondent.code, sheet.timepoint)
    laktasi_post = Observation.objects.filter(respondent__code="L01", timepoint="post").get()
    assert (laktasi_post.observed_on - laktasi_post.respondent.delivery_date).days == 5


# --- 2. the saved status in the message ------------------------------------------------------


def session_post(**changes) -> dict:
    return {
        "status": "done", "started_on": "2026-06-03", "started_time": "08:30",
        "duration_minutes": "15", "notes": "", "version": "1", **changes,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("language", "done", "missed"),
    [("en", "is saved: done.", "is saved: missed."),
     ("id", "tersimpan: dilakukan.", "tersimpan: terlewat.")],
)  # fmt: skip
def test_the_message_after_a_session_names_the_status_saved(
    client, make_respondent, midwife_a, language, done, missed
):
    respondent = make_respondent()
    url = reverse("studies:session_record", args=["PIJAT", respondent.code, 2, "morning"])
    with time_machine.travel(datetime.datetime(2026, 6, 4, 9, 0, tzinfo=JAKARTA), tick=False):
        client.force_login(midwife_a)
        client.cookies["django_language"] = language
        response = client.post(url, session_post(), follow=True)
        page = response.content.decode()
        assert done in page, page
        assert "tersimpan: terjadwal" not in page and "is saved: planned" not in page
        response = client.post(
            url,
            session_post(status="missed", started_on="", started_time="", duration_minutes="",
                         notes="Ibu tidur", version="2", reason="Salah catat"),
            follow=True,
        )  # fmt: skip
        assert missed in response.content.decode()
    session = MassageSession.objects.get(respondent=respondent, postpartum_day=2, slot="morning")
    assert session.status == "missed"


# --- 3. a withdrawn mother's forms -----------------------------------------------------------


@pytest.fixture
def withdrawn(make_respondent, midwife_a):
    respondent = make_respondent("W01")
    services.save_observation(
        respondent=respondent, timepoint="pre", user=midwife_a, observed_on=PRE_DAY,
        values={"feeds": 5, "urinations": 4},
    )  # fmt: skip
    return services.withdraw_respondent(respondent=respondent, user=midwife_a, reason="Pindah")


@pytest.mark.parametrize(
    "path",
    ["sheets/pre/", "sheets/post/", "sessions/2/morning/", "edit/", "withdraw/"],
)
def test_a_withdrawn_mothers_forms_do_not_open(client, withdrawn, data_manager, path):
    client.force_login(data_manager)
    url = f"/studies/PIJAT/respondents/{withdrawn.code}/{path}"
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/studies/PIJAT/respondents/{withdrawn.code}/"
    page = client.get(response["Location"]).content.decode()
    assert "W01 has been withdrawn: nothing more can be recorded or corrected for her." in page
    assert "<form" not in client.get(url).content.decode()
    # Her withdrawal is the one thing still corrected.
    correct = client.get(f"/studies/PIJAT/respondents/{withdrawn.code}/withdrawal/")
    assert correct.status_code == 200 and 'name="reason"' in correct.content.decode()


def test_her_page_offers_no_correction_of_her_details(client, withdrawn, data_manager):
    client.force_login(data_manager)
    page = client.get(f"/studies/PIJAT/respondents/{withdrawn.code}/").content.decode()
    assert f"/respondents/{withdrawn.code}/edit/" not in page
    assert f"/respondents/{withdrawn.code}/withdrawal/" in page


# --- 4. the designer's problems in the page's words ------------------------------------------


@pytest.mark.django_db
def test_a_problem_is_numbered_as_the_row_the_page_shows(client, data_manager):
    """A blank row above is a row the page numbers, though the definition skips it."""
    client.force_login(data_manager)
    parts = laktasi()
    outcomes = [{}, {**parts["outcomes"][0], "max": -1}, *parts["outcomes"][1:]]
    page = client.post(NEW, form_data(**{**parts, "outcomes": outcomes}, preview="1"))
    page = page.content.decode()
    assert "Outcomes, row 2: Maximum</strong>: The maximum must be above the minimum." in page
    assert "Maximum: The maximum must be above the minimum." in page  # beside the row
    assert "outcomes[0].max:" not in page


# --- 5. an arm without sessions --------------------------------------------------------------


def test_a_mother_without_sessions_reads_no_sessions(client_id, mothers, midwife_a):
    client_id.force_login(midwife_a)
    page = client_id.get("/").content.decode().split('id="active"')[1]
    control = page.split(">L-CON<")[1].split("</li>")[0]
    intervention = page.split(">L-INT<")[1].split("</li>")[0]
    assert "tanpa sesi" in control and "0 dari 0" not in control
    assert "0 dari 6 sesi" in intervention
    listing = client_id.get(reverse("studies:respondent_list", args=["LAKTASI"])).content.decode()
    row = listing.split(">L-CON<")[1].split("</tr>")[0]
    assert "tanpa sesi" in row and "0/0" not in row
    assert "0/6" in listing.split(">L-INT<")[1].split("</tr>")[0]
