"""TinyRCE's numpy reference, one rule at a time, on tiny hand-built feature streams."""

from __future__ import annotations

import numpy as np
import pytest

from tinyodl.learn.tinyrce import Outcome, RceParams, Status, TinyRCE, capacity_for, neuron_bytes


def rce(dtype: str = "int8", **kw: object) -> TinyRCE:
    return TinyRCE(features=2, dtype=dtype, params=RceParams(**kw))  # type: ignore[arg-type]


def v(*xs: int) -> np.ndarray:
    return np.array(xs, np.int8)


def test_commit_radius_is_the_nearest_other_class_capped_by_r_max() -> None:
    r = rce(r_max=100)
    assert r.learn(v(0, 0), 0) is Outcome.COMMITTED and r.radius[0] == 100  # nothing else: r_max
    assert r.learn(v(30, 0), 1) is Outcome.COMMITTED and r.radius[1] == 30  # L1 distance to class 0
    assert r.learn(v(-200 // 2, 0), 1) is Outcome.COMMITTED and r.radius[2] == 100  # 100: capped by r_max


def test_shrink_on_conflict_with_r_min_floor() -> None:
    r = rce(r_max=100, r_min=5)
    r.learn(v(0, 0), 0)
    r.learn(v(20, 0), 1)  # inside neuron 0's field (20 < 100): it shrinks to 20
    assert r.radius[0] == 20 and r.radius[1] == 20
    r.learn(v(3, 0), 1)  # d = 3 < 20 inside neuron 0 again: shrinks, but never below r_min = 5
    assert r.radius[0] == 5
    assert r.predict(v(3, 0)).status is not Status.UNKNOWN  # still inside neuron 0 (3 < 5): the floor holds


def test_same_class_inside_fires_instead_of_committing() -> None:
    r = rce(r_max=50)
    r.learn(v(0, 0), 0)
    assert r.learn(v(10, 0), 0) is Outcome.FIRED and r.count == 1 and r.hits[0] == 1


def test_unambiguous_assignment_nearest_decides_and_uncertain() -> None:
    r = rce(r_max=1000)
    r.learn(v(0, 0), 0)
    r.learn(v(60, 0), 1)  # neuron 0 shrinks to 60, neuron 1 gets 60
    r.radius[:2] = 100  # widen both by hand so that their fields overlap
    p = r.predict(v(20, 0))
    assert (p.label, p.status, p.distance, p.winner) == (0, Status.UNCERTAIN, 20, 0)  # nearer to class 0
    p = r.predict(v(45, 0))
    assert (p.label, p.status, p.winner) == (1, Status.UNCERTAIN, 1)
    p = r.predict(v(-70, 0))  # inside neuron 0 only (70 < 100), outside neuron 1 (130)
    assert (p.label, p.status) == (0, Status.IDENTIFIED)


def test_unknown_answers_with_the_nearest_class() -> None:
    r = rce(r_max=10)
    assert r.predict(v(0, 0)).status is Status.UNKNOWN and r.predict(v(0, 0)).label == -1  # empty
    r.learn(v(0, 0), 3)
    r.learn(v(100, 100), 5)
    p = r.predict(v(30, 30))
    assert (p.status, p.label, p.distance) == (Status.UNKNOWN, 3, 60)


def test_ties_go_to_the_lower_index() -> None:
    r = rce(r_max=1000)
    r.learn(v(0, 0), 0)
    r.learn(v(20, 0), 1)
    r.radius[:2] = 100
    p = r.predict(v(10, 0))  # 10 from both
    assert p.winner == 0 and p.label == 0


def test_aging_grows_and_a_hit_scales_by_d_over_r() -> None:
    r = rce(r_max=100, age_step=256)
    r.learn(v(0, 0), 0)
    r.learn(v(90, 90), 1)  # outside neuron 0 (180 >= 100): ages 256, then the commit
    assert list(r.age[:2]) == [256, 0]
    r.learn(v(25, 0), 0)  # ages 512, 256; neuron 0 fires at d = 25 of R = 100: age * 64 / 256
    assert list(r.age[:2]) == [512 * 64 // 256, 256]
    r.learn(v(0, 0), 0)  # a hit on the prototype itself: age 0
    assert r.age[0] == 0


def test_plain_rce_never_ages_prunes_or_exceeds_the_pool() -> None:
    r = TinyRCE(2, "int8", RceParams.plain_rce(r_max=5, capacity=3))
    outcomes = [r.learn(v(10 * i, 0), i % 4) for i in range(6)]
    assert outcomes[:3] == [Outcome.COMMITTED] * 3 and outcomes[3:] == [Outcome.DROPPED] * 3
    assert r.count == 3 and not r.age[:3].any()


def test_cap_prunes_the_oldest_then_fewest_hits_then_lowest_index() -> None:
    r = rce(r_max=5, capacity=3)
    r.learn(v(0, 0), 0)  # ages after the three commits: 512, 256, 0
    r.learn(v(50, 0), 1)
    r.learn(v(100, 0), 2)
    r.learn(v(0, 1), 0)  # fires neuron 0 (d = 1 < 5): its age 768 * 51 / 256 -> 153
    assert r.age[0] == 768 * (256 * 1 // 5) // 256
    # the oldest is now neuron 1 (512): a new class prunes it; the last neuron takes its slot
    assert r.learn(v(-100, 0), 3) is Outcome.COMMITTED_AFTER_PRUNE
    assert r.count == 3 and sorted(r.label[:3]) == [0, 2, 3] and r.label[1] == 2
    s = rce(capacity=3)
    s.count = 3
    s.age[:3] = [7, 7, 3]
    s.hits[:3] = [2, 1, 0]
    assert s.oldest() == 1  # equal ages: fewer hits goes first
    s.hits[:3] = [1, 1, 0]
    assert s.oldest() == 0  # equal ages and hits: the lower index


def test_age_limit_removes_stale_neurons() -> None:
    r = rce(r_max=5, age_step=256, age_limit=600)
    r.learn(v(0, 0), 0)
    r.learn(v(50, 0), 1)
    r.learn(v(100, 0), 2)  # ages 512, 256, 0
    r.learn(v(120, 0), 3)  # ages 768 -> removed; 512, 256, then the commit
    assert r.count == 3 and sorted(r.label[:3]) == [1, 2, 3]
    r.check()


def test_memory_cap_holds_on_an_adversarial_stream() -> None:
    rng = np.random.default_rng(0)
    r = TinyRCE(8, "int8", RceParams(r_max=300, capacity=16))
    for i in range(3000):
        x = rng.integers(-128, 128, 8).astype(np.int8)  # outliers everywhere, a new class every time
        r.learn(x, i % 250)
        assert r.count <= 16
        r.check()


def test_float32_distances_follow_the_device_order() -> None:
    rng = np.random.default_rng(1)
    r = TinyRCE(13, "float32", RceParams(distance="l2", r_max=1e9))
    xs = rng.standard_normal((5, 13)).astype(np.float32)
    for i, x in enumerate(xs):
        r.learn(x, i)
    q = rng.standard_normal(13).astype(np.float32)
    got = r.distances(q)
    for n in range(5):
        parts = [np.float32(0)] * 4
        for j in range(13):
            diff = np.float32(xs[n, j] - q[j])
            parts[j % 4] = np.float32(parts[j % 4] + np.float32(diff * diff))
        assert got[n] == np.float32(np.float32(parts[0] + parts[1]) + np.float32(parts[2] + parts[3]))


def test_ram_budget_to_neurons() -> None:
    assert neuron_bytes(64, "int8") == 80 and neuron_bytes(64, "float32") == 272
    assert capacity_for(17 * 1024, 64, "float32") == 64
    with pytest.raises(ValueError, match="a RAM budget of 100 B holds no neuron: one takes 272 B"):
        capacity_for(100, 64, "float32")


def test_bad_features() -> None:
    r = TinyRCE(2, "float32", RceParams())
    with pytest.raises(ValueError, match="finite"):
        r.learn(np.array([np.nan, 0], np.float32), 0)
    with pytest.raises(ValueError, match="expected 2 features"):
        r.predict(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="L1"):
        TinyRCE(2, "int8", RceParams(distance="l2"))
