"""The import page's template and data dictionary: an empty cohort file with the columns the
importer reads for the study (the cohort export's header, names and phone numbers included),
in the separator and encoding chosen as for an export, and the data dictionary beside it."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from studies import exchange
from studies.exchange.columns import known_columns
from studies.models import ImportJob, Respondent
from studies.paper_cohort import PAPER_COHORT

TODAY = r"\d{4}-\d\d-\d\d"


def template_url(study) -> str:
    return reverse("studies:import_template", args=[study.code])


def rows_of(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter))


def export_header(client, study, *, identified: bool) -> list[str]:
    url = reverse("studies:export_csv", args=[study.code, "cohort"])
    if identified:
        response = client.post(url, {"confirm": "on", "delimiter": "comma", "bom": "1"})
    else:
        response = client.get(url)
    assert response.status_code == 200
    return rows_of(b"".join(response.streaming_content).decode())[0]


@pytest.mark.parametrize("design", ["paper", "laktasi"])
def test_the_template_is_the_cohort_exports_header(client, study, make_laktasi, data_manager,
                                                   design):  # fmt: skip
    if design == "laktasi":
        study = make_laktasi()
    client.force_login(data_manager)
    response = client.get(template_url(study))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.search(
        rf'filename="{study.code}-cohort-template-comma-{TODAY}\.csv"',
        response["Content-Disposition"],
    )
    text = response.content.decode()
    assert text.startswith("\ufeff")  # as the export's default: UTF-8 with a BOM, for Excel
    (header,) = rows_of(text)  # the header row and nothing else
    assert header == export_header(client, study, identified=True)
    plain = export_header(client, study, identified=False)
    assert header == plain + list(exchange.IDENTITY_COLUMNS)
    assert set(header) == known_columns(study.protocol)  # every column the importer reads
    # The data dictionary beside it describes exactly these columns, in this order.
    dictionary = client.get(reverse("studies:export_csv", args=[study.code, "dictionary"]))
    described = rows_of(b"".join(dictionary.streaming_content).decode())[1:]
    assert [row[0] for row in described] == header
    if design == "laktasi":
        assert {"arm", "pre_milk_ml", "post_lancar"} <= set(header)


def test_the_template_takes_the_exports_separator_and_encoding(client, study, data_manager):
    client.force_login(data_manager)
    response = client.get(template_url(study), {"delimiter": "semicolon", "bom": "0"})
    text = response.content.decode()
    assert text.startswith('"respondent_code";"site";"delivery_date";')
    assert re.search(
        rf"cohort-template-semicolon-no-bom-{TODAY}\.csv", response["Content-Disposition"]
    )
    export = client.get(
        reverse("studies:export_csv", args=[study.code, "cohort"]),
        {"delimiter": "semicolon", "bom": "0"},
    )
    exported = b"".join(export.streaming_content).decode().splitlines()[0]
    assert text.splitlines()[0] == exported + ';"full_name";"phone";"medical_record_number"'


def test_the_template_with_one_row_filled_in_imports(client, study, data_manager):
    client.force_login(data_manager)
    text = client.get(template_url(study), {"delimiter": "semicolon"}).content.decode()
    header = rows_of(text, ";")[0]
    mother = {
        **{column: PAPER_COHORT[0][column] for column in header if column in PAPER_COHORT[0]},
        "respondent_code": "T01",
        "site": "Klinik A",
        "delivery_date": "01/06/2026",
        "enrolled_on": "03/06/2026",
        "full_name": "Siti Aminah",
        "phone": "081234567890",
    }
    filled = io.StringIO()
    csv.writer(filled, delimiter=";", lineterminator="\r\n").writerow(
        [mother.get(column, "") for column in header]
    )
    data = (text + filled.getvalue()).encode()
    response = client.post(
        reverse("studies:import_upload", args=[study.code]),
        {"file": SimpleUploadedFile("template.csv", data, content_type="text/csv")},
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302, response.content.decode()[:2000]
    page = client.get(response["Location"]).content.decode()
    assert re.search(r"\b1 mothers? to create", page), re.sub(r"<[^>]+>", " ", page)[-3000:]
    assert "problem" not in page
    client.post(reverse("studies:import_confirm", args=[study.code, job.pk]), {"confirm": "1"})
    imported = Respondent.objects.get(study=study)
    assert imported.code == "T01" and imported.site.name == "Klinik A"
    assert imported.age_years == PAPER_COHORT[0]["age_years"]
    assert imported.identity.full_name == "Siti Aminah"


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ("Empty template (CSV)", "Data dictionary (CSV)", "Data dictionary (Excel .xlsx)")),
        ("id", ("Templat kosong (CSV)", "Kamus data (CSV)", "Kamus data (Excel .xlsx)")),
    ],
)
def test_the_import_page_offers_the_template_and_the_dictionary(
    client, study, data_manager, language, words
):
    client.force_login(data_manager)
    page = client.get(
        reverse("studies:import_upload", args=[study.code]), headers={"accept-language": language}
    ).content.decode()
    assert f'<html lang="{language}"' in page
    for word in words:
        assert word in page
    template = template_url(study)
    dictionary_csv = reverse("studies:export_csv", args=[study.code, "dictionary"])
    dictionary_xlsx = reverse("studies:export_xlsx", args=[study.code, "dictionary"])
    for url in (template, dictionary_csv, dictionary_xlsx):
        assert f'="{url}"' in page
        assert client.get(url).status_code == 200
    # The separator and encoding are asked as on the export page, the separator the language's.
    selected = re.search(r'<option value="(\w+)" selected>', page).group(1)
    assert selected == ("semicolon" if language == "id" else "comma")


@pytest.mark.parametrize("user_fixture", ["midwife_a", "researcher", None])
def test_only_who_may_import_gets_the_template(client, request, study, user_fixture):
    if user_fixture:
        client.force_login(request.getfixturevalue(user_fixture))
    response = client.get(template_url(study))
    assert response.status_code == (403 if user_fixture else 302)
