"""data.augment: transformed copies of 8x8 digit images, seeded, in load_digits' format."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from mlops_pipeline.augment import AugmentError, augment_digits
from mlops_pipeline.config import AugmentConfig, ConfigError, parse_config
from mlops_pipeline.redraw import centre_line, page_digits

DIGITS = load_digits()


def test_copies_follow_the_real_rows_in_load_digits_format() -> None:
    X, y = DIGITS.data[:20], DIGITS.target[:20]
    augmented, labels = augment_digits(X, y, AugmentConfig(copies=3), seed=0)
    assert augmented.shape == (80, 64) and labels.tolist() == y.tolist() * 4
    assert np.array_equal(augmented[:20], X)  # the real rows first, unchanged
    copies = augmented[20:]
    assert copies.min() >= 0 and copies.max() <= 16 and np.array_equal(copies, np.round(copies))
    assert not np.array_equal(copies[:20], X)  # every copy is moved, turned or re-stroked
    assert (copies.sum(axis=1) > 0).all()  # no digit is pushed off the image


def test_the_same_seed_gives_the_same_rows_and_another_seed_others() -> None:
    X, y = DIGITS.data[:10], DIGITS.target[:10]
    first, _ = augment_digits(X, y, AugmentConfig(), seed=5)
    again, _ = augment_digits(X, y, AugmentConfig(), seed=5)
    other, _ = augment_digits(X, y, AugmentConfig(), seed=6)
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_without_any_transform_a_copy_is_the_image_itself_within_counting() -> None:
    still = AugmentConfig(
        copies=1, max_rotation_degrees=0, max_shear=0, max_shift_cells=0, stroke_change=0, min_width_scale=1
    )
    X = DIGITS.data[:10]
    augmented, _ = augment_digits(X, DIGITS.target[:10], still, seed=0)
    # upsampling and counting on/off pixels keeps full and empty cells exactly (half-inked ones round to 0 or 16)
    assert np.array_equal(augmented[10:][X == 16], X[X == 16]) and np.array_equal(augmented[10:][X == 0], X[X == 0])


def test_rows_that_are_not_square_images_are_refused_naming_the_key() -> None:
    with pytest.raises(AugmentError, match=r"data.augment: rows of 10 features are not square images"):
        augment_digits(np.zeros((3, 10)), np.zeros(3), AugmentConfig(), seed=0)


def test_the_config_key_is_off_by_default_and_checked() -> None:
    assert parse_config({}).data.augment is None
    assert parse_config({"data": {"augment": {"copies": 2}}}).data.augment == AugmentConfig(copies=2)
    with pytest.raises(ConfigError, match="data.augment.spin"):
        parse_config({"data": {"augment": {"spin": 3}}})


def test_redrawn_copies_are_the_pages_picture_of_each_digit_and_seeded() -> None:
    X, y = DIGITS.data[:12], DIGITS.target[:12]
    settings = AugmentConfig(copies=3, redraw=True)
    augmented, labels = augment_digits(X, y, settings, seed=0)
    assert augmented.shape == (48, 64) and labels.tolist() == y.tolist() * 4
    assert np.array_equal(augmented[:12], X)  # the real rows first, unchanged
    # the first copy is each digit redrawn as it is; the others are turned first, drawn from the seed
    as_is = np.stack([page_digits(centre_line(image.reshape(8, 8))) for image in X])
    assert np.array_equal(augmented[12:24], as_is)
    assert not np.array_equal(augmented[24:36], as_is)
    again, _ = augment_digits(X, y, settings, seed=0)
    other, _ = augment_digits(X, y, settings, seed=1)
    assert np.array_equal(again, augmented) and not np.array_equal(other[24:], augmented[24:])
    assert (augmented[12:].max(axis=1) == 16).all()  # the page scales every digit's darkest cell to 16
