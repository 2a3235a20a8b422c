"""The researcher overrides the test chosen for an outcome, with a reason: the results document
says so, the history and the audit export keep it, and a test outside the design's row is
refused with nothing saved."""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from studies import cohort, services
from studies.exchange.exports import audit_rows
from studies.models import ChoiceOverride


def choice_url(code: str = "LAKTASI") -> str:
    return reverse("studies:results_test_choice", kwargs={"study_code": code})


def document(client, code: str = "LAKTASI") -> dict:
    response = client.get(reverse("studies:results_json", kwargs={"study_code": code}))
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture
def laktasi(make_laktasi):
    return make_laktasi("chosen")


def test_a_researcher_overrides_the_within_test_with_a_reason(client, laktasi, researcher):
    client.force_login(researcher)
    before = document(client)["outcomes"]["milk_ml"]["chosen"]
    assert before["overridden"] is False and before["within"] == "wilcoxon"
    assert before["allowed"] == {
        "within": ["paired_t", "wilcoxon"],
        "between": ["independent_t", "mann_whitney"],
    }

    response = client.post(
        choice_url(),
        {"outcome": "milk_ml", "comparison": "within", "test": "paired_t",
         "reason": "The protocol named the paired t-test before the data."},
        headers={"accept-language": "en"},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"].endswith("/studies/LAKTASI/results/#choice-milk_ml")
    saved = ChoiceOverride.objects.get()
    assert (saved.study, saved.outcome, saved.comparison, saved.test, saved.user) == (
        laktasi, "milk_ml", "within", "paired_t", researcher,
    )  # fmt: skip
    assert saved.history.get().history_change_reason == (
        "The protocol named the paired t-test before the data."
    )

    chosen = document(client)["outcomes"]["milk_ml"]["chosen"]
    assert chosen["within"] == "paired_t" and chosen["between"] == "mann_whitney"
    assert chosen["overridden"] is True
    assert chosen["override_reason"] == "The protocol named the paired t-test before the data."
    assert chosen["reason"] == "override"
    assert chosen["reason_text"] == (
        "Chosen by the researcher: The protocol named the paired t-test before the data."
    )
    # The other outcomes keep the automatic choice.
    assert document(client)["outcomes"]["feeds"]["chosen"]["overridden"] is False

    rows = [row for row in audit_rows(laktasi) if row[2] == "test_choice"]
    assert len(rows) == 1 and rows[0][1] == "peneliti" and rows[0][3] == "milk_ml · within"
    # The created choice shows the test it replaces (the automatic one) and the test chosen.
    assert rows[0][4:] == [
        "created", "test", "automatic choice", "paired_t",
        "The protocol named the paired t-test before the data.",
    ]  # fmt: skip


def test_back_to_the_automatic_choice_is_kept_in_the_history(client, laktasi, data_manager):
    client.force_login(data_manager)
    post = {"outcome": "feeds", "comparison": "between", "test": "independent_t", "reason": "A"}
    assert client.post(choice_url(), post).status_code == 302
    assert document(client)["outcomes"]["feeds"]["chosen"]["between"] == "independent_t"
    assert client.post(choice_url(), {**post, "test": "", "reason": "B"}).status_code == 302
    chosen = document(client)["outcomes"]["feeds"]["chosen"]
    assert chosen["between"] == "mann_whitney" and chosen["overridden"] is False
    assert ChoiceOverride.objects.get().history.count() == 2
    changes = [row for row in audit_rows(laktasi) if row[2] == "test_choice"]
    # Created, then one row per changed field (the test, the reason), each with the new reason;
    # the old and the new test each time, the automatic choice in words.
    assert [row[4:] for row in changes] == [
        ["created", "test", "automatic choice", "independent_t", "A"],
        ["changed", "test", "independent_t", "automatic choice", "B"],
        ["changed", "reason", "A", "B", "B"],
    ]


@pytest.mark.parametrize(
    ("post", "message"),
    [
        # Friedman is not a test of a two-group pre/post design.
        ({"outcome": "milk_ml", "comparison": "within", "test": "friedman", "reason": "x"},
         "is not a test of this design"),
        # "lancar" is measured at the post-test only: no within comparison.
        ({"outcome": "lancar", "comparison": "within", "test": "mcnemar", "reason": "x"},
         "is not a test of this design"),
        ({"outcome": "milk_ml", "comparison": "within", "test": "paired_t", "reason": "  "},
         "Reason: This field is required."),
        ({"outcome": "nothing", "comparison": "within", "test": "paired_t", "reason": "x"},
         "no outcome"),
        ({}, "The test choice was not saved"),
    ],
)  # fmt: skip
def test_a_refused_choice_saves_nothing_and_says_why(client, laktasi, researcher, post, message):
    client.force_login(researcher)
    response = client.post(choice_url(), post, headers={"accept-language": "en"}, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ChoiceOverride.objects.exists()
    assert not ChoiceOverride.history.exists()


def test_midwives_cannot_choose_a_test(client, laktasi, midwife_a):
    client.force_login(midwife_a)
    post = {"outcome": "milk_ml", "comparison": "within", "test": "paired_t", "reason": "x"}
    assert client.post(choice_url(), post).status_code == 403
    assert client.get(choice_url()).status_code == 403
    assert not ChoiceOverride.objects.exists()


def test_the_service_refuses_what_the_view_refuses(laktasi, researcher):
    with pytest.raises(ValidationError) as refused:
        services.override_test_choice(
            study=laktasi, outcome="feeds", comparison="between", test="chi_square",
            reason="why not", user=researcher,
        )  # fmt: skip
    assert "Independent-samples t-test, Mann–Whitney U test" in str(refused.value)
    choice = services.override_test_choice(
        study=laktasi, outcome="lancar", comparison="between", test="fisher_exact",
        reason="Small arms", user=researcher,
    )  # fmt: skip
    assert choice.test == "fisher_exact"


def test_the_paper_keeps_its_tables_and_says_the_override(client, study, researcher):
    client.force_login(researcher)
    before = document(client, "PIJAT")
    services.override_test_choice(
        study=study, outcome="feeds", comparison="within", test="paired_t", reason="Planned",
        user=researcher,
    )  # fmt: skip
    after = document(client, "PIJAT")
    feeds = after["outcomes"]["feeds"]
    assert feeds["chosen"]["within"] == "paired_t" and feeds["chosen"]["overridden"] is True
    # Every §4.5 key of the paper's document is unchanged by the choice.
    for key in ("n_missing", "pre", "post", "wilcoxon", "paired_t", "hodges_lehmann"):
        assert feeds[key] == before["outcomes"]["feeds"][key]


def test_the_partial_shows_the_choice_and_offers_only_the_row(client_id, laktasi, researcher):
    client = client_id  # the document's reason in Indonesian
    client.force_login(researcher)
    services.override_test_choice(
        study=laktasi, outcome="milk_ml", comparison="between", test="independent_t",
        reason="Planned in the protocol", user=researcher,
    )  # fmt: skip
    outcomes = document(client)["outcomes"]
    request = RequestFactory().get("/")
    with translation.override("id"):
        html = render_to_string(
            "studies/results/_choice.html",
            {"study": laktasi, "name": "milk_ml", "outcome": outcomes["milk_ml"],
             "test_labels": cohort.TEST_LABELS},
            request=request,
        )  # fmt: skip
    assert "Dipilih oleh peneliti: Planned in the protocol" in html
    assert 'data-chosen-between="independent_t"' in html
    assert 'value="paired_t"' in html and 'value="friedman"' not in html
    assert 'value="chi_square"' not in html
    assert reverse("studies:results_test_choice", args=["LAKTASI"]) in html
    binary = render_to_string(
        "studies/results/_choice.html",
        {"study": laktasi, "name": "lancar", "outcome": outcomes["lancar"],
         "test_labels": cohort.TEST_LABELS},
        request=request,
    )  # fmt: skip
    # Measured after only: no within comparison to choose.
    assert 'value="within"' not in binary and 'value="fisher_exact"' in binary


def test_analyze_json_is_the_endpoints_document_for_two_groups(client, laktasi, researcher):
    services.override_test_choice(
        study=laktasi, outcome="feeds", comparison="within", test="paired_t", reason="Planned",
        user=researcher,
    )  # fmt: skip
    client.force_login(researcher)
    out = io.StringIO()
    call_command("analyze", "LAKTASI", "--json", stdout=out)
    assert json.loads(out.getvalue()) == document(client)

