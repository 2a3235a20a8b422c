"""The study definition (DESIGN.md §6, studies/definition.py): every key read and checked, every
problem named by its key, the paper's definition as the default, and a round trip through
``to_dict``. Pure Python: no database."""

from __future__ import annotations

import copy
import datetime
from decimal import Decimal

import pytest

from studies.definition import (
    ALL_ARMS,
    DESIGNS,
    DefinitionError,
    block_arm,
    load_text,
    paper_definition,
    parse,
)


def laktasi() -> dict:
    """The second demo study (two groups, pre/post; a continuous, a count and a binary
    outcome, the binary one measured at post only)."""
    return {
        "design": "two_group_pre_post",
        "alpha": 0.05,
        "arms": [
            {"key": "intervention", "label": {"id": "Pijat oksitosin", "en": "Oxytocin massage"}},
            {"key": "control", "label": {"id": "Kontrol", "en": "Control"}},
        ],
        "allocation": "blocks",
        "sessions": {
            "intervention": {
                "first_day": 2, "days": 3, "per_day": 2, "minutes": [15, 20],
                "label": {"id": "Pijat oksitosin", "en": "Oxytocin massage"},
            }
        },
        "timepoints": [
            {"key": "pre", "day": 2, "label": {"id": "Sebelum", "en": "Before"}},
            {"key": "post", "day": 5, "label": {"id": "Sesudah", "en": "After"}},
        ],
        "outcomes": [
            {"key": "milk_ml", "label": {"id": "Volume ASI", "en": "Breast-milk volume"},
             "type": "continuous", "unit": {"id": "ml", "en": "ml"}, "min": 0, "max": 500,
             "decimals": 1},
            {"key": "feeds", "label": {"id": "Frekuensi menyusu", "en": "Breastfeeding frequency"},
             "type": "count", "unit": {"id": "kali/24 jam", "en": "times/24 h"}, "min": 0,
             "max": 40, "adequate_at_least": 8},
            {"key": "lancar", "label": {"id": "ASI lancar", "en": "Milk flows smoothly"},
             "type": "binary",
             "categories": [{"value": 0, "label": {"id": "Tidak lancar", "en": "Not smooth"}},
                            {"value": 1, "label": {"id": "Lancar", "en": "Smooth"}}],
             "timepoints": ["post"]},
        ],
        "characteristics": "default",
        "observation_hours": 24,
    }  # fmt: skip


def problems_of(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        parse(data)
    return caught.value.problems


def keys_of(data: dict) -> list[str]:
    return [key for key, _message in problems_of(data)]


def test_the_paper_definition_is_the_default():
    protocol = parse({})
    assert protocol.to_dict() == paper_definition()
    assert protocol.design.key == "one_group_pre_post"
    assert protocol.arms == () and protocol.arm_keys == (ALL_ARMS,) and not protocol.has_arms
    schedule = protocol.schedule(ALL_ARMS)
    assert (schedule.first_day, schedule.days, schedule.per_day) == (2, 3, 2)
    assert (schedule.min_minutes, schedule.max_minutes, schedule.last_day) == (15, 20, 4)
    assert schedule.sessions_planned == 6
    assert [(p.key, p.day) for p in protocol.timepoints] == [("pre", 2), ("post", 5)]
    assert [o.key for o in protocol.outcomes] == ["feeds", "urinations"]
    assert protocol.outcome("feeds").adequate_at_least == 8
    assert protocol.outcome("urinations").adequate_at_least == 6
    assert protocol.alpha == Decimal("0.05")
    assert protocol.enrolment_day == 2
    assert protocol.cohort_value_columns == [
        ("pre_feeds", "pre", "feeds"), ("pre_urinations", "pre", "urinations"),
        ("post_feeds", "post", "feeds"), ("post_urinations", "post", "urinations"),
    ]  # fmt: skip


def test_a_two_group_definition_reads_every_key_and_round_trips():
    protocol = parse(laktasi())
    assert protocol.to_dict() == laktasi()
    assert parse(protocol.to_dict()) == protocol
    assert protocol.has_arms and protocol.arm_keys == ("intervention", "control")
    assert protocol.arm_label("control") in {"Kontrol", "Control"}
    assert protocol.schedule("control") is None
    assert protocol.allocation == "blocks"
    milk = protocol.outcome("milk_ml")
    assert (milk.type, milk.min, milk.max, milk.decimals, milk.step()) == (
        "continuous",
        0,
        500,
        1,
        "0.1",
    )
    assert [o.key for o in protocol.outcomes_at("pre")] == ["milk_ml", "feeds"]
    assert protocol.outcome("lancar").timepoints == ("post",)
    assert protocol.outcome("lancar").category_values == (0, 1)
    assert [column for column, _p, _o in protocol.cohort_value_columns] == [
        "pre_milk_ml", "pre_feeds", "post_milk_ml", "post_feeds", "post_lancar"
    ]  # fmt: skip


def test_a_repeated_design_with_three_time_points():
    data = paper_definition() | {
        "design": "one_group_repeated",
        "timepoints": [
            {"key": "day2", "day": 2, "label": {"id": "Hari 2", "en": "Day 2"}},
            {"key": "day5", "day": 5, "label": {"id": "Hari 5", "en": "Day 5"}},
            {"key": "day7", "day": 7, "label": {"id": "Hari 7", "en": "Day 7"}},
        ],
    }
    protocol = parse(data)
    assert protocol.design.repeated and not protocol.design.pre_post
    assert protocol.last_timepoint.key == "day7"
    assert len(protocol.cohort_value_columns) == 6


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (lambda d: d.update(colour="blue"), "colour", "Unknown key."),
        (lambda d: d.update(design="three_groups"), "design", "Choose one of:"),
        (lambda d: d.update(alpha="x"), "alpha", "Expected a number."),
        (lambda d: d.update(alpha=0.5), "alpha", "between 0.001 and 0.2"),
        (lambda d: d.update(arms="two"), "arms", "Expected a list."),
        (lambda d: d["arms"].pop(), "arms", "list exactly two"),
        (lambda d: d["arms"][0].update(key="Intervention"), "arms[0].key", "lower-case"),
        (lambda d: d["arms"][1].update(key="all"), "arms[1].key", "reserved"),
        (lambda d: d["arms"][1].update(key="intervention"), "arms[1].key", "used twice"),
        (lambda d: d["arms"][0]["label"].pop("en"), "arms[0].label.en", "Give the text"),
        (lambda d: d["arms"][0]["label"].update(id=" "), "arms[0].label.id", "Give the text"),
        (lambda d: d["arms"][0]["label"].update(id="x" * 201), "arms[0].label.id", "At most 200"),
        (lambda d: d.update(allocation="coin"), "allocation", "Choose one of:"),
        (
            lambda d: d.update(arm_by_site={"A": "intervention"}),
            "arm_by_site",
            "Only used with allocation: by_site.",
        ),
        (
            lambda d: d.update(allocation="by_site", arm_by_site={"A": "placebo"}),
            "arm_by_site.A",
            "Not one of the arms.",
        ),
        (
            lambda d: d.update(allocation="by_site", arm_by_site={}, sites=["A"]),
            "arm_by_site",
            "Give the arm of the site A.",
        ),
        (
            lambda d: d.update(allocation="by_site", arm_by_site=["A"]),
            "arm_by_site",
            "Expected a mapping",
        ),
        (lambda d: d.update(sessions=[]), "sessions", "Expected a mapping"),
        (
            lambda d: d["sessions"].update(placebo=d["sessions"]["intervention"]),
            "sessions.placebo",
            "Not one of the arms.",
        ),
        (
            lambda d: d["sessions"]["intervention"].update(first_day=61),
            "sessions.intervention.first_day",
            "from 0 to 60",
        ),
        (
            lambda d: d["sessions"]["intervention"].update(days=0),
            "sessions.intervention.days",
            "from 1 to 30",
        ),
        (
            lambda d: d["sessions"]["intervention"].update(per_day=4),
            "sessions.intervention.per_day",
            "from 1 to 3",
        ),
        (
            lambda d: d["sessions"]["intervention"].update(minutes=[20, 15]),
            "sessions.intervention.minutes",
            "shortest and longest",
        ),
        (
            lambda d: d["sessions"]["intervention"].update(minutes="15-20"),
            "sessions.intervention.minutes",
            "shortest and longest",
        ),
        (
            lambda d: d["sessions"]["intervention"].pop("label"),
            "sessions.intervention.label",
            "Expected a mapping",
        ),
        (lambda d: d.update(timepoints={}), "timepoints", "Expected a list."),
        (lambda d: d["timepoints"].pop(), "timepoints", "This design has 2 time point(s)."),
        (lambda d: d["timepoints"][1].update(key="pre"), "timepoints[1].key", "used twice"),
        (lambda d: d["timepoints"][1].update(day=2), "timepoints[1].day", "after the one before"),
        (lambda d: d["timepoints"][0].update(day="2"), "timepoints[0].day", "whole number"),
        (lambda d: d.update(outcomes=[]), "outcomes", "at least one outcome"),
        (lambda d: d["outcomes"][0].update(key="milk ml"), "outcomes[0].key", "lower-case"),
        (lambda d: d["outcomes"][1].update(key="milk_ml"), "outcomes[1].key", "used twice"),
        (lambda d: d["outcomes"][0].update(type="volume"), "outcomes[0].type", "Choose one of:"),
        (lambda d: d["outcomes"][0].update(min="zero"), "outcomes[0].min", "Expected a number."),
        (lambda d: d["outcomes"][0].update(max=1e9), "outcomes[0].max", "at most 100000"),
        (lambda d: d["outcomes"][0].update(max=0), "outcomes[0].max", "above the minimum"),
        (lambda d: d["outcomes"][0].update(decimals=4), "outcomes[0].decimals", "from 0 to 3"),
        (lambda d: d["outcomes"][1].update(decimals=1), "outcomes[1].decimals", "from 0 to 0"),
        (lambda d: d["outcomes"][1].update(min=-1), "outcomes[1].min", "cannot be negative"),
        (
            lambda d: d["outcomes"][0].update(unit="ml", categories=[]),
            "outcomes[0].categories",
            "Not used by a continuous outcome.",
        ),
        (
            lambda d: d["outcomes"][1].update(adequate_at_least=41),
            "outcomes[1].adequate_at_least",
            "between the minimum and the maximum",
        ),
        (lambda d: d["outcomes"][1]["unit"].pop("id"), "outcomes[1].unit.id", "Give the text"),
        (
            lambda d: d["outcomes"][2].update(min=0),
            "outcomes[2].min",
            "Not used by a binary outcome.",
        ),
        (
            lambda d: d["outcomes"][2]["categories"].pop(),
            "outcomes[2].categories",
            "values 0 and 1",
        ),
        (
            lambda d: d["outcomes"][2]["categories"][1].update(value=0),
            "outcomes[2].categories[1].value",
            "used twice",
        ),
        (
            lambda d: d["outcomes"][2]["categories"][1].update(value=100),
            "outcomes[2].categories[1].value",
            "from 0 to 99",
        ),
        (
            lambda d: d["outcomes"][2]["categories"][0]["label"].pop("en"),
            "outcomes[2].categories[0].label.en",
            "Give the text",
        ),
        (
            lambda d: d["outcomes"][2].update(type="ordinal", categories=[]),
            "outcomes[2].categories",
            "at least two categories",
        ),
        (
            lambda d: d["outcomes"][2].update(timepoints=["later"]),
            "outcomes[2].timepoints",
            "later is not a time point.",
        ),
        (
            lambda d: d["outcomes"][2].update(timepoints=[]),
            "outcomes[2].timepoints",
            "at least one time point",
        ),
        (
            lambda d: [o.update(timepoints=["post"]) for o in d["outcomes"]],
            "timepoints",
            "Nothing is measured at pre.",
        ),
        (lambda d: d.update(characteristics="custom"), "characteristics", "Table 1"),
        (lambda d: d.update(observation_hours=0), "observation_hours", "from 1 to 72"),
    ],
)
def test_every_wrong_key_is_named_with_what_is_wrong(change, key, message):
    data = copy.deepcopy(laktasi())
    change(data)
    problems = problems_of(data)
    assert any(where == key and message in text for where, text in problems), problems


def test_every_problem_is_reported_at_once():
    data = laktasi()
    data["alpha"] = 2
    data["outcomes"][0]["max"] = -5
    data["timepoints"][1]["day"] = 1
    assert keys_of(data) == ["alpha", "timepoints[1].day", "outcomes[0].max"]


def test_design_decides_how_many_arms_and_time_points():
    one_group = paper_definition() | {"arms": laktasi()["arms"]}
    assert "arms" in keys_of(one_group)
    post_only = laktasi() | {"design": "two_group_post_only"}
    assert "timepoints" in keys_of(post_only)
    repeated = laktasi() | {"design": "two_group_repeated"}
    assert ("timepoints", "This design has at least 3 time points.") in problems_of(repeated)
    assert set(DESIGNS) == {
        "one_group_pre_post", "two_group_pre_post", "two_group_post_only",
        "one_group_repeated", "two_group_repeated",
    }  # fmt: skip


def test_a_label_given_as_plain_text_serves_both_languages():
    data = laktasi()
    data["arms"][1]["label"] = "Kontrol"
    assert parse(data).arm("control").label.to_dict() == {"id": "Kontrol", "en": "Kontrol"}


def test_outcome_values_are_checked_and_normalised():
    protocol = parse(laktasi())
    milk, feeds, lancar = protocol.outcomes
    assert milk.check("12,5") == (12.5, None)
    assert milk.check("12.55")[1] == "Use at most 1 decimal places."
    assert milk.check(501)[1] == "Enter a value between 0 and 500 ml."
    assert feeds.check("8") == (8, None)
    assert feeds.check("8.5")[1] == "Enter a whole number."
    assert feeds.check("") == (None, None)
    assert lancar.check(2)[1].startswith("Choose one of: 0 (")
    assert lancar.check(True) == (1, None)
    clean, errors = protocol.check_values("pre", {"milk_ml": "300", "lancar": 1, "feeds": ""})
    assert clean == {"milk_ml": 300.0}
    assert list(errors) == ["lancar"]


def test_load_text_reads_yaml_and_json_and_names_the_line():
    assert load_text('{"design": "one_group_pre_post"}') == {"design": "one_group_pre_post"}
    assert load_text("alpha: 0.01\n") == {"alpha": 0.01}
    with pytest.raises(DefinitionError) as caught:
        load_text("alpha: [0.01\n")
    assert caught.value.problems[0][0].startswith("line ")
    with pytest.raises(DefinitionError) as caught:
        load_text("- a list\n")
    assert caught.value.problems == [("file", "The definition must be a mapping of keys.")]


def test_session_plan_follows_the_schedule():
    schedule = parse({}).schedule(ALL_ARMS)
    delivery = datetime.date(2024, 3, 1)
    plan = schedule.plan(delivery)
    assert plan[0] == (2, "morning", datetime.date(2024, 3, 3))
    assert plan[-1] == (4, "afternoon", datetime.date(2024, 3, 5))
    assert len(plan) == 6


def test_block_allocation_is_balanced_and_reproducible():
    arms = ("intervention", "control")
    drawn = [block_arm("seed", "Klinik A", position, arms) for position in range(40)]
    assert drawn == [block_arm("seed", "Klinik A", position, arms) for position in range(40)]
    # Every block of 2 or 4 is balanced, so the counts never drift apart by more than 2.
    for stop in range(1, 41):
        assert abs(drawn[:stop].count("control") - drawn[:stop].count("intervention")) <= 2
    assert drawn != [block_arm("seed", "Klinik B", position, arms) for position in range(40)]
