"""Fixtures built in code, next to the tests that use them: a study with the paper's protocol at
two sites, one user per role, and a factory for enrolled mothers."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import translation

from studies import services
from studies.models import Site

PASSWORD = "lancar-test-Password-1"


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """PBKDF2's deliberate slowness protects stored passwords, not test users: every sign-in and
    every user made by a fixture would pay for it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def english():
    """Assertions read English unless a test asks for Indonesian (the app's default)."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def tasks_run_at_once(settings, tmp_path):
    """Background tasks (studies/tasks.py) run inside the call that queues them, and uploads
    wait in the test's own folder. tests/test_import_tasks.py runs the real database queue and
    its worker too."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.LANCAR_IMPORT_DIR = str(tmp_path / "imports")


@pytest.fixture
def client():
    return Client(headers={"accept-language": "en"})


@pytest.fixture
def client_id():
    return Client(headers={"accept-language": "id"})


@pytest.fixture
def study(db):
    return services.create_study(
        code="PIJAT", title="Pijat oksitosin", site_names=["Klinik A", "Klinik B"]
    )


@pytest.fixture
def site_a(study):
    return Site.objects.get(name="Klinik A")


@pytest.fixture
def site_b(study):
    return Site.objects.get(name="Klinik B")


@pytest.fixture
def make_user(db):
    def factory(username: str, role: str, sites=()):
        user, _created = services.assign_role(
            username=username,
            role=role,
            site_names=[site.name for site in sites],
            password=PASSWORD,
        )
        return user

    return factory


@pytest.fixture
def midwife_a(make_user, site_a):
    return make_user("bidan_a", "midwife", [site_a])


@pytest.fixture
def midwife_b(make_user, site_b):
    return make_user("bidan_b", "midwife", [site_b])


@pytest.fixture
def researcher(make_user, study):
    return make_user("peneliti", "researcher")


@pytest.fixture
def data_manager(make_user, study):
    return make_user("pengelola", "admin")


DELIVERY = datetime.date(2026, 6, 1)


@pytest.fixture
def make_respondent(study, site_a, midwife_a):
    def factory(code: str = "R01", *, site=None, user=None, identity=None, **overrides):
        target_study = overrides.pop("study", study)
        fields = {
            "code": code,
            "delivery_date": DELIVERY,
            "enrolled_on": DELIVERY + datetime.timedelta(days=2),
            "age_years": 27,
            "parity": 1,
            "education": "secondary",
            "employment": "working",
            "eligibility_confirmed": True,
            "consent_date": DELIVERY + datetime.timedelta(days=2),
        }
        fields.update(overrides)
        return services.enrol_respondent(
            study=target_study,
            site=site or site_a,
            user=user or midwife_a,
            identity=identity,
            **fields,
        )

    return factory


def laktasi_definition(allocation: str = "blocks", **extra) -> dict:
    """The second demo study (two groups, pre/post): oxytocin massage against a control arm
    without sessions; milk volume in ml (one decimal), feeds, and "lancar" (yes/no) at post."""
    definition = {
        "design": "two_group_pre_post",
        "alpha": 0.05,
        "arms": [
            {"key": "intervention", "label": {"id": "Pijat oksitosin", "en": "Oxytocin massage"}},
            {"key": "control", "label": {"id": "Kontrol", "en": "Control"}},
        ],
        "allocation": allocation,
        "sessions": {
            "intervention": {
                "first_day": 2,
                "days": 3,
                "per_day": 2,
                "minutes": [15, 20],
                "label": {"id": "Pijat oksitosin", "en": "Oxytocin massage"},
            }
        },
        "timepoints": [
            {"key": "pre", "day": 2, "label": {"id": "Sebelum", "en": "Before"}},
            {"key": "post", "day": 5, "label": {"id": "Sesudah", "en": "After"}},
        ],
        "outcomes": [
            {
                "key": "milk_ml",
                "label": {"id": "Volume ASI", "en": "Breast-milk volume"},
                "type": "continuous",
                "unit": {"id": "ml", "en": "ml"},
                "min": 0,
                "max": 500,
                "decimals": 1,
            },
            {
                "key": "feeds",
                "label": {"id": "Frekuensi menyusu", "en": "Breastfeeding frequency"},
                "type": "count",
                "unit": {"id": "kali/24 jam", "en": "times/24 h"},
                "min": 0,
                "max": 40,
                "adequate_at_least": 8,
            },
            {
                "key": "lancar",
                "label": {"id": "ASI lancar", "en": "Milk flows smoothly"},
                "type": "binary",
                "categories": [
                    {"value": 0, "label": {"id": "Tidak lancar", "en": "Not smooth"}},
                    {"value": 1, "label": {"id": "Lancar", "en": "Smooth"}},
                ],
                "timepoints": ["post"],
            },
        ],
    }
    definition.update(extra)
    return definition


@pytest.fixture
def make_laktasi(study):
    """A LAKTASI study at the paper's two sites (Klinik A, Klinik B) with the given allocation."""

    def factory(allocation: str = "blocks", **extra):
        if allocation == "by_site":
            extra.setdefault("arm_by_site", {"Klinik A": "intervention", "Klinik B": "control"})
        return services.create_study(
            code="LAKTASI",
            title="Pijat oksitosin dan volume ASI",
            site_names=["Klinik A", "Klinik B"],
            definition=laktasi_definition(allocation, **extra),
        )

    return factory
