"""The latent-replay buffer in numpy: the host reference of firmware/learn/tl_replay.c.

The buffer holds up to `capacity` latents (int8 activations of the replay layer, with one scale and zero
point for all of them, the layer's own) and their labels. After experience i (1, 2, ...), cap // i of its
slots take latents of that experience (SPEC section 7), so every experience seen keeps about an equal share:
- which latents of the experience: k evenly spaced ones, j * n // k for j = 0..k-1 (n latents, k = min(cap
  // i, n));
- which slots: while the buffer is not full, the next free ones; then, one at a time, a slot of the
  experience that holds the most (ties: the oldest experience), drawn among its slots by xorshift32 from
  the buffer's seed (the device draws the same): the experiences' shares never differ by more than one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def xorshift32(state: int) -> int:
    state ^= (state << 13) & 0xFFFFFFFF
    state ^= state >> 17
    state ^= (state << 5) & 0xFFFFFFFF
    return state & 0xFFFFFFFF


@dataclass
class ReplayBuffer:
    capacity: int
    features: int
    seed: int = 0x9E3779B9  # never 0: xorshift32 stays at 0
    dtype: type = np.int8  # the latents' type: int8, or float32 for a float32 frozen stage
    latents: np.ndarray = field(init=False)
    labels: np.ndarray = field(init=False)
    count: int = field(init=False, default=0)
    experiences: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.features < 1:
            raise ValueError("the buffer needs room for at least one latent")
        if self.seed == 0:
            raise ValueError("the seed must not be 0")
        self.latents = np.zeros((self.capacity, self.features), self.dtype)
        self.labels = np.zeros(self.capacity, np.uint8)
        self.owner = np.zeros(self.capacity, np.int64)  # the experience each slot's latent came from
        self.state = self.seed

    def _draw(self, bound: int) -> int:
        self.state = xorshift32(self.state)
        return self.state % bound

    def end_experience(self, latents: np.ndarray, labels: np.ndarray) -> list[int]:
        """Store a share of an experience's latents; returns the slots written, in order."""
        self.experiences += 1
        n = len(latents)
        k = min(self.capacity // self.experiences, n)
        picks = [j * n // k for j in range(k)] if k else []
        fresh = min(self.capacity - self.count, k)
        slots = list(range(self.count, self.count + fresh))
        for _ in range(k - fresh):
            held = np.bincount(self.owner[: self.count], minlength=self.experiences)
            held[self.experiences - 1] = 0  # the slots this experience has taken already stay
            victim_of = int(np.argmax(held))  # the most; the oldest among equals
            candidates = np.flatnonzero(self.owner[: self.count] == victim_of)
            slot = int(candidates[self._draw(len(candidates))])
            self.owner[slot] = self.experiences - 1
            slots.append(slot)
        for slot in slots[:fresh]:
            self.owner[slot] = self.experiences - 1
        for slot, pick in zip(slots, picks, strict=True):
            self.latents[slot] = latents[pick]
            self.labels[slot] = labels[pick]
        self.count += fresh
        return slots

    def share(self) -> dict[int, int]:
        """Latents held per label."""
        values, counts = np.unique(self.labels[: self.count], return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


@dataclass(frozen=True)
class ReplayParams:
    """The adaptive stage's training (SPEC section 7's reference settings as defaults)."""

    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 4
    batch: int = 16
    replay: bool = True  # False: no replay (the forgetting baseline)
    tinyprop: bool = False
    seed: int = 0x2545F491  # minibatch order (xorshift32), never 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or not 1 <= self.batch <= 64 or self.seed == 0:
            raise ValueError("need epochs >= 1, 1 <= batch <= 64 and a nonzero seed")


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """(q - zero_point) * scale in float32, as the device computes it; float32 latents stay as they are."""
    q = np.asarray(q)
    if q.dtype.kind == "f":
        return q.astype(np.float32)
    return (q.astype(np.int32) - zero_point).astype(np.float32) * np.float32(scale)


@dataclass
class HeadLearner:
    """A softmax head over int8 latents, trained experience by experience with latent replay: one dense
    layer (w, b), or with `w1`, `b1` a hidden dense layer and ReLU before it.

    Per experience: the current latents and (with replay) the buffer's form the pool; each epoch visits the
    pool in an xorshift32 Fisher-Yates order in minibatches of `batch` (the last one shorter): dequantize,
    forward, softmax cross-entropy, back-propagation (with TinyProp, per dense layer, only the selected
    outputs' deltas: the output layer at depth 0, the hidden one at depth 1), then SGD with momentum and
    weight decay on the selected rows, once every new value is known to be finite. Then the buffer takes
    its share of the experience."""

    w: np.ndarray  # (classes, hidden or features) float32
    b: np.ndarray  # (classes,)
    scale: float
    zero_point: int
    buffer: ReplayBuffer
    params: ReplayParams = field(default_factory=ReplayParams)
    w1: np.ndarray | None = None  # (hidden, features): the hidden layer, when there is one
    b1: np.ndarray | None = None

    def __post_init__(self) -> None:
        from .train import TinyPropState

        hidden = [] if self.w1 is None or self.b1 is None else [(self.w1, self.b1)]
        self.layers = [
            (w.astype(np.float32).copy(), b.astype(np.float32).copy()) for w, b in [*hidden, (self.w, self.b)]
        ]
        self.velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in self.layers]
        self.state = self.params.seed
        self.tinyprop_state = [TinyPropState() for _ in self.layers]
        self.steps = 0
        self.rows_updated = 0

    @property
    def head(self) -> tuple[np.ndarray, np.ndarray]:
        """The output layer's (W, b)."""
        return self.layers[-1]

    def order(self, n: int) -> list[int]:
        idx = list(range(n))
        for i in range(n - 1, 0, -1):
            self.state = xorshift32(self.state)
            j = self.state % (i + 1)
            idx[i], idx[j] = idx[j], idx[i]
        return idx

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Each layer's input, then the logits."""
        from . import train as t

        acts = [x]
        for n, (w, b) in enumerate(self.layers):
            z = t.dense_forward(acts[-1], w, b)
            acts.append(np.maximum(z, np.float32(0)) if n < len(self.layers) - 1 else z)
        return acts

    def train_experience(self, latents: np.ndarray, labels: np.ndarray) -> float:
        """Returns the mean loss of the last epoch; ValueError when a step would make a weight non-finite
        (the weights before that step are kept, as on the device)."""
        from . import train as t

        p = self.params
        pool_x, pool_y = latents, labels
        if p.replay and self.buffer.count:
            pool_x = np.concatenate([latents, self.buffer.latents[: self.buffer.count]])
            pool_y = np.concatenate([labels, self.buffer.labels[: self.buffer.count]])
        loss_sum, batches = 0.0, 0
        for _ in range(p.epochs):
            loss_sum, batches = 0.0, 0
            order = self.order(len(pool_y))
            for s in range(0, len(order), p.batch):
                rows = order[s : s + p.batch]
                acts = self._forward(dequantize(pool_x[rows], self.scale, self.zero_point))
                loss, delta = t.softmax_xent(acts[-1], pool_y[rows].astype(np.int64))
                updates = []
                for n in range(len(self.layers) - 1, -1, -1):
                    w, b = self.layers[n]
                    mask = np.ones(len(b), bool)
                    if p.tinyprop:
                        _, mask = t.tinyprop_select(delta, self.tinyprop_state[n], len(self.layers) - 1 - n)
                        delta = np.where(mask[None, :], delta, np.float32(0)).astype(np.float32)
                    gw, gb = t.dense_weight_grad(acts[n], delta)
                    vw, vb = self.velocity[n]
                    nw, nvw = t.sgd(w[mask], gw[mask], vw[mask], p.lr, p.momentum, p.weight_decay)
                    nb, nvb = t.sgd(b[mask], gb[mask], vb[mask], p.lr, p.momentum, p.weight_decay)
                    updates.append((n, mask, nw, nvw, nb, nvb))
                    if n:
                        delta = t.relu_backward(acts[n], t.dense_input_grad(delta, w))
                if not all(np.all(np.isfinite(a)) for u in updates for a in u[2:]):
                    raise ValueError(f"training step {self.steps} would make a weight non-finite")
                for n, mask, nw, nvw, nb, nvb in updates:
                    w, b = self.layers[n]
                    vw, vb = self.velocity[n]
                    w[mask], vw[mask], b[mask], vb[mask] = nw, nvw, nb, nvb
                    self.rows_updated += int(mask.sum())
                self.steps += 1
                loss_sum += loss
                batches += 1
        self.buffer.end_experience(latents, labels.astype(np.uint8))
        return loss_sum / max(batches, 1)

    def predict(self, latents: np.ndarray) -> np.ndarray:
        return np.argmax(self._forward(dequantize(latents, self.scale, self.zero_point))[-1], axis=1)
