"""Augmented digits: more training rows made from the training split's 8x8 images (`data.augment`).

People draw digits slanted, rotated, thin or thick and off-centre; load_digits' images are upright, thick and
centred. Each copy of a training image is upsampled to the 32x32 grid load_digits was counted from, turned by a
small rotation and shear, shifted, its stroke thickened or thinned (grey dilation / erosion), and counted back into
4x4 blocks (0..16). Only the training split is augmented (the held-out split and the contract stay the real data);
every transform is drawn from a generator seeded with `data.seed`, so two runs give the same rows.

With `redraw`, every copy is instead drawn again the way the serving page draws what people draw
(mlops_pipeline.redraw: the strokes' centre line, turned by a small rotation, shear and narrowing, straightened,
scaled into the page's box and drawn with the page's pen): the first copy of each image is redrawn as it is.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from mlops_pipeline.config import AugmentConfig
from mlops_pipeline.redraw import centre_line, page_digits, turned


class AugmentError(ValueError):
    """The data cannot be augmented as images (the message names the key)."""


UPSAMPLE = 4  # 8x8 cells of 4x4 pixels: the 32x32 bitmaps load_digits was counted from


def _transform(image: np.ndarray, rng: np.random.Generator, settings: AugmentConfig, levels: float) -> np.ndarray:
    big = np.kron(image / levels, np.ones((UPSAMPLE, UPSAMPLE)))
    side = big.shape[0]
    angle = math.radians(rng.uniform(-settings.max_rotation_degrees, settings.max_rotation_degrees))
    shear = rng.uniform(-settings.max_shear, settings.max_shear)
    # output (row, col) -> input: rotation then a horizontal shear that grows with the distance from the middle row
    rotate = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    narrow = rng.uniform(settings.min_width_scale, 1.0)  # narrower digits: a plain "1" is one stroke wide
    matrix = rotate @ np.array([[1.0, 0.0], [shear, 1.0 / narrow]])
    centre = np.array([side / 2 - 0.5, side / 2 - 0.5])
    shift = rng.uniform(-settings.max_shift_cells, settings.max_shift_cells, size=2) * UPSAMPLE
    offset = centre - matrix @ (centre + shift)
    moved = ndimage.affine_transform(big, matrix, offset=offset, order=1, mode="constant", cval=0.0)
    change = rng.uniform(-settings.stroke_change, settings.stroke_change)
    size = int(round(abs(change) * UPSAMPLE))
    if size >= 1:
        morph = ndimage.grey_dilation if change > 0 else ndimage.grey_erosion
        moved = morph(moved, size=(size + 1, size + 1))
    on = moved >= 0.5  # NIST's bitmaps are on/off; load_digits counts the on pixels of each 4x4 block
    cells = image.shape[0]
    return on.reshape(cells, UPSAMPLE, cells, UPSAMPLE).sum(axis=(1, 3)) * (levels / UPSAMPLE**2)


def augment_digits(
    X: np.ndarray, y: np.ndarray, settings: AugmentConfig, seed: int, levels: float = 16.0
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of X (square images, flattened; values 0..levels) followed by `copies` transformed copies of each.

    Raises AugmentError when a row is not a square image.
    """
    n_features = X.shape[1]
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise AugmentError(
            f"data.augment: rows of {n_features} features are not square images (load_digits-like data only)"
        )
    rng = np.random.default_rng(seed)
    images = X.reshape(-1, side, side)
    if settings.redraw:
        return _redrawn(X, y, images, rng, settings, levels)
    copies = [
        np.stack([_transform(image, rng, settings, levels) for image in images]).reshape(-1, n_features)
        for _ in range(settings.copies)
    ]
    return np.vstack([X, *copies]), np.concatenate([y] * (settings.copies + 1))


def _redrawn(
    X: np.ndarray, y: np.ndarray, images: np.ndarray, rng: np.random.Generator, settings: AugmentConfig, levels: float
) -> tuple[np.ndarray, np.ndarray]:
    lines = [centre_line(image, levels) for image in images]
    bounds = (settings.max_rotation_degrees, settings.max_shear, settings.min_width_scale)
    copies = [
        np.stack([page_digits(points if copy == 0 else turned(points, rng, *bounds)) for points in lines])
        for copy in range(settings.copies)
    ]
    return np.vstack([X, *copies]), np.concatenate([y] * (settings.copies + 1))
