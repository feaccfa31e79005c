"""The shipped drawn-digit set is what today's page sends: some of its drawings drawn again with the mouse in
headless Chromium (Debian's, driven by Playwright) give exactly the stored 64 values.

The page is served to the browser from serving/static by a Playwright route (no service, no model): /predict is
answered by a stub, only the request body is compared. If this fails, the page's preprocessing changed: make the set
again with `python scripts/make_drawn_digits.py` (src/mlops_pipeline/datasets/README.md).
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from serving_support import draw_strokes, drawn_digits

pytestmark = pytest.mark.e2e
CHROMIUM = Path("/usr/bin/chromium")
ORIGIN = "http://drawn-digits.test"
STUB = {"predictions": [0], "classes": list(range(10)), "probabilities": [[0.1] * 10], "model": "stub", "version": "v0"}


def _page(browser, static: Path):  # noqa: ANN001, ANN202 - Playwright objects
    page = browser.new_page(viewport={"width": 900, "height": 640})

    def serve(route) -> None:  # noqa: ANN001
        path = route.request.url.removeprefix(ORIGIN)
        if path.startswith("/predict"):
            route.fulfill(status=200, content_type="application/json", body=json.dumps(STUB))
            return
        file = static / ("index.html" if path in ("", "/") else path.removeprefix("/static/"))
        route.fulfill(status=200, content_type=mimetypes.guess_type(file.name)[0], body=file.read_bytes())

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    return page


def test_drawings_of_every_digit_drawn_again_give_the_stored_values() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    drawings, rows, labels = drawn_digits()
    assert len(drawings) == len(rows) == len(labels) == 320
    # one drawing of each digit, taking each digit's stroke models and hands in turn (thin and thick pens among them)
    picked = [32 * digit + (7 * digit) % 32 for digit in range(10)]
    sent = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu",
                                                 "--disable-background-networking", "--no-first-run"]
        )  # fmt: skip
        page = _page(browser, REPO_ROOT / "serving" / "static")
        for i in picked:
            draw_strokes(page, drawings[i]["strokes"], drawings[i]["pen_px"])
            with page.expect_request(lambda request: request.url.endswith("/predict")) as request:
                page.click("#predict")
            sent.append(json.loads(request.value.post_data)["instances"][0])
            page.click("#clear")
        browser.close()
    assert [labels[i] for i in picked] == list(range(10))
    for i, values in zip(picked, sent, strict=True):
        assert values == rows[i], f"drawing {i} ({drawings[i]['label']}, {drawings[i]['variant']})"
