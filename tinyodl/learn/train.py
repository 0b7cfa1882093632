"""Training primitives for the adaptive stage of latent replay, in numpy: the host reference of
firmware/learn/tl_train.c. float32 throughout; the device agrees within TOLERANCE (its sums run in another
order and with fused multiply-adds).

Shapes: a batch of B rows; a dense layer maps I inputs to O outputs with weights W (O, I), bias b (O).
"""

from __future__ import annotations

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
