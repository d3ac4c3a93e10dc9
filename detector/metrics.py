"""Scores of a binary detector: AUC, TPR at a fixed FPR, Brier score, and a bootstrap over clips.

>>> import numpy as np
>>> from detector.metrics import auc, brier, tpr_at_fpr
>>> labels = np.array([0, 0, 0, 1, 1, 1])
>>> scores = np.array([0.1, 0.2, 0.7, 0.6, 0.8, 0.9])
>>> round(auc(labels, scores), 3)
0.889
>>> tpr_at_fpr(labels, scores, fpr=0.01)              # the threshold sits above every real score
0.666...
>>> round(brier(labels, scores), 3)
0.125

``auc`` is the Mann–Whitney statistic (ties count one half); ``tpr_at_fpr`` uses the smallest
threshold whose false-positive rate is at most ``fpr`` (with 7 real clips, only 0 % is at most 1 %).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, *, fpr: float) -> float:
    """Share of positives above the lowest threshold that keeps the false-positive rate ≤ ``fpr``."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    pos, neg = scores[labels == 1], np.sort(scores[labels == 0])
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allowed = int(np.floor(fpr * len(neg)))  # negatives that may score above the threshold
    threshold = neg[len(neg) - 1 - allowed]
    return float((pos > threshold).mean())


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    labels, probabilities = np.asarray(labels, np.float64), np.asarray(probabilities, np.float64)
    return float(((probabilities - labels) ** 2).mean())


def bootstrap_by_group(
    labels: np.ndarray,
    *,
    scores: np.ndarray,
    groups: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    rounds: int = 2000,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``metric`` when whole groups (clips and their twins) are resampled."""
    labels, scores, groups = np.asarray(labels), np.asarray(scores), np.asarray(groups)
    names = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in names]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        pick = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        value = metric(labels[pick], scores[pick])
        if np.isfinite(value):
            values.append(value)
    tail = (1 - level) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))
