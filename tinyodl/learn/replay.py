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
    latents: np.ndarray = field(init=False)
    labels: np.ndarray = field(init=False)
    count: int = field(init=False, default=0)
    experiences: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.features < 1:
            raise ValueError("the buffer needs room for at least one latent")
        if self.seed == 0:
            raise ValueError("the seed must not be 0")
        self.latents = np.zeros((self.capacity, self.features), np.int8)
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
