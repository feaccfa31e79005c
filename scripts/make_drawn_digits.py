"""Make the drawn-digit set: digits drawn with the mouse on the draw-a-digit page in headless Chromium.

Every drawing is a stroke model of one digit (a few polylines and arcs in a unit box), put through one "hand":
slant (-20 to +25 degrees), rotation, narrow or wide, small or large, off-centre, a thin to thick pen, and random
jitter of every vertex plus a slow wobble along each stroke. The strokes are drawn with Playwright's mouse on the
page's own canvas (serving/static, served to the browser by a route, no service needed); the 64 features are the
body of the page's own POST /predict, intercepted. So the set is exactly what the page sends for those drawings.

    python scripts/make_drawn_digits.py                       # writes src/mlops_pipeline/datasets/drawn_digits.*
    python scripts/make_drawn_digits.py --static /other/static --out /tmp/old   # another version of the page

Seeded (--seed, default 22): the same seed and the same page give the same files. Needs Debian's Chromium
(/usr/bin/chromium) and the dev extra (playwright); the browser is never downloaded.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATIC = REPO_ROOT / "serving" / "static"
DEFAULT_OUT = REPO_ROOT / "src" / "mlops_pipeline" / "datasets"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ORIGIN = "http://drawn-digits.test"
PAD = 280  # the page's canvas, CSS pixels
FEATURES = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]  # load_digits' feature names
Stroke = list[tuple[float, float]]


# ---- stroke models: unit box, x to the right, y down, a digit about 0.6 wide and 1 tall ------------------------------
def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 18) -> Stroke:
    """Points on an ellipse from angle `start` to `end` (degrees; 0 = right, 90 = down, as on a screen)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in np.linspace(start, end, n)
    ]


def bezier(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], n: int = 12) -> Stroke:
    t = np.linspace(0, 1, n)[:, None]
    points = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t**2 * np.array(p2)
    return [(float(x), float(y)) for x, y in points]


def gerono_eight() -> Stroke:
    """A figure eight in one stroke, starting at the top."""
    t = np.linspace(0, 2 * math.pi, 40)
    return [(0.3 + 0.3 * math.sin(2 * a) / 1.0 * 0.9, 0.5 - 0.5 * math.cos(a)) for a in t]


DIGIT_MODELS: dict[int, dict[str, list[Stroke]]] = {
    0: {"oval": [arc(0.3, 0.5, 0.28, 0.48, -90, 285)], "narrow oval": [arc(0.3, 0.5, 0.19, 0.48, -100, 270)]},
    1: {
        "plain": [[(0.3, 0.0), (0.3, 1.0)]],
        "flag": [[(0.1, 0.22), (0.3, 0.0), (0.3, 1.0)]],
        "flag and base": [[(0.1, 0.22), (0.3, 0.0), (0.3, 1.0)], [(0.08, 1.0), (0.52, 1.0)]],
    },
    2: {
        "round": [arc(0.3, 0.28, 0.27, 0.27, 200, 390) + [(0.02, 1.0), (0.62, 1.0)]],
        "angular": [[(0.05, 0.2), (0.3, 0.0), (0.55, 0.18), (0.5, 0.4), (0.0, 1.0), (0.6, 0.98)]],
        "curved neck": [
            arc(0.3, 0.27, 0.27, 0.26, 190, 360) + bezier((0.57, 0.27), (0.5, 0.65), (0.02, 1.0)) + [(0.6, 1.0)]
        ],  # fmt: skip
    },
    3: {
        "round": [arc(0.28, 0.25, 0.27, 0.25, 200, 450) + arc(0.28, 0.75, 0.3, 0.25, -90, 160)],
        "flat top": [[(0.02, 0.0), (0.55, 0.0), (0.25, 0.4)] + arc(0.28, 0.7, 0.3, 0.3, -95, 160)],
    },
    4: {
        "open": [[(0.1, 0.0), (0.02, 0.62), (0.62, 0.62)], [(0.45, 0.15), (0.45, 1.0)]],
        "closed": [[(0.45, 0.0), (0.0, 0.65), (0.62, 0.65)], [(0.45, 0.0), (0.45, 1.0)]],
    },
    5: {
        "two strokes": [[(0.1, 0.0), (0.07, 0.45)] + arc(0.3, 0.7, 0.28, 0.28, -130, 150), [(0.1, 0.0), (0.58, 0.0)]],
        "one stroke": [[(0.58, 0.0), (0.1, 0.0), (0.07, 0.45)] + arc(0.3, 0.7, 0.28, 0.28, -130, 150)],
    },
    6: {
        "loop": [bezier((0.52, 0.0), (0.1, 0.2), (0.04, 0.72)) + arc(0.3, 0.72, 0.26, 0.26, 180, -150)],
        "straight back": [[(0.45, 0.0), (0.06, 0.7)] + arc(0.3, 0.73, 0.25, 0.25, 190, -150)],
    },
    7: {
        "plain": [[(0.0, 0.0), (0.6, 0.0), (0.2, 1.0)]],
        "bar": [[(0.0, 0.0), (0.6, 0.0), (0.2, 1.0)], [(0.15, 0.52), (0.55, 0.52)]],
        "hooked": [[(0.0, 0.12), (0.05, 0.0), (0.6, 0.0), (0.3, 1.0)]],
    },
    8: {
        "one stroke": [gerono_eight()],
        "two loops": [arc(0.3, 0.24, 0.22, 0.24, 0, 365), arc(0.3, 0.73, 0.28, 0.27, -90, 275)],
    },  # fmt: skip
    9: {
        "straight tail": [arc(0.3, 0.27, 0.27, 0.26, 0, -365) + [(0.55, 1.0)]],
        "curved tail": [arc(0.3, 0.27, 0.27, 0.26, 0, -365) + bezier((0.57, 0.27), (0.6, 0.95), (0.12, 1.0))],
    },
}


# ---- hands ---------------------------------------------------------------------------------------------------------
def densify(stroke: np.ndarray, step: float) -> np.ndarray:
    """Points along the polyline no more than `step` apart (the mouse moves between them)."""
    out = [stroke[0]]
    for a, b in zip(stroke[:-1], stroke[1:], strict=True):
        n = max(1, math.ceil(float(np.hypot(*(b - a))) / step))
        out += [a + (b - a) * k / n for k in range(1, n + 1)]
    return np.array(out)


def draw_hand(label: int, variant: str, rng: np.random.Generator) -> tuple[list[Stroke], dict[str, Any]]:
    """One drawing of a digit model in a random hand: the strokes in pad pixels and the hand's parameters."""
    hand = {
        "label": label,
        "variant": variant,
        "slant_degrees": round(float(rng.uniform(-20, 25)), 1),
        "rotation_degrees": round(float(rng.uniform(-6, 6)), 1),
        "width_scale": round(float(rng.uniform(0.7, 1.3)), 2),
        "height_px": round(float(rng.uniform(80, 230)), 1),
        "pen_px": int(rng.choice([7, 12, 20, 28])),
        "jitter": round(float(rng.uniform(0.005, 0.03)), 3),
    }
    strokes = [np.array(s, dtype=float) for s in DIGIT_MODELS[label][variant]]
    every = np.vstack(strokes)
    centre = (every.min(axis=0) + every.max(axis=0)) / 2
    shear = math.tan(math.radians(hand["slant_degrees"]))
    turn = math.radians(hand["rotation_degrees"])
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    placed = []
    for stroke in strokes:
        points = stroke - centre
        points = points + rng.normal(0, hand["jitter"], size=points.shape)  # every vertex a little off
        points[:, 0] *= hand["width_scale"]
        points[:, 0] -= shear * points[:, 1]  # y grows downwards: a right slant moves the top to the right
        points = points @ rotation.T * hand["height_px"]
        points = densify(points, step=9.0)
        phase, speed = rng.uniform(0, 2 * math.pi, 2), rng.uniform(0.02, 0.06)
        wobble = np.arange(len(points))[:, None] * speed + phase
        points = points + np.sin(wobble) * hand["jitter"] * hand["height_px"] * 0.5  # slow wobble along the stroke
        placed.append(points)
    every = np.vstack(placed)
    low, high = every.min(axis=0), every.max(axis=0)
    margin = hand["pen_px"] / 2 + 2
    room_low, room_high = margin - low, PAD - margin - high  # the shift that keeps all ink on the pad
    shift = np.array(
        [rng.uniform(lo, hi) if lo < hi else (lo + hi) / 2 for lo, hi in zip(room_low, room_high, strict=True)]
    )
    hand["offset_px"] = [round(float(v), 1) for v in shift - PAD / 2]
    return [[(round(float(x), 1), round(float(y), 1)) for x, y in s + shift] for s in placed], hand


def drawing_plan(per_digit: int, seed: int) -> list[tuple[list[Stroke], dict[str, Any]]]:
    """per_digit drawings of each digit, its stroke models taken in turn, each in a fresh random hand."""
    rng = np.random.default_rng(seed)
    plan = []
    for label in range(10):
        variants = list(DIGIT_MODELS[label])
        plan += [draw_hand(label, variants[i % len(variants)], rng) for i in range(per_digit)]
    return plan


# ---- the page --------------------------------------------------------------------------------------------------------
STUB_ANSWER = {"predictions": [0], "classes": list(range(10)), "probabilities": [[0.1] * 10], "model": "stub",
               "version": "v0"}  # fmt: skip


def open_page(browser: Any, static: Path) -> Any:
    """The page from `static`, with /predict answered by a stub (only the request body is wanted)."""
    page = browser.new_page(viewport={"width": 900, "height": 640})

    def serve(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path.startswith("/predict"):
            route.fulfill(status=200, content_type="application/json", body=json.dumps(STUB_ANSWER))
            return
        file = static / ("index.html" if path in ("", "/") else path.removeprefix("/static/"))
        route.fulfill(
            status=200, content_type=mimetypes.guess_type(file.name)[0] or "text/plain", body=file.read_bytes()
        )

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    return page


def features_of(page: Any, strokes: list[Stroke], pen_px: float) -> list[float]:
    """Draw the strokes with the mouse (pen width set on the pad's 2-D context), press Predict, and return the 64
    values the page sends; then clear the pad."""
    page.evaluate("(w) => { document.getElementById('pad').getContext('2d').lineWidth = w; }", pen_px)
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / PAD
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * scale, box["y"] + stroke[0][1] * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
        page.mouse.up()
    with page.expect_request(lambda request: request.url.endswith("/predict")) as sent:
        page.click("#predict")
    page.click("#clear")
    return [float(v) for v in json.loads(sent.value.post_data)["instances"][0]]


def render_all(plan: list[tuple[list[Stroke], dict[str, Any]]], static: Path,
               progress: Callable[[int], None] = lambda _: None) -> list[list[float]]:  # fmt: skip
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = open_page(browser, static)
        for i, (strokes, hand) in enumerate(plan):
            rows.append(features_of(page, strokes, hand["pen_px"]))
            progress(i)
        browser.close()
    return rows


def write_set(out: Path, plan: list[tuple[list[Stroke], dict[str, Any]]], rows: list[list[float]], seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "drawn_digits.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*FEATURES, "target"])
        for row, (_, hand) in zip(rows, plan, strict=True):
            writer.writerow([int(v) if float(v).is_integer() else v for v in row] + [hand["label"]])
    drawings = [{**hand, "strokes": strokes} for strokes, hand in plan]
    record = {"seed": seed, "pad_px": PAD, "drawings": drawings}
    (out / "drawn_digits_strokes.json").write_text(json.dumps(record, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--per-digit", type=int, default=32, help="drawings of each digit (default 32)")
    parser.add_argument("--static", type=Path, default=DEFAULT_STATIC, help="the page's folder (serving/static)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    plan = drawing_plan(args.per_digit, args.seed)
    rows = render_all(plan, args.static, lambda i: print(f"{i + 1}/{len(plan)}", end="\r", flush=True))
    write_set(args.out, plan, rows, args.seed)
    print(f"\n{len(rows)} drawings -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
