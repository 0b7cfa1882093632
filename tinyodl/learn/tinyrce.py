"""TinyRCE in numpy: the host reference of the on-device learner (firmware/learn/tl_rce*.c).

A restricted-Coulomb-energy network over extracted features. Each hidden neuron holds a prototype, a
radius (its field of influence), a class, an age and a hit count. Every rule is a named parameter of
`RceParams`; plain RCE is the same code with aging and pruning off.

Distances. int8 features: L1 over the features biased to uint8 (x + 128), an exact integer (the device
uses USADA8, four absolute differences per instruction). float32 features: L1 or squared L2, summed in
float32 in the device's fixed order (four partial sums over elements j = 0, 1, 2, 3 mod 4, then
(s0 + s1) + (s2 + s3)), so that host and device compute the same bits and make the same decisions.

A field contains x when d(x, prototype) < radius (strictly).

predict(x):
- some fields contain x: the nearest of those prototypes decides (unambiguous assignment; ties go to the
  lower index); status IDENTIFIED when every containing field has that class, UNCERTAIN otherwise;
- none does: status UNKNOWN (this is what asks the user for a label), with the nearest prototype's class
  as the fallback answer (-1 while there is no neuron).

learn(x, y), after predict's distances:
1. aging (when on): every neuron's age grows by `age_step`;
2. shrink: every neuron of another class whose field contains x takes radius max(r_min, d);
3. the nearest neuron of class y whose field contains x, if any, fires correctly: its hit count grows and
   (aging on) its age is scaled by d/R, in 1/256 steps: age = age * floor(256 d / R) / 256;
4. otherwise a neuron is committed at x with radius max(r_min, min(r_max, distance to the nearest neuron
   of another class)) (r_max with no such neuron). When the pool is full it first prunes the oldest neuron
   (pruning on; ties: fewer hits, then the lower index); with pruning off the commit is dropped;
5. pruning on and age_limit > 0: neurons older than age_limit are removed.
A removed neuron's slot takes the last neuron (the device's pool stays dense), in the same order on both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

INT_RADIUS_MAX = 0x7FFFFFFF
AGE_MAX = 0xFFFFFFFF


class Status(IntEnum):
    IDENTIFIED = 0
    UNCERTAIN = 1
    UNKNOWN = 2


class Outcome(IntEnum):
    """What a learning step did."""

    FIRED = 0  # a neuron of the right class contained x
    COMMITTED = 1  # a new neuron
    COMMITTED_AFTER_PRUNE = 2  # a new neuron in the slot of a pruned one
    DROPPED = 3  # the pool was full and pruning is off


@dataclass(frozen=True)
class RceParams:
    """Every TinyRCE rule as a parameter. Radii are in distance units: integer L1 units for int8 features,
    float32 for float features (squared distance for L2)."""

    distance: str = "l1"  # "l1" or "l2" (l2 for float32 features only)
    r_max: float = 1e30  # radius of a new neuron with no other-class neuron nearer
    r_min: float = 0.0  # no radius shrinks below this
    aging: bool = True  # ages grow each learning step and fall when a neuron fires correctly
    age_step: int = 256  # what one learning step adds to every age (256 = one step in 1/256 units)
    pruning: bool = True  # a full pool prunes its oldest neuron to commit a new one
    age_limit: int = 0  # with pruning, neurons older than this are removed (0: never)
    capacity: int = 64  # neurons the pool holds (from the RAM budget, see neuron_bytes)

    def __post_init__(self) -> None:
        if self.distance not in ("l1", "l2"):
            raise ValueError(f"distance must be l1 or l2, not {self.distance!r}")
        if self.capacity < 1:
            raise ValueError("capacity must be at least one neuron")
        if self.r_min < 0 or self.r_max < self.r_min:
            raise ValueError(f"need 0 <= r_min <= r_max (got r_min {self.r_min}, r_max {self.r_max})")
        if not 0 <= self.age_step <= 0xFFFF or not 0 <= self.age_limit <= AGE_MAX:
            raise ValueError("age_step must fit 16 bits and age_limit 32 bits")

    @classmethod
    def plain_rce(cls, **kw: object) -> RceParams:
        """The baseline RCE of the slides: no aging, no pruning (the pool still has its size)."""
        return cls(aging=False, pruning=False, age_limit=0, **kw)  # type: ignore[arg-type]


# radius (4), age (4), hits (2), class (1), padding (1), and the distance of the last predict (4)
NEURON_STATE_BYTES = 16


def neuron_bytes(features: int, dtype: str) -> int:
    """RAM of one neuron in the device's pool: the prototype plus its state."""
    return features * (1 if dtype == "int8" else 4) + NEURON_STATE_BYTES


def capacity_for(ram_budget: int, features: int, dtype: str) -> int:
    """Neurons a RAM budget in bytes holds; ValueError naming the numbers when not even one fits."""
    per = neuron_bytes(features, dtype)
    if ram_budget < per:
        raise ValueError(
            f"a RAM budget of {ram_budget:,} B holds no neuron: one takes {per:,} B "
            f"({features} {dtype} features + {NEURON_STATE_BYTES} B of state and scratch)"
        )
    return min(ram_budget // per, 0xFFFF)


@dataclass(frozen=True)
class Prediction:
    label: int  # the answer: the winner's class, or the nearest prototype's for UNKNOWN (-1: no neuron)
    status: Status
    distance: float  # to the winner (or the nearest prototype); 0 with no neuron
    winner: int  # neuron index, -1 with no neuron


@dataclass
class TinyRCE:
    """The learner's state and rules; `dtype` is "int8" or "float32" (the features')."""

    features: int
    dtype: str
    params: RceParams = field(default_factory=RceParams)

    def __post_init__(self) -> None:
        if self.dtype not in ("int8", "float32"):
            raise ValueError(f"features must be int8 or float32, not {self.dtype}")
        if self.dtype == "int8" and self.params.distance != "l1":
            raise ValueError("int8 features use the L1 distance")
        n, d = self.params.capacity, self.features
        self.integer = self.dtype == "int8"
        self.protos = np.zeros((n, d), np.uint8 if self.integer else np.float32)
        self.radius: Any = np.zeros(n, np.int64 if self.integer else np.float32)
        self.age = np.zeros(n, np.int64)
        self.hits = np.zeros(n, np.int64)
        self.label = np.zeros(n, np.int64)
        self.count = 0
        self.r_max: Any = self._radius_value(self.params.r_max)
        self.r_min: Any = self._radius_value(self.params.r_min)

    def _radius_value(self, r: float) -> int | np.float32:
        if self.integer:
            return int(min(max(r, 0), INT_RADIUS_MAX))
        return np.float32(min(float(r), float(np.finfo(np.float32).max)))

    # --- distances -----------------------------------------------------------------------------------

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The stored form of a feature vector: uint8 (x + 128) for int8, float32 otherwise."""
        x = np.asarray(x).reshape(-1)
        if x.size != self.features:
            raise ValueError(f"expected {self.features} features, got {x.size}")
        if self.integer:
            return (x.astype(np.int16) + 128).astype(np.uint8)
        v = x.astype(np.float32)
        if not np.all(np.isfinite(v)):
            raise ValueError("features must be finite")
        return v

    def distances(self, x: np.ndarray) -> np.ndarray:
        v = self.encode(x)
        p = self.protos[: self.count]
        if self.integer:
            return np.abs(p.astype(np.int64) - v.astype(np.int64)).sum(axis=1)
        diff = p - v[None, :]  # float32, each difference rounded once
        terms = np.abs(diff) if self.params.distance == "l1" else diff * diff
        partial = np.zeros((4, self.count), np.float32)
        for j in range(self.features):  # in order, one float32 rounding per addition
            partial[j % 4] = partial[j % 4] + terms[:, j]
        return (partial[0] + partial[1]) + (partial[2] + partial[3])

    # --- the rules -----------------------------------------------------------------------------------

    def predict(self, x: np.ndarray, d: np.ndarray | None = None) -> Prediction:
        d = self.distances(x) if d is None else d
        if self.count == 0:
            return Prediction(-1, Status.UNKNOWN, 0.0, -1)
        inside = np.flatnonzero(d < self.radius[: self.count])
        if inside.size == 0:
            w = int(np.argmin(d))  # the first of equal minima: the lower index
            return Prediction(int(self.label[w]), Status.UNKNOWN, float(d[w]), w)
        w = int(inside[np.argmin(d[inside])])
        classes = self.label[inside]
        status = Status.IDENTIFIED if np.all(classes == self.label[w]) else Status.UNCERTAIN
        return Prediction(int(self.label[w]), status, float(d[w]), w)

    def learn(self, x: np.ndarray, y: int, d: np.ndarray | None = None) -> Outcome:
        v = self.encode(x)
        d = self.distances(x) if d is None else d
        n, p = self.count, self.params
        if p.aging and n:
            self.age[:n] = np.minimum(self.age[:n] + p.age_step, AGE_MAX)
        inside = d < self.radius[:n]
        other = self.label[:n] != y
        shrink = inside & other
        self.radius[:n][shrink] = np.maximum(d[shrink], self.r_min).astype(self.radius.dtype)
        same = np.flatnonzero(inside & ~other)
        if same.size:
            w = int(same[np.argmin(d[same])])
            self.hits[w] = min(self.hits[w] + 1, 0xFFFF)
            if p.aging:
                self.age[w] = self.age[w] * self._age_scale(d[w], self.radius[w]) // 256
            outcome = Outcome.FIRED
        else:
            others = np.flatnonzero(other)
            r = self.r_max if others.size == 0 else min(self.r_max, d[others].min())
            r = max(r, self.r_min)
            outcome = Outcome.COMMITTED
            if self.count == p.capacity:
                if not p.pruning:
                    return Outcome.DROPPED
                self._remove(self.oldest())
                outcome = Outcome.COMMITTED_AFTER_PRUNE
            i = self.count
            self.protos[i], self.radius[i], self.age[i], self.hits[i], self.label[i] = v, r, 0, 0, y
            self.count += 1
        if p.pruning and p.age_limit:
            for i in range(self.count - 1, -1, -1):
                if self.age[i] > p.age_limit:
                    self._remove(i)
        return outcome

    def _age_scale(self, d: float, r: float) -> int:
        """floor(256 d / R), clamped to 0..256: 0 for a hit on the prototype, 256 at the field's edge."""
        if self.integer:
            q = (256 * int(d)) // int(r) if r > 0 else 256
        else:
            q = int(np.floor(np.float32(256.0) * np.float32(d) / np.float32(r))) if r > 0 else 256
        return min(max(q, 0), 256)

    def oldest(self) -> int:
        """The neuron pruning removes: the oldest; among equals the one with fewer hits, then the lower index."""
        n = self.count
        order = np.lexsort((np.arange(n), self.hits[:n], -self.age[:n]))
        return int(order[0])

    def _remove(self, i: int) -> None:
        last = self.count - 1
        for a in (self.protos, self.radius, self.age, self.hits, self.label):
            a[i] = a[last]
        self.count -= 1

    # --- inspection ----------------------------------------------------------------------------------

    def check(self) -> None:
        """The state invariants the device checks too; AssertionError when one fails."""
        n = self.count
        assert 0 <= n <= self.params.capacity
        assert np.all(self.radius[:n] >= self.r_min)  # and r_min >= 0
        assert np.all((self.age[:n] >= 0) & (self.age[:n] <= AGE_MAX))
        if self.params.pruning and self.params.age_limit:
            assert np.all(self.age[:n] <= self.params.age_limit)

    def state(self) -> dict[str, np.ndarray]:
        n = self.count
        return {"protos": self.protos[:n].copy(), "radius": self.radius[:n].copy(), "age": self.age[:n].copy(),
                "hits": self.hits[:n].copy(), "label": self.label[:n].copy()}  # fmt: skip
