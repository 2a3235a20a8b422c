"""Security headers (issue 12, item 7): a Content-Security-Policy without inline script, a
Permissions-Policy, and ``Cache-Control: no-store`` on everything a signed-in user gets, walked
over every URL pattern of the project (the access matrix's walk and real objects)."""

from __future__ import annotations

import pytest
from django.test import Client

from studies.charts import paired_chart

# The access matrix's URLconf walk and its world of real objects, reused rather than restated.
from .test_access_matrix import url_for, url_patterns, world  # noqa: F401

POLICY_PARTS = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]


def test_every_page_carries_the_content_security_policy_and_permissions_policy(client, db):
    for url in ("/accounts/login/", "/no-such-page/", "/static/css/lancar.css"):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        for part in POLICY_PARTS:
            assert part in policy, (url, part)
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        permissions = response["Permissions-Policy"]
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert f"{feature}=()" in permissions, (url, feature)


@pytest.mark.parametrize("user_name", ["midwife_a", "admin"])
def test_everything_a_signed_in_user_gets_is_no_store(world, user_name):  # noqa: F811
    values, admin_objects, users = world
    client = Client(headers={"accept-language": "en"})
    client.force_login(users[user_name])
    cacheable = []
    checked = 0
    for pattern in url_patterns():
        url = url_for(pattern, values, admin_objects)
        response = client.get(url)
        checked += 1
        if "no-store" not in response.get("Cache-Control", ""):
            cacheable.append(f"{url} ({response.status_code}): {response.get('Cache-Control')}")
    assert checked > 80
    assert cacheable == []


def test_downloads_and_json_of_a_signed_in_admin_are_no_store(world):  # noqa: F811
    values, _admin_objects, users = world
    client = Client(headers={"accept-language": "en"})
    client.force_login(users["admin"])
    for url, content_type in (
        (f"/studies/{values['study_code']}/export/cohort.csv", "text/csv"),
        (f"/studies/{values['study_code']}/results.json", "application/json"),
        (f"/studies/{values['study_code']}/respondents/R01/", "text/html"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith(content_type), url
        assert "no-store" in response["Cache-Control"], url
        if content_type != "application/json":
            assert b"R01" in response.getvalue()


def test_static_files_keep_their_caching(settings, midwife_a):
    # whitenoise serves straight from static/ as in a debug run (no collectstatic in tests).
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    client = Client()
    anonymous = client.get("/static/css/lancar.css")
    assert anonymous.status_code == 200
    assert "no-store" not in anonymous.get("Cache-Control", "")
    assert "max-age" in anonymous["Cache-Control"]
    client.force_login(midwife_a)
    signed_in = client.get("/static/css/lancar.css")
    assert signed_in.status_code == 200
    assert ".results-chart" in b"".join(signed_in.streaming_content).decode()
    assert "no-store" not in signed_in.get("Cache-Control", "")


def test_a_signed_out_browser_gets_no_store_on_the_last_signed_in_page(client, midwife_a):
    client.force_login(midwife_a)
    page = client.get("/")
    assert page.status_code == 200
    assert "Today's worklist" in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_charts_have_no_inline_style():
    chart = paired_chart("feeds", "Feeds", [3, 4, 5], [8, 9, 10])
    assert "style=" not in chart.svg
    assert "<style" not in chart.svg
    assert 'class="results-chart"' in chart.svg
    assert 'fill="#198754"' in chart.svg or 'stroke="#198754"' in chart.svg
