"""Baselines on the same frozen features as the learner, host side (the report's comparison rows).

- trivial: answer the label learned last (in a time-ordered stream of ~35 overlapping windows per
  recording this already scores very high: every report shows it);
- knn: 1-nearest neighbour storing every learned window (its RAM grows without bound);
- rce: plain RCE (no aging, no pruning) with an unbounded pool;
- backprop: a softmax layer trained offline by gradient descent (the seed's CNN-SM_BP head), evaluated
  per user with k-fold cross-validation: over windows for the interleaved and shuffled protocols (like the
  learner, it has seen other windows of the same recording), over recordings for new-recording (no
  recording is both trained and tested).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .tinyrce import RceParams, TinyRCE


def encode(features: np.ndarray, int8: bool) -> np.ndarray:
    return features.astype(np.int64) + 128 if int8 else features.astype(np.float64)


def distance_rows(stored: np.ndarray, x: np.ndarray, l2: bool) -> np.ndarray:
    diff = stored - x[None, :]
    return (diff * diff).sum(axis=1) if l2 else np.abs(diff).sum(axis=1)


Step = tuple[int, bool]  # (window index, learn after predicting); predict-only steps have learn False


def trivial(steps: Iterable[Step], y: np.ndarray) -> list[int]:
    out, last = [], -1
    for i, learn in steps:
        out.append(last)
        if learn:
            last = int(y[i])
    return out


def knn1(steps: Iterable[Step], features: np.ndarray, y: np.ndarray, int8: bool, l2: bool) -> tuple[list[int], int]:
    """Predictions, and the most windows it stored."""
    enc = encode(features, int8)
    stored: list[int] = []
    out = []
    for i, learn in steps:
        if stored:
            d = distance_rows(enc[stored], enc[i], l2)
            out.append(int(y[stored[int(np.argmin(d))]]))
        else:
            out.append(-1)
        if learn:
            stored.append(i)
    return out, len(stored)


def plain_rce(steps: Iterable[Step], features: np.ndarray, y: np.ndarray, int8: bool, params: RceParams,
              n_steps: int) -> tuple[list[int], int]:  # fmt: skip
    """Predictions and the neuron count of plain RCE with a pool large enough never to fill."""
    rce = TinyRCE(features.shape[1], "int8" if int8 else "float32",
                  RceParams.plain_rce(distance=params.distance, r_max=params.r_max, r_min=params.r_min,
                                      capacity=max(n_steps, 1)))  # fmt: skip
    out = []
    for i, learn in steps:
        d = rce.distances(features[i])
        out.append(rce.predict(features[i], d).label)
        if learn:
            rce.learn(features[i], int(y[i]), d)
    return out, rce.count


def softmax_fit(x: np.ndarray, y: np.ndarray, classes: int, epochs: int = 300, lr: float = 0.5,
                weight_decay: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Full-batch gradient descent on softmax cross-entropy (standardised inputs); returns (W, b)."""
    n, d = x.shape
    w = np.zeros((d, classes))
    b = np.zeros(classes)
    onehot = np.eye(classes)[y]
    for _ in range(epochs):
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / n
        w -= lr * (x.T @ g + weight_decay * w)
        b -= lr * g.sum(axis=0)
    return w, b


def backprop_kfold(features: np.ndarray, y: np.ndarray, group: np.ndarray, classes: int, folds: int = 5,
                   seed: int = 0) -> np.ndarray:  # fmt: skip
    """Each window's prediction by a softmax trained on the other folds (folds of whole groups: pass
    np.arange(n) as `group` for folds over windows); -1 where a fold had nothing to train on."""
    x = features.astype(np.float64)
    groups = np.unique(group)
    rng = np.random.default_rng(seed)
    order = rng.permutation(groups)
    k = max(2, min(folds, len(groups)))
    out = np.full(len(y), -1, np.int64)
    for f in range(k):
        test_groups = order[f::k]
        test = np.isin(group, test_groups)
        train = ~test
        if not train.any() or not test.any():
            continue
        mu, sd = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
        w, b = softmax_fit((x[train] - mu) / sd, y[train], classes)
        out[test] = np.argmax(((x[test] - mu) / sd) @ w + b, axis=1)
    return out
