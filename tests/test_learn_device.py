"""TinyRCE on the simulated boards against its numpy reference: every prediction, status, outcome and
neuron count equal, step by step; the RAM cap under an adversarial stream; bad input refused with the
state unchanged; state export and import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.apps.learn import DeviceError, LearnDriver
from tinyodl.apps.protocol import close_session, open_session
from tinyodl.errors import TinyodlError
from tinyodl.learn.firmware import LearnerFirmware, import_for_learning, learner_firmware
from tinyodl.learn.tinyrce import RceParams, TinyRCE
from tinyodl.runner import RunOptions, prepare

BOARDS = ["nucleo-l476rg", "nucleo-h743zi"]
pytestmark = [needs_arm_gcc, needs_qemu, needs_tf, pytest.mark.sim]


@contextmanager
def learner(model: Path, board: str, budget: int = 4096) -> Iterator[tuple[LearnDriver, LearnerFirmware]]:
    fw = learner_firmware(import_for_learning(model, None), board, budget, None, model.stem)
    prep = prepare(board, fw.app, RunOptions(), spec=fw.spec)
    with prep.simulator.session(prep.placement, prep.elf, 600) as sess:
        open_session(sess, "learn")
        drv = LearnDriver(sess)
        yield drv, fw
        close_session(sess)


def replay(drv: LearnDriver, fw: LearnerFirmware, params: RceParams, xs: np.ndarray, ys: list[int | None]) -> int:
    """Feed features to device and host; assert every step agrees; return the steps run."""
    drv.init(params, fw.int8)
    host = TinyRCE(fw.features, fw.dtype, params)
    for n, (x, y) in enumerate(zip(xs, ys, strict=True)):
        reply = drv.step(y, y is not None, features=x, int8=fw.int8)
        d = host.distances(x)
        p = host.predict(x, d)
        outcome = host.learn(x, y, d) if y is not None else None
        assert (reply.label, reply.status, reply.outcome, reply.neurons) == (p.label, p.status, outcome, host.count), n
        assert reply.distance == pytest.approx(p.distance, rel=0, abs=0), n
        assert reply.neurons <= params.capacity
    assert drv.check() == 0
    return len(xs)


@pytest.mark.parametrize("board", BOARDS)
def test_int8_learner_equals_reference(har_tflite: dict[str, Path], board: str) -> None:
    rng = np.random.default_rng(5)
    centres = rng.integers(-100, 100, (6, 64))
    labels = rng.integers(0, 6, 400)
    xs = np.clip(centres[labels] + rng.integers(-30, 31, (400, 64)), -128, 127).astype(np.int8)
    ys: list[int | None] = [int(v) if i % 5 else None for i, v in enumerate(labels)]  # some steps only predict
    with learner(har_tflite["int8"], board) as (drv, fw):
        assert fw.int8 and fw.features == 64 and fw.capacity == 4096 // 80
        replay(drv, fw, RceParams(r_max=2500, capacity=fw.capacity, age_limit=40 * 256), xs, ys)
        # a small pool: pruning all the time
        replay(drv, fw, RceParams(r_max=2500, capacity=7), xs, ys)
        # plain RCE: the pool fills and commits are dropped
        replay(drv, fw, RceParams.plain_rce(r_max=900, r_min=100, capacity=9), xs, ys)


def test_float32_learner_equals_reference_on_near_ties(har_tflite: dict[str, Path]) -> None:
    """Points equidistant from two prototypes, duplicates, and values whose sums round differently in
    another order: the device decides exactly as the reference."""
    rng = np.random.default_rng(9)
    base = rng.standard_normal((4, 64)).astype(np.float32)
    xs, ys = [], []
    for k in range(300):
        a, b = base[k % 4], base[(k + 1) % 4]
        kind = k % 5
        if kind == 0:
            x = (a + b) / np.float32(2)  # halfway: a tie in exact arithmetic
        elif kind == 1:
            x = a.copy()  # on a prototype
        elif kind == 2:
            x = a + np.float32(1e-7) * rng.standard_normal(64).astype(np.float32)  # a hair away
        else:
            x = a + np.float32(0.3) * rng.standard_normal(64).astype(np.float32)
        xs.append(x.astype(np.float32))
        ys.append(int((k // 2) % 4))
    with learner(har_tflite["f32"], "nucleo-l476rg", budget=64 * 272) as (drv, fw):
        assert not fw.int8
        for distance in ("l1", "l2"):
            replay(drv, fw, RceParams(distance=distance, r_max=50.0 if distance == "l2" else 30.0,
                                      capacity=16), np.stack(xs), ys)  # type: ignore[arg-type]  # fmt: skip


def test_cap_holds_and_bad_input_changes_nothing(har_tflite: dict[str, Path]) -> None:
    rng = np.random.default_rng(3)
    with learner(har_tflite["int8"], "nucleo-h743zi", budget=800) as (drv, fw):
        assert fw.capacity == 10
        params = RceParams(r_max=3000, capacity=fw.capacity)
        drv.init(params, True)
        for i in range(300):  # every sample an outlier of a new class
            reply = drv.step(i % 250, True, features=rng.integers(-128, 128, 64).astype(np.int8))
            assert reply.neurons <= 10
        assert drv.check() == 0
        size = drv.state_size(64, True, reply.neurons)
        before = drv.export_state(size)
        x = rng.integers(-128, 128, 64).astype(np.int8)
        for bad in (lambda: drv.step(255, True, features=x), lambda: drv.step(-1, True, features=x),
                    lambda: drv.step(3, True, features=np.zeros(63, np.int8)),
                    lambda: drv.window(bytes(601))):  # fmt: skip
            with pytest.raises(DeviceError) as info:
                bad()
            assert info.value.code in (2, 3)
        assert drv.export_state(size) == before
        # export -> import into an emptied learner: the same state and the same answers
        probe = drv.step(None, False, features=x)
        drv.init(params, True)
        assert drv.step(None, False, features=x).neurons == 0
        assert drv.import_state(before) == 0
        again = drv.step(None, False, features=x)
        assert (again.label, again.status, again.neurons, again.distance) == (
            probe.label, probe.status, probe.neurons, probe.distance)  # fmt: skip
        assert drv.export_state(size) == before
        # a header that does not fit is refused before anything changes
        corrupt = bytearray(before)
        corrupt[6] = 200  # count beyond the capacity
        with pytest.raises(DeviceError):
            drv.import_state(bytes(corrupt))
        assert drv.export_state(size) == before
        # a state that fails the check (a negative radius) is not adopted: the learner is left empty
        corrupt = bytearray(before)
        radius_at = 16 + reply.neurons * 64
        corrupt[radius_at : radius_at + 4] = b"\xff\xff\xff\xff"
        assert drv.import_state(bytes(corrupt)) != 0
        assert drv.step(None, False, features=x).neurons == 0


def test_float_window_with_nan_is_refused(har_tflite: dict[str, Path]) -> None:
    with learner(har_tflite["f32"], "nucleo-l476rg", budget=4 * 272) as (drv, fw):
        drv.init(RceParams(r_max=10.0, capacity=4), False)
        window = np.zeros(600, np.float32)
        drv.window(window.tobytes())
        assert drv.step(0, True, int8=False).neurons == 1
        window[17] = np.nan
        drv.window(window.tobytes())
        with pytest.raises(DeviceError):
            drv.step(1, True, int8=False)
        feats = np.zeros(64, np.float32)
        feats[3] = np.inf
        with pytest.raises(DeviceError):
            drv.step(1, True, features=feats, int8=False)
        assert drv.step(None, False, features=np.zeros(64, np.float32), int8=False).neurons == 1


def test_budget_too_small_is_one_line_before_any_build(har_tflite: dict[str, Path]) -> None:
    with pytest.raises(TinyodlError, match=r"^a RAM budget of 50 B holds no neuron: one takes 80 B \(64 int8"):
        learner_firmware(import_for_learning(har_tflite["int8"], None), "nucleo-l476rg", 50, None, "har")
