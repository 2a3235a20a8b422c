"""The role/site helper: every view declares its roles, a midwife sees only her sites, a
researcher cannot write, anonymous users go to the login page."""

import datetime

import pytest
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, include, path, reverse

from studies.access import get_visible_respondent, visible_respondents
from studies.models import Respondent


def detail_url(respondent):
    return reverse("studies:respondent_detail", args=[respondent.study.code, respondent.code])


def withdraw_url(respondent):
    return reverse("studies:respondent_withdraw", args=[respondent.study.code, respondent.code])


def iter_patterns(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from iter_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_every_project_view_declares_its_roles():
    project_views = [
        (route, callback)
        for route, callback in iter_patterns(get_resolver().url_patterns)
        if callback.__module__.startswith("studies")
        # The admin site checks staff status itself (studies.admin overrides some of its views).
        and not route.startswith("admin/")
    ]
    assert len(project_views) >= 4
    undeclared = [
        route for route, callback in project_views if not getattr(callback, "lancar_roles", None)
    ]
    assert undeclared == []


def undeclared_view(request):
    return HttpResponse("should never be served")


urlpatterns = [path("undeclared/", undeclared_view), path("", include("clinic.urls"))]


@pytest.mark.urls("tests.test_access")
def test_a_view_that_forgot_its_roles_is_refused(client, data_manager):
    client.force_login(data_manager)
    response = client.get("/undeclared/")
    assert response.status_code == 403
    assert b"should never be served" not in response.content


def test_midwife_sees_her_site_and_not_the_other(
    client, make_respondent, midwife_a, midwife_b, site_b
):
    own = make_respondent("R01")
    other = make_respondent("R02", site=site_b, user=midwife_b)
    client.force_login(midwife_a)
    response = client.get(detail_url(own))
    assert response.status_code == 200
    assert "R01" in response.content.decode()
    response = client.get(detail_url(other))
    assert response.status_code == 404
    assert "Klinik B" not in response.content.decode()
    assert "Characteristics" not in response.content.decode()
    assert list(visible_respondents(midwife_a).values_list("code", flat=True)) == ["R01"]


def test_other_sites_mother_cannot_be_withdrawn(
    client, make_respondent, midwife_a, midwife_b, site_b
):
    other = make_respondent("R02", site=site_b, user=midwife_b)
    client.force_login(midwife_a)
    response = client.post(
        withdraw_url(other), {"withdrawn_on": "2026-06-04", "withdrawal_reason": "x"}
    )
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == Respondent.Status.ENROLLED


def test_researcher_cannot_write(client, make_respondent, researcher):
    respondent = make_respondent()
    client.force_login(researcher)
    assert client.get(detail_url(respondent)).status_code == 200
    response = client.post(
        withdraw_url(respondent), {"withdrawn_on": "2026-06-04", "withdrawal_reason": "x"}
    )
    assert response.status_code == 403
    assert "Your role does not give access to this page." in response.content.decode()
    respondent.refresh_from_db()
    assert respondent.status == Respondent.Status.ENROLLED


def test_researcher_does_not_see_names(client, make_respondent, researcher, midwife_a):
    respondent = make_respondent(identity={"full_name": "Siti Aminah", "phone": "081234567890"})
    client.force_login(researcher)
    page = client.get(detail_url(respondent)).content.decode()
    assert "R01" in page
    assert "Siti Aminah" not in page and "081234567890" not in page
    client.force_login(midwife_a)
    page = client.get(detail_url(respondent)).content.decode()
    assert "Siti Aminah" in page and "081234567890" in page


@pytest.mark.parametrize("view", ["home", "detail", "withdraw", "list"])
def test_anonymous_users_go_to_the_login_page(client, make_respondent, view):
    respondent = make_respondent()
    url = {
        "home": reverse("studies:home"),
        "detail": detail_url(respondent),
        "withdraw": withdraw_url(respondent),
        "list": reverse("studies:respondent_list", args=[respondent.study.code]),
    }[view]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_user_without_a_role_gets_403(client, django_user_model, make_respondent):
    nobody = django_user_model.objects.create_user("nobody", password="x")
    client.force_login(nobody)
    assert client.get(reverse("studies:home")).status_code == 403
    assert client.get(detail_url(make_respondent())).status_code == 403


def test_admin_sees_every_site(make_respondent, data_manager, midwife_b, site_b):
    respondent = make_respondent("R02", site=site_b, user=midwife_b)
    assert get_visible_respondent(data_manager, respondent.study.code, "R02") == respondent


def test_midwife_does_not_see_other_sites_in_the_list(
    client, make_respondent, midwife_a, midwife_b, site_b
):
    make_respondent("R01")
    make_respondent(
        "R02",
        site=site_b,
        user=midwife_b,
        delivery_date=datetime.date(2026, 6, 2),
        enrolled_on=datetime.date(2026, 6, 4),
    )
    client.force_login(midwife_a)
    page = client.get(reverse("studies:respondent_list", args=["PIJAT"])).content.decode()
    assert "R01" in page and "R02" not in page
