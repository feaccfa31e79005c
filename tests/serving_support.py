"""A model store for the serving tests, built by the project's own training flow (needs `prefect_harness`)."""

from __future__ import annotations

from pathlib import Path

MODEL = "digits-logreg"
IMPUTED = "digits-imputed"


def build_store(root: Path) -> Path:
    """digits-logreg v1 (C=1) and v2 (C=0.05, champion), digits-imputed v1 (trained with data.impute=median).

    The two digits-logreg versions give different probabilities for the same rows, so a test can tell from an
    answer which version produced it.
    """
    from mlops_pipeline.flows.pipeline import training_pipeline

    from mlops_pipeline.config import parse_config

    configs = [
        {"registry": {"root": str(root)}},
        # a weaker model on purpose (still well over the gate's 0.95): the champion check may not refuse it
        {"registry": {"root": str(root)}, "model": {"C": 0.05}, "gate": {"champion_tolerance": 1.0}},
        {"registry": {"root": str(root), "model_name": IMPUTED}, "data": {"impute": "median"}},
    ]
    for values in configs:
        state = training_pipeline(parse_config(values), return_state=True)
        assert state.is_completed(), state.message
    return root


# ---- drawing on the page with the mouse (the drawn-digit set's strokes) ---------------------------------------------
DRAWN_PAD_PX = 280  # the pad the strokes were recorded on (drawn_digits_strokes.json: pad_px)


def drawn_digits() -> tuple[list[dict], list[list[float]], list[int]]:
    """The shipped drawn-digit set: every drawing (strokes, hand), the 64 values the page sent, the labels."""
    import csv
    import json
    from importlib import resources

    folder = resources.files("mlops_pipeline.datasets")
    record = json.loads(folder.joinpath("drawn_digits_strokes.json").read_text())
    assert record["pad_px"] == DRAWN_PAD_PX
    rows = list(csv.reader(folder.joinpath("drawn_digits.csv").read_text().splitlines()))[1:]
    return record["drawings"], [[float(v) for v in row[:64]] for row in rows], [int(row[64]) for row in rows]


def draw_strokes(page, strokes: list[list[list[float]]], pen_px: float) -> None:  # noqa: ANN001 - a Playwright page
    """Draw with the mouse on the page's pad (#pad), with the pen width set on its 2-D context."""
    page.evaluate("(w) => { document.getElementById('pad').getContext('2d').lineWidth = w; }", pen_px)
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / DRAWN_PAD_PX
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * scale, box["y"] + stroke[0][1] * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
        page.mouse.up()
