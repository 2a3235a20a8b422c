"""Capture for every study design through real requests: enrolment with the arm (chosen, by
site, by permuted blocks), a control mother without sessions, the sheet generated from the
definition's outcomes (a decimal in ml typed "12,5", a yes/no outcome as radio buttons), the
worklist per arm, and a one-group study with three time points, in English and Indonesian."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.urls import reverse

from studies import selectors, services
from studies.definition import block_arm, paper_definition
from studies.models import MassageSession, Observation, Respondent

JAKARTA = datetime.timezone(datetime.timedelta(hours=7))
NOW = datetime.datetime(2026, 6, 4, 10, 30, tzinfo=JAKARTA)


@pytest.fixture
def on_fixed_day():
    with time_machine.travel(NOW, tick=False):
        yield


def enrol(client, study, site, code, **overrides):
    data = {
        "code": code,
        "site": site.pk,
        "delivery_date": "2026-06-02",
        "enrolled_on": "2026-06-04",
        "age_years": "24",
        "parity": "1",
        "education": "secondary",
        "employment": "not_working",
        "consent_date": "2026-06-04",
        "on_start_day": "on",
        "breastfeeding": "on",
        "consent_obtained": "on",
    }
    data.update(overrides)
    return client.post(reverse("studies:respondent_enrol", args=[study.code]), data)


def sheet_url(respondent, timepoint):
    return reverse(
        "studies:observation_record", args=[respondent.study.code, respondent.code, timepoint]
    )


def errors_of(response, field):
    return [str(error) for error in response.context["form"].errors.get(field, [])]


# --- enrolment with the arm ------------------------------------------------------------------


def test_chosen_allocation_asks_the_arm_and_a_control_mother_gets_no_sessions(
    client, make_laktasi, site_a, midwife_a, on_fixed_day
):
    study = make_laktasi("chosen")
    client.force_login(midwife_a)
    page = client.get(reverse("studies:respondent_enrol", args=[study.code])).content.decode()
    assert 'name="arm"' in page and 'value="intervention"' in page and 'value="control"' in page
    assert "Oxytocin massage" in page and "Control" in page
    assert "massage sessions" not in page  # the plan follows the arm chosen

    refused = enrol(client, study, site_a, "L-01")
    assert refused.status_code == 200
    assert errors_of(refused, "arm") == ["Choose the mother's arm."]
    assert not Respondent.objects.filter(study=study).exists()

    response = enrol(client, study, site_a, "L-01", arm="control")
    assert response.status_code == 302
    mother = Respondent.objects.get(study=study, code="L-01")
    assert mother.arm == "control"
    assert not MassageSession.objects.filter(respondent=mother).exists()
    page = client.get(response["Location"]).content.decode()
    assert "L-01 is enrolled in the arm Control; this arm has no sessions." in page
    assert "Arm: Control" in page
    assert "Her arm has no sessions" in page
    assert 'data-timepoint="pre"' in page and 'data-timepoint="post"' in page
    assert "/sessions/" not in page

    other = enrol(client, study, site_a, "L-02", arm="intervention")
    assert other.status_code == 302
    treated = Respondent.objects.get(study=study, code="L-02")
    assert (treated.arm, treated.sessions.count()) == ("intervention", 6)


def test_by_site_allocation_decides_the_arm_and_reveals_it_after_enrolment(
    client, make_laktasi, site_a, site_b, make_user, on_fixed_day
):
    study = make_laktasi("by_site")
    midwife = make_user("bidan_ab", "midwife", [site_a, site_b])
    client.force_login(midwife)
    page = client.get(reverse("studies:respondent_enrol", args=[study.code])).content.decode()
    assert 'name="arm"' not in page
    assert "Kontrol" not in page and "Control" not in page  # no arm is shown beforehand
    # A chosen arm sent anyway is not how by_site works: the site decides.
    enrol(client, study, site_b, "L-10", arm="intervention")
    enrol(client, study, site_a, "L-11", arm="control")
    arms = dict(Respondent.objects.filter(study=study).values_list("code", "arm"))
    assert arms == {"L-10": "control", "L-11": "intervention"}
    assert Respondent.objects.get(code="L-10").sessions.count() == 0
    assert Respondent.objects.get(code="L-11").sessions.count() == 6


def test_blocks_allocation_balances_each_site_and_never_lists_future_arms(
    client, make_laktasi, site_a, midwife_a, on_fixed_day
):
    study = make_laktasi("blocks")
    client.force_login(midwife_a)
    page = client.get(reverse("studies:respondent_enrol", args=[study.code])).content.decode()
    assert 'name="arm"' not in page
    for label in ("Control", "Oxytocin massage", study.allocation_seed):
        assert label not in page
    messages = []
    for number in range(1, 5):
        response = enrol(client, study, site_a, f"B-{number}", arm="control")
        assert response.status_code == 302
        messages.append(client.get(response["Location"]).content.decode())
    arms = list(
        Respondent.objects.filter(study=study).order_by("code").values_list("arm", flat=True)
    )
    # The arms are the site's permuted blocks drawn from the study's seed (reproducible for the
    # audit), whatever the midwife sent; blocks of 2 and 4 keep the arms within 2 of each other.
    expected = [
        block_arm(study.allocation_seed, site_a.name, position, ("intervention", "control"))
        for position in range(4)
    ]
    assert arms == expected
    sequence = [
        block_arm(study.allocation_seed, site_a.name, position, ("intervention", "control"))
        for position in range(40)
    ]
    for end in range(1, 41):
        drawn = sequence[:end]
        assert abs(drawn.count("control") - drawn.count("intervention")) <= 2
    for arm, page in zip(arms, messages, strict=True):
        label = {"control": "Control", "intervention": "Oxytocin massage"}[arm]
        assert f"enrolled in the arm {label}" in page
    # The list shows each mother's arm once she is enrolled; no page lists a future one.
    listing = client.get(reverse("studies:respondent_list", args=[study.code])).content.decode()
    assert ">Arm<" in listing
    assert listing.count("<td>Control</td>") == arms.count("control")


def test_enrolment_in_indonesian_names_the_arm(
    client_id, make_laktasi, site_a, midwife_a, on_fixed_day
):
    study = make_laktasi("chosen")
    client_id.force_login(midwife_a)
    page = client_id.get(reverse("studies:respondent_enrol", args=[study.code])).content.decode()
    assert "Pijat oksitosin" in page and "Kontrol" in page
    response = enrol(client_id, study, site_a, "L-05", arm="control")
    page = client_id.get(response["Location"]).content.decode()
    assert "L-05 terdaftar di kelompok Kontrol; kelompok ini tanpa sesi." in page


# --- the generated sheet ---------------------------------------------------------------------


@pytest.fixture
def laktasi_mothers(make_laktasi, make_respondent):
    study = make_laktasi("chosen")
    return {
        arm: make_respondent(f"L-{arm[:3].upper()}", study=study, arm=arm)
        for arm in ("intervention", "control")
    }


def test_sheet_fields_follow_the_outcomes_of_the_time_point(
    client, laktasi_mothers, midwife_a, on_fixed_day
):
    mother = laktasi_mothers["control"]
    client.force_login(midwife_a)
    pre = client.get(sheet_url(mother, "pre")).content.decode()
    assert 'name="value_milk_ml"' in pre and 'inputmode="decimal"' in pre
    assert "Breast-milk volume (ml)" in pre and "From 0–500 ml." in pre
    assert 'name="value_feeds"' in pre and 'data-tally="1"' in pre
    assert 'name="value_lancar"' not in pre  # measured at post only
    with time_machine.travel(datetime.datetime(2026, 6, 6, 9, 0, tzinfo=JAKARTA), tick=False):
        client.force_login(midwife_a)  # a sign-in does not last two days
        post = client.get(sheet_url(mother, "post")).content.decode()
    radios = re.findall(r'<input type="radio"[^>]*name="value_lancar"[^>]*>', post)
    assert [re.search(r'value="(\d*)"', radio).group(1) for radio in radios] == ["0", "1", ""]
    assert "Smooth" in post and "Not smooth" in post
    assert client.get(sheet_url(mother, "later")).status_code == 404


def test_sheet_accepts_a_decimal_comma_and_a_yes_no_value(client, laktasi_mothers, midwife_a):
    mother = laktasi_mothers["control"]
    with time_machine.travel(NOW, tick=False):
        client.force_login(midwife_a)
        response = client.post(
            sheet_url(mother, "pre"),
            {"observed_on": "2026-06-03", "value_milk_ml": "12,5", "value_feeds": "6"},
        )
    assert response.status_code == 302
    sheet = Observation.objects.get(respondent=mother, timepoint="pre")
    assert sheet.values == {"milk_ml": 12.5, "feeds": 6}
    with time_machine.travel(datetime.datetime(2026, 6, 7, 9, 0, tzinfo=JAKARTA), tick=False):
        client.force_login(midwife_a)
        response = client.post(
            sheet_url(mother, "post"),
            {"observed_on": "2026-06-06", "value_milk_ml": "40.25", "value_lancar": "1"},
        )
        assert errors_of(response, "value_milk_ml") == ["Use at most 1 decimal places."]
        response = client.post(
            sheet_url(mother, "post"),
            {"observed_on": "2026-06-06", "value_milk_ml": "40,2", "value_lancar": "1"},
        )
        assert response.status_code == 302
        page = client.get(response["Location"]).content.decode()
    sheet = Observation.objects.get(respondent=mother, timepoint="post")
    assert sheet.values == {"milk_ml": 40.2, "lancar": 1}
    assert "Breast-milk volume: 40.2 ml" in page and "Milk flows smoothly: Smooth" in page
    mother.refresh_from_db()
    assert mother.status == Respondent.Status.COMPLETED


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"value_milk_ml": "500,1"}, "value_milk_ml", "Enter a value between 0 and 500 ml."),
        ({"value_milk_ml": "-1"}, "value_milk_ml", "Enter a value between 0 and 500 ml."),
        ({"value_milk_ml": "banyak"}, "value_milk_ml", "Enter a number."),
        ({"value_lancar": "2"}, "value_lancar", "Select a valid choice."),
        ({"value_milk_ml": "", "value_feeds": ""}, "value_milk_ml", "Enter at least one value"),
    ],
)
def test_sheet_refuses_bad_values_beside_the_field(
    client, laktasi_mothers, midwife_a, data, field, message
):
    mother = laktasi_mothers["intervention"]
    with time_machine.travel(datetime.datetime(2026, 6, 7, 9, 0, tzinfo=JAKARTA), tick=False):
        client.force_login(midwife_a)
        for session in mother.sessions.all():
            services.record_session(
                session=session,
                user=midwife_a,
                status=MassageSession.Status.DONE,
                started_at=datetime.datetime.combine(
                    session.planned_date, datetime.time(9, 0), tzinfo=JAKARTA
                ),
                duration_minutes=16,
            )
        post = {"observed_on": "2026-06-07", "value_feeds": "9", **data}
        response = client.post(sheet_url(mother, "post"), post)
    assert response.status_code == 200
    assert any(message in error for error in errors_of(response, field))
    assert f'value="{data.get(field, "")}"' in response.content.decode() or field == "value_lancar"
    assert not Observation.objects.filter(respondent=mother, timepoint="post").exists()


def test_sheet_in_indonesian_reads_the_comma_and_speaks_indonesian(
    client_id, laktasi_mothers, midwife_a, on_fixed_day
):
    mother = laktasi_mothers["control"]
    client_id.force_login(midwife_a)
    page = client_id.get(sheet_url(mother, "pre")).content.decode()
    assert "Volume ASI (ml)" in page and "Dari 0–500 ml." in page
    response = client_id.post(
        sheet_url(mother, "pre"), {"observed_on": "2026-06-03", "value_milk_ml": "600"}
    )
    assert errors_of(response, "value_milk_ml") == ["Masukkan nilai antara 0 dan 500 ml."]
    response = client_id.post(
        sheet_url(mother, "pre"), {"observed_on": "2026-06-03", "value_milk_ml": "12,5"}
    )
    assert response.status_code == 302
    page = client_id.get(response["Location"]).content.decode()
    assert "Volume ASI: 12,5 ml" in page


def test_a_corrected_value_reads_per_outcome_in_the_history(
    client, laktasi_mothers, midwife_a, on_fixed_day
):
    mother = laktasi_mothers["control"]
    sheet = services.record_observation(
        respondent=mother, timepoint="pre", user=midwife_a,
        observed_on=datetime.date(2026, 6, 3), values={"milk_ml": "12,5", "feeds": 5},
    )  # fmt: skip
    client.force_login(midwife_a)
    response = client.post(
        sheet_url(mother, "pre"),
        {
            "observed_on": "2026-06-03",
            "value_milk_ml": "13",
            "value_feeds": "5",
            "version": str(sheet.version),
            "reason": "misread the cup",
        },
    )
    assert response.status_code == 302
    history = selectors.respondent_history(mother, include_identity=False)
    lines = {(change.field, change.old, change.new) for change in history if change.field}
    assert ("Breast-milk volume", "12.5", "13") in lines
    assert not any(field == "values" for field, _old, _new in lines)


# --- the worklist per arm and per time point -------------------------------------------------


def test_worklist_gives_a_control_mother_sheets_but_no_sessions(client, laktasi_mothers, midwife_a):
    with time_machine.travel(datetime.datetime(2026, 6, 3, 8, 0, tzinfo=JAKARTA), tick=False):
        client.force_login(midwife_a)
        page = client.get(reverse("studies:home")).content.decode()
    due = page[page.index('id="due-heading"') : page.index('id="sheets-heading"')]
    sheets = page[page.index('id="sheets-heading"') : page.index('id="overdue-heading"')]
    assert "L-INT" in due and "L-CON" not in due
    assert "L-INT" in sheets and "L-CON" in sheets and "Before" in sheets


@pytest.fixture
def three_points(study, make_respondent):
    definition = paper_definition()
    definition["timepoints"] = [
        {"key": "pre", "day": 2, "label": {"id": "Hari 2", "en": "Day 2"}},
        {"key": "mid", "day": 5, "label": {"id": "Hari 5", "en": "Day 5"}},
        {"key": "end", "day": 9, "label": {"id": "Hari 9", "en": "Day 9"}},
    ]
    definition["design"] = "one_group_repeated"
    repeated = services.create_study(
        code="ULANG", title="Three sheets", site_names=["Klinik A"], definition=definition
    )
    return make_respondent("U-1", study=repeated)


@pytest.mark.parametrize(
    ("day", "due"),
    [
        (datetime.date(2026, 6, 3), [("pre", datetime.date(2026, 6, 3))]),
        (datetime.date(2026, 6, 5), [("pre", datetime.date(2026, 6, 3))]),
        (
            datetime.date(2026, 6, 6),
            [("pre", datetime.date(2026, 6, 3)), ("mid", datetime.date(2026, 6, 6))],
        ),
        (
            datetime.date(2026, 6, 10),
            [
                ("pre", datetime.date(2026, 6, 3)),
                ("mid", datetime.date(2026, 6, 6)),
                ("end", datetime.date(2026, 6, 10)),
            ],
        ),
    ],
)
def test_three_time_points_are_each_due_on_their_day(three_points, day, due):
    respondents = Respondent.objects.filter(pk=three_points.pk)
    found = [(sheet.timepoint, sheet.due_on) for sheet in selectors.sheets_due(respondents, day)]
    assert found == due


def test_three_time_points_on_the_worklist_and_her_page(client, client_id, three_points, midwife_a):
    mother = three_points
    with time_machine.travel(datetime.datetime(2026, 6, 10, 9, 0, tzinfo=JAKARTA), tick=False):
        services.record_observation(
            respondent=mother, timepoint="pre", user=midwife_a,
            observed_on=datetime.date(2026, 6, 3), values={"feeds": 5, "urinations": 4},
        )  # fmt: skip
        client.force_login(midwife_a)
        page = client.get(reverse("studies:home")).content.decode()
        overdue = page[page.index('id="overdue-heading"') :]
        assert "Day 5" in overdue and "Day 2" not in overdue
        today = page[page.index('id="sheets-heading"') : page.index('id="overdue-heading"')]
        assert "Day 9" in today
        detail = client.get(
            reverse("studies:respondent_detail", args=["ULANG", mother.code])
        ).content.decode()
        client_id.force_login(midwife_a)
        detail_id = client_id.get(
            reverse("studies:respondent_detail", args=["ULANG", mother.code])
        ).content.decode()
    order = [detail.index(f'data-timepoint="{key}"') for key in ("pre", "mid", "end")]
    assert order == sorted(order)
    # The baseline comes before the first session, the day-5 sheet after the day-4 sessions.
    assert order[0] < detail.index("Day 2, Morning") < detail.index("Day 4, Afternoon") < order[1]
    assert "Feeds: 5 times/24 h" in detail
    assert "Frekuensi menyusu: 5 kali/24 jam" in detail_id
    assert "Lembar Hari 9" in detail_id
