"""The admin site writes no clinical record past the services, is closed to every role but the
data manager's, and a data manager cannot act on a superuser (issue 12, item 1)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from studies.models import MassageSession, Observation, Respondent

from .conftest import PASSWORD


@pytest.fixture
def admin_client(client, data_manager):
    client.force_login(data_manager)
    return client


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)


def respondent_change_data(respondent) -> dict:
    return {
        "study": respondent.study_id,
        "site": respondent.site_id,
        "code": respondent.code,
        "delivery_date": "2026-06-01",
        "enrolled_on": "2026-06-03",
        "age_years": "41",
        "parity": respondent.parity,
        "education": respondent.education,
        "employment": respondent.employment,
        "status": respondent.status,
        "identity-TOTAL_FORMS": "0",
        "identity-INITIAL_FORMS": "0",
    }


def test_clinical_records_are_read_only_in_the_admin(admin_client, make_respondent):
    respondent = make_respondent()
    session = respondent.sessions.first()
    url = reverse("admin:studies_respondent_change", args=[respondent.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # a view, not a form
    response = admin_client.post(url, respondent_change_data(respondent))
    assert response.status_code == 403
    fresh = Respondent.objects.get(pk=respondent.pk)
    assert (fresh.age_years, fresh.version) == (27, 1)
    assert fresh.history.count() == 1
    for name in ("respondent", "massagesession", "observation"):
        assert admin_client.get(reverse(f"admin:studies_{name}_add")).status_code == 403
    session_url = reverse("admin:studies_massagesession_change", args=[session.pk])
    assert admin_client.post(session_url, {"status": "done"}).status_code == 403
    assert MassageSession.objects.get(pk=session.pk).status == "planned"


def test_the_history_revert_form_saves_nothing(admin_client, make_respondent, midwife_a):
    """Simple-history's revert form would save an old version back with its old version
    number, so a midwife's stale form would pass the concurrency check."""
    from studies import services

    respondent = make_respondent()
    services.update_respondent(
        respondent=respondent, user=midwife_a, reason="Umur salah tulis", age_years=28
    )
    first = respondent.history.order_by("history_id").first()
    url = reverse("admin:studies_respondent_simple_history", args=[respondent.pk, first.history_id])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, respondent_change_data(respondent) | {"age_years": "27"})
    assert response.status_code == 403
    fresh = Respondent.objects.get(pk=respondent.pk)
    assert (fresh.age_years, fresh.version) == (28, 2)
    for model in (Observation,):
        assert model.objects.count() == 0


def test_staff_status_alone_does_not_open_the_admin(client, midwife_a, researcher, make_respondent):
    make_respondent()
    for user in (midwife_a, researcher):
        user.is_staff = True
        user.save()
        client.force_login(user)
        for url in (
            reverse("admin:index"),
            reverse("admin:studies_respondent_changelist"),
            reverse("admin:auth_user_changelist"),
        ):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login"))


def test_a_data_manager_cannot_act_on_a_superuser(admin_client, superuser, midwife_a):
    password_url = reverse("admin:auth_user_password_change", args=[superuser.pk])
    response = admin_client.post(
        password_url,
        {"password1": "Taken-Over-Password-9", "password2": "Taken-Over-Password-9"},
    )
    assert response.status_code == 403
    superuser.refresh_from_db()
    assert superuser.check_password(PASSWORD)
    change_url = reverse("admin:auth_user_change", args=[superuser.pk])
    response = admin_client.post(
        change_url,
        {
            "username": "root",
            "is_active": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "0:0",
        },
    )
    assert response.status_code == 403
    superuser.refresh_from_db()
    assert superuser.is_active
    delete_url = reverse("admin:auth_user_delete", args=[superuser.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert get_user_model().objects.filter(pk=superuser.pk).exists()
    # Her own users stay hers to manage.
    assert (
        admin_client.get(reverse("admin:auth_user_change", args=[midwife_a.pk])).status_code == 200
    )
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[midwife_a.pk]),
        {"password1": "Bidan-Baru-Password-7", "password2": "Bidan-Baru-Password-7"},
    )
    assert response.status_code == 302
    midwife_a.refresh_from_db()
    assert midwife_a.check_password("Bidan-Baru-Password-7")


def test_a_superuser_can_still_look_after_a_superuser(client, superuser):
    other = get_user_model().objects.create_superuser("root2", "r2@example.org", PASSWORD)
    client.force_login(superuser)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[other.pk]),
        {"password1": "Another-Strong-Pass-3", "password2": "Another-Strong-Pass-3"},
    )
    assert response.status_code == 302
