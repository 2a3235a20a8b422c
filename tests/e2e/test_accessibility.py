"""Accessibility measured in Chromium with axe-core (WCAG 2.1 A and AA, and axe's best
practices) on every page a user can open, at 360 px and at desktop width, in Indonesian.
Any violation fails the test and names the rule, the page and the first elements.

Then the behaviour axe cannot see: a visible focus ring (at least 3:1 against what surrounds
it) on the navbar link, a field and a green button; the tally buttons announcing the new
count through a live region; the menu closing on Escape.

axe-core is vendored (tests/e2e/vendor, MPL-2.0) and injected with ``page.evaluate``: it runs
through the DevTools protocol, which the page's Content-Security-Policy does not govern, so
the pages are measured exactly as served."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from django.urls import reverse

from studies import exchange, services
from studies.models import ImportJob, Respondent
from tests.conftest import PASSWORD

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " :: " + n.failureSummary),
    count: v.nodes.length,
  }));
}"""
WIDTHS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 900}}
TODAY = datetime.date.today()


def axe_violations(page) -> list[str]:
    """Runs axe-core on the page as loaded and returns one line per violated rule."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    return [
        f"{page.url} [{v['id']} · {v['impact']} · {v['count']} nodes] " + " | ".join(v["nodes"])
        for v in page.evaluate(RUN_AXE, TAGS)
    ]


def new_page(browser, width: str):
    context = browser.new_context(
        viewport=WIDTHS[width],
        locale="id-ID",
        timezone_id="Asia/Jakarta",
        extra_http_headers={"Accept-Language": "id"},
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#main form button[type=submit]")
    page.wait_for_url(f"{base}/")


@pytest.fixture
def cohort(study, site_a, midwife_a, data_manager, researcher):
    """The paper's 15 mothers, plus two at Klinik A whose sessions are overdue (yellow rows on
    the worklist), and an import waiting for confirmation."""
    from tests.test_exchange import paper_csv

    report = exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    assert report.ok
    for code in ("TELAT-1", "TELAT-2"):
        services.enrol_respondent(
            study=study,
            site=site_a,
            user=midwife_a,
            code=code,
            delivery_date=TODAY - datetime.timedelta(days=6),
            enrolled_on=TODAY - datetime.timedelta(days=4),
            age_years=25,
            parity=1,
            education="secondary",
            employment="working",
            eligibility_confirmed=True,
            consent_date=TODAY - datetime.timedelta(days=4),
        )
    return study


def pages_of(study, role: str) -> list[str]:
    """Every page a user of the role can open (each URL pattern that answers HTML)."""
    mother = Respondent.objects.get(study=study, code="TELAT-1")
    args = [study.code, mother.code]
    session = mother.sessions.order_by("postpartum_day", "slot").first()
    midwife = [
        reverse("studies:home"),
        reverse("studies:respondent_list", args=[study.code]),
        reverse("studies:respondent_detail", args=args),
        reverse("studies:respondent_enrol", args=[study.code]),
        reverse("studies:respondent_edit", args=args),
        reverse("studies:respondent_withdraw", args=args),
        reverse("studies:session_record", args=[*args, session.postpartum_day, session.slot]),
        reverse("studies:observation_record", args=[*args, "pre"]),
    ]
    if role == "midwife":
        return midwife
    results = reverse("studies:results", args=[study.code])
    if role == "researcher":
        return [reverse("studies:home"), results]
    job = ImportJob.objects.filter(study=study).order_by("-created_at").first()
    return [
        *midwife,
        results,
        reverse("studies:export_index", args=[study.code]),
        reverse("studies:import_upload", args=[study.code]),
        reverse("studies:import_job", args=[study.code, job.pk]),
        reverse("admin:index"),
        reverse("admin:studies_respondent_changelist"),
        "/no-such-page/",
    ]


@pytest.mark.parametrize("width", ["phone", "desktop"])
@pytest.mark.django_db(transaction=True)
def test_every_page_passes_axe_core(
    live_server, browser, width, cohort, midwife_a, researcher, data_manager, tmp_path
):
    from tests.test_exchange import paper_csv

    base = live_server.url
    violations: list[str] = []
    seen = 0

    context, page = new_page(browser, width)
    page.goto(f"{base}/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "id"
    violations += axe_violations(page)
    seen += 1
    context.close()

    for user, role in ((midwife_a, "midwife"), (researcher, "researcher"), (data_manager, "admin")):
        context, page = new_page(browser, width)
        sign_in(page, base, user.username)
        if role == "admin":
            # An upload of the data manager's own, so that its page exists.
            upload = tmp_path / "kohort.csv"
            upload.write_bytes(paper_csv())
            page.goto(f"{base}{reverse('studies:import_upload', args=[cohort.code])}")
            page.set_input_files("input[type=file]", str(upload))
            page.click("#main form button[type=submit]")
            page.wait_for_url(re.compile(r".*/import/[0-9a-f-]{36}/$"))
        for path in pages_of(cohort, role):
            response = page.goto(f"{base}{path}")
            expected = 404 if path == "/no-such-page/" else 200
            assert response.status == expected, path
            assert page.locator("html").get_attribute("lang") == "id", path
            violations += axe_violations(page)
            seen += 1
        context.close()

    assert seen >= 25
    assert violations == [], "\n".join(violations)


FOCUS_RING = """(element) => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  let behind = element.parentElement;
  while (behind && (rgb(getComputedStyle(behind).backgroundColor)[3] === 0
                    || getComputedStyle(behind).backgroundColor === "transparent")) {
    behind = behind.parentElement;
  }
  const background = behind ? rgb(getComputedStyle(behind).backgroundColor) : [255, 255, 255];
  const style = getComputedStyle(element);
  const ring = rgb(style.outlineColor);
  const [light, dark] = [luminance(ring), luminance(background)].sort((a, b) => b - a);
  return {
    style: style.outlineStyle,
    width: parseFloat(style.outlineWidth),
    contrast: (light + 0.05) / (dark + 0.05),
  };
}"""


def tab_to(page, selector: str) -> None:
    """Moves the keyboard focus with Tab until the element has it, as a keyboard user would."""
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


def assert_visible_focus(page, selector: str) -> None:
    tab_to(page, selector)
    ring = page.evaluate(FOCUS_RING, page.locator(selector).element_handle())
    assert ring["style"] != "none" and ring["width"] >= 2, (selector, ring)
    assert ring["contrast"] >= 3, (selector, ring)


@pytest.mark.django_db(transaction=True)
def test_focus_is_visible_the_tally_speaks_and_the_menu_closes_on_escape(
    live_server, browser, study, site_a, midwife_a, make_respondent
):
    mother = make_respondent("R01")
    base = live_server.url

    # Desktop: the navbar link, a field and a green button show a ring of 3:1 or more.
    context, page = new_page(browser, "desktop")
    sign_in(page, base, midwife_a.username)
    assert_visible_focus(page, "#nav-menu a.nav-link")
    sheet = reverse("studies:observation_record", args=[study.code, mother.code, "pre"])
    page.goto(f"{base}{sheet}")
    assert_visible_focus(page, "#id_value_feeds")
    assert_visible_focus(page, "#main form button[type=submit].btn-success")

    # The tally buttons announce the new count in a polite live region.
    label = page.locator("label[for=id_value_feeds]").inner_text().strip()
    page.fill("#id_value_feeds", "4")
    page.click("#id_value_feeds ~ .tally .btn-success")
    live = page.locator("[aria-live=polite]#tally-status")
    assert live.count() == 1
    assert live.inner_text() == f"{label}: 5"
    assert page.input_value("#id_value_feeds") == "5"
    page.click("#id_value_feeds ~ .tally .btn-outline-secondary")
    assert live.inner_text() == f"{label}: 4"
    context.close()

    # Phone: the menu opened with its button closes on Escape and gives the focus back.
    context, page = new_page(browser, "phone")
    sign_in(page, base, midwife_a.username)
    toggler = page.locator("button.navbar-toggler")
    toggler.click()
    page.locator("#nav-menu.show").wait_for()
    assert toggler.get_attribute("aria-expanded") == "true"
    page.keyboard.press("Escape")
    page.locator("#nav-menu:not(.show):not(.collapsing)").wait_for(state="attached")
    assert not page.locator("#nav-menu").is_visible()
    assert toggler.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.classList.contains('navbar-toggler')")
    context.close()
