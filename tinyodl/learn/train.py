"""Training primitives for the adaptive stage of latent replay, in numpy: the host reference of
firmware/learn/tl_train.c. float32 throughout; the device agrees within TOLERANCE (its sums run in another
order and with fused multiply-adds).

Shapes: a batch of B rows; a dense layer maps I inputs to O outputs with weights W (O, I), bias b (O).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# C (fused multiply-adds, its own summation order) against these numpy functions
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = x W^T + b: (B, I) -> (B, O)."""
    return (x.astype(np.float32) @ w.T.astype(np.float32) + b).astype(np.float32)


def dense_weight_grad(x: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dL/dW = dy^T x (O, I) and dL/db = sum over the batch of dy (O,)."""
    return (dy.T @ x).astype(np.float32), dy.sum(axis=0).astype(np.float32)


def dense_input_grad(dy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dL/dx = dy W: (B, O) -> (B, I)."""
    return (dy @ w).astype(np.float32)


def relu_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """The gradient through ReLU, from its output y: dy where y > 0, else 0."""
    return np.where(y > 0, dy, np.float32(0)).astype(np.float32)


def softmax_xent(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient (softmax - onehot) / B."""
    z = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    batch = len(labels)
    loss = float(-np.log(np.maximum(p[np.arange(batch), labels], np.float32(1e-30))).mean())
    grad = p.copy()
    grad[np.arange(batch), labels] -= 1
    return loss, (grad / np.float32(batch)).astype(np.float32)


def sgd(w: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float, momentum: float,
        weight_decay: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """SGD with momentum and (L2) weight decay: v = momentum v + (g + wd w); w = w - lr v."""
    v = (np.float32(momentum) * velocity + (grad + np.float32(weight_decay) * w)).astype(np.float32)
    return (w - np.float32(lr) * v).astype(np.float32), v


# --- TinyProp: sparse back-propagation with a dynamic ratio (SPEC section 7) ---------------------------


@dataclass
class TinyPropState:
    """Per dense layer: the running maximum of the summed absolute output gradient."""

    e_max: float = 0.0


@dataclass(frozen=True)
class TinyPropParams:
    s_min: float = 0.1
    s_max: float = 0.9
    zeta: float = 0.5


def tinyprop_select(delta: np.ndarray, state: TinyPropState, depth: int,
                    params: TinyPropParams = TinyPropParams()) -> tuple[int, np.ndarray]:  # fmt: skip
    """(k, mask): the k of N outputs whose gradients a layer back-propagates and updates.

    E = the sum of |delta| (rows in order, each row's outputs in order, float32), E_max its running maximum,
    BPR = (S_min + E (S_max - S_min) / E_max) zeta^depth, k = clamp(floor(N BPR), 1, N); the k outputs with
    the largest summed |delta| over the batch (ties: the lower index). float32 in the device's order."""
    d = np.abs(delta.astype(np.float32))
    batch, n = d.shape
    e = np.float32(0)
    for r in range(batch):
        for o in range(n):
            e = np.float32(e + d[r, o])
    state.e_max = float(max(np.float32(state.e_max), e))
    zeta_pow = np.float32(1)
    for _ in range(depth):
        zeta_pow = np.float32(zeta_pow * np.float32(params.zeta))
    s_min, s_max = np.float32(params.s_min), np.float32(params.s_max)
    if state.e_max > 0:
        t = np.float32(np.float32(e * np.float32(s_max - s_min)) / np.float32(state.e_max))
        bpr = np.float32(np.float32(s_min + t) * zeta_pow)
    else:
        bpr = np.float32(s_min * zeta_pow)
    k = int(min(max(int(np.floor(np.float32(np.float32(n) * bpr))), 1), n))
    score = np.zeros(n, np.float32)
    for r in range(batch):
        score = (score + d[r]).astype(np.float32)
    order = sorted(range(n), key=lambda o: (-float(score[o]), o))
    mask = np.zeros(n, bool)
    mask[order[:k]] = True
    return k, mask
