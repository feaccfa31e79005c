"""`python -m serving` as a user runs it: a real process on a free port, a rollback from the registry's command
line under concurrent load, and the draw-a-digit page in real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from conftest import REPO_ROOT, background_process, free_port, subprocess_env, wait_until
from serving_support import MODEL, build_store, draw_strokes, drawn_digits
from sklearn.datasets import load_digits

from mlops_pipeline.registry import ModelStore

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DIGITS = load_digits()


@pytest.fixture(scope="module")
def built_store(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("serving-e2e-store"))


@dataclass(frozen=True)
class Service:
    url: str
    root: Path
    log: Path


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def service(built_store: Path, tmp_path: Path) -> Iterator[Service]:
    root = Path(shutil.copytree(built_store, tmp_path / "models"))
    port = free_port()
    log = tmp_path / "serving.log"
    args = [
        sys.executable,
        "-m",
        "serving",
        "--model",
        MODEL,
        "--root",
        str(root),
        "--port",
        str(port),
        "--poll-seconds",
        "0.5",
        "--no-access-log",
    ]
    url = f"http://127.0.0.1:{port}"
    with background_process(args, subprocess_env(tmp_path), log) as process:
        wait_until(lambda: _healthy(url), process, log, "python -m serving", timeout=120)
        yield Service(url, root, log)


def test_help_documents_the_command(python: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [python, "-m", "serving", "--help"],
        cwd=REPO_ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    for option in ("--model NAME", "--root", "--host", "--port", "--max-rows", "--drift-every-rows"):
        assert option in result.stdout


def test_a_model_without_a_champion_is_refused_at_start(python: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [python, "-m", "serving", "--model", "nothing-here", "--root", str(tmp_path)],
        cwd=REPO_ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "'nothing-here' has no champion yet" in result.stderr


def test_five_rows_get_the_int8_models_predictions_and_bad_rows_a_4xx(service: Service) -> None:
    X = DIGITS.data[:5]
    body = httpx.post(f"{service.url}/predict", json={"instances": X.tolist()}, timeout=30).json()
    model = ModelStore(service.root, MODEL).load_quantized_model("v2")
    assert body["predictions"] == model.predict(X).tolist() and body["version"] == "v2"
    refused = httpx.post(f"{service.url}/predict", content=b'{"instances": [[1, 2]]}', timeout=30)
    assert refused.status_code == 422 and "2 values; the model takes 64" in refused.json()["detail"]
    assert httpx.get(f"{service.url}/health", timeout=30).json()["status"] == "ok"


async def _load(url: str, stop: asyncio.Event, rows: list) -> list[tuple[int, str]]:
    results: list[tuple[int, str]] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def worker() -> None:
            while not stop.is_set():
                try:
                    response = await client.post("/predict", json={"instances": rows})
                    results.append((response.status_code, response.json().get("version", "")))
                except httpx.HTTPError as exc:  # a failed request counts as a failure, not a crash of the test
                    results.append((0, type(exc).__name__))

        await asyncio.gather(*(worker() for _ in range(8)))
    return results


def test_a_rollback_from_the_command_line_is_served_with_no_failed_request(
    service: Service, python: str, tmp_path: Path
) -> None:
    async def scenario() -> tuple[list[tuple[int, str]], float]:
        stop = asyncio.Event()
        load = asyncio.create_task(_load(service.url, stop, DIGITS.data[:10].tolist()))
        await asyncio.sleep(0.5)  # let the load get going (not an assertion)
        rollback = await asyncio.create_subprocess_exec(
            python,
            "-m",
            "mlops_pipeline.registry",
            "--root",
            str(service.root),
            "rollback",
            MODEL,
            cwd=REPO_ROOT,
            env=subprocess_env(tmp_path),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await rollback.communicate()
        assert rollback.returncode == 0 and b"rolled back from v2 to v1" in out
        rolled_back = time.monotonic()
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            deadline = time.monotonic() + 60
            while (await client.get("/health")).json()["version"] != "v1":
                assert time.monotonic() < deadline, "the rollback was not served within 60 s"
                await asyncio.sleep(0.05)
        seconds = time.monotonic() - rolled_back
        await asyncio.sleep(0.5)
        stop.set()
        return await load, seconds

    results, seconds = asyncio.run(scenario())
    print(f"rollback served {seconds:.2f} s after the command returned; {len(results)} requests")
    assert [r for r in results if r[0] != 200] == []
    assert {version for _, version in results} == {"v1", "v2"}


# ---- the page --------------------------------------------------------------------------------------------------
def _reference_digits(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The page's conversion, in numpy: crop, keep the aspect ratio, centre, area-average to 8x8, scale to 0-16."""
    ys, xs = np.nonzero(ink > 0)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    width, height = x1 - x0 + 1, y1 - y0 + 1
    side = max(width, height)
    cell = side / 8

    def overlaps(start: float, first: int, last: int) -> np.ndarray:
        pixels = np.arange(first, last + 1)[None, :]
        low = start + np.arange(8)[:, None] * cell
        return np.clip(np.minimum(pixels + 1, low + cell) - np.maximum(pixels, low), 0, None)

    wx = overlaps(x0 - (side - width) / 2, x0, x1)
    wy = overlaps(y0 - (side - height) / 2, y0, y1)
    means = wy @ ink[y0 : y1 + 1, x0 : x1 + 1] @ wx.T / cell**2
    return np.floor(16 * means / means.max() + 0.5), means


def _browser():  # noqa: ANN202 - playwright's context manager
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    return sync_playwright()


def test_the_pages_conversion_is_load_digits_format(service: Service) -> None:
    with _browser() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(service.url)
        # a digit whose ink spans all 8 columns and rows: upscaled 35x, the page must give the digit back exactly
        full = next(
            i for i, image in enumerate(DIGITS.images) if image[:, 0].any() and image[:, 7].any() and image.max() == 16
        )
        cases = [DIGITS.images[full], DIGITS.images[3], DIGITS.images[42]]
        for image in cases:
            ink = np.kron(image / 16, np.ones((35, 35)))
            ink = np.pad(ink, ((7, 0), (0, 13)))  # off-centre and not square: crop and centre matter
            answer = page.evaluate(
                "([ink, w, h]) => window.DigitPad.toDigits(ink, w, h)",
                [ink.ravel().tolist(), ink.shape[1], ink.shape[0]],
            )
            expected, means = _reference_digits(ink)
            assert np.allclose(np.asarray(answer["means"]).reshape(8, 8), means, atol=1e-9)
            assert np.array_equal(np.asarray(answer["pixels"]).reshape(8, 8), expected)
        assert np.array_equal(
            np.asarray(
                page.evaluate(
                    "([ink, w, h]) => window.DigitPad.toDigits(ink, w, h).pixels",
                    [np.kron(cases[0] / 16, np.ones((35, 35))).ravel().tolist(), 280, 280],
                )
            ).reshape(8, 8),
            cases[0],
        )
        browser.close()


def _strokes(image: np.ndarray, cell: float, threshold: float = 7) -> list[list[tuple[float, float]]]:
    """Mouse strokes that draw an 8x8 digit upscaled: through the centres of every horizontal and vertical run
    of cells at or above `threshold`."""
    on = image >= threshold
    strokes = []
    for lines, point in ((on, lambda r, c: (c, r)), (on.T, lambda c, r: (c, r))):
        for a, line in enumerate(lines):
            b = 0
            while b < 8:
                if not line[b]:
                    b += 1
                    continue
                end = b
                while end + 1 < 8 and line[end + 1]:
                    end += 1
                strokes.append([((x + 0.5) * cell, (y + 0.5) * cell) for x, y in (point(a, b), point(a, end))])
                b = end + 1
    return strokes


def test_a_digit_drawn_with_the_mouse_gets_the_services_answer(service: Service, tmp_path: Path) -> None:
    index = 0  # a "0"
    label = int(DIGITS.target[index])
    with _browser() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 620})
        page.goto(service.url)
        box = page.locator("#pad").bounding_box()
        cell = box["width"] / 8
        for (x0, y0), (x1, y1) in _strokes(DIGITS.images[index], cell):
            page.mouse.move(box["x"] + x0, box["y"] + y0)
            page.mouse.down()
            page.mouse.move(box["x"] + x1, box["y"] + y1, steps=8)
            page.mouse.up()
        with page.expect_request(lambda request: request.url.endswith("/predict")) as sent:
            page.click("#predict")
        page.wait_for_function("document.getElementById('status').dataset.version !== undefined")
        instances = json.loads(sent.value.post_data)["instances"]
        shown = page.locator("#digit").get_attribute("data-digit")
        bars = page.locator("#bars li").evaluate_all(
            "items => items.map(item => [item.dataset.label, Number(item.dataset.probability)])"
        )
        status = page.locator("#status").text_content()
        page.screenshot(path=str(tmp_path / "page.png"))
        browser.close()

    assert len(instances) == 1 and len(instances[0]) == 64
    assert all(float(v).is_integer() and 0 <= v <= 16 for v in instances[0])
    direct = httpx.post(f"{service.url}/predict", json={"instances": instances}, timeout=30).json()
    assert shown == str(direct["predictions"][0]) == str(label)
    assert [label for label, _ in bars] == [str(c) for c in direct["classes"]]
    assert [p for _, p in bars] == direct["probabilities"][0]
    assert status == f"answered by {MODEL} {direct['version']}"


def test_the_docs_page_renders_its_operations_with_the_network_blocked(service: Service) -> None:
    """Swagger UI at /docs with every request off 127.0.0.1 aborted: its files come from the service itself."""
    blocked: list[str] = []

    def local_only(route) -> None:  # noqa: ANN001 - playwright's Route
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    with _browser() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route("**/*", local_only)
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(f"{service.url}/docs")
        page.locator(".opblock-summary-path").first.wait_for(timeout=60_000)
        paths = page.locator(".opblock-summary-path").evaluate_all("nodes => nodes.map(n => n.dataset.path)")
        title = page.locator(".info .title").text_content()
        browser.close()

    assert sorted(paths) == ["/health", "/models", "/predict"]
    assert title is not None and title.startswith(f"{MODEL} predictions")
    assert blocked == [] and failed == []  # nothing was even attempted off the host


def test_drawings_of_every_digit_are_answered_with_the_top_three_and_none_is_refused(service: Service) -> None:
    drawings, _, labels = drawn_digits()
    picked = [32 * digit + (5 * digit + 3) % 32 for digit in range(10)]  # one of each digit, in different hands
    shown = []
    with _browser() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 620})
        page.goto(service.url)
        for i in picked:
            draw_strokes(page, drawings[i]["strokes"], drawings[i]["pen_px"])
            with page.expect_response(lambda response: response.url.endswith("/predict")) as answered:
                page.click("#predict")
            status_code = answered.value.status
            page.wait_for_function("document.getElementById('top3').children.length > 0")
            top3 = page.locator("#top3 li").evaluate_all(
                "items => items.map(item => [Number(item.dataset.label), Number(item.dataset.probability)])"
            )
            sent = json.loads(answered.value.request.post_data)["instances"]
            shown.append((status_code, top3, page.locator("#confidence").text_content(), sent))
            page.click("#clear")
        browser.close()

    assert [labels[i] for i in picked] == list(range(10))
    for status_code, top3, confidence, sent in shown:
        assert status_code == 200  # no drawing is refused (the pixels' domain is 0-16, whatever training covered)
        direct = httpx.post(f"{service.url}/predict", json={"instances": sent}, timeout=30).json()
        ranked = sorted(zip(direct["classes"], direct["probabilities"][0], strict=True), key=lambda cp: -cp[1])[:3]
        assert top3 == [[label, p] for label, p in ranked]
        assert top3[0][0] == direct["predictions"][0]
        assert ("not sure" in confidence) == (top3[0][1] < 0.6)
