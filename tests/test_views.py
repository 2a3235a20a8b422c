"""Pages: status, what a person sees, and the database afterwards."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from studies.models import MassageSession, Respondent

from .conftest import PASSWORD


@pytest.mark.parametrize(
    ("user_fixture", "heading"),
    [
        ("midwife_a", "Today's worklist"),
        ("researcher", "Studies"),
        ("data_manager", "Studies"),
    ],
)
def test_login_lands_on_the_page_for_the_role(client, request, user_fixture, heading):
    user = request.getfixturevalue(user_fixture)
    response = client.post(
        reverse("login"), {"username": user.username, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("studies:home")
    page = response.content.decode()
    assert f'<h1 class="h3">{heading}</h1>' in page.replace("&#x27;", "'")
    assert user.username in page


def test_login_page_has_the_standard_form(client):
    response = client.get(reverse("login"))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="username"' in page and 'name="password"' in page
    assert "csrfmiddlewaretoken" in page


def test_wrong_password_is_refused_with_a_message(client, midwife_a):
    response = client.post(reverse("login"), {"username": "bidan_a", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_repeated_failed_logins_lock_the_account(client, midwife_a, settings):
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "bidan_a", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "bidan_a", "password": PASSWORD})
    assert response.status_code == 429
    assert "Account locked" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_worklist_shows_due_and_overdue_sessions_of_her_sites_only(
    client, make_respondent, midwife_a, midwife_b, site_b
):
    today = timezone.localdate()
    # Delivered three days ago: day 2 sessions are overdue, day 3 sessions are due today.
    make_respondent(
        "R01",
        delivery_date=today - datetime.timedelta(days=3),
        enrolled_on=today - datetime.timedelta(days=1),
        consent_date=today - datetime.timedelta(days=1),
    )
    make_respondent(
        "R02",
        site=site_b,
        user=midwife_b,
        delivery_date=today - datetime.timedelta(days=3),
        enrolled_on=today - datetime.timedelta(days=1),
        consent_date=today - datetime.timedelta(days=1),
    )
    client.force_login(midwife_a)
    response = client.get(reverse("studies:home"))
    assert response.status_code == 200
    assert [s.respondent.code for s in response.context["due_today"]] == ["R01", "R01"]
    assert {s.postpartum_day for s in response.context["due_today"]} == {3}
    assert [s.postpartum_day for s in response.context["overdue"]] == [2, 2]
    page = response.content.decode()
    assert "R01" in page and "R02" not in page


def test_researcher_overview_counts_mothers(client, make_respondent, researcher, midwife_a):
    make_respondent("R01")
    withdrawn = make_respondent("R02")
    withdrawn.status = Respondent.Status.WITHDRAWN
    withdrawn.withdrawn_on = withdrawn.enrolled_on
    withdrawn.withdrawal_reason = "Pindah"
    withdrawn.save()
    client.force_login(researcher)
    response = client.get(reverse("studies:home"))
    study = response.context["studies"][0]
    assert (study.n_enrolled, study.n_withdrawn) == (1, 1)
    assert "PIJAT — Pijat oksitosin" in response.content.decode()


def test_withdrawal_through_the_page(client, make_respondent, midwife_a):
    respondent = make_respondent()
    client.force_login(midwife_a)
    url = reverse("studies:respondent_withdraw", args=["PIJAT", "R01"])
    form_page = client.get(url)
    assert "Nothing is deleted" in form_page.content.decode()
    response = client.post(
        url, {"withdrawn_on": respondent.enrolled_on.isoformat(), "withdrawal_reason": "Pindah"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("studies:respondent_detail", args=["PIJAT", "R01"])
    respondent.refresh_from_db()
    assert respondent.status == "withdrawn"
    assert respondent.withdrawal_reason == "Pindah"
    assert MassageSession.objects.filter(respondent=respondent).count() == 6
    detail = client.get(response["Location"]).content.decode()
    assert "R01 has been withdrawn." in detail
    assert "Pindah" in detail


def test_withdrawal_before_enrolment_is_refused_next_to_the_field(
    client, make_respondent, midwife_a
):
    respondent = make_respondent()
    client.force_login(midwife_a)
    response = client.post(
        reverse("studies:respondent_withdraw", args=["PIJAT", "R01"]),
        {"withdrawn_on": "2026-05-01", "withdrawal_reason": "Pindah"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["withdrawn_on"] == [
        "Withdrawal cannot be before enrolment."
    ]
    assert 'value="Pindah"' in response.content.decode() or "Pindah</textarea>" in (
        response.content.decode()
    )
    respondent.refresh_from_db()
    assert respondent.status == "enrolled"


def test_unknown_study_or_respondent_is_404(client, make_respondent, data_manager):
    make_respondent()
    client.force_login(data_manager)
    assert client.get(reverse("studies:respondent_detail", args=["NOPE", "R01"])).status_code == 404
    assert (
        client.get(reverse("studies:respondent_detail", args=["PIJAT", "R99"])).status_code == 404
    )


def test_admin_site_is_for_the_data_manager_only(client, data_manager, researcher):
    client.force_login(researcher)
    assert client.get("/admin/").status_code == 302
    client.force_login(data_manager)
    response = client.get("/admin/studies/respondent/")
    assert response.status_code == 200
    assert "Select respondent to view" in response.content.decode()  # read-only there


def test_admin_history_view(client, make_respondent, data_manager):
    respondent = make_respondent()
    client.force_login(data_manager)
    response = client.get(f"/admin/studies/respondent/{respondent.pk}/history/")
    assert response.status_code == 200
    assert "bidan_a" in response.content.decode()


def test_data_manager_cannot_make_anyone_a_superuser(client, data_manager, midwife_a):
    client.force_login(data_manager)
    url = f"/admin/auth/user/{midwife_a.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="is_superuser"' not in page
    assert 'name="user_permissions"' not in page
    form = {
        "username": "bidan_a",
        "is_active": "on",
        "is_superuser": "on",
        "groups": [g.pk for g in midwife_a.groups.all()],
        "date_joined_0": "2026-06-01",
        "date_joined_1": "08:00:00",
        "initial-date_joined_0": "2026-06-01",
        "initial-date_joined_1": "08:00:00",
    }
    client.post(url, form)
    midwife_a.refresh_from_db()
    assert midwife_a.is_superuser is False
