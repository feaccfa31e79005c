"""Diagnostic plots as hand-written SVG: a confusion matrix and a residual plot.

Two small charts do not justify matplotlib (a large dependency with a font cache and a backend to configure);
SVG is text, renders in the Prefect UI (as a data URI in a markdown artifact) and in any browser, and the bytes
depend only on the numbers, so identical inputs give identical files in the model folder.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

_LIGHT = (247, 251, 255)
_DARK = (8, 48, 107)
_FONT = 'font-family="sans-serif" font-size="11"'
_TITLE_FONT = 'font-family="sans-serif" font-size="13" font-weight="bold"'


def _shade(fraction: float) -> str:
    """A colour from light to dark blue for a fraction in [0, 1]."""
    f = min(max(fraction, 0.0), 1.0)
    r, g, b = (round(lo + (hi - lo) * f) for lo, hi in zip(_LIGHT, _DARK, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">\n'
        f"<title>{escape(title)}</title>\n"
        f'<rect width="{width}" height="{height}" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n"
    )


def confusion_matrix_svg(counts: Sequence[Sequence[int]], labels: Sequence[object], title: str) -> str:
    """Rows are true classes, columns predicted; each cell shows its count, shaded by its share of the row."""
    matrix = np.asarray(counts, dtype=np.int64)
    n = len(labels)
    if matrix.shape != (n, n):
        raise ValueError(f"confusion matrix is {matrix.shape}, expected ({n}, {n}) for {n} labels")
    cell = 34 if n <= 12 else max(12, 400 // n)
    left, top = 70, 50
    width, height = left + n * cell + 20, top + n * cell + 40
    row_totals = matrix.sum(axis=1)
    body = [
        f'<text x="{left}" y="18" {_TITLE_FONT}>{escape(title)}</text>',
        f'<text x="{left + n * cell / 2:.1f}" y="38" {_FONT} text-anchor="middle">predicted</text>',
        f'<text x="16" y="{top + n * cell / 2:.1f}" {_FONT} text-anchor="middle" '
        f'transform="rotate(-90 16 {top + n * cell / 2:.1f})">true</text>',
    ]
    for i, label in enumerate(labels):
        text = escape(str(label))
        body.append(
            f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4:.1f}" {_FONT} text-anchor="end">{text}</text>'
        )
        body.append(
            f'<text x="{left + i * cell + cell / 2:.1f}" y="{top + n * cell + 14}" {_FONT} '
            f'text-anchor="middle">{text}</text>'
        )
    for i in range(n):
        for j in range(n):
            share = matrix[i, j] / row_totals[i] if row_totals[i] else 0.0
            x, y = left + j * cell, top + i * cell
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{_shade(share)}" stroke="#d0d7de"/>'
            )
            if matrix[i, j]:
                colour = "white" if share > 0.5 else "black"
                body.append(
                    f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" {_FONT} '
                    f'text-anchor="middle" fill="{colour}">{matrix[i, j]}</text>'
                )
    return _svg(width, height, body, title)


def _ticks(low: float, high: float) -> list[float]:
    return [low, (low + high) / 2, high]


def residual_plot_svg(y_true: np.ndarray, y_pred: np.ndarray, title: str) -> str:
    """Residual (true - predicted) against predicted value, with the zero line: structure here means bias."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"need two equal-length 1-D arrays, got {y_true.shape} and {y_pred.shape}")
    residuals = y_true - y_pred
    left, top, plot_w, plot_h = 60, 30, 420, 260
    width, height = left + plot_w + 20, top + plot_h + 45
    x_low, x_high = float(y_pred.min()), float(y_pred.max())
    bound = float(np.abs(residuals).max()) or 1.0
    y_low, y_high = -bound, bound
    x_span = (x_high - x_low) or 1.0

    def sx(value: float) -> float:
        return left + (value - x_low) / x_span * plot_w

    def sy(value: float) -> float:
        return top + (y_high - value) / (y_high - y_low) * plot_h

    body = [
        f'<text x="{left}" y="18" {_TITLE_FONT}>{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#8c959f"/>',
        f'<line x1="{left}" y1="{sy(0):.1f}" x2="{left + plot_w}" y2="{sy(0):.1f}" stroke="#cf222e" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" {_FONT} text-anchor="middle">predicted</text>',
        f'<text x="14" y="{top + plot_h / 2:.1f}" {_FONT} text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">residual (true - predicted)</text>',
    ]
    for value in _ticks(x_low, x_high):
        body.append(
            f'<text x="{sx(value):.1f}" y="{top + plot_h + 14}" {_FONT} text-anchor="middle">{value:.3g}</text>'
        )
    for value in _ticks(y_low, y_high):
        body.append(f'<text x="{left - 5}" y="{sy(value) + 4:.1f}" {_FONT} text-anchor="end">{value:.3g}</text>')
    body += [
        f'<circle cx="{sx(p):.1f}" cy="{sy(r):.1f}" r="2.5" fill="#0969da" fill-opacity="0.6"/>'
        for p, r in zip(y_pred, residuals, strict=True)
    ]
    return _svg(width, height, body, title)


def svg_data_uri(svg: str | bytes) -> str:
    """An SVG as a `data:` URI, which markdown artifacts in the Prefect UI render as an image."""
    data = svg.encode() if isinstance(svg, str) else svg
    return "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii")


def importance_svg(names: Sequence[str], means: Sequence[float], stds: Sequence[float], title: str) -> str:
    """Horizontal bars, one per feature in the order given (most important first), with a whisker of +- one std."""
    if not (len(names) == len(means) == len(stds)) or not names:
        raise ValueError(f"need as many names, means and stds (at least one): {len(names)}, {len(means)}, {len(stds)}")
    values = np.asarray(means, dtype=np.float64)
    spread = np.asarray(stds, dtype=np.float64)
    label_width = min(max(len(str(n)) for n in names), 28) * 7 + 10
    left, top, plot_w, bar = label_width, 30, 360, 16
    width, height = left + plot_w + 70, top + len(names) * (bar + 4) + 30
    low = min(0.0, float((values - spread).min()))
    high = max(float((values + spread).max()), 1e-12)

    def sx(value: float) -> float:
        return left + (value - low) / (high - low) * plot_w

    body = [
        f'<text x="8" y="18" {_TITLE_FONT}>{escape(title)}</text>',
        f'<line x1="{sx(0):.1f}" y1="{top - 4}" x2="{sx(0):.1f}" y2="{height - 26}" stroke="#8c959f"/>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" {_FONT} text-anchor="middle">'
        "drop of the metric when the column is shuffled</text>",
    ]
    for i, (name, value, std) in enumerate(zip(names, values, spread, strict=True)):
        y = top + i * (bar + 4)
        x0, x1 = sorted((sx(0), sx(float(value))))
        label = escape(str(name) if len(str(name)) <= 28 else str(name)[:27] + "…")
        body += [
            f'<text x="{left - 6}" y="{y + bar - 4}" {_FONT} text-anchor="end">{label}</text>',
            f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 0.5):.1f}" height="{bar}" fill="{_shade(0.7)}"/>',
            f'<line x1="{sx(float(value - std)):.1f}" y1="{y + bar / 2}" x2="{sx(float(value + std)):.1f}" '
            f'y2="{y + bar / 2}" stroke="black"/>',
            f'<text x="{max(x1, sx(float(value + std))) + 4:.1f}" y="{y + bar - 4}" {_FONT}>{value:.4f}</text>',
        ]
    return _svg(width, height, body, title)
