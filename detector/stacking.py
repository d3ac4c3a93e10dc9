"""The combined model: a small logistic model over the CNN's logit and the frozen-texture cue, fitted out of fold.

>>> import numpy as np
>>> from detector.stacking import fit_stacking, nested_stacking
>>> rows = [{"clip": c, "label": y, "cnn_logit": cnn, "texture": tex}
...         for c in ("a", "b", "c")
...         for y, cnn, tex in ((0, -2.0, -1.2), (1, 4.0, -4.0), (1, 3.0, -3.5))]
>>> rows.append({"clip": "d", "label": 0, "cnn_logit": 5.0, "texture": -1.3})   # a real clip the CNN gets wrong
>>> rows.append({"clip": "d", "label": 1, "cnn_logit": 9.0, "texture": -3.8})
>>> model = fit_stacking(rows)
>>> model.texture < 0 < model.cnn                       # frozen (very negative) texture → synthetic
True
>>> held = nested_stacking(rows)
>>> sorted(held["models"]), len(held["rows"]) == len(rows)
(['a', 'b', 'c', 'd'], True)

Why a stack and not a new CNN input: the cue needs the background, away from the face, which the
CNN's aligned face and mouth crops do not contain; it is one number per clip with a clear physical
meaning (:mod:`detector.texture`). The CNN is unchanged.

Why tied weights (``form="tied"``, since 2.1): with one weight per cue ("free", version 2.0), a
model fitted on clips where the CNN was never wrong learns to trust the CNN and to ignore the cue,
and it then fails on the one kind of real clip the CNN gets wrong (a beauty-filtered face; see
docs/detector.md). Nothing in a handful of clips can teach it otherwise: selecting the form by
cross-validation *inside* each fold picks "free" exactly when that clip is held out. So the form
is a prior, not a fit: each cue counts in its own standard units, with equal weight, and only the
common scale and the bias are fitted — two numbers, by the same penalised Newton's method.

No leaks: the rows are the *out-of-fold* CNN logits of each clip's files (the fold model that never
saw the clip) with their cue; :func:`nested_stacking` fits one model per held-out clip on the other
clips' rows only, and those held-out combined logits are what the temperature, the threshold and
the evaluation use. (The other clips' CNN logits came from fold models that did see the held-out
clip: a second-order dependence, stated in docs/detector.md.) The shipped weights are
:func:`fit_stacking` on every clip's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detector.classifier import Stacking

L2 = 1.0  # penalty on the two standardised weights (not the bias), in units of the log-likelihood
FORMS = ("tied", "free")
FORM = "tied"  # equal weight on the two standardised cues (docs/detector.md, "Why tied weights")
TEXTURE_FILL_DEFAULT = -2.5  # between the classes: used when a clip's cue cannot be measured


def _design(rows: Sequence[dict[str, Any]], fill: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[1.0, float(r["cnn_logit"]), fill if r.get("texture") is None else float(r["texture"])]
                  for r in rows])
    y = np.array([float(r["label"]) for r in rows])
    return x, y


def _newton(x: np.ndarray, y: np.ndarray, penalty: np.ndarray, iterations: int) -> np.ndarray:
    """Penalised logistic regression of ``y`` on the columns of ``x`` (the first is the bias)."""
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(x @ beta)))
        gradient = x.T @ (p - y) + penalty @ beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def fit_stacking(
    rows: Sequence[dict[str, Any]], *, l2: float = L2, form: str = FORM, iterations: int = 100,
) -> Stacking:
    """Penalised logistic regression of ``label`` on ``cnn_logit`` and ``texture`` (Newton's method).

    Both features are standardised (mean 0, SD 1 over ``rows``) first, so that neither counts for
    more because of its units (the CNN's logits span ±15, the cue about 4). ``form="tied"`` (the
    default) adds the two standardised pieces of evidence with *equal* weight (the cue's sign
    flipped: frozen is synthetic) and fits only their common scale and the bias; ``form="free"``
    fits one weight each (version 2.0's model). The returned weights are on the raw scale."""
    if form not in FORMS:
        raise ValueError(f"unknown stacking form {form!r} (expected one of {', '.join(FORMS)})")
    measured = [float(r["texture"]) for r in rows if r.get("texture") is not None]
    fill = float(np.mean(measured)) if measured else TEXTURE_FILL_DEFAULT
    raw, y = _design(rows, fill)
    if len(set(y.tolist())) < 2:
        raise ValueError("stacking needs rows of both classes")
    mean, sd = raw[:, 1:].mean(axis=0), np.maximum(raw[:, 1:].std(axis=0), 1e-6)
    z = (raw[:, 1:] - mean) / sd
    if form == "free":
        beta = _newton(np.column_stack([raw[:, 0], z]), y, np.diag([0.0, l2, l2]), iterations)
        standard = beta[1:]
    else:
        beta = _newton(np.column_stack([raw[:, 0], z[:, 0] - z[:, 1]]), y, np.diag([0.0, l2]), iterations)
        standard = np.array([beta[1], -beta[1]])
    weights = standard / sd
    bias = float(beta[0] - (weights * mean).sum())
    return Stacking(bias=bias, cnn=float(weights[0]), texture=float(weights[1]), texture_fill=fill)


def nested_stacking(
    rows: Sequence[dict[str, Any]], *, group: str = "clip", l2: float = L2, form: str = FORM,
) -> dict[str, Any]:
    """One model per ``group`` (clip, or cross-validation fold), fitted without that group's rows; the
    rows with their held-out combined ``logit``."""
    models: dict[str, Stacking] = {}
    out = []
    for key in sorted({r[group] for r in rows}):
        model = fit_stacking([r for r in rows if r[group] != key], l2=l2, form=form)
        models[key] = model
        for r in rows:
            if r[group] == key:
                combined = model.combine(np.array([r["cnn_logit"]]), r.get("texture"))
                out.append({**r, "logit": float(combined[0])})
    return {"models": models, "rows": out}
