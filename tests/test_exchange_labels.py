"""Words for values, in the reader's language (the fresh tester's findings of 2026-12-06): a
yes/no or ordinal outcome and the arm imported by their labels in either language, through the
definition's one rule; the words clinics write for education and employment ("ibu rumah
tangga", "SLTA", "D3"); the data dictionary and the import's messages in the user's language;
the audit trail showing a test choice's old and new test and the system's reasons in the
reader's language, old rows included."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import translation

from studies import definition, exchange, services
from studies.models import AuditEvent, Observation, Respondent
from studies.selectors import history_reason

LAKTASI_HEADER = [
    "respondent_code", "site", "arm", "delivery_date", "enrolled_on", "age_years", "parity",
    "education", "employment", "pre_milk_ml", "pre_feeds", "post_milk_ml", "post_feeds",
    "post_lancar", "sessions_completed", "status", "withdrawal_reason",
]  # fmt: skip

FLOW = {
    "design": "one_group_pre_post",
    "outcomes": [
        {
            "key": "flow",
            "label": {"id": "Aliran ASI", "en": "Milk flow"},
            "type": "ordinal",
            "categories": [
                {"value": 1, "label": {"id": "Sedikit", "en": "Little"}},
                {"value": 2, "label": {"id": "Cukup", "en": "Enough"}},
                {"value": 3, "label": {"id": "Banyak sekali", "en": "Plenty"}},
            ],
        }
    ],
}


def table(header, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return out.getvalue().encode()


def laktasi_mother(code, **values) -> dict:
    """A LAKTASI mother of the control arm (no sessions), with her two sheets."""
    return {
        "respondent_code": code,
        "site": "Klinik A",
        "arm": "control",
        "delivery_date": "2026-06-01",
        "enrolled_on": "2026-06-03",
        "age_years": "27",
        "parity": "2",
        "education": "secondary",
        "employment": "working",
        "pre_milk_ml": "100.5",
        "pre_feeds": "6",
        "post_milk_ml": "150.0",
        "post_feeds": "9",
        "post_lancar": "1",
        "status": "completed",
        **values,
    }


def paper_mother(code="R01", **values) -> dict:
    return {
        "respondent_code": code,
        "site": "Klinik A",
        "delivery_date": "2026-06-01",
        "enrolled_on": "2026-06-03",
        "age_years": "27",
        "parity": "1",
        "education": "SMA",
        "employment": "Bekerja",
        "pre_feeds": "5",
        "pre_urinations": "4",
        "post_feeds": "11",
        "post_urinations": "9",
        "sessions_completed": "6",
        "status": "completed",
        **values,
    }


@pytest.fixture
def laktasi(make_laktasi):
    return make_laktasi("chosen")


# --- 1. categories and arms by their labels ----------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("Lancar", 1),
        ("Tidak lancar", 0),
        ("  tidak   LANCAR ", 0),
        ("Smooth", 1),
        ("not smooth", 0),
        ("1", 1),
        ("0,0", 0),
    ],
)
def test_a_yes_no_outcome_is_imported_by_its_label_in_either_language(
    laktasi, data_manager, written, stored
):
    report = exchange.import_cohort(
        study=laktasi,
        data=table(LAKTASI_HEADER, [laktasi_mother("L01", post_lancar=written)]),
        user=data_manager,
    )
    assert report.ok, [str(error) for error in report.errors]
    sheet = Observation.objects.get(respondent__code="L01", timepoint="post")
    assert sheet.values["lancar"] == stored


@pytest.mark.parametrize(
    ("written", "arm"),
    [
        ("Kontrol", "control"),
        ("CONTROL", "control"),
        ("pijat  oksitosin", "intervention"),
        ("Oxytocin massage", "intervention"),
        ("intervention", "intervention"),
    ],
)
def test_the_arm_is_read_by_the_same_rule(laktasi, data_manager, written, arm):
    sessions = "6" if arm == "intervention" else ""
    row = laktasi_mother("L01", arm=written, sessions_completed=sessions)
    report = exchange.import_cohort(
        study=laktasi, data=table(LAKTASI_HEADER, [row]), user=data_manager
    )
    assert report.ok, [str(error) for error in report.errors]
    assert Respondent.objects.get(code="L01").arm == arm


def test_an_ordinal_outcome_is_imported_by_its_labels(study, data_manager):
    flow = services.create_study(
        code="ALIRAN", title="Aliran", site_names=["Klinik A"], definition=FLOW
    )
    header = list(exchange.cohort_columns(flow.protocol))
    assert "pre_flow" in header and "post_flow" in header
    rows = [
        {**paper_mother("F1"), "pre_flow": "sedikit", "post_flow": "Banyak  Sekali"},
        {**paper_mother("F2"), "pre_flow": "Enough", "post_flow": "3"},
    ]
    report = exchange.import_cohort(study=flow, data=table(header, rows), user=data_manager)
    assert report.ok, [str(error) for error in report.errors]
    values = {
        (sheet.respondent.code, sheet.timepoint): sheet.values["flow"]
        for sheet in Observation.objects.filter(respondent__study=flow)
    }
    assert values == {("F1", "pre"): 1, ("F1", "post"): 3, ("F2", "pre"): 2, ("F2", "post"): 3}


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("id", "baris 2, kolom post_lancar: Pilih salah satu: 0 (Tidak lancar), 1 (Lancar)."),
        ("en", "row 2, column post_lancar: Choose one of: 0 (Not smooth), 1 (Smooth)."),
    ],
)
def test_another_word_is_refused_with_the_categories_in_the_users_language(
    laktasi, data_manager, language, message
):
    with translation.override(language):
        report = exchange.import_cohort(
            study=laktasi,
            data=table(LAKTASI_HEADER, [laktasi_mother("L01", post_lancar="Ya")]),
            user=data_manager,
        )
        assert [str(error) for error in report.errors] == [message]
    assert not Respondent.objects.filter(study=laktasi).exists()


def test_the_definitions_check_reads_labels_and_numbers_before_labels():
    outcome = definition.parse(FLOW).outcome("flow")
    assert outcome.check("cukup") == (2, None)
    assert outcome.check(" PLENTY ") == (3, None)
    assert outcome.check("2") == (2, None) and outcome.check(2) == (2, None)
    with translation.override("id"):
        assert outcome.check("Lumayan") == (
            None, "Pilih salah satu: 1 (Sedikit), 2 (Cukup), 3 (Banyak sekali).",
        )  # fmt: skip
        assert outcome.check("4")[1] == outcome.check("Lumayan")[1]
    # A label two categories share names neither.
    shared = definition.parse(
        {
            **FLOW,
            "outcomes": [
                {
                    **FLOW["outcomes"][0],
                    "categories": [
                        {"value": 1, "label": {"id": "Sama", "en": "Little"}},
                        {"value": 2, "label": {"id": "Cukup", "en": "Sama"}},
                    ],
                }
            ],
        }
    ).outcome("flow")
    assert shared.check("sama")[0] is None and shared.check("little") == (1, None)


# --- 2. the data dictionary in the user's language -------------------------------------------


def dictionary_csv(client, study) -> dict[str, dict[str, str]]:
    response = client.get(
        reverse("studies:export_csv", kwargs={"study_code": study.code, "kind": "dictionary"})
    )
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    delimiter = ";" if text.split("\n")[0].count(";") else ","
    return {row["column"]: row for row in csv.DictReader(io.StringIO(text), delimiter=delimiter)}


def test_the_dictionary_downloaded_in_indonesian_names_labels_in_indonesian(
    client_id, client, laktasi, data_manager
):
    client_id.force_login(data_manager)
    rows = dictionary_csv(client_id, laktasi)
    assert rows["post_lancar"]["allowed"] == "0 (Tidak lancar) / 1 (Lancar)"
    assert rows["arm"]["allowed"] == "intervention (Pijat oksitosin) / control (Kontrol)"
    assert rows["pre_feeds"]["unit"] == "kali/24 jam"
    assert rows["age_years"]["unit"] == "tahun"
    # The labels of both languages stay in their own columns.
    assert (rows["post_lancar"]["label_id"], rows["post_lancar"]["label_en"]) == (
        "ASI lancar (Sesudah)", "Milk flows smoothly (After)",
    )  # fmt: skip
    client.force_login(data_manager)
    rows = dictionary_csv(client, laktasi)
    assert rows["post_lancar"]["allowed"] == "0 (Not smooth) / 1 (Smooth)"
    assert rows["arm"]["allowed"] == "intervention (Oxytocin massage) / control (Control)"


# --- 3. education and employment: the clinic's words, the message in the user's language ------


@pytest.mark.parametrize(
    ("column", "written", "stored"),
    [
        ("employment", "Ibu rumah tangga", "not_working"),
        ("employment", "ibu  rumah tangga", "not_working"),
        ("employment", "IRT", "not_working"),
        ("employment", "belum bekerja", "not_working"),
        ("employment", "Swasta", "working"),
        ("employment", "PNS", "working"),
        ("employment", "wiraswasta", "working"),
        ("education", "SLTA", "secondary"),
        ("education", "SMU", "secondary"),
        ("education", "SLTP", "basic"),
        ("education", "D3", "higher"),
        ("education", "Sarjana", "higher"),
        ("status", "Mundur", "withdrawn"),
    ],
)
def test_the_words_clinics_write_for_choices(study, data_manager, column, written, stored):
    extra = {"withdrawal_reason": "Pindah"} if stored == "withdrawn" else {}
    header = list(exchange.COHORT_COLUMNS)
    row = paper_mother(**{column: written}, **extra)
    report = exchange.import_cohort(study=study, data=table(header, [row]), user=data_manager)
    assert report.ok, [str(error) for error in report.errors]
    assert getattr(Respondent.objects.get(), column) == stored


def test_a_wrong_choice_lists_the_accepted_words_in_the_users_language(study, data_manager):
    header = list(exchange.COHORT_COLUMNS)
    data = table(header, [paper_mother(employment="Kadang-kadang")])
    with translation.override("id"):
        report = exchange.import_cohort(study=study, data=data, user=data_manager)
        assert [str(error) for error in report.errors] == [
            "baris 2, kolom employment: “Kadang-kadang” bukan salah satu dari: Bekerja, PNS, "
            "Swasta, Wiraswasta … (working) / Tidak bekerja, Ibu rumah tangga, IRT, Belum "
            "bekerja … (not_working)."
        ]
    with translation.override("en"):
        report = exchange.import_cohort(study=study, data=data, user=data_manager)
        assert str(report.errors[0]).endswith(
            "is not one of: Working, PNS, Swasta, Wiraswasta … (working) / Not working, Ibu "
            "rumah tangga, IRT, Belum bekerja … (not_working)."
        )
    assert not Respondent.objects.exists()


# --- 4. the audit trail ------------------------------------------------------------------------


def audit_csv(client, study) -> list[dict[str, str]]:
    response = client.get(
        reverse("studies:export_csv", kwargs={"study_code": study.code, "kind": "audit"})
    )
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    delimiter = ";" if text.split("\n")[0].count(";") else ","
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


def test_a_test_choice_shows_the_old_and_the_new_test_in_the_audit(
    client_id, laktasi, researcher, data_manager
):
    client_id.force_login(researcher)
    url = reverse("studies:results_test_choice", kwargs={"study_code": laktasi.code})
    post = {"outcome": "milk_ml", "comparison": "within", "test": "paired_t", "reason": "Rencana"}
    assert client_id.post(url, post).status_code == 302
    assert client_id.post(url, {**post, "test": "wilcoxon"}).status_code == 302
    assert client_id.post(url, {**post, "test": "", "reason": "Kembali"}).status_code == 302
    client_id.force_login(data_manager)
    rows = [row for row in audit_csv(client_id, laktasi) if row["record_type"] == "test_choice"]
    shown = [(row["action"], row["field"], row["old"], row["new"], row["reason"]) for row in rows]
    assert shown == [
        ("created", "test", "pilihan otomatis", "paired_t", "Rencana"),
        ("changed", "test", "paired_t", "wilcoxon", "Rencana"),
        ("changed", "test", "wilcoxon", "pilihan otomatis", "Kembali"),
        ("changed", "reason", "Rencana", "Kembali", "Kembali"),
    ]  # fmt: skip


def test_the_systems_reasons_are_in_the_readers_language_old_rows_too(
    client_id, study, data_manager, make_respondent, midwife_a
):
    mother = make_respondent("R01")
    services.record_observation(
        respondent=mother,
        timepoint="pre",
        user=midwife_a,
        values={"feeds": 5},
        observed_on=mother.enrolled_on,
    )
    services.record_observation(
        respondent=mother,
        timepoint="post",
        user=midwife_a,
        values={"feeds": 9},
        observed_on=mother.delivery_date + datetime.timedelta(days=5),
    )
    header = list(exchange.COHORT_COLUMNS)
    # One import run in English and one in Indonesian: each stored its reasons in its language.
    with translation.override("en"):
        exchange.import_cohort(
            study=study, data=table(header, [paper_mother("R02")]), user=data_manager,
            filename="a.csv",
        )  # fmt: skip
    with translation.override("id"):
        exchange.import_cohort(
            study=study, data=table(header, [paper_mother("R03")]), user=data_manager,
            filename="b.csv",
        )  # fmt: skip
    AuditEvent.objects.create(
        study=study,
        user=data_manager,
        action=AuditEvent.Action.IDENTIFIED_EXPORT,
        detail="cohort export with names and phone numbers",  # as an English export wrote it
    )
    client_id.force_login(data_manager)
    rows = audit_csv(client_id, study)
    reasons = {row["reason"] for row in rows}
    assert "Lembar post-test sudah dicatat." in reasons
    assert {"Diimpor dari a.csv", "Diimpor dari b.csv"} <= reasons
    assert {"1 ibu diimpor dari a.csv", "1 ibu diimpor dari b.csv"} <= reasons
    assert "Ekspor cohort dengan nama dan nomor telepon" in reasons
    assert not {
        "Post-test sheet recorded.", "Imported from a.csv", "1 mothers imported from a.csv",
    } & reasons  # fmt: skip
    # A person's own words stay as written.
    assert history_reason("Imported by hand") == "Imported by hand"


def test_the_migrations_reason_for_deviations_already_there_is_translated():
    with translation.override("id"):
        shown = history_reason(
            "Present before protocol deviations were recorded (migration 0008)."
        )
    assert shown != "Present before protocol deviations were recorded (migration 0008)."
    assert "0008" in shown
