"""A study's definition (DESIGN.md section 6): its design, arms, allocation, intervention
schedule per arm, time points, outcomes and Table 1, as data.

The registries below name each kind once — designs, outcome types, allocation modes — and the
rest of the code iterates them. A definition is read from a mapping (a YAML or JSON file, the
designer's forms, the database) by :func:`parse`, which checks everything and names the key of
every problem (:class:`DefinitionError`); :meth:`StudyDefinition.to_dict` gives back the same
mapping, so a definition round-trips exactly. :func:`paper_definition` is the oxytocin-massage
paper's study, the default every other definition's defaults come from.

No database here: the model keeps the mapping (``Study.definition``) and builds the object.
"""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

__all__ = [
    "ALL_ARMS",
    "ALLOCATIONS",
    "DESIGNS",
    "OUTCOME_TYPES",
    "SLOTS",
    "Arm",
    "Category",
    "DefinitionError",
    "Design",
    "Label",
    "Outcome",
    "Schedule",
    "StudyDefinition",
    "TimePoint",
    "block_arm",
    "load_text",
    "match_word",
    "paper_definition",
    "parse",
    "word_key",
]

KEY = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # a number as a cell writes it
ALL_ARMS = "all"  # the arm key of a one-group study that declares no arm (DESIGN §7)
SLOTS = ("morning", "afternoon", "evening")  # times of day, in the order sessions use them
LANGUAGES = ("id", "en")
MAX_DAY = 60  # postpartum days a definition may plan for
MAX_VALUE = Decimal("100000")


@dataclass(frozen=True)
class Design:
    """A study design: how many arms it compares and whether it has a baseline (pre/post) or
    several time points (repeated)."""

    key: str
    arms: int
    min_timepoints: int
    max_timepoints: int | None
    label_en: str
    label_id: str

    @property
    def label(self) -> str:
        return self.label_id if _language() == "id" else self.label_en

    @property
    def pre_post(self) -> bool:
        return self.min_timepoints == 2 and self.max_timepoints == 2

    @property
    def repeated(self) -> bool:
        return self.min_timepoints >= 3


DESIGNS: dict[str, Design] = {
    design.key: design
    for design in (
        Design("one_group_pre_post", 1, 2, 2, "One group, pre-test/post-test",
               "Satu kelompok, pre-test/post-test"),
        Design("two_group_pre_post", 2, 2, 2, "Two groups, pre-test/post-test",
               "Dua kelompok, pre-test/post-test"),
        Design("two_group_post_only", 2, 1, 1, "Two groups, post-test only",
               "Dua kelompok, post-test saja"),
        Design("one_group_repeated", 1, 3, None, "One group, three or more time points",
               "Satu kelompok, tiga waktu pengukuran atau lebih"),
        Design("two_group_repeated", 2, 3, None, "Two groups, three or more time points",
               "Dua kelompok, tiga waktu pengukuran atau lebih"),
    )
}  # fmt: skip

# Outcome types: numbers in [min, max] with `decimals` places, or one of the categories.
NUMERIC_TYPES = ("count", "continuous", "score")
CATEGORICAL_TYPES = ("ordinal", "binary")
OUTCOME_TYPES = NUMERIC_TYPES + CATEGORICAL_TYPES
ALLOCATIONS = ("chosen", "by_site", "blocks")
BLOCK_SIZES = (2, 4)


def word_key(word: str) -> str:
    """How a word naming a choice is compared (a category's or an arm's label, a choice's key):
    case, underscores and runs of spaces ignored (``Tidak  lancar`` is ``tidak lancar``)."""
    return " ".join(str(word).replace("_", " ").split()).casefold()


def match_word(text: str, choices: Iterable[tuple[Any, Iterable[str]]]) -> Any | None:
    """The one rule for reading a choice written as a word: the value among ``choices``
    (``(value, words)`` pairs: its key or number and its labels in both languages) whose word
    is ``text`` as :func:`word_key` compares them; ``None`` for no match, and for a word two
    values share (it names neither)."""
    wanted = word_key(text)
    found = {value for value, words in choices if wanted in {word_key(word) for word in words}}
    return found.pop() if len(found) == 1 else None


def _language() -> str:
    """The active language; with translation deactivated (management commands' output), the
    language of the message ids, English."""
    return (get_language() or "en")[:2]


class DefinitionError(ValueError):
    """A definition that cannot be used. ``problems`` lists ``(key, message)`` pairs, the key
    a dotted path into the definition (``outcomes[2].max``)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))


@dataclass(frozen=True)
class Label:
    """A text in Indonesian and English; ``str()`` gives the active language's."""

    id: str
    en: str

    def __str__(self) -> str:
        return self.id if _language() == "id" else self.en

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "en": self.en}


@dataclass(frozen=True)
class Arm:
    key: str
    label: Label


@dataclass(frozen=True)
class Schedule:
    """One arm's intervention: ``days`` consecutive days from postpartum day ``first_day``,
    ``per_day`` sessions a day (morning, afternoon, evening), each ``min_minutes`` to
    ``max_minutes`` long."""

    first_day: int
    days: int
    per_day: int
    min_minutes: int
    max_minutes: int
    label: Label

    @property
    def last_day(self) -> int:
        return self.first_day + self.days - 1

    @property
    def slots(self) -> tuple[str, ...]:
        return SLOTS[: self.per_day]

    @property
    def sessions_planned(self) -> int:
        return self.days * self.per_day

    def plan(self, delivery_date: datetime.date) -> list[tuple[int, str, datetime.date]]:
        """``(postpartum day, slot, date)`` of every session, in order."""
        return [
            (day, slot, delivery_date + datetime.timedelta(days=day))
            for day in range(self.first_day, self.last_day + 1)
            for slot in self.slots
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_day": self.first_day,
            "days": self.days,
            "per_day": self.per_day,
            "minutes": [self.min_minutes, self.max_minutes],
            "label": self.label.to_dict(),
        }


@dataclass(frozen=True)
class TimePoint:
    """A time point: the postpartum ``day`` its observation sheet is due."""

    key: str
    day: int
    label: Label


@dataclass(frozen=True)
class Category:
    value: int
    label: Label


@dataclass(frozen=True)
class Outcome:
    """What a sheet records: a number in [``min``, ``max``] with ``decimals`` places (count,
    continuous, score) or one of ``categories`` (ordinal, binary), at ``timepoints``."""

    key: str
    label: Label
    type: str
    unit: Label | None
    min: Decimal | None
    max: Decimal | None
    decimals: int
    categories: tuple[Category, ...]
    adequate_at_least: Decimal | None
    timepoints: tuple[str, ...]
    measured_everywhere: bool = True  # the definition gave no `timepoints`

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def category_values(self) -> tuple[int, ...]:
        return tuple(category.value for category in self.categories)

    def category_for(self, text: str) -> int | None:
        """The category a cell writes as its label, in either language, whatever its case and
        spacing (``match_word``); ``None`` when no label is ``text``."""
        return match_word(text, ((c.value, c.label.to_dict().values()) for c in self.categories))

    def category_choices(self) -> str:
        """The categories as a message lists them: ``0 (Tidak lancar), 1 (Lancar)``, the
        labels in the active language."""
        return ", ".join(f"{c.value} ({c.label})" for c in self.categories)

    def category_label(self, value: Any) -> str:
        for category in self.categories:
            if category.value == value:
                return str(category.label)
        return "" if value is None else str(value)

    def step(self) -> str:
        """The HTML input's ``step``: 1 for whole numbers, 0.1 for one decimal, …"""
        return "1" if self.decimals == 0 else "0." + "0" * (self.decimals - 1) + "1"

    def check(self, value: Any) -> tuple[int | float | None, str | None]:
        """``(stored value, None)`` for an acceptable value, ``(None, message)`` otherwise.
        ``None`` and ``""`` are "not recorded". Numbers come back as ``int`` when the outcome
        has no decimals, else as ``float`` of the decimal (a negative zero as 0); text is read
        with "." or "," as the decimal separator. A category (binary, ordinal) may also be
        written as its label in either language, whatever its case (``Lancar``, ``not
        smooth``: :meth:`category_for`); anything else is refused with the categories listed
        in the active language."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None, None
        if isinstance(value, bool):
            value = int(value)
        text = str(value).strip().replace(",", ".") if isinstance(value, str) else value
        if not self.numeric and isinstance(text, str) and not _DECIMAL.fullmatch(text):
            # Not a number: a category's label (a number is always its value, never a label).
            category = self.category_for(text)
            if category is None:
                return None, self._not_a_number()
            return category, None
        if isinstance(text, str) and not text.isascii():
            # Decimal reads "٥" and "２９" as numbers; a sheet's value is typed in ASCII digits.
            return None, self._not_a_number()
        try:
            number = Decimal(str(text))
        except (InvalidOperation, ValueError):
            return None, self._not_a_number()
        if not number.is_finite():
            return None, self._not_a_number()
        if number.is_zero():
            # "-0,0" is zero: stored, exported and shown as 0, never as "-0,0".
            number = Decimal(0)
        if self.numeric:
            exponent = number.normalize().as_tuple().exponent
            if isinstance(exponent, int) and -exponent > self.decimals:
                if self.decimals == 0:
                    return None, _("Enter a whole number.")
                return None, _("Use at most %(places)s decimal places.") % {
                    "places": self.decimals
                }
            if number < self.min or number > self.max:
                return None, _("Enter a value between %(min)s and %(max)s%(unit)s.") % {
                    "min": plain_number(self.min),
                    "max": plain_number(self.max),
                    "unit": f" {self.unit}" if self.unit and str(self.unit) else "",
                }
            return (int(number) if self.decimals == 0 else float(number)), None
        if number != number.to_integral_value() or int(number) not in self.category_values:
            return None, self._not_a_number()
        return int(number), None

    def _not_a_number(self) -> str:
        """The message for a value that is not one: a number's, or the categories to choose
        from."""
        if self.numeric:
            return _("Enter a number.")
        return _("Choose one of: %(choices)s.") % {"choices": self.category_choices()}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "label": self.label.to_dict(), "type": self.type}
        if self.numeric:
            if self.unit is not None:
                data["unit"] = self.unit.to_dict()
            data["min"] = plain_number(self.min)
            data["max"] = plain_number(self.max)
            if self.decimals:
                data["decimals"] = self.decimals
            if self.adequate_at_least is not None:
                data["adequate_at_least"] = plain_number(self.adequate_at_least)
        else:
            data["categories"] = [
                {"value": c.value, "label": c.label.to_dict()} for c in self.categories
            ]
        if not self.measured_everywhere:
            data["timepoints"] = list(self.timepoints)
        return data


def plain_number(number: Decimal | None) -> int | float | None:
    if number is None:
        return None
    return int(number) if number == number.to_integral_value() else float(number)


@dataclass(frozen=True)
class StudyDefinition:
    """Everything that makes one study of the family differ from another (DESIGN.md §6).
    ``arms`` is empty for a one-group study that names no arm; :attr:`arm_keys` is then
    ``("all",)``."""

    design: Design
    alpha: Decimal
    arms: tuple[Arm, ...]
    allocation: str
    arm_by_site: dict[str, str]
    sessions: dict[str, Schedule]
    timepoints: tuple[TimePoint, ...]
    outcomes: tuple[Outcome, ...]
    characteristics: str = "default"
    observation_hours: int = 24
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def arm_keys(self) -> tuple[str, ...]:
        return tuple(arm.key for arm in self.arms) or (ALL_ARMS,)

    @property
    def has_arms(self) -> bool:
        """Whether mothers are assigned an arm (two or more arms)."""
        return len(self.arms) >= 2

    def arm(self, key: str) -> Arm | None:
        return next((arm for arm in self.arms if arm.key == key), None)

    def arm_for(self, text: str) -> str | None:
        """The arm a cell names by its key or its label in either language, whatever its case
        and spacing (``match_word``, the rule categories follow); ``None`` for no arm."""
        return match_word(
            text, ((arm.key, (arm.key, *arm.label.to_dict().values())) for arm in self.arms)
        )

    def arm_label(self, key: str) -> str:
        arm = self.arm(key)
        return str(arm.label) if arm else ""

    def schedule(self, arm_key: str) -> Schedule | None:
        """The arm's intervention schedule; ``None`` for an arm without one (a control arm)."""
        return self.sessions.get(arm_key)

    def timepoint(self, key: str) -> TimePoint | None:
        return next((point for point in self.timepoints if point.key == key), None)

    @property
    def timepoint_keys(self) -> tuple[str, ...]:
        return tuple(point.key for point in self.timepoints)

    def outcome(self, key: str) -> Outcome | None:
        return next((outcome for outcome in self.outcomes if outcome.key == key), None)

    def outcomes_at(self, timepoint_key: str) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if timepoint_key in o.timepoints)

    @property
    def cohort_value_columns(self) -> list[tuple[str, str, str]]:
        """``(column, time point, outcome)`` of the cohort CSV, in the definition's order
        (DESIGN §4.4): every time point, then every outcome measured at it."""
        return [
            (f"{point.key}_{outcome.key}", point.key, outcome.key)
            for point in self.timepoints
            for outcome in self.outcomes_at(point.key)
        ]

    @property
    def enrolment_day(self) -> int:
        """The postpartum day mothers are enrolled on, whatever their arm: the earliest of the
        first time point and every arm's first session (day 2 in the paper)."""
        days = [self.timepoints[0].day] + [s.first_day for s in self.sessions.values()]
        return min(days)

    @property
    def baseline(self) -> TimePoint:
        return self.timepoints[0]

    @property
    def last_timepoint(self) -> TimePoint:
        return self.timepoints[-1]

    def check_values(self, timepoint_key: str, values: Mapping[str, Any]) -> tuple[
        dict[str, int | float], dict[str, str]
    ]:
        """``(clean values, errors by outcome key)`` of one sheet: every key must be an outcome
        measured at the time point; empty values are dropped (not recorded)."""
        allowed = {outcome.key: outcome for outcome in self.outcomes_at(timepoint_key)}
        clean: dict[str, int | float] = {}
        errors: dict[str, str] = {}
        for key, value in values.items():
            outcome = allowed.get(key)
            if outcome is None:
                errors[key] = _("%(outcome)s is not measured at this time point.") % {
                    "outcome": key
                }
                continue
            stored, message = outcome.check(value)
            if message:
                errors[key] = message
            elif stored is not None:
                clean[key] = stored
        return clean, errors

    def to_dict(self) -> dict[str, Any]:
        """The definition as DESIGN §6 writes it (without code, title and sites, which the
        study keeps)."""
        data: dict[str, Any] = {
            "design": self.design.key,
            "alpha": plain_number(self.alpha),
            "arms": [{"key": a.key, "label": a.label.to_dict()} for a in self.arms],
            "allocation": self.allocation,
        }
        if self.allocation == "by_site":
            data["arm_by_site"] = dict(self.arm_by_site)
        data["sessions"] = {key: schedule.to_dict() for key, schedule in self.sessions.items()}
        data["timepoints"] = [
            {"key": p.key, "day": p.day, "label": p.label.to_dict()} for p in self.timepoints
        ]
        data["outcomes"] = [outcome.to_dict() for outcome in self.outcomes]
        data["characteristics"] = self.characteristics
        data["observation_hours"] = self.observation_hours
        return data


def paper_definition() -> dict[str, Any]:
    """The oxytocin-massage paper's study (DESIGN.md §1): one group, sheets on postpartum days 2
    and 5, six massages of 15–20 minutes on days 2–4, feeds and urinations in 24 hours."""
    return {
        "design": "one_group_pre_post",
        "alpha": 0.05,
        "arms": [],
        "allocation": "chosen",
        "sessions": {
            ALL_ARMS: {
                "first_day": 2,
                "days": 3,
                "per_day": 2,
                "minutes": [15, 20],
                "label": {"id": "Pijat oksitosin", "en": "Oxytocin massage"},
            }
        },
        "timepoints": [
            {"key": "pre", "day": 2, "label": {"id": "pre-test", "en": "pre-test"}},
            {"key": "post", "day": 5, "label": {"id": "post-test", "en": "post-test"}},
        ],
        "outcomes": [
            {
                "key": "feeds",
                "label": {"id": "frekuensi menyusu", "en": "feeds"},
                "type": "count",
                "unit": {"id": "kali/24 jam", "en": "times/24 h"},
                "min": 0,
                "max": 40,
                "adequate_at_least": 8,
            },
            {
                "key": "urinations",
                "label": {"id": "frekuensi BAK", "en": "urinations"},
                "type": "count",
                "unit": {"id": "kali/24 jam", "en": "times/24 h"},
                "min": 0,
                "max": 40,
                "adequate_at_least": 6,
            },
        ],
        "characteristics": "default",
        "observation_hours": 24,
    }


def load_text(text: str) -> dict[str, Any]:
    """A definition file's text (YAML, or JSON, which is YAML) as a mapping.
    Raises :class:`DefinitionError` when it is not a readable mapping."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        raise DefinitionError([(where, _("This is not valid YAML or JSON."))]) from error
    if not isinstance(data, dict):
        raise DefinitionError([("file", _("The definition must be a mapping of keys."))])
    return data


# ---------------------------------------------------------------------------
# Parsing: every problem named by its key, nothing half-read.
# ---------------------------------------------------------------------------

KNOWN_KEYS = {
    "code", "title", "sites", "design", "alpha", "arms", "allocation", "arm_by_site",
    "sessions", "timepoints", "outcomes", "characteristics", "observation_hours",
    "exclusion_criteria",
}  # fmt: skip


class _Reader:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append((key, message))

    def mapping(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            self.fail(key, _("Expected a mapping of keys."))
            return {}
        return value

    def listing(self, value: Any, key: str) -> list:
        if not isinstance(value, list):
            self.fail(key, _("Expected a list."))
            return []
        return value

    def key(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not KEY.match(value):
            self.fail(
                key,
                _("Use a key of lower-case letters, digits and '_', starting with a letter "
                  "(at most 30 characters)."),
            )
            return ""
        return value

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(key, _("Expected a whole number from %(low)s to %(high)s.")
                      % {"low": low, "high": high})
            return low
        return value

    def number(self, value: Any, key: str) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.fail(key, _("Expected a number."))
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.fail(key, _("Expected a number."))
            return None
        if not number.is_finite() or abs(number) > MAX_VALUE:
            self.fail(key, _("Expected a number of at most %(limit)s.") % {"limit": MAX_VALUE})
            return None
        return number

    def label(self, value: Any, key: str) -> Label:
        if isinstance(value, str) and value.strip():
            return Label(value.strip()[:200], value.strip()[:200])
        data = self.mapping(value, key)
        texts = {}
        for language in LANGUAGES:
            text = data.get(language)
            if not isinstance(text, str) or not text.strip():
                self.fail(f"{key}.{language}", _("Give the text in this language."))
                text = ""
            elif len(text.strip()) > 200:
                self.fail(f"{key}.{language}", _("At most 200 characters."))
            texts[language] = text.strip()[:200]
        return Label(texts["id"], texts["en"])


def parse(data: Mapping[str, Any]) -> StudyDefinition:
    """Read and check a definition mapping (DESIGN.md §6). Missing keys take the paper's values.
    Raises :class:`DefinitionError` listing every problem with its key; nothing is returned
    unless everything is right. ``code``, ``title`` and ``sites`` are read by the caller
    (they belong to the study, not its design) and only checked for type here."""
    reader = _Reader()
    data = reader.mapping(data, "definition")
    for key in data:
        if key not in KNOWN_KEYS:
            reader.fail(str(key), _("Unknown key."))
    defaults = paper_definition()

    design = DESIGNS.get(data.get("design", defaults["design"]))
    if design is None:
        reader.fail("design", _("Choose one of: %(choices)s.") % {"choices": ", ".join(DESIGNS)})
        design = DESIGNS["one_group_pre_post"]

    alpha = reader.number(data.get("alpha", defaults["alpha"]), "alpha")
    if alpha is not None and not Decimal("0.001") <= alpha <= Decimal("0.2"):
        reader.fail("alpha", _("The significance level must be between 0.001 and 0.2."))
    alpha = alpha if alpha is not None else Decimal("0.05")

    arms: list[Arm] = []
    for index, item in enumerate(reader.listing(data.get("arms", []), "arms")):
        where = f"arms[{index}]"
        item = reader.mapping(item, where)
        key = reader.key(item.get("key"), f"{where}.key")
        if key == ALL_ARMS:
            reader.fail(f"{where}.key", _("'all' is reserved for a study without arms."))
        if key and any(arm.key == key for arm in arms):
            reader.fail(f"{where}.key", _("This key is used twice."))
        arms.append(Arm(key, reader.label(item.get("label", key), f"{where}.label")))
    if design.arms == 2 and len(arms) != 2:
        reader.fail("arms", _("This design compares two arms: list exactly two."))
    if design.arms == 1 and len(arms) > 1:
        reader.fail("arms", _("A one-group design has one arm at most."))
    arm_keys = tuple(arm.key for arm in arms) or (ALL_ARMS,)

    allocation = data.get("allocation", "chosen")
    if allocation not in ALLOCATIONS:
        reader.fail("allocation", _("Choose one of: %(choices)s.")
                    % {"choices": ", ".join(ALLOCATIONS)})
        allocation = "chosen"
    arm_by_site: dict[str, str] = {}
    if allocation == "by_site":
        mapping = reader.mapping(data.get("arm_by_site"), "arm_by_site")
        for site, arm_key in mapping.items():
            if arm_key not in arm_keys:
                reader.fail(f"arm_by_site.{site}", _("Not one of the arms."))
            arm_by_site[str(site)] = str(arm_key)
        sites = data.get("sites")
        if isinstance(sites, list):
            for site in sites:
                if site not in arm_by_site:
                    reader.fail("arm_by_site", _("Give the arm of the site %(site)s.")
                                % {"site": site})
    elif "arm_by_site" in data:
        reader.fail("arm_by_site", _("Only used with allocation: by_site."))

    sessions: dict[str, Schedule] = {}
    raw_sessions = data.get("sessions", defaults["sessions"] if not arms else {})
    for arm_key, item in reader.mapping(raw_sessions, "sessions").items():
        where = f"sessions.{arm_key}"
        if arm_key not in arm_keys:
            reader.fail(where, _("Not one of the arms."))
            continue
        item = reader.mapping(item, where)
        first_day = reader.integer(item.get("first_day"), f"{where}.first_day", 0, MAX_DAY)
        days = reader.integer(item.get("days"), f"{where}.days", 1, 30)
        per_day = reader.integer(item.get("per_day", 1), f"{where}.per_day", 1, len(SLOTS))
        minutes = item.get("minutes")
        if isinstance(minutes, int) and not isinstance(minutes, bool):
            minutes = [minutes, minutes]
        if (
            not isinstance(minutes, list)
            or len(minutes) != 2
            or not all(isinstance(m, int) and not isinstance(m, bool) for m in minutes)
            or not 1 <= minutes[0] <= minutes[1] <= 240
        ):
            reader.fail(f"{where}.minutes",
                        _("Give the shortest and longest session in minutes, e.g. [15, 20]."))
            minutes = [1, 1]
        label = reader.label(item.get("label"), f"{where}.label")
        sessions[arm_key] = Schedule(first_day, days, per_day, minutes[0], minutes[1], label)

    timepoints: list[TimePoint] = []
    for index, item in enumerate(
        reader.listing(data.get("timepoints", defaults["timepoints"]), "timepoints")
    ):
        where = f"timepoints[{index}]"
        item = reader.mapping(item, where)
        key = reader.key(item.get("key"), f"{where}.key")
        if key and any(point.key == key for point in timepoints):
            reader.fail(f"{where}.key", _("This key is used twice."))
        day = reader.integer(item.get("day"), f"{where}.day", 0, MAX_DAY)
        if timepoints and day <= timepoints[-1].day:
            reader.fail(f"{where}.day", _("Each time point must come after the one before."))
        timepoints.append(TimePoint(key, day, reader.label(item.get("label", key),
                                                            f"{where}.label")))
    count = len(timepoints)
    if count < design.min_timepoints or (design.max_timepoints and count > design.max_timepoints):
        if design.max_timepoints == design.min_timepoints:
            message = _("This design has %(n)s time point(s).") % {"n": design.min_timepoints}
        else:
            message = _("This design has at least %(n)s time points.") % {
                "n": design.min_timepoints
            }
        reader.fail("timepoints", message)
    point_keys = tuple(point.key for point in timepoints)

    outcomes: list[Outcome] = []
    raw_outcomes = reader.listing(data.get("outcomes", defaults["outcomes"]), "outcomes")
    if not raw_outcomes:
        reader.fail("outcomes", _("List at least one outcome."))
    for index, item in enumerate(raw_outcomes):
        outcomes.append(_outcome(reader, reader.mapping(item, f"outcomes[{index}]"),
                                 f"outcomes[{index}]", point_keys))
        if outcomes[-1].key and any(o.key == outcomes[-1].key for o in outcomes[:-1]):
            reader.fail(f"outcomes[{index}].key", _("This key is used twice."))
    for point in timepoints:
        if not any(point.key in outcome.timepoints for outcome in outcomes):
            reader.fail("timepoints", _("Nothing is measured at %(key)s.") % {"key": point.key})

    characteristics = data.get("characteristics", "default")
    if characteristics != "default":
        reader.fail("characteristics", _("Only the paper's Table 1 ('default') is available."))
    hours = reader.integer(data.get("observation_hours", 24), "observation_hours", 1, 72)

    if reader.problems:
        raise DefinitionError(reader.problems)
    return StudyDefinition(
        design=design,
        alpha=alpha,
        arms=tuple(arms),
        allocation=allocation,
        arm_by_site=arm_by_site,
        sessions=sessions,
        timepoints=tuple(timepoints),
        outcomes=tuple(outcomes),
        characteristics=characteristics,
        observation_hours=hours,
    )


def _outcome(reader: _Reader, item: dict, where: str, point_keys: tuple[str, ...]) -> Outcome:
    key = reader.key(item.get("key"), f"{where}.key")
    label = reader.label(item.get("label", key or "?"), f"{where}.label")
    kind = item.get("type")
    if kind not in OUTCOME_TYPES:
        reader.fail(f"{where}.type", _("Choose one of: %(choices)s.")
                    % {"choices": ", ".join(OUTCOME_TYPES)})
        kind = "count"
    known = {"key", "label", "type", "timepoints"} | (
        {"unit", "min", "max", "decimals", "adequate_at_least"}
        if kind in NUMERIC_TYPES else {"categories"}
    )
    for name in item:
        if name not in known:
            reader.fail(f"{where}.{name}", _("Not used by a %(type)s outcome.") % {"type": kind})
    unit = low = high = adequate = None
    decimals = 0
    categories: list[Category] = []
    if kind in NUMERIC_TYPES:
        unit = reader.label(item["unit"], f"{where}.unit") if "unit" in item else None
        low = reader.number(item.get("min"), f"{where}.min")
        high = reader.number(item.get("max"), f"{where}.max")
        default_decimals = 0 if kind == "count" else item.get("decimals", 0)
        decimals = reader.integer(item.get("decimals", default_decimals), f"{where}.decimals",
                                  0, 0 if kind == "count" else 3)
        if low is not None and high is not None and low >= high:
            reader.fail(f"{where}.max", _("The maximum must be above the minimum."))
        if kind == "count" and low is not None and low < 0:
            reader.fail(f"{where}.min", _("A count cannot be negative."))
        if "adequate_at_least" in item:
            adequate = reader.number(item["adequate_at_least"], f"{where}.adequate_at_least")
            if adequate is not None and low is not None and high is not None and not (
                low < adequate <= high
            ):
                reader.fail(f"{where}.adequate_at_least",
                            _("The threshold must lie between the minimum and the maximum."))
        low = low if low is not None else Decimal(0)
        high = high if high is not None else Decimal(1)
    else:
        for position, category in enumerate(
            reader.listing(item.get("categories"), f"{where}.categories")
        ):
            at = f"{where}.categories[{position}]"
            category = reader.mapping(category, at)
            value = reader.integer(category.get("value"), f"{at}.value", 0, 99)
            if any(c.value == value for c in categories):
                reader.fail(f"{at}.value", _("This value is used twice."))
            categories.append(Category(value, reader.label(category.get("label"), f"{at}.label")))
        if kind == "binary" and sorted(c.value for c in categories) != [0, 1]:
            reader.fail(f"{where}.categories", _("A binary outcome has the values 0 and 1."))
        if kind == "ordinal" and len(categories) < 2:
            reader.fail(f"{where}.categories", _("List at least two categories."))
    measured_everywhere = "timepoints" not in item
    points = point_keys
    if not measured_everywhere:
        listed = reader.listing(item.get("timepoints"), f"{where}.timepoints")
        for name in listed:
            if name not in point_keys:
                reader.fail(f"{where}.timepoints", _("%(key)s is not a time point.")
                            % {"key": name})
        if not listed:
            reader.fail(f"{where}.timepoints", _("List at least one time point."))
        points = tuple(point for point in point_keys if point in listed)
    return Outcome(
        key=key, label=label, type=kind, unit=unit, min=low, max=high, decimals=decimals,
        categories=tuple(categories), adequate_at_least=adequate, timepoints=points,
        measured_everywhere=measured_everywhere,
    )  # fmt: skip


def block_arm(seed: str, site: str, position: int, arm_keys: Iterable[str]) -> str:
    """The arm of the ``position``-th mother (0-based) enrolled at ``site`` under permuted-block
    allocation: blocks of 2 or 4 (each arm equally often within a block, block sizes drawn at
    random), stratified by site, drawn from ``seed`` — the same seed and site always give the
    same list, so the allocation can be reproduced and audited (CONSORT 2010, item 8b)."""
    arms = list(arm_keys)
    generator = random.Random(f"{seed}:{site}")
    sequence: list[str] = []
    while len(sequence) <= position:
        size = generator.choice([s for s in BLOCK_SIZES if s % len(arms) == 0])
        block = arms * (size // len(arms))
        generator.shuffle(block)
        sequence.extend(block)
    return sequence[position]
