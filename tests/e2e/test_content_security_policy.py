"""The Content-Security-Policy in a real browser: Chromium loads the main pages of a midwife and
of a data manager (including the results charts, the Django admin and simple-history's pages)
and the test fails on any violation the browser reports, or on a page served without the
policy. The tally buttons must still work: they come from a script file, not inline code."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studies import exchange
from studies.models import Respondent, Site
from tests.conftest import PASSWORD

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def watched_page(browser, violations: list[str]):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text or "CSP violation" in message.text
            else None
        ),
    )
    return context, page


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#main form button[type=submit]")
    page.wait_for_url(f"{base}/")


def visit(page, url: str, expected_text: str) -> None:
    response = page.goto(url)
    assert response.status == 200, url
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy, url
    assert expected_text in page.locator("body").inner_text(), url
    # Give late violations (styles applied after load) a moment to be reported.
    page.wait_for_timeout(150)


@pytest.mark.django_db(transaction=True)
def test_main_pages_work_under_the_content_security_policy(
    live_server, browser, study, site_a, midwife_a, data_manager
):
    from tests.test_exchange import paper_csv

    report = exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    assert report.ok
    mother = Respondent.objects.filter(site=site_a).order_by("code").first()
    base = live_server.url
    violations: list[str] = []

    # A midwife: sign-in page, worklist, a mother's page and a sheet form with its tally buttons.
    context, page = watched_page(browser, violations)
    response = page.goto(f"{base}/accounts/login/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "camera=()" in response.headers["permissions-policy"]
    sign_in(page, base, midwife_a.username)
    visit(page, f"{base}/", "worklist")
    detail = reverse("studies:respondent_detail", args=[study.code, mother.code])
    visit(page, f"{base}{detail}", mother.code)
    assert page.locator("progress.session-progress").count() == 1
    sheet = reverse("studies:observation_record", args=[study.code, mother.code, "post"])
    visit(page, f"{base}{sheet}", mother.code)
    feeds = page.locator("#id_value_feeds")
    before = int(feeds.input_value() or 0)
    page.click("#id_value_feeds ~ .tally .btn-success")
    page.click("#id_value_feeds ~ .tally .btn-success")
    assert int(feeds.input_value()) == before + 2
    context.close()

    # A data manager: the list, the results with their charts, the admin and its history pages.
    context, page = watched_page(browser, violations)
    sign_in(page, base, data_manager.username)
    visit(page, f"{base}{reverse('studies:respondent_list', args=[study.code])}", mother.code)
    visit(page, f"{base}{reverse('studies:results', args=[study.code])}", "Wilcoxon")
    assert page.locator("figure svg.results-chart").count() >= 4
    # The charts keep their colours as presentation attributes and their size from lancar.css.
    assert page.locator("figure svg.results-chart [fill='#198754']").count() > 0
    width = page.evaluate(
        "document.querySelector('svg.results-chart').getBoundingClientRect().width"
    )
    assert 100 < width <= 30 * 16 + 1
    visit(page, f"{base}{reverse('admin:index')}", "Data management")
    site = Site.objects.get(name="Klinik A")
    visit(page, f"{base}{reverse('admin:studies_site_change', args=[site.pk])}", "Klinik A")
    visit(page, f"{base}{reverse('admin:studies_respondent_changelist')}", mother.code)
    visit(page, f"{base}{reverse('admin:studies_respondent_history', args=[mother.pk])}", "history")
    version = mother.history.order_by("history_id").first()
    visit(
        page,
        f"{base}{reverse('admin:studies_respondent_simple_history', args=[mother.pk, version.pk])}",
        mother.code,
    )
    context.close()

    assert violations == []
