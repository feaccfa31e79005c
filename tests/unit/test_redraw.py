"""mlops_pipeline.redraw: training digits drawn again the way the serving page draws what people draw."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from mlops_pipeline import redraw
from mlops_pipeline.config import GoldenSetConfig
from mlops_pipeline.golden import load_golden_set

APP_JS = Path(__file__).resolve().parents[2] / "serving" / "static" / "app.js"
DIGIT_FEATURES = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]


@pytest.mark.parametrize(
    ("name", "value"),
    [(n, getattr(redraw, n)) for n in ["NORMAL", "PEN", "WIDTH", "STRETCH", "DESLANT", "GRID", "LEVELS"]],
)
def test_the_constants_are_the_pages(name: str, value: float) -> None:
    found = re.search(rf"^const {name} = ([0-9.]+);", APP_JS.read_text(), flags=re.MULTILINE)
    assert found is not None, f"app.js has no 'const {name} = ...;'"
    assert float(found.group(1)) == value


def test_redrawing_the_drawn_sets_strokes_gives_what_the_page_sent() -> None:
    # the drawn set's rows were made by the page in Chromium; redrawing their strokes here must land close to them
    strokes = json.loads(resources.files("mlops_pipeline.datasets").joinpath("drawn_digits_strokes.json").read_text())
    golden = load_golden_set(GoldenSetConfig(name="drawn", source="drawn_digits"), DIGIT_FEATURES, "k")
    drawings = strokes["drawings"][::8]
    ours = np.stack(
        [redraw.page_digits(np.vstack([np.asarray(s, dtype=float) for s in d["strokes"]])) for d in drawings]
    )
    theirs = golden.X[::8]
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).mean() < 0.5
    assert (np.abs(ours - theirs) <= 4).mean() > 0.97


def test_a_redrawn_digit_is_in_load_digits_format_and_fills_the_page_box() -> None:
    digits = load_digits()
    for image in digits.data[:30]:
        points = redraw.centre_line(image.reshape(8, 8))
        assert points.ndim == 2 and points.shape[1] == 2 and points.min() >= 0 and points.max() <= redraw.NORMAL
        levels = redraw.page_digits(points).reshape(8, 8)
        assert levels.min() == 0 and levels.max() == 16 and np.array_equal(levels, np.round(levels))
        assert levels[0].any() and levels[7].any()  # the page scales every digit to the box's full height


def test_turning_is_seeded_and_keeps_the_centre() -> None:
    points = redraw.centre_line(load_digits().data[3].reshape(8, 8))
    first = redraw.turned(points, np.random.default_rng(1), 10, 0.3, 0.7)
    again = redraw.turned(points, np.random.default_rng(1), 10, 0.3, 0.7)
    assert np.array_equal(first, again) and not np.array_equal(first, points)
    assert np.allclose(first.mean(axis=0), points.mean(axis=0))
    assert np.allclose(redraw.turned(points, np.random.default_rng(1), 0, 0, 1), points)
