"""The cohort exchange of studies defined by data (DESIGN.md 4.4 and 6): a two-group study with
arms, decimals and a binary outcome measured at one time point, and a one-group study with three
time points, exported and re-imported into a new study with the same definition; the importer's
checks of arms, values and sessions per arm."""

from __future__ import annotations

import csv
import io

import pytest

from studies import exchange, services
from studies.models import MassageSession, Observation, Respondent

from .conftest import laktasi_definition

LAKTASI = laktasi_definition("blocks")

REPEATED = {
    "design": "one_group_repeated",
    "arms": [],
    "allocation": "chosen",
    "sessions": {
        "all": {
            "first_day": 2,
            "days": 3,
            "per_day": 2,
            "minutes": [15, 20],
            "label": {"id": "Pijat", "en": "Massage"},
        }
    },
    "timepoints": [
        {"key": "pre", "day": 2, "label": {"id": "Sebelum", "en": "Before"}},
        {"key": "mid", "day": 4, "label": {"id": "Tengah", "en": "Midway"}},
        {"key": "post", "day": 5, "label": {"id": "Sesudah", "en": "After"}},
    ],
    "outcomes": [
        {
            "key": "score",
            "label": {"id": "Skor nyeri", "en": "Pain score"},
            "type": "score",
            "min": 0,
            "max": 10,
            "decimals": 2,
        },
        {
            "key": "flow",
            "label": {"id": "Aliran ASI", "en": "Milk flow"},
            "type": "ordinal",
            "categories": [
                {"value": 1, "label": {"id": "Sedikit", "en": "Little"}},
                {"value": 2, "label": {"id": "Cukup", "en": "Enough"}},
                {"value": 3, "label": {"id": "Banyak", "en": "Plenty"}},
            ],
        },
    ],
}

SITES = ["Klinik A", "Klinik B"]
LAKTASI_HEADER = [
    "respondent_code", "site", "arm", "delivery_date", "enrolled_on", "age_years", "parity",
    "education", "employment", "pre_milk_ml", "pre_feeds", "post_milk_ml", "post_feeds",
    "post_lancar", "sessions_completed", "status", "withdrawal_reason",
]  # fmt: skip


def table(header, rows, delimiter=",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return out.getvalue().encode()


def mother(code, site, **values) -> dict:
    return {
        "respondent_code": code,
        "site": site,
        "delivery_date": "2026-06-01",
        "enrolled_on": "2026-06-03",
        "age_years": 27,
        "parity": 2,
        "education": "secondary",
        "employment": "working",
        "status": "completed",
        **values,
    }


def laktasi_rows() -> list[dict]:
    rows = []
    for index in range(12):
        arm = "intervention" if index % 2 == 0 else "control"
        rows.append(
            mother(
                f"L{index:02d}",
                SITES[index % 3 % 2],
                arm=arm,
                pre_milk_ml=f"{100 + index * 7.5:.1f}",
                pre_feeds=5 + index % 3,
                post_milk_ml=f"{150 + index * 12.5:.1f}".replace(".", ",")
                if index == 4
                else f"{150 + index * 12.5:.1f}",
                post_feeds=8 + index % 4,
                post_lancar=index % 3 % 2,
                sessions_completed=6 if arm == "intervention" else "",
            )
        )
    rows[3]["post_milk_ml"] = ""  # a value not recorded
    rows[5].update(status="withdrawn", withdrawal_reason="Pindah", post_feeds="", post_lancar="")
    rows[5]["post_milk_ml"] = ""
    return rows


def study_of(code: str, definition: dict):
    return services.create_study(code=code, title=code, site_names=SITES, definition=definition)


def cohort_text(study, delimiter=",") -> str:
    return "".join(
        exchange.stream_csv(exchange.EXPORTS["cohort"](study), delimiter=delimiter, bom=False)
    )


def imported(study, data: bytes, user):
    report = exchange.import_cohort(study=study, data=data, user=user)
    assert report.ok, [str(error) for error in report.errors]
    return report


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_two_group_study_exported_and_reimported_gives_the_same_cohort(
    db, data_manager, delimiter
):
    first = study_of("LAKTASI", LAKTASI)
    imported(first, table(LAKTASI_HEADER, laktasi_rows()), data_manager)
    exported = cohort_text(first, delimiter)
    rows = list(csv.reader(io.StringIO(exported), delimiter=delimiter))
    assert rows[0][: len(LAKTASI_HEADER)] == LAKTASI_HEADER
    assert rows[0][len(LAKTASI_HEADER) :] == [
        "withdrawn_on", "consent_date", "eligibility_confirmed", "pre_observed_on",
        "post_observed_on", "sessions_planned", "age_group", "parity_group",
    ]  # fmt: skip
    by_code = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    comma = "," if delimiter == ";" else "."
    # Continuous with its one decimal ("200,0" was read as 200.0), binary 0/1, count whole.
    assert by_code["L04"]["post_milk_ml"] == f"200{comma}0"
    assert by_code["L01"]["pre_milk_ml"] == f"107{comma}5"
    assert by_code["L03"]["post_milk_ml"] == ""
    assert (by_code["L02"]["post_lancar"], by_code["L01"]["post_lancar"]) == ("0", "1")
    assert by_code["L00"]["arm"] == "intervention" and by_code["L01"]["arm"] == "control"
    assert (by_code["L00"]["sessions_planned"], by_code["L00"]["sessions_completed"]) == ("6", "6")
    assert (by_code["L01"]["sessions_planned"], by_code["L01"]["sessions_completed"]) == ("0", "0")
    assert not MassageSession.objects.filter(respondent__arm="control").exists()
    assert Observation.objects.get(respondent__code="L04", timepoint="post").values == {
        "milk_ml": 200.0,
        "feeds": 8,
        "lancar": 1,
    }

    second = study_of("SALINAN", LAKTASI)
    imported(second, exported.encode(), data_manager)
    assert cohort_text(second, delimiter) == exported
    arms = dict(Respondent.objects.filter(study=second).values_list("code", "arm"))
    assert arms == dict(Respondent.objects.filter(study=first).values_list("code", "arm"))


def test_a_one_group_study_with_three_time_points_round_trips(db, data_manager):
    first = study_of("ULANG", REPEATED)
    header = [
        "respondent_code", "site", "delivery_date", "enrolled_on", "age_years", "parity",
        "education", "employment", "pre_score", "pre_flow", "mid_score", "mid_flow",
        "post_score", "post_flow", "sessions_completed", "status", "withdrawal_reason",
    ]  # fmt: skip
    assert list(exchange.cohort_columns(first.protocol)) == header
    rows = [
        mother(
            f"U{index}",
            SITES[index % 2],
            pre_score=f"{7 + index / 8:.2f}",
            pre_flow=1,
            mid_score="5,5",
            mid_flow=2,
            post_score=f"{2 + index / 4:.3g}",
            post_flow=3 if index % 2 else "",
            sessions_completed=6,
        )
        for index in range(6)
    ]
    imported(first, table(header, rows), data_manager)
    exported = cohort_text(first)
    parsed = list(csv.DictReader(io.StringIO(exported)))
    assert [row["mid_score"] for row in parsed] == ["5.50"] * 6  # two decimals, as defined
    assert parsed[1]["pre_score"] == "7.12" and parsed[0]["post_flow"] == ""
    assert parsed[0]["mid_observed_on"] == "2026-06-05"  # dated by its time point's day
    second = study_of("ULANG2", REPEATED)
    imported(second, exported.encode(), data_manager)
    assert cohort_text(second) == exported


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("arm", "placebo", "“placebo” is not one of the study's arms"),
        ("arm", "", "Name the mother's arm"),
        ("post_lancar", "2", "Choose one of: 0 (Not smooth), 1 (Smooth)."),
        ("pre_milk_ml", "12.55", "Use at most 1 decimal places."),
        ("pre_milk_ml", "501", "Enter a value between 0 and 500 ml."),
        ("pre_milk_ml", "１２", "“１２” is not a number."),
        ("pre_feeds", "7.5", "Enter a whole number."),
        ("sessions_completed", "3", "This arm has no sessions"),
    ],
)
def test_the_importer_checks_arms_values_and_sessions_by_the_definition(
    db, data_manager, column, value, message
):
    study = study_of("LAKTASI", LAKTASI)
    rows = laktasi_rows()
    rows[1][column] = value  # L01, a control mother, on row 3
    report = exchange.import_cohort(
        study=study, data=table(LAKTASI_HEADER, rows), user=data_manager
    )
    assert [(error.row, error.column) for error in report.errors] == [(3, column)]
    assert message in report.errors[0].message
    assert str(report.errors[0]).startswith(f"row 3, column {column}: ")
    assert not Respondent.objects.filter(study=study).exists()


def test_a_column_of_an_outcome_not_measured_at_a_time_point_is_unknown(db, data_manager):
    study = study_of("LAKTASI", LAKTASI)
    rows = laktasi_rows()
    report = exchange.import_cohort(
        study=study, data=table([*LAKTASI_HEADER, "pre_lancar"], rows), user=data_manager
    )
    assert [str(error) for error in report.errors] == ["row 1: Unknown column(s): pre_lancar."]
    report = exchange.import_cohort(
        study=study,
        data=table([c for c in LAKTASI_HEADER if c != "arm"], rows),
        user=data_manager,
    )
    assert [str(error) for error in report.errors] == ["row 1: Missing column(s): arm."]


def test_by_site_allocation_takes_the_sites_arm_and_refuses_another(db, data_manager):
    definition = {
        **LAKTASI,
        "allocation": "by_site",
        "arm_by_site": {"Klinik A": "intervention", "Klinik B": "control"},
    }
    study = study_of("SITUS", definition)
    rows = [
        # Enrolled: without an After sheet a mother is not completed.
        mother("B1", "Klinik A", pre_feeds=5, sessions_completed=6, status="enrolled"),
        mother("B2", "Klinik B", pre_feeds=5, arm="control", status="enrolled"),
    ]
    imported(study, table(LAKTASI_HEADER, rows), data_manager)
    assert dict(Respondent.objects.values_list("code", "arm")) == {
        "B1": "intervention",
        "B2": "control",
    }
    other = study_of("SITUS2", definition)
    rows = [mother("B3", "Klinik B", pre_feeds=5, arm="intervention", status="enrolled")]
    report = exchange.import_cohort(
        study=other, data=table(LAKTASI_HEADER, rows), user=data_manager
    )
    assert [(error.row, error.column) for error in report.errors] == [(2, "arm")]
    assert "gives its mothers the arm control" in report.errors[0].message


def test_the_other_exports_follow_the_definition(db, data_manager):
    study = study_of("LAKTASI", LAKTASI)
    imported(study, table(LAKTASI_HEADER, laktasi_rows()), data_manager)
    observations = list(exchange.observation_rows(study))
    assert observations[0][:7] == [
        "respondent_code", "site", "arm", "timepoint", "outcome", "value", "observed_on",
    ]  # fmt: skip
    l04 = [row[3:6] for row in observations[1:] if row[0] == "L04"]
    assert [(point, key, str(value)) for point, key, value in l04] == [
        ("pre", "milk_ml", "130.0"),
        ("pre", "feeds", "6"),
        ("post", "milk_ml", "200.0"),
        ("post", "feeds", "8"),
        ("post", "lancar", "1"),
    ]
    assert len(observations) - 1 == exchange.export_counts(study)["observations"]
    sessions = list(exchange.session_rows(study))
    assert sessions[0][2] == "arm" and {row[2] for row in sessions[1:]} == {"intervention"}
    dictionary = {row[0]: row for row in exchange.dictionary_rows(study.protocol)}
    assert dictionary["arm"][3:5] == [
        "category",
        "intervention (Oxytocin massage) / control (Control)",
    ]
    assert dictionary["post_lancar"][1:] == [
        "ASI lancar (Sesudah)", "Milk flows smoothly (After)", "category",
        "0 (Not smooth) / 1 (Smooth)", "",
    ]  # fmt: skip
    assert dictionary["pre_milk_ml"][3:] == ["number", "0.0–500.0", "ml"]
    assert "pre_lancar" not in dictionary
    syntax = exchange.spss_syntax(study)
    assert "VALUE LABELS post_lancar 0 'Not smooth' 1 'Smooth'." in syntax
    assert "VALUE LABELS arm_n 1 'Oxytocin massage' 2 'Control'." in syntax
    assert "    pre_milk_ml F5.1" in syntax
    assert "/M-W=post_milk_ml BY arm_n (1 2)" in syntax
    # A correction of one value is one audit row naming the outcome.
    sheet = Observation.objects.get(respondent__code="L00", timepoint="pre")
    services.save_observation(
        respondent=sheet.respondent,
        timepoint="pre",
        user=data_manager,
        reason="typo",
        expected_version=sheet.version,
        values={**sheet.values, "milk_ml": "101,5"},
        observed_on=sheet.observed_on,
    )
    changed = [row for row in exchange.audit_rows(study) if row[4] == "changed"]
    assert [row[5:] for row in changed] == [["values.milk_ml", 100.0, 101.5, "typo"]]
