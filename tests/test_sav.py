"""The cohort as an SPSS data file (issue 14 item 5): ``export/cohort.sav`` holds the cohort
export's rows with the variable labels, value labels and measurement levels that ``cohort.sps``
declares (one description: ``exchange.spss.variables``), dates as SPSS dates and empty cells as
system-missing. Read back with pyreadstat and opened with GNU PSPP, whose descriptives must
match the results page. CI installs PSPP and sets LANCAR_REQUIRE_PSPP (else a skip)."""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pyreadstat
import pytest
from django.urls import reverse
from django.utils import timezone, translation

from studies import services
from studies.exchange import restore
from studies.models import AuditEvent, Respondent
from studies.paper_cohort import PAPER_COHORT

PSPP = shutil.which("pspp") or "/usr/bin/pspp"


def record_sheet(respondent, phase, user, feeds, urinations, day):
    services.record_observation(
        respondent=respondent,
        timepoint=phase,
        user=user,
        observed_on=respondent.delivery_date + datetime.timedelta(days=day),
        values={"feeds": feeds, "urinations": urinations},
    )


@pytest.fixture
def cohort(study, site_b, make_user, make_respondent, midwife_a):
    """Ten of the paper's mothers (the even rows at Klinik B), one without her post-test
    urinations, one without a post-test sheet, one withdrawn with a reason: every kind of
    missing value, both sites, every status but completed."""
    midwife_b = make_user("bidan_b", "midwife", [site_b])
    for index, row in enumerate(PAPER_COHORT[:10]):
        site, user = (None, midwife_a) if index % 2 == 0 else (site_b, midwife_b)
        mother = make_respondent(
            row["respondent_code"],
            site=site,
            user=user,
            age_years=row["age_years"],
            parity=row["parity"],
            education=row["education"],
            employment=row["employment"],
            identity={"full_name": f"Ibu {index}", "phone": f"0812{index:04d}"},
        )
        record_sheet(
            mother, "pre", user, row["pre_feeds"], row["pre_urinations"], 2
        )
        record_sheet(
            mother, "post", user, row["post_feeds"], row["post_urinations"], 5
        )
    m01 = make_respondent("M01", age_years=19, education="higher")
    record_sheet(m01, "pre", midwife_a, 5, 4, 2)
    record_sheet(m01, "post", midwife_a, 9, None, 5)
    m02 = make_respondent("M02", age_years=38, parity=3, employment="not_working")
    record_sheet(m02, "pre", midwife_a, 7, 6, 2)
    gone = make_respondent("W01")
    record_sheet(gone, "pre", midwife_a, 4, 4, 2)
    services.withdraw_respondent(
        respondent=gone, user=midwife_a, reason="Pindah ke Batam", on=datetime.date(2026, 6, 4)
    )
    return study


def read_sav(response, folder: Path, name: str = "cohort.sav"):
    assert response.status_code == 200, response
    assert response["Content-Type"] == "application/x-spss-sav"
    path = folder / name
    path.write_bytes(b"".join(response.streaming_content))
    frame, meta = pyreadstat.read_sav(str(path))
    return path, frame, meta


def cohort_csv(client, study) -> list[dict[str, str]]:
    response = client.get(
        reverse("studies:export_csv", args=[study.code, "cohort"]), {"delimiter": "comma"}
    )
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


CODED = {
    "site_n": "site",
    "education_n": "education",
    "employment_n": "employment",
    "status_n": "status",
    "age_group_n": "age_group",
    "parity_group_n": "parity_group",
}
DATES = {
    "delivery_date",
    "enrolled_on",
    "withdrawn_on",
    "consent_date",
    "pre_observed_on",
    "post_observed_on",
}


def test_the_sav_reads_back_row_by_row_as_the_cohort_csv(client, cohort, data_manager, tmp_path):
    client.force_login(data_manager)
    response = client.get(reverse("studies:export_sav", args=[cohort.code]))
    day = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="PIJAT-cohort-{day}.sav"'
    assert "no-store" in response["Cache-Control"]
    _path, frame, meta = read_sav(response, tmp_path)
    rows = cohort_csv(client, cohort)
    header = list(rows[0])
    assert header[:3] == ["respondent_code", "site", "delivery_date"]
    assert "full_name" not in header
    assert meta.column_names == header + list(CODED)
    assert len(frame) == len(rows) == 13
    for index, row in enumerate(rows):
        for name in header:
            cell, value = row[name], frame.at[index, name]
            where = (row["respondent_code"], name)
            if name in DATES:
                expected = datetime.date.fromisoformat(cell) if cell else None
                assert (None if value is None or value != value else value) == expected, where
            elif meta.readstat_variable_types[name] == "double":
                if cell == "":
                    assert math.isnan(value), where  # system-missing
                else:
                    assert value == float(cell), where
            else:
                assert value == restore(cell), where
        # Each coded copy's value label is the text column's own label.
        for numeric, text in CODED.items():
            code = frame.at[index, numeric]
            labels = meta.variable_value_labels[numeric]
            assert (
                labels[code]
                == {
                    "site": row["site"],
                    "education": str(Respondent.Education(row["education"]).label),
                    "employment": str(Respondent.Employment(row["employment"]).label),
                    "status": str(Respondent.Status(row["status"]).label),
                    "age_group": {
                        "lt20": "< 20 years",
                        "20to35": "20–35 years",
                        "gt35": "> 35 years",
                    }.get(row["age_group"]),
                    "parity_group": {
                        "primipara": "Primipara (first child)",
                        "multipara": "Multipara",
                    }.get(row["parity_group"]),
                }[text]
            ), (row["respondent_code"], numeric)
    # The missing values the fixture made: system-missing, not zero.
    by_code = {row["respondent_code"]: i for i, row in enumerate(rows)}
    assert math.isnan(frame.at[by_code["M01"], "post_urinations"])
    assert math.isnan(frame.at[by_code["M02"], "post_feeds"])
    assert (
        frame.at[by_code["M02"], "post_observed_on"] != frame.at[by_code["M02"], "post_observed_on"]
    )
    assert frame.at[by_code["W01"], "withdrawal_reason"] == "Pindah ke Batam"
    assert frame.at[by_code["W01"], "withdrawn_on"] == datetime.date(2026, 6, 4)


def test_labels_levels_and_formats(client, cohort, data_manager, tmp_path):
    client.force_login(data_manager)
    _path, _frame, meta = read_sav(
        client.get(reverse("studies:export_sav", args=[cohort.code])), tmp_path
    )
    # Variable labels: the data dictionary's (the dictionary export's label_en column).
    dictionary = client.get(reverse("studies:export_csv", args=[cohort.code, "dictionary"]))
    text = b"".join(dictionary.streaming_content).decode("utf-8-sig")
    labels = {row["column"]: row["label_en"] for row in csv.DictReader(io.StringIO(text))}
    for name in meta.column_names:
        assert meta.column_names_to_labels[name] == labels[CODED.get(name, name)], name
    assert meta.column_names_to_labels["delivery_date"] == "delivery date"
    assert meta.variable_value_labels["education_n"] == {
        1.0: "Basic (primary or junior high school)",
        2.0: "Secondary (senior high school)",
        3.0: "Higher (diploma or university)",
    }
    assert meta.variable_value_labels["employment_n"] == {1.0: "Working", 2.0: "Not working"}
    assert meta.variable_value_labels["status_n"] == {
        1.0: "Enrolled",
        2.0: "Completed",
        3.0: "Withdrawn",
    }
    assert meta.variable_value_labels["site_n"] == {1.0: "Klinik A", 2.0: "Klinik B"}
    assert meta.variable_value_labels["eligibility_confirmed"] == {0.0: "No", 1.0: "Yes"}
    assert meta.variable_value_labels["age_group_n"] == {
        1.0: "< 20 years",
        2.0: "20–35 years",
        3.0: "> 35 years",
    }
    levels = meta.variable_measure
    assert {levels[n] for n in ("age_years", "parity", "pre_feeds", "post_urinations")} == {"scale"}
    assert {levels[n] for n in ("delivery_date", "consent_date")} == {"scale"}
    assert {levels[n] for n in ("education_n", "age_group_n")} == {"ordinal"}
    assert {levels[n] for n in ("site", "status", "site_n", "status_n", "employment_n")} == {
        "nominal"
    }
    formats = meta.original_variable_types
    assert formats["delivery_date"] == "SDATE10"
    assert formats["age_years"] == "F3.0"
    assert formats["pre_feeds"] == "F2.0"
    assert formats["education_n"] == "F1.0"
    assert formats["respondent_code"].startswith("A")


def test_indonesian_labels_for_an_indonesian_user(client_id, cohort, data_manager, tmp_path):
    client_id.force_login(data_manager)
    _path, _frame, meta = read_sav(
        client_id.get(reverse("studies:export_sav", args=[cohort.code])), tmp_path
    )
    with translation.override("id"):
        expected = {value: str(label) for value, label in Respondent.Status.choices}
        delivery = str(Respondent._meta.get_field("delivery_date").verbose_name)
    assert meta.variable_value_labels["status_n"] == {
        1.0: expected["enrolled"],
        2.0: expected["completed"],
        3.0: expected["withdrawn"],
    }
    assert expected["enrolled"] != "Enrolled"
    assert meta.column_names_to_labels["delivery_date"] == delivery != "delivery date"


def test_the_sav_and_the_sps_carry_the_same_labels(client, cohort, data_manager, tmp_path):
    """One description: every variable label and value label that cohort.sps declares is the
    .sav's, and the other way round."""
    client.force_login(data_manager)
    _path, _frame, meta = read_sav(
        client.get(reverse("studies:export_sav", args=[cohort.code])), tmp_path
    )
    syntax = client.get(reverse("studies:export_spss", args=[cohort.code])).content.decode()
    declared = dict(
        re.findall(r"^\s*(?:/|VARIABLE LABELS )?(\w+) '((?:[^']|'')*)'\.?$", syntax, re.M)
    )
    assert {name: label.replace("''", "'") for name, label in declared.items()} == (
        meta.column_names_to_labels
    )
    value_labels = {}
    for name, pairs in re.findall(r"^VALUE LABELS (\w+) (.*)\.$", syntax, re.M):
        value_labels[name] = {
            float(code): label.replace("''", "'")
            for code, label in re.findall(r"(\d+) '((?:[^']|'')*)'", pairs)
        }
    assert value_labels == meta.variable_value_labels
    levels = {}
    for names, level in re.findall(r"^VARIABLE LEVEL ([\w ]+) \((\w+)\)\.$", syntax, re.M):
        levels.update(dict.fromkeys(names.split(), level.lower()))
    assert levels == meta.variable_measure


def test_identities_only_on_a_confirmed_post_written_to_the_audit(
    client, cohort, data_manager, tmp_path
):
    client.force_login(data_manager)
    url = reverse("studies:export_sav", args=[cohort.code])
    path, _frame, meta = read_sav(client.get(url), tmp_path)
    assert "full_name" not in meta.column_names
    assert b"Ibu 0" not in path.read_bytes()
    assert not AuditEvent.objects.exists()

    refused = client.post(url, {"delimiter": "comma", "bom": "1"})
    assert refused.status_code == 302
    assert refused["Location"] == reverse("studies:export_index", args=[cohort.code])
    assert not AuditEvent.objects.exists()

    confirmed = client.post(url, {"confirm": "on", "delimiter": "comma", "bom": "1"})
    day = timezone.localdate().isoformat()
    assert confirmed["Content-Disposition"] == (
        f'attachment; filename="PIJAT-cohort-identified-{day}.sav"'
    )
    _path, frame, meta = read_sav(confirmed, tmp_path, "identified.sav")
    assert meta.column_names[-9:-6] == ["full_name", "phone", "medical_record_number"]
    first = frame[frame.respondent_code == PAPER_COHORT[0]["respondent_code"]].iloc[0]
    assert (first.full_name, first.phone) == ("Ibu 0", "08120000")
    assert meta.column_names_to_labels["phone"] == "phone"
    event = AuditEvent.objects.get()
    assert (event.user, event.action) == (data_manager, AuditEvent.Action.IDENTIFIED_EXPORT)


def test_an_empty_study_gives_a_sav_with_every_variable_and_no_case(
    client, study, data_manager, tmp_path
):
    client.force_login(data_manager)
    _path, frame, meta = read_sav(
        client.get(reverse("studies:export_sav", args=[study.code])), tmp_path
    )
    assert len(frame) == 0
    assert meta.column_names[0] == "respondent_code"
    assert meta.variable_value_labels["site_n"] == {1.0: "Klinik A", 2.0: "Klinik B"}
    assert meta.original_variable_types["withdrawn_on"] == "SDATE10"


def test_a_date_no_mother_has_yet_is_still_a_date(
    client, study, make_respondent, data_manager, tmp_path
):
    """No mother withdrawn, no sheet saved: those date columns are empty in every row and
    stay SPSS dates (system-missing), not text."""
    make_respondent("R01")
    make_respondent("R02", parity=2)
    client.force_login(data_manager)
    _path, frame, meta = read_sav(
        client.get(reverse("studies:export_sav", args=[study.code])), tmp_path
    )
    for name in ("withdrawn_on", "pre_observed_on", "post_observed_on"):
        assert meta.original_variable_types[name] == "SDATE10", name
        assert meta.readstat_variable_types[name] == "double", name
        assert frame[name].isna().all(), name
    assert list(frame.delivery_date) == [datetime.date(2026, 6, 1)] * 2
    assert list(frame.parity) == [1.0, 2.0]


@pytest.mark.parametrize("user_fixture", ["midwife_a", "researcher", None])
def test_only_the_data_manager_downloads_it(client, request, study, user_fixture):
    if user_fixture:
        client.force_login(request.getfixturevalue(user_fixture))
    url = reverse("studies:export_sav", args=[study.code])
    response = client.get(url)
    if user_fixture:
        assert response.status_code == 403
    else:
        assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize(
    ("client_fixture", "word"), [("client", "as an SPSS file (.sav)"),
                                 ("client_id", "sebagai berkas SPSS (.sav)")],
)  # fmt: skip
def test_the_export_page_offers_it(request, study, data_manager, client_fixture, word):
    client = request.getfixturevalue(client_fixture)
    client.force_login(data_manager)
    html = client.get(reverse("studies:export_index", args=[study.code])).content.decode()
    url = reverse("studies:export_sav", args=[study.code])
    assert re.search(rf'<a href="{url}" class="btn[^"]*" download>SPSS \(\.sav\)</a>', html)
    # The identified cohort's form posts to it too, with the confirmation.
    assert f'formaction="{url}" class="btn btn-outline-dark">{word}</button>' in html


# --- GNU PSPP, an independent reader ---------------------------------------------------------


@pytest.fixture
def pspp():
    if not Path(PSPP).exists():
        if os.environ.get("LANCAR_REQUIRE_PSPP"):
            pytest.fail(f"{PSPP} is missing: apt-get install pspp")
        pytest.skip("GNU PSPP is not installed (apt-get install pspp)")
    return PSPP


def pspp_tables(rows: list[list[str]], title: str) -> list[list[list[str]]]:
    """Every table of PSPP's CSV output whose title line is ``Table: <title>``."""
    found, current = [], None
    for row in rows:
        if row and row[0].startswith("Table: "):
            current = [] if row[0] == f"Table: {title}" else None
            if current is not None:
                found.append(current)
        elif not row:
            current = None
        elif current is not None:
            current.append(row)
    return found


def test_pspp_opens_the_sav_with_its_labels_and_the_pages_descriptives(
    pspp, client, cohort, data_manager, tmp_path
):
    client.force_login(data_manager)
    read_sav(client.get(reverse("studies:export_sav", args=[cohort.code])), tmp_path)
    document = json.loads(client.get(reverse("studies:results_json", args=[cohort.code])).content)
    syntax = [
        "GET FILE='cohort.sav'.",
        "DISPLAY DICTIONARY.",
        "LIST respondent_code delivery_date post_observed_on status_n.",
        "SELECT IF (status_n <> 3).",
    ]
    for name in ("feeds", "urinations"):
        syntax += [
            "TEMPORARY.",
            f"SELECT IF (NOT MISSING(pre_{name}) AND NOT MISSING(post_{name})).",
            f"DESCRIPTIVES VARIABLES=pre_{name} post_{name} /STATISTICS=MEAN STDDEV MIN MAX.",
        ]
    syntax.append("FREQUENCIES VARIABLES=education_n site_n.")
    (tmp_path / "read.sps").write_text("\n".join(syntax) + "\n")
    done = subprocess.run(
        [pspp, "-O", "format=csv", "-o", "out.csv", "read.sps"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    output = list(csv.reader((tmp_path / "out.csv").read_text().splitlines()))

    variables = pspp_tables(output, "Variables")[0]
    columns = variables[0]
    listed = {row[0]: dict(zip(columns, row, strict=True)) for row in variables[1:]}
    assert listed["delivery_date"]["Label"] == "delivery date"
    assert listed["delivery_date"]["Print Format"] == "SDATE10"
    assert listed["education_n"]["Measurement Level"] == "Ordinal"
    assert listed["site_n"]["Measurement Level"] == "Nominal"
    assert listed["age_years"]["Measurement Level"] == "Scale"
    # Value Labels: (the variable's label on its first row, the value, the value's label).
    value_labels: dict[str, dict[str, str]] = {}
    owner = ""
    for variable, value, label in pspp_tables(output, "Value Labels")[0][1:]:
        owner = variable or owner
        value_labels.setdefault(owner, {})[value] = label
    assert value_labels == {
        "eligibility confirmed": {"0": "No", "1": "Yes"},
        "site": {"1": "Klinik A", "2": "Klinik B"},
        "education": {
            "1": "Basic (primary or junior high school)",
            "2": "Secondary (senior high school)",
            "3": "Higher (diploma or university)",
        },
        "employment": {"1": "Working", "2": "Not working"},
        "status": {"1": "Enrolled", "2": "Completed", "3": "Withdrawn"},
        "age group": {"1": "< 20 years", "2": "20–35 years", "3": "> 35 years"},
        "parity group": {"1": "Primipara (first child)", "2": "Multipara"},
    }
    # Dates as SPSS dates, an empty one system-missing; every case as the cohort CSV has it.
    listed_cases = pspp_tables(output, "Data List")[0]
    assert listed_cases[0] == ["respondent_code", "delivery_date", "post_observed_on", "status_n"]
    expected_cases = [
        [
            row["respondent_code"],
            row["delivery_date"].replace("-", "/"),
            row["post_observed_on"].replace("-", "/") or ".",
            {"enrolled": "1", "completed": "2", "withdrawn": "3"}[row["status"]],
        ]
        for row in cohort_csv(client, cohort)
    ]
    assert [[cell.strip() for cell in case] for case in listed_cases[1:]] == expected_cases

    descriptives = pspp_tables(output, "Descriptive Statistics")
    assert len(descriptives) == 2
    for table, name in zip(descriptives, ("feeds", "urinations"), strict=True):
        outcome = document["outcomes"][name]
        for row, phase in zip(table[1:3], ("pre", "post"), strict=True):
            expected = outcome[phase]
            assert row[0] == listed[f"{phase}_{name}"]["Label"]
            assert int(row[1]) == expected["n"]
            assert float(row[2]) == pytest.approx(expected["mean"], abs=0.005)
            assert float(row[3]) == pytest.approx(expected["sd"], abs=0.005)
            assert (float(row[4]), float(row[5])) == (expected["min"], expected["max"])
    # N of the page: 11 feeds pairs, 10 urinations pairs (the withdrawn mother out).
    assert [document["outcomes"][n]["pre"]["n"] for n in ("feeds", "urinations")] == [11, 10]
    # FREQUENCIES titles a table by the variable's label and prints the value labels: the
    # education rows of the page's Table 1, label for label and count for count.
    frequencies = pspp_tables(output, "education")[0]
    assert [(row[1], int(row[2])) for row in frequencies[1:4]] == [
        (category["label"], category["n"]) for category in document["characteristics"]["education"]
    ]
    by_site = pspp_tables(output, "site")[0]
    assert [(row[1], int(row[2])) for row in by_site[1:3]] == [("Klinik A", 7), ("Klinik B", 5)]
