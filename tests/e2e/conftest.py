"""End-to-end tests drive Debian's Chromium (never a downloaded browser) through Playwright
against pytest-django's live server. Screenshots go to ``artifacts/screenshots/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = Path(os.environ.get("LANCAR_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
# synchronous, so Django's async-safety guard would refuse them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("LANCAR_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser):
    """A 360×740 phone whose browser asks for Indonesian."""
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="id-ID",
        timezone_id="Asia/Jakarta",
        has_touch=True,
        is_mobile=True,
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def shoot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def _phone_context(browser):
    return browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="id-ID",
        timezone_id="Asia/Jakarta",
        has_touch=True,
        is_mobile=True,
        accept_downloads=True,
    )


@pytest.fixture
def phones(browser):
    """A factory of 360×740 phones asking for Indonesian, one per person (each with her own
    cookies), all closed at the end of the test."""
    contexts = []

    def make():
        context = _phone_context(browser)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shoot_also():
    """Like ``shoot`` (a page whole, or one element given as a locator), and a copy under
    ``LANCAR_E2E_SHOTS`` when it is set (a folder to look at the screenshots of one run, e.g.
    /tmp/e2e-shots/postgresql)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    extra = os.environ.get("LANCAR_E2E_SHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)

    def take(target, name: str) -> Path:
        options = {"full_page": True} if hasattr(target, "goto") else {}
        path = SCREENSHOTS / f"{name}.png"
        target.screenshot(path=str(path), **options)
        if extra:
            target.screenshot(path=str(Path(extra) / f"{name}.png"), **options)
        return path

    return take
