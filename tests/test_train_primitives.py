"""The float32 training primitives of latent replay: the numpy reference against numerical
differentiation, and the C primitives (firmware/learn/tl_train.c) against numpy on both simulated boards."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_arm_gcc, needs_qemu

from tinyodl.apps.protocol import close_session, open_session
from tinyodl.apps.train import APP, TrainDriver
from tinyodl.learn import train as ref
from tinyodl.runner import RunOptions, prepare

TOL = ref.TOLERANCE
ROOT = Path(__file__).resolve().parents[1]


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        up, down = x.astype(np.float64), x.astype(np.float64)
        up[idx] += eps
        down[idx] -= eps
        g[idx] = (f(up) - f(down)) / (2 * eps)
    return g


def test_gradients_against_numerical_differentiation() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5))
    w = rng.standard_normal((4, 5))
    b = rng.standard_normal(4)
    labels = np.array([0, 3, 1])
    upstream = rng.standard_normal((3, 4))

    def loss_of(xx: np.ndarray, ww: np.ndarray, bb: np.ndarray) -> float:
        return float(np.sum((xx @ ww.T + bb) * upstream))  # a linear probe of the dense output

    dw, db = ref.dense_weight_grad(x.astype(np.float32), upstream.astype(np.float32))
    np.testing.assert_allclose(dw, numeric_grad(lambda v: loss_of(x, v, b), w), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db, numeric_grad(lambda v: loss_of(x, w, v), b), rtol=1e-4, atol=1e-5)
    dx = ref.dense_input_grad(upstream.astype(np.float32), w.astype(np.float32))
    np.testing.assert_allclose(dx, numeric_grad(lambda v: loss_of(v, w, b), x), rtol=1e-4, atol=1e-5)

    z = rng.standard_normal((3, 4))
    loss, dz = ref.softmax_xent(z.astype(np.float32), labels)

    def xent(zz: np.ndarray) -> float:
        zz = zz - zz.max(axis=1, keepdims=True)
        p = np.exp(zz) / np.exp(zz).sum(axis=1, keepdims=True)
        return float(-np.log(p[np.arange(3), labels]).mean())

    assert loss == pytest.approx(xent(z), rel=1e-5)
    np.testing.assert_allclose(dz, numeric_grad(xent, z), rtol=1e-3, atol=1e-6)

    y = np.maximum(rng.standard_normal((3, 5)), 0)  # a ReLU output: its gradient passes where y > 0
    dy = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(ref.relu_backward(y, dy), np.where(y > 0, dy, 0).astype(np.float32))

    w1, v1 = ref.sgd(np.float32([1.0, -2.0]), np.float32([0.5, 0.5]), np.float32([0.1, 0.0]), 0.1, 0.9, 0.01)
    np.testing.assert_allclose(v1, [0.9 * 0.1 + 0.5 + 0.01, 0.5 - 0.02], rtol=1e-6)
    np.testing.assert_allclose(w1, [1.0 - 0.1 * v1[0], -2.0 - 0.1 * v1[1]], rtol=1e-6)


@contextmanager
def device(board: str) -> Iterator[TrainDriver]:
    prep = prepare(board, "train", RunOptions(), spec=APP)
    with prep.simulator.session(prep.placement, prep.elf, 300) as sess:
        open_session(sess, "train")
        yield TrainDriver(sess)
        close_session(sess)


@needs_arm_gcc
@needs_qemu
@pytest.mark.sim
@pytest.mark.parametrize("board", ["nucleo-l476rg", "nucleo-h743zi"])
def test_primitives_on_the_board_equal_numpy(board: str) -> None:
    rng = np.random.default_rng(1)
    with device(board) as dev:
        for batch, n_in, n_out in ((8, 64, 7), (5, 13, 3), (1, 1, 1)):
            x = rng.standard_normal((batch, n_in)).astype(np.float32)
            w = (rng.standard_normal((n_out, n_in)) * 0.1).astype(np.float32)
            b = rng.standard_normal(n_out).astype(np.float32)
            dy = rng.standard_normal((batch, n_out)).astype(np.float32)
            for slot, value in (("x", x), ("w", w), ("b", b), ("dy", dy)):
                dev.load(slot, value)
            assert dev.run("forward", batch, n_in, n_out).status == 0
            np.testing.assert_allclose(dev.read("r0", batch * n_out).reshape(batch, n_out),
                                       ref.dense_forward(x, w, b), **TOL)  # fmt: skip
            assert dev.run("weight_grad", batch, n_in, n_out).status == 0
            dw, db = ref.dense_weight_grad(x, dy)
            np.testing.assert_allclose(dev.read("r0", n_out * n_in).reshape(n_out, n_in), dw, **TOL)
            np.testing.assert_allclose(dev.read("r1", n_out), db, **TOL)
            assert dev.run("input_grad", batch, n_in, n_out).status == 0
            np.testing.assert_allclose(dev.read("r0", batch * n_in).reshape(batch, n_in),
                                       ref.dense_input_grad(dy, w), **TOL)  # fmt: skip
            relu_out = np.maximum(x, 0)
            dev.load("x", relu_out)
            dev.load("dy", x[:, ::-1].copy())
            assert dev.run("relu_backward", batch, n_in, 1).status == 0
            np.testing.assert_array_equal(dev.read("r0", batch * n_in).reshape(batch, n_in),
                                          ref.relu_backward(relu_out, x[:, ::-1]))  # fmt: skip
            logits = rng.standard_normal((batch, n_out)).astype(np.float32) * 4
            labels = rng.integers(0, n_out, batch).astype(np.uint8)
            dev.load("x", logits)
            dev.load("labels", labels)
            reply = dev.run("softmax_xent", batch, 1, n_out)
            loss, dz = ref.softmax_xent(logits, labels)
            assert reply.status == 0 and reply.loss == pytest.approx(loss, rel=1e-5, abs=1e-6)
            np.testing.assert_allclose(dev.read("r0", batch * n_out).reshape(batch, n_out), dz, **TOL)
            v = rng.standard_normal((n_out, n_in)).astype(np.float32) * 0.01
            g = rng.standard_normal((n_out, n_in)).astype(np.float32)
            dev.load("w", w)
            dev.load("dy", g)
            dev.load("v", v)
            assert dev.run("sgd", 1, n_in, n_out, lr=1e-3, momentum=0.9, weight_decay=5e-4).status == 0
            w_ref, v_ref = ref.sgd(w, g, v, 1e-3, 0.9, 5e-4)
            np.testing.assert_allclose(dev.read("w", n_out * n_in).reshape(n_out, n_in), w_ref, **TOL)
            np.testing.assert_allclose(dev.read("v", n_out * n_in).reshape(n_out, n_in), v_ref, **TOL)
        # a step that would make a weight infinite is refused and the weights are kept
        dev.load("w", np.full(4, 3e38, np.float32))
        dev.load("dy", np.full(4, 3e38, np.float32))
        dev.load("v", np.zeros(4, np.float32))
        assert dev.run("sgd", 1, 4, 1, lr=-10.0, momentum=0.0, weight_decay=0.0).status == 4  # TL_STATUS_OVERFLOW
        np.testing.assert_array_equal(dev.read("w", 4), np.full(4, 3e38, np.float32))
        # a label outside the classes is refused
        dev.load("labels", np.array([9], np.uint8))
        assert dev.run("softmax_xent", 1, 1, 3).status == 2  # TL_STATUS_BAD_SHAPE


@pytest.fixture(scope="module")
def train_lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    if shutil.which("gcc") is None:
        pytest.skip("no host gcc")
    out = tmp_path_factory.mktemp("train") / "libtrain.so"
    learn = ROOT / "firmware" / "learn"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-shared", "-fPIC",
                    f"-I{learn}", f"-I{ROOT / 'firmware' / 'kernels'}", str(learn / "tl_train.c"), "-lm", "-o",
                    str(out)], check=True)  # fmt: skip
    return ctypes.CDLL(str(out))


class TinyPropParamsC(ctypes.Structure):
    _fields_ = [("s_min", ctypes.c_float), ("s_max", ctypes.c_float), ("zeta", ctypes.c_float)]


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tinyprop_selection_equals_the_reference(train_lib: ctypes.CDLL, seed: int) -> None:
    rng = np.random.default_rng(seed)
    batch, n_out, n_in = int(rng.integers(1, 9)), int(rng.integers(1, 40)), int(rng.integers(1, 20))
    params = ref.TinyPropParams()
    c_params = TinyPropParamsC(params.s_min, params.s_max, params.zeta)
    state = ref.TinyPropState()
    e_max = ctypes.c_float(0.0)
    train_lib.tl_tinyprop_select.restype = ctypes.c_uint32
    for step in range(40):
        depth = step % 3
        dy = (rng.standard_normal((batch, n_out)) * rng.uniform(0.01, 3)).astype(np.float32)
        if step % 7 == 3:
            dy[:, : n_out // 2] = dy[:, :1]  # equal scores: ties go to the lower index
        k_ref, mask_ref = ref.tinyprop_select(dy, state, depth, params)
        score = np.zeros(n_out, np.float32)
        mask = np.zeros(n_out, np.uint8)
        k = train_lib.tl_tinyprop_select(_ptr(dy), batch, n_out, depth, ctypes.byref(c_params), ctypes.byref(e_max),
                                         _ptr(score), _ptr(mask))  # fmt: skip
        assert (k, e_max.value) == (k_ref, np.float32(state.e_max)), step
        np.testing.assert_array_equal(mask.astype(bool), mask_ref)
        # the masked weight gradient computes the selected rows only, as the full one computes them
        x = rng.standard_normal((batch, n_in)).astype(np.float32)
        dw = np.full((n_out, n_in), 7.0, np.float32)
        db = np.full(n_out, 7.0, np.float32)
        train_lib.tl_dense_f32_weight_grad_masked(_ptr(x), _ptr(dy), batch, n_in, n_out, _ptr(mask), _ptr(dw),
                                                  _ptr(db))  # fmt: skip
        full_dw, full_db = ref.dense_weight_grad(x, dy)
        np.testing.assert_allclose(dw[mask_ref], full_dw[mask_ref], **TOL)
        np.testing.assert_allclose(db[mask_ref], full_db[mask_ref], **TOL)
        assert np.all(dw[~mask_ref] == 7.0) and np.all(db[~mask_ref] == 7.0)
