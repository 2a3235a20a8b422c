"""Every chart's words stay whole in the browser, on a phone and a laptop, in Indonesian and
English, with labels as long as a study's designer may write them: the title is the heading
above the chart and wraps there; each line of text inside the SVG lies inside its viewBox."""

from __future__ import annotations

import pytest

from studies import definition, exchange, services
from tests.conftest import laktasi_definition
from tests.test_exchange import paper_csv
from tests.test_exchange_designs import LAKTASI_HEADER, laktasi_rows, table

from .test_midwife_flow import no_horizontal_scroll, sign_in

LONG = {  # sixty characters, and the English as long
    "id": "Frekuensi menyusu bayi dalam dua puluh empat jam sesudah ASI",
    "en": "Number of breastfeeds in the twenty-four hours after the milk",
}
LONG_ARMS = {
    "intervention": {"id": "Pijat oksitosin dengan minyak zaitun hangat",
                     "en": "Oxytocin massage with warm olive oil twice"},
    "control": {"id": "Kontrol dengan perawatan payudara biasa",
                "en": "Control with the usual breast care only"},
}  # fmt: skip

# Each <text> of each chart, in the SVG's own units: the ones whose box leaves the viewBox.
OUTSIDE = """() => [...document.querySelectorAll('svg.results-chart')].flatMap(svg => {
  const view = svg.viewBox.baseVal;
  const toSvg = svg.getScreenCTM().inverse();
  return [...svg.querySelectorAll('text')].flatMap(text => {
    const box = text.getBBox();
    const m = toSvg.multiply(text.getScreenCTM());
    const corners = [[box.x, box.y], [box.x + box.width, box.y], [box.x, box.y + box.height],
                     [box.x + box.width, box.y + box.height]]
      .map(([x, y]) => new DOMPoint(x, y).matrixTransform(m));
    const xs = corners.map(p => p.x), ys = corners.map(p => p.y);
    const inside = Math.min(...xs) >= view.x - 0.5 && Math.max(...xs) <= view.x + view.width + 0.5
      && Math.min(...ys) >= view.y - 0.5 && Math.max(...ys) <= view.y + view.height + 0.5;
    return inside ? [] : [svg.getAttribute('aria-label') + ': ' + text.textContent];
  });
})"""
HEADINGS = """() => [...document.querySelectorAll('figure h3')].map(h => [
  h.textContent, h.nextElementSibling.getAttribute('aria-label'),
  h.scrollWidth <= h.clientWidth])"""


@pytest.fixture
def long_labelled(study, data_manager):
    """The paper's study with a long first outcome, and a two-group study with long arms."""
    paper = definition.paper_definition()
    paper["outcomes"][0]["label"] = dict(LONG)
    study.definition = paper
    study.save()
    assert exchange.import_cohort(study=study, data=paper_csv(), user=data_manager).ok
    laktasi = laktasi_definition()
    laktasi["outcomes"][1]["label"] = dict(LONG)
    for arm in laktasi["arms"]:
        arm["label"] = LONG_ARMS[arm["key"]]
    two_groups = services.create_study(
        code="LAKTASI", title="Laktasi", site_names=["Klinik A", "Klinik B"], definition=laktasi
    )
    data = table(LAKTASI_HEADER, laktasi_rows())
    assert exchange.import_cohort(study=two_groups, data=data, user=data_manager).ok
    return study, two_groups


@pytest.mark.django_db(transaction=True)
def test_chart_words_stay_whole_at_any_width_in_both_languages(
    live_server, browser, shoot, long_labelled, researcher
):
    base = live_server.url
    for language, width in (("id-ID", 360), ("en-GB", 360), ("id-ID", 1280)):
        context = browser.new_context(viewport={"width": width, "height": 800}, locale=language)
        page = context.new_page()
        sign_in(page, base, researcher.username)
        for study in long_labelled:
            page.goto(f"{base}/studies/{study.code}/results/")
            assert page.locator("svg.results-chart").count() >= 4
            assert page.evaluate(OUTSIDE) == []
            headings = page.evaluate(HEADINGS)
            long = LONG[language[:2]]
            assert any(text.startswith(long + ": ") for text, _label, _fits in headings)
            for text, label, fits in headings:
                assert text == label and fits, (text, label)
            if width == 360:
                no_horizontal_scroll(page)
            shoot(page, f"chart-words-{study.code}-{language}-{width}")
        context.close()
