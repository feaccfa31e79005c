"""Digits redrawn the way the serving page draws them (`data.augment.redraw`).

The page (serving/static/app.js, `normalizedInk` + `toDigits`) does not send what the person drew: it straightens
the strokes' slant, scales them to fill the box's height (no wider than WIDTH of it, a narrow digit widened at most
STRETCH times), draws them again with one pen (PEN of the box) on a 32x32 bitmap, thresholds it and averages it
into 8x8 cells scaled so the darkest is 16. load_digits' images were made otherwise (NIST's bitmaps of each
writer's own pen, counted in 4x4 blocks), so a model trained on them meets a different picture of the same digit
at serving time. Redrawing a training image takes its strokes' centre line (the skeleton of its 32x32 upsample),
and puts it through the page's steps, so the training rows look like what the page sends.

The constants below are the page's; tests/unit/test_redraw.py checks them against app.js.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

NORMAL = 32  # the page's bitmap side, in pixels
PEN = 0.17  # pen width as a share of the bitmap side
WIDTH = 0.7  # the widest a digit may be, as a share of the inner box
STRETCH = 1.6  # a narrow digit is widened at most this many times its height's scale
DESLANT = 1.0  # share of the measured slant that is sheared away
GRID = 8
LEVELS = 16.0

_CENTRES = np.mgrid[0:NORMAL, 0:NORMAL].astype(np.float64) + 0.5  # (row, col) of every pixel centre


def centre_line(image: np.ndarray, levels: float = LEVELS) -> np.ndarray:
    """(x, y) points along the strokes of an 8x8 image: the skeleton of its smooth 32x32 upsample."""
    ink = ndimage.zoom(image / levels, NORMAL // image.shape[0], order=1) >= 0.5
    rows, cols = np.nonzero(skeletonize(ink) if ink.any() else ink)
    if rows.size == 0:  # a faint image with no cell over half ink: its inked cells stand for the strokes
        rows, cols = np.nonzero(np.kron(image > 0, np.ones((4, 4))))
    return np.column_stack([cols + 0.5, rows + 0.5]).astype(np.float64)


def page_digits(points: np.ndarray) -> np.ndarray:
    """The 8x8 grey levels (0..16) the page sends for strokes through `points` (x, y; any scale)."""
    centred = points - points.mean(axis=0)
    spread_y = float((centred[:, 1] ** 2).sum())
    slant = float(np.clip((centred[:, 0] * centred[:, 1]).sum() / spread_y, -1, 1)) if spread_y > 0 else 0.0
    straight = np.column_stack([points[:, 0] - DESLANT * slant * points[:, 1], points[:, 1]])
    low = straight.min(axis=0)
    width, height = straight.max(axis=0) - low
    pen = PEN * NORMAL
    inner = NORMAL - pen
    scale_y = min(WIDTH * inner / max(width, 1e-6), inner / max(height, 1e-6))
    scale_x = min(WIDTH * inner / max(width, 1e-6), STRETCH * scale_y)
    x = (straight[:, 0] - low[0]) * scale_x + pen / 2 + (inner - width * scale_x) / 2
    y = (straight[:, 1] - low[1]) * scale_y + pen / 2 + (inner - height * scale_y) / 2
    rows, cols = _CENTRES
    distance = np.hypot(cols[..., None] - x, rows[..., None] - y).min(axis=2)
    return cell_levels((distance <= pen / 2).astype(np.float64))


def cell_levels(ink: np.ndarray) -> np.ndarray:
    """The page's `toDigits`: crop to the ink, the longer side spans the 8 cells, mean ink per cell, darkest = 16."""
    rows, cols = np.nonzero(ink)
    x0, x1, y0, y1 = cols.min(), cols.max(), rows.min(), rows.max()
    side = max(x1 - x0 + 1, y1 - y0 + 1)
    cell = side / GRID
    left, top = x0 - (side - (x1 - x0 + 1)) / 2, y0 - (side - (y1 - y0 + 1)) / 2

    def overlaps(start: float, first: int, last: int) -> np.ndarray:  # [cell, pixel]: share of the pixel in the cell
        pixels = np.arange(first, last + 1)[None, :]
        lo = start + np.arange(GRID)[:, None] * cell
        return np.maximum(0.0, np.minimum(pixels + 1, lo + cell) - np.maximum(pixels, lo))

    means = overlaps(top, y0, y1) @ ink[y0 : y1 + 1, x0 : x1 + 1] @ overlaps(left, x0, x1).T / (cell * cell)
    return np.asarray(np.round(LEVELS * means / means.max()).ravel())


def turned(
    points: np.ndarray, rng: np.random.Generator, rotation_degrees: float, shear: float, narrow: float
) -> np.ndarray:
    """`points` rotated, sheared and narrowed about their mean by amounts drawn from +- the bounds given."""
    angle = math.radians(rng.uniform(-rotation_degrees, rotation_degrees))
    matrix = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) @ np.array(
        [[rng.uniform(narrow, 1.0), rng.uniform(-shear, shear)], [0.0, 1.0]]
    )
    centre = points.mean(axis=0)
    return np.asarray((points - centre) @ matrix.T + centre)
