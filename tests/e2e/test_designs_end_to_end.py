"""Issue 14's "done when", end to end on 360 px phones in Indonesian (real Chromium against the
live server; run it on SQLite and with DATABASE_URL on PostgreSQL):

1. the data manager defines, in the designer, a two-group pre/post study (two arms chosen by the
   midwife; milk volume in ml with one decimal, feeds counted, "ASI lancar" yes/no at the
   post-test only) and a one-group study with three time points (a score);
2. a midwife enrols mothers in both arms, choosing the arm, and fills their sheets: a decimal
   typed "12,5", feeds counted with the tally buttons or typed, the yes/no radio; and the three
   sheets of the three-time-point study;
3. the data manager exports each cohort CSV, creates a new study from ``export_study`` of the
   first and imports the file into it (the two-group study through the import page, the other
   through ``import_cohort``): the new study's cohort export is the same file;
4. the two-group study's ``cohort.sav`` opens in GNU PSPP with the variable and value labels of
   the arm, the yes/no outcome and education (``DISPLAY DICTIONARY``) and the typed values.

Screenshots of the designer, the enrolment form and the sheets go to artifacts/screenshots/ (and
to ``LANCAR_E2E_SHOTS`` when set)."""

from __future__ import annotations

import csv
import datetime
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone, translation

from studies.models import Observation, Respondent, Study

from .test_midwife_flow import no_horizontal_scroll, sign_in

PSPP = shutil.which("pspp") or "/usr/bin/pspp"

ARM_FIELDS = ("key", "label_id", "label_en", "sites")
SESSION_FIELDS = (
    "arm", "label_id", "label_en", "first_day", "days", "per_day", "min_minutes", "max_minutes",
)  # fmt: skip
POINT_FIELDS = ("key", "day", "label_id", "label_en")
OUTCOME_TEXT_FIELDS = (
    "key", "label_id", "label_en", "unit_id", "unit_en", "min", "max", "decimals",
    "adequate_at_least", "categories", "timepoints",
)  # fmt: skip
LISTS = {"arms": ARM_FIELDS, "sessions": SESSION_FIELDS, "timepoints": POINT_FIELDS}
MASSAGE = {"label_id": "Pijat oksitosin", "label_en": "Oxytocin massage"}
SCHEDULE = {"first_day": "2", "days": "3", "per_day": "2", "min_minutes": "15", "max_minutes": "20"}

TWO_GROUPS = {
    "study": {
        "code": "DUA",
        "title": "Pijat oksitosin dan volume ASI",
        "sites": "Klinik Mawar\nBPM Melati",
        "exclusion_criteria": "Bayi prematur",
        "design": "two_group_pre_post",
        "allocation": "chosen",
    },
    "arms": [
        {"key": "intervention", **MASSAGE},
        {"key": "control", "label_id": "Kontrol", "label_en": "Control"},
    ],
    "sessions": [{"arm": "intervention", **MASSAGE, **SCHEDULE}],
    "timepoints": [
        {"key": "pre", "day": "2", "label_id": "Sebelum", "label_en": "Before"},
        {"key": "post", "day": "5", "label_id": "Sesudah", "label_en": "After"},
    ],
    "outcomes": [
        {"key": "milk_ml", "label_id": "Volume ASI", "label_en": "Breast-milk volume",
         "type": "continuous", "unit_id": "ml", "unit_en": "ml", "min": "0", "max": "500",
         "decimals": "1"},
        {"key": "feeds", "label_id": "Frekuensi menyusu", "label_en": "Breastfeeding frequency",
         "type": "count", "unit_id": "kali/24 jam", "unit_en": "times/24 h", "min": "0",
         "max": "40", "adequate_at_least": "8"},
        {"key": "lancar", "label_id": "ASI lancar", "label_en": "Milk flows smoothly",
         "type": "binary", "categories": "0 = Tidak lancar / Not smooth\n1 = Lancar / Smooth",
         "timepoints": "post"},
    ],
}  # fmt: skip

THREE_POINTS = {
    "study": {
        "code": "TIGA",
        "title": "Skor kelancaran ASI tiga kali",
        "sites": "Klinik Mawar",
        "exclusion_criteria": "",
        "design": "one_group_repeated",
        "allocation": "chosen",
    },
    "arms": [],
    "sessions": [{"arm": "all", **MASSAGE, **SCHEDULE}],
    "timepoints": [
        {"key": "h2", "day": "2", "label_id": "Hari ke-2", "label_en": "Day 2"},
        {"key": "h4", "day": "4", "label_id": "Hari ke-4", "label_en": "Day 4"},
        {"key": "h6", "day": "6", "label_id": "Hari ke-6", "label_en": "Day 6"},
    ],
    "outcomes": [
        {"key": "skor", "label_id": "Skor kelancaran ASI", "label_en": "Milk flow score",
         "type": "score", "unit_id": "poin", "unit_en": "points", "min": "0", "max": "20"},
    ],
}  # fmt: skip


def indonesian(text: str) -> str:
    with translation.override("id"):
        return translation.gettext(text)


# --- 1. the designer -------------------------------------------------------------------------


def fill_designer(page, spec: dict) -> None:
    """Type a definition into the designer's form: every row of every list is filled from
    ``spec`` or emptied (an empty row is not part of the study), as a data manager would."""
    for name, value in spec["study"].items():
        selector = f"#id_study-{name}"
        if name in ("design", "allocation"):
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    for prefix, fields in LISTS.items():
        rows = page.locator(f"#list-{prefix} .designer-row").count()
        assert rows >= len(spec[prefix]), (prefix, rows)
        for index in range(rows):
            row = spec[prefix][index] if index < len(spec[prefix]) else {}
            for name in fields:
                page.fill(f"#id_{prefix}-{index}-{name}", row.get(name, ""))
    rows = page.locator("#list-outcomes .designer-row").count()
    assert rows >= len(spec["outcomes"])
    for index in range(rows):
        row = spec["outcomes"][index] if index < len(spec["outcomes"]) else {}
        page.select_option(f"#id_outcomes-{index}-type", row.get("type", "count"))
        for name in OUTCOME_TEXT_FIELDS:
            page.fill(f"#id_outcomes-{index}-{name}", row.get(name, ""))


def define_study(page, base: str, spec: dict, shoot) -> Study:
    page.goto(f"{base}/designer/")
    page.click('a[href="/designer/new/"]')
    page.wait_for_url(f"{base}/designer/new/")
    assert page.locator("h1").inner_text() == indonesian("New study")
    fill_designer(page, spec)
    page.click("#designer-form button[name=preview]")
    preview = page.locator("#preview")
    preview.wait_for()
    assert page.locator("#definition-problems").count() == 0
    code = spec["study"]["code"]
    for point in spec["timepoints"]:
        card = preview.locator(f'[data-timepoint="{point["key"]}"]')
        assert point["label_id"] in card.inner_text()
        for outcome in spec["outcomes"]:
            measured = outcome.get("timepoints", point["key"]) == point["key"]
            assert card.locator(f'[data-outcome="{outcome["key"]}"]').count() == int(measured)
    no_horizontal_scroll(page)
    shoot(page.locator("#list-outcomes .designer-row").first, f"designs-{code.lower()}-1-outcome")
    shoot(preview, f"designs-{code.lower()}-1-preview")
    page.click("#designer-form button[name=save]")
    page.wait_for_url(f"{base}/designer/")
    assert code in page.locator("#main").inner_text()
    return Study.objects.get(code=code)


# --- 2. capture ------------------------------------------------------------------------------


def enrol(page, base: str, study: Study, code: str, mother: dict, today: datetime.date) -> None:
    """Enrol one mother through the form; dates are the protocol's (enrolled on its day)."""
    page.goto(f"{base}/studies/{study.code}/enrol/")
    assert page.locator("h1").inner_text() == indonesian("Enrol a mother")
    delivered = today - datetime.timedelta(days=mother["days_since_delivery"])
    enrolled = delivered + datetime.timedelta(days=study.protocol.enrolment_day)
    page.fill("#id_code", code)
    page.fill("#id_delivery_date", delivered.isoformat())
    page.fill("#id_enrolled_on", enrolled.isoformat())
    page.fill("#id_consent_date", enrolled.isoformat())
    if "arm" in mother:
        page.check(f'input[name="arm"][value="{mother["arm"]}"]')
    page.fill("#id_full_name", mother["name"])
    page.fill("#id_age_years", str(mother["age"]))
    page.fill("#id_parity", str(mother["parity"]))
    page.select_option("#id_education", mother["education"])
    page.select_option("#id_employment", mother["employment"])
    for box in page.locator('#main input[type="checkbox"]').all():
        box.check()
    no_horizontal_scroll(page)
    if mother.get("shot"):
        mother["shot"](page)
    page.click("#main form button[type=submit]")
    page.wait_for_url(re.compile(rf"/respondents/{code}/$"))
    assert code in page.locator(".alert").first.inner_text()


def fill_sheet(page, base, study, code, timepoint, observed_on, values, shot=None) -> None:
    """Open the sheet from the mother's page and fill it: ``values`` maps an outcome key to
    ``("type", text)``, ``("tally", taps)`` or ``("radio", value)``."""
    page.goto(f"{base}/studies/{study.code}/respondents/{code}/")
    page.click(f'a[href="/studies/{study.code}/respondents/{code}/sheets/{timepoint}/"]')
    page.wait_for_url(re.compile(rf"/sheets/{timepoint}/$"))
    label = study.protocol.timepoint(timepoint).label.id
    assert page.locator("h1").inner_text() == f"{indonesian('Observation sheet')}: {label}"
    page.fill("#id_observed_on", observed_on.isoformat())
    for key, (how, value) in values.items():
        field = f"#id_value_{key}"
        if how == "type":
            page.fill(field, value)
        elif how == "tally":
            for _tap in range(value):
                page.click(f"{field} ~ .tally .btn-success")
            assert page.input_value(field) == str(value)
        else:
            radio = page.locator(f'input[name="value_{key}"][value="{value}"]')
            box = radio.bounding_box()
            assert box["width"] >= 24 and box["height"] >= 24, box  # large enough to tap
            radio.check()
    no_horizontal_scroll(page)
    if shot:
        shot(page)
    page.click("#main form button[type=submit]")
    page.wait_for_url(lambda url: "/sheets/" not in url)
    assert page.locator(".is-invalid").count() == 0


# --- 3. exchange -----------------------------------------------------------------------------


def download(page, trigger, folder: Path) -> Path:
    with page.expect_download() as info:
        trigger()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def cohort_csv(page, base: str, study: Study, folder: Path) -> Path:
    page.goto(f"{base}/studies/{study.code}/export/")
    button = page.locator('tr[data-kind="cohort"] button[type=submit]')
    return download(page, button.click, folder)


def copy_of(study: Study, code: str, folder: Path) -> Study:
    """A new study from ``export_study`` of ``study``, under another code and title, through
    ``create_study --definition``."""
    out = io.StringIO()
    call_command("export_study", study.code, stdout=out)
    document = yaml.safe_load(out.getvalue())
    document.update(code=code, title=f"{document['title']} (salinan)")
    path = folder / f"{code}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    call_command("create_study", definition=str(path), stdout=io.StringIO())
    copy = Study.objects.get(code=code)
    assert copy.protocol.to_dict() == study.protocol.to_dict()
    return copy


def rows_of(path: Path) -> list[list[str]]:
    """The rows of an exported CSV (an Indonesian browser gets semicolons, as Excel there
    expects)."""
    text = path.read_text("utf-8-sig")
    delimiter = ";" if ";" in text.splitlines()[0] else ","
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


# --- 4. PSPP ---------------------------------------------------------------------------------


def pspp_tables(sav: Path, commands: str) -> dict[str, list[list[str]]]:
    """Run PSPP on the .sav and return its printed tables by title (the first of each)."""
    folder = sav.parent
    (folder / "check.sps").write_text(f'GET FILE="{sav.name}".\n{commands}\n', "utf-8")
    done = subprocess.run(
        [PSPP, "-O", "format=csv", "-o", "out.csv", "check.sps"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tables: dict[str, list[list[str]]] = {}
    title, rows = None, []
    for row in csv.reader(io.StringIO((folder / "out.csv").read_text("utf-8"))):
        if row and row[0].startswith("Table: "):
            if title and title not in tables:
                tables[title] = rows
            title, rows = row[0].removeprefix("Table: "), []
        elif row and title:
            rows.append(row)
    if title and title not in tables:
        tables[title] = rows
    return tables


def dictionary_from_pspp(sav: Path) -> tuple[dict, dict, dict]:
    """``({name: variable label}, {name: measurement level}, {name: {value: value label}})`` as
    PSPP's ``DISPLAY DICTIONARY`` prints them. The value labels table names a variable by its
    label, which a text column and its numbered copy share: only numeric variables carry value
    labels, so the label is looked up among those."""
    tables = pspp_tables(sav, "DISPLAY DICTIONARY.")
    header, *variables = tables["Variables"]
    column = {name: header.index(name) for name in ("Label", "Measurement Level", "Print Format")}
    labels = {row[0]: row[column["Label"]] for row in variables}
    levels = {row[0]: row[column["Measurement Level"]] for row in variables}
    numeric = {}
    for row in variables:
        if not row[column["Print Format"]].startswith("A"):
            numeric.setdefault(row[column["Label"]] or row[0], row[0])
    value_labels: dict[str, dict[str, str]] = {}
    current = None
    for row in tables["Value Labels"][1:]:
        if row[0]:
            current = numeric[row[0]]
        value_labels.setdefault(current, {})[row[1]] = row[2]
    return labels, levels, value_labels


# --- the whole flow --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_designs_end_to_end_on_a_phone(live_server, phones, shoot_also, make_user, tmp_path):
    if not Path(PSPP).exists():
        if os.environ.get("LANCAR_REQUIRE_PSPP"):
            pytest.fail(f"{PSPP} is missing: apt-get install pspp")
        pytest.skip("GNU PSPP is not installed (apt-get install pspp)")
    base = live_server.url
    today = timezone.localdate()
    make_user("pengelola", "admin")
    manager = phones()
    sign_in(manager, base, "pengelola")
    assert manager.locator("html").get_attribute("lang") == "id"

    # 1. Two studies defined in the designer.
    two = define_study(manager, base, TWO_GROUPS, shoot_also)
    three = define_study(manager, base, THREE_POINTS, shoot_also)
    assert (two.protocol.design.key, list(two.protocol.arm_keys)) == (
        "two_group_pre_post",
        ["intervention", "control"],
    )
    assert two.protocol.schedule("control") is None
    assert [o.key for o in two.protocol.outcomes_at("pre")] == ["milk_ml", "feeds"]
    assert [o.key for o in two.protocol.outcomes_at("post")] == ["milk_ml", "feeds", "lancar"]
    assert list(three.protocol.timepoint_keys) == ["h2", "h4", "h6"]

    # 2. A midwife of Klinik Mawar enrols and fills the sheets.
    make_user("bidan_mawar", "midwife", list(two.sites.filter(name="Klinik Mawar")))
    midwife = phones()
    sign_in(midwife, base, "bidan_mawar")
    mothers = {
        "M-01": {"arm": "intervention", "name": "Siti Aminah", "age": 24, "parity": 1,
                 "education": "secondary", "employment": "not_working", "days_since_delivery": 5,
                 "shot": lambda page: shoot_also(page, "designs-dua-2-enrol")},
        "M-02": {"arm": "control", "name": "Dewi Lestari", "age": 31, "parity": 2,
                 "education": "basic", "employment": "working", "days_since_delivery": 5},
        "M-03": {"arm": "intervention", "name": "Rina Wati", "age": 37, "parity": 3,
                 "education": "higher", "employment": "working", "days_since_delivery": 5},
    }  # fmt: skip
    for code, mother in mothers.items():
        enrol(midwife, base, two, code, mother, today)
    pre_day, post_day = today - datetime.timedelta(days=3), today
    sheets = [
        ("M-01", "pre", {"milk_ml": ("type", "12,5"), "feeds": ("tally", 6)}),
        ("M-02", "pre", {"milk_ml": ("type", "20"), "feeds": ("type", "7")}),
        ("M-03", "pre", {"milk_ml": ("type", "8.4"), "feeds": ("tally", 5)}),
        ("M-01", "post", {"milk_ml": ("type", "40,5"), "feeds": ("type", "11"),
                          "lancar": ("radio", "1")}),
        ("M-02", "post", {"milk_ml": ("type", "22,0"), "feeds": ("tally", 8),
                          "lancar": ("radio", "0")}),
    ]  # fmt: skip
    for code, point, values in sheets:
        shot = None
        if code == "M-01":
            shot = lambda page, point=point: shoot_also(page, f"designs-dua-3-sheet-{point}")  # noqa: E731
        day = pre_day if point == "pre" else post_day
        fill_sheet(midwife, base, two, code, point, day, values, shot)
    saved = {
        (sheet.respondent.code, sheet.timepoint): sheet.values
        for sheet in Observation.objects.filter(respondent__study=two).select_related("respondent")
    }
    assert saved == {
        ("M-01", "pre"): {"milk_ml": 12.5, "feeds": 6},
        ("M-02", "pre"): {"milk_ml": 20.0, "feeds": 7},
        ("M-03", "pre"): {"milk_ml": 8.4, "feeds": 5},
        ("M-01", "post"): {"milk_ml": 40.5, "feeds": 11, "lancar": 1},
        ("M-02", "post"): {"milk_ml": 22.0, "feeds": 8, "lancar": 0},
    }
    arms = dict(Respondent.objects.filter(study=two).values_list("code", "arm"))
    assert arms == {"M-01": "intervention", "M-02": "control", "M-03": "intervention"}
    assert Respondent.objects.get(study=two, code="M-02").sessions.count() == 0
    assert Respondent.objects.get(study=two, code="M-01").sessions.count() == 6

    for code, age in (("T-01", 22), ("T-02", 29)):
        enrol(
            midwife,
            base,
            three,
            code,
            {"name": f"Ibu {code}", "age": age, "parity": 1, "education": "secondary",
             "employment": "not_working", "days_since_delivery": 6},
            today,
        )  # fmt: skip
    scores = {"T-01": ("6", "9", "14"), "T-02": ("4", "7", None)}
    for code, values in scores.items():
        for (point, day), value in zip((("h2", 4), ("h4", 2), ("h6", 0)), values, strict=True):
            if value is None:
                continue
            shot = None
            if code == "T-01" and point == "h4":
                shot = lambda page: shoot_also(page, "designs-tiga-3-sheet-h4")  # noqa: E731
            fill_sheet(
                midwife, base, three, code, point, today - datetime.timedelta(days=day),
                {"skor": ("type", value)}, shot,
            )  # fmt: skip
    assert Observation.objects.filter(respondent__study=three).count() == 5

    # 3. Export, a new study from export_study, import, the same export.
    original = cohort_csv(manager, base, two, tmp_path)
    header, *rows = rows_of(original)
    assert header[:3] == ["respondent_code", "site", "arm"]
    columns = header[header.index("employment") + 1 : header.index("sessions_completed")]
    assert columns == ["pre_milk_ml", "pre_feeds", "post_milk_ml", "post_feeds", "post_lancar"]
    first = dict(zip(header, rows[0], strict=True))
    assert (first["respondent_code"], first["pre_milk_ml"], first["post_lancar"]) == (
        "M-01", "12,5", "1",
    )  # fmt: skip

    copy = copy_of(two, "DUA2", tmp_path)
    manager.goto(f"{base}/studies/{copy.code}/export/")
    manager.click(f'a[href="/studies/{copy.code}/import/"]')
    manager.set_input_files("#id_file", str(original))
    manager.click("#main form button[type=submit]")
    manager.locator("#import-preview").wait_for()
    assert "3" in manager.locator("#import-preview").inner_text()
    manager.click("#main form button[name=confirm]")
    manager.locator("#import-done").wait_for()
    again = cohort_csv(manager, base, copy, tmp_path)
    assert again.read_bytes() == original.read_bytes()

    three_csv = cohort_csv(manager, base, three, tmp_path)
    three_header = rows_of(three_csv)[0]
    assert "arm" not in three_header
    assert [c for c in three_header if c.startswith("h") and c.endswith("_skor")] == [
        "h2_skor", "h4_skor", "h6_skor",
    ]  # fmt: skip
    three_copy = copy_of(three, "TIGA2", tmp_path)
    call_command("import_cohort", three_copy.code, str(three_csv), stdout=io.StringIO())
    three_again = cohort_csv(manager, base, three_copy, tmp_path)
    assert three_again.read_bytes() == three_csv.read_bytes()

    # 4. The .sav in PSPP: labels of the arm, the yes/no outcome and education, and the values.
    manager.goto(f"{base}/studies/{two.code}/export/")
    sav = download(
        manager, manager.locator(f'a[href="/studies/{two.code}/export/cohort.sav"]').click,
        tmp_path,
    )  # fmt: skip
    labels, levels, value_labels = dictionary_from_pspp(sav)
    assert (labels["arm_n"], levels["arm_n"]) == ("kelompok", "Nominal")
    assert value_labels["arm_n"] == {"1": "Pijat oksitosin", "2": "Kontrol"}
    assert (labels["post_lancar"], levels["post_lancar"]) == ("ASI lancar (Sesudah)", "Nominal")
    assert value_labels["post_lancar"] == {"0": "Tidak lancar", "1": "Lancar"}
    assert (labels["education_n"], levels["education_n"]) == ("pendidikan", "Ordinal")
    assert value_labels["education_n"] == {
        str(code): indonesian(label)
        for code, label in enumerate(
            ("Basic (primary or junior high school)", "Secondary (senior high school)",
             "Higher (diploma or university)"), 1)
    }  # fmt: skip
    assert (labels["pre_milk_ml"], levels["pre_milk_ml"]) == ("Volume ASI (Sebelum)", "Scale")
    listing = pspp_tables(sav, "LIST VARIABLES=respondent_code arm_n pre_milk_ml post_lancar.")
    data = {row[0]: row[1:] for row in listing["Data List"][1:]}
    assert data == {
        "M-01": ["1", "12.5", "1"],
        "M-02": ["2", "20.0", "0"],
        "M-03": ["1", "8.4", "."],
    }
