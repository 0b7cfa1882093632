"""The numpy kernels against TFLite's reference kernels (LiteRT, BUILTIN_REF) and against tflite-micro.

Each model is one layer (or a two-branch ADD), converted once per pytest run to int8 (seeded
representative dataset) and to float32. Every covered op in the converted file is checked on its own:
its inputs are the interpreter's own intermediate tensors, its output must equal the interpreter's:
int8 with zero tolerance, float32 within F32_ULP_TOLERANCE ulp (the numpy kernels sum in TFLite's order:
0 ulp measured on every op).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from tinyodl.ir import Tensor
from tinyodl.reference import KernelParams, from_ir, run
from tinyodl.reference.compare import F32_ULP_TOLERANCE, max_ulp
from tinyodl.reference.quant import multiply_by_quantized_multiplier_single_round

tf = pytest.importorskip("tensorflow", reason="tensorflow not installed (pip install -e .[tf])")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert not installed (pip install -e .[tf])")
pytest.importorskip("tflite", reason="tflite flatbuffer classes not installed (pip install -e .[tf])")

from tflite_oracle import (  # noqa: E402
    TfliteModel,
    convert,
    name,
    quiet_tensorflow,
    random_input,
    read_tflite,
    resolve,
    run_reference,
    runtime_tensors,
)

INPUTS_PER_MODEL = 3
COVERED = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN", "ADD", "PAD", "RELU",
    "RELU6",
}  # fmt: skip


def _keras() -> Any:
    return tf.keras


def _seq(input_shape: tuple[int, ...], *layers: Any) -> Any:
    keras = _keras()
    return keras.Sequential([keras.Input(input_shape), *layers])


def _bias() -> Any:
    return _keras().initializers.RandomUniform(-0.3, 0.3, seed=7)


def _two_branch_add(activation: str | None) -> Any:
    keras = _keras()
    x = keras.Input((6, 7, 3))
    a = keras.layers.Conv2D(5, 3, padding="same", activation="relu", bias_initializer=_bias())(x)
    b = keras.layers.Conv2D(5, 1, bias_initializer=_bias())(x)
    y = keras.layers.Add()([a, b])
    if activation:
        y = keras.layers.Activation(activation)(y)
    return keras.Model(x, y)


def _layers() -> Any:
    return _keras().layers


def _raw_dilated(depthwise: bool) -> tuple[Any, Any]:
    """A dilated conv written with tf.nn ops: Keras' dilated layers reach TFLite as SPACE_TO_BATCH_ND +
    CONV_2D + BATCH_TO_SPACE_ND, these reach it as one CONV_2D / DEPTHWISE_CONV_2D with dilation 2."""
    rng = np.random.default_rng(3)
    shape = (1, 11, 10, 5)

    class Dilated(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.constant(rng.standard_normal((3, 3, 5, 2 if depthwise else 4)).astype(np.float32) * 0.3)
            self.b = tf.constant(rng.standard_normal(10 if depthwise else 4).astype(np.float32) * 0.3)

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
        def __call__(self, x: Any) -> Any:
            if depthwise:
                y = tf.raw_ops.DepthwiseConv2dNative(
                    input=x, filter=self.w, strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 2, 2, 1]
                )
                return tf.nn.relu6(y + self.b)
            y = tf.nn.conv2d(x, self.w, strides=[1, 2, 1, 1], padding="SAME", dilations=[1, 2, 2, 1])
            return tf.nn.relu(y + self.b)

    module = Dilated()
    return module, module.__call__


# name -> (builder, input shape without batch)
MODELS: dict[str, tuple[Callable[[], Any], tuple[int, ...]]] = {
    "conv2d_same_s2_relu": (
        lambda: _seq(
            (9, 9, 3), _layers().Conv2D(5, 3, strides=2, padding="same", activation="relu", bias_initializer=_bias())
        ),
        (9, 9, 3),
    ),
    "conv2d_valid_dil2_relu6": (
        lambda: _seq(
            (10, 11, 5), _layers().Conv2D(3, 3, dilation_rate=2, activation="relu6", bias_initializer=_bias())
        ),
        (10, 11, 5),
    ),
    "conv2d_same_s21_none": (
        lambda: _seq((7, 6, 3), _layers().Conv2D(7, (2, 3), strides=(2, 1), padding="same", bias_initializer=_bias())),
        (7, 6, 3),
    ),
    "conv2d_raw_dil2_same_s21_relu": (lambda: _raw_dilated(depthwise=False), (11, 10, 5)),
    "depthwise_raw_m2_dil2_same_relu6": (lambda: _raw_dilated(depthwise=True), (11, 10, 5)),
    "conv1d_same_s2_relu_gap1d": (
        lambda: _seq(
            (20, 3),
            _layers().Conv1D(5, 3, strides=2, padding="same", activation="relu", bias_initializer=_bias()),
            _layers().GlobalAveragePooling1D(),
        ),
        (20, 3),
    ),
    "conv1d_valid_dil2_relu6": (
        lambda: _seq((31, 5), _layers().Conv1D(3, 5, dilation_rate=2, activation="relu6", bias_initializer=_bias())),
        (31, 5),
    ),
    "depthwise_m2_same_s2_relu": (
        lambda: _seq(
            (8, 9, 3),
            _layers().DepthwiseConv2D(
                3, strides=2, padding="same", depth_multiplier=2, activation="relu", bias_initializer=_bias()
            ),
        ),
        (8, 9, 3),
    ),
    "depthwise_m1_valid_dil2": (
        lambda: _seq((9, 9, 5), _layers().DepthwiseConv2D(3, dilation_rate=2, bias_initializer=_bias())),
        (9, 9, 5),
    ),
    "conv1d_same_dil2_relu_nobias": (  # a stand-alone RELU after BATCH_TO_SPACE_ND (no bias ADD to fuse it into)
        lambda: _seq(
            (31, 5), _layers().Conv1D(3, 5, dilation_rate=2, padding="same", activation="relu", use_bias=False)
        ),
        (31, 5),
    ),
    "conv2d_valid_dil2_relu6_nobias": (
        lambda: _seq((10, 11, 5), _layers().Conv2D(3, 3, dilation_rate=2, activation="relu6", use_bias=False)),
        (10, 11, 5),
    ),
    "dense_relu": (lambda: _seq((7,), _layers().Dense(5, activation="relu", bias_initializer=_bias())), (7,)),
    "dense_none": (lambda: _seq((33,), _layers().Dense(10, bias_initializer=_bias())), (33,)),
    "dense_relu6": (lambda: _seq((12,), _layers().Dense(3, activation="relu6", bias_initializer=_bias())), (12,)),
    "dense_per_tensor": (lambda: _seq((20,), _layers().Dense(6, bias_initializer=_bias())), (20,)),
    "conv2d_per_tensor_relu": (
        lambda: _seq((6, 7, 5), _layers().Conv2D(3, 3, padding="same", activation="relu", bias_initializer=_bias())),
        (6, 7, 5),
    ),
    "maxpool_valid": (lambda: _seq((9, 9, 3), _layers().MaxPooling2D(2)), (9, 9, 3)),
    "maxpool_same_k3_s2": (lambda: _seq((9, 8, 5), _layers().MaxPooling2D(3, 2, padding="same")), (9, 8, 5)),
    "avgpool_same_k3_s2": (lambda: _seq((9, 8, 5), _layers().AveragePooling2D(3, 2, padding="same")), (9, 8, 5)),
    "avgpool_valid_k2": (lambda: _seq((7, 7, 3), _layers().AveragePooling2D(2)), (7, 7, 3)),
    "gap2d": (lambda: _seq((5, 7, 3), _layers().GlobalAveragePooling2D()), (5, 7, 3)),
    "gap1d": (lambda: _seq((25, 5), _layers().GlobalAveragePooling1D()), (25, 5)),
    "add_relu": (lambda: _two_branch_add("relu"), (6, 7, 3)),
    "add_none": (lambda: _two_branch_add(None), (6, 7, 3)),
    "zeropad2d": (lambda: _seq((6, 5, 3), _layers().ZeroPadding2D(((1, 2), (0, 1)))), (6, 5, 3)),
    "zeropad1d": (lambda: _seq((10, 3), _layers().ZeroPadding1D((2, 1))), (10, 3)),
}


@dataclass
class Converted:
    int8: TfliteModel
    f32: TfliteModel


@pytest.fixture(scope="session")
def converted() -> dict[str, Converted]:
    quiet_tensorflow()
    started = time.perf_counter()
    out = {}
    for key, (build, shape) in MODELS.items():
        tf.keras.utils.set_random_seed(sum(map(ord, key)))
        model = build()
        int8 = convert(model, shape, int8=True, per_tensor="per_tensor" in key)
        out[key] = Converted(read_tflite(int8), read_tflite(convert(model, shape, int8=False)))
    print(f"converted {len(out)} models twice in {time.perf_counter() - started:.1f} s")
    return out


def _op_params(model: TfliteModel, op_index: int, tensors: dict[str, Tensor] | None = None) -> tuple[KernelParams, Any]:
    op = model.ops[op_index]
    assert op.ir is not None
    tensors = model.tensors if tensors is None else tensors
    ir = resolve(op.ir, tensors)
    return from_ir(ir, tensors), ir


def _check_ops(model: TfliteModel, seed: int, compare: Callable[[np.ndarray, np.ndarray, str], None]) -> set[str]:
    """Run the interpreter on seeded inputs; check every covered op against the numpy kernel."""
    rng = np.random.default_rng(seed)
    seen = set()
    for _ in range(INPUTS_PER_MODEL):
        inputs = [random_input(model.tensors[name(i)], rng) for i in model.inputs]
        values = run_reference(model, inputs)
        tensors = runtime_tensors(model, values)
        for op in model.ops:
            if op.kind not in COVERED:
                continue
            params, ir = _op_params(model, op.index, tensors)
            args = [values[int(n[1:])] for n in ir.inputs if not model.tensors[n].is_constant]
            want = values[op.outputs[0]]
            got = run(params, *args)
            if op.kind == "FULLY_CONNECTED" and compare is _exact:
                _fc_vs_litert(got.reshape(want.shape), want, f"{op.kind} (op {op.index})")
            else:
                compare(got.reshape(want.shape), want, f"{op.kind} (op {op.index})")
            seen.add(op.kind)
    return seen


def _exact(got: np.ndarray, want: np.ndarray, what: str) -> None:
    np.testing.assert_array_equal(got, want, err_msg=what)


def _fc_vs_litert(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """LiteRT's reference FULLY_CONNECTED requantizes in floating point with one rounding; the numpy kernel
    (like tflite-micro, the device's oracle: test_int8_kernels_match_tflite_micro) rounds twice in fixed
    point. They agree except near rounding ties, by 1 (docs/kernels.md)."""
    difference = np.abs(got.astype(np.int32) - want.astype(np.int32))
    assert difference.max() <= 1 and (difference > 0).mean() < 0.05, f"{what}: {difference.max()} from LiteRT"


def _ulp(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == np.float32 and want.dtype == np.float32
    distance = max_ulp(got, want)
    assert distance <= F32_ULP_TOLERANCE, f"{what}: {distance} ulp apart (tolerance {F32_ULP_TOLERANCE})"


@pytest.mark.parametrize("key", sorted(MODELS))
def test_int8_kernels_match_tflite_reference(converted: dict[str, Converted], key: str) -> None:
    model = converted[key].int8
    seen = _check_ops(model, seed=len(key), compare=_exact)
    assert seen, f"{key}: no covered op in {[op.kind for op in model.ops]}"


@pytest.mark.parametrize("key", sorted(MODELS))
def test_f32_kernels_match_tflite_reference(converted: dict[str, Converted], key: str) -> None:
    model = converted[key].f32
    seen = _check_ops(model, seed=len(key) + 100, compare=_ulp)
    assert seen, f"{key}: no covered op in {[op.kind for op in model.ops]}"


def test_conv1d_is_expand_dims_conv2d_reshape_mean(converted: dict[str, Converted]) -> None:
    """What the converter emits for Conv1D + GlobalAveragePooling1D (the importer must handle exactly this)."""
    model = converted["conv1d_same_s2_relu_gap1d"].int8
    assert [op.kind for op in model.ops] == ["EXPAND_DIMS", "CONV_2D", "RESHAPE", "MEAN"]
    conv = model.find("CONV_2D")[0]
    x, w = (model.tensors[name(i)] for i in conv.inputs[:2])
    assert x.shape == (1, 1, 20, 3) and w.shape == (5, 1, 3, 3)  # H = 1: the time axis is the width
    mean = model.find("MEAN")[0]
    ir = resolve(mean.ir, model.tensors)
    assert model.tensors[ir.inputs[0]].shape == (1, 10, 5)  # 3-D [1, W, C], reduced over axis 1
    assert ir.axes == (1,) and not ir.keep_dims
    assert model.tensors[name(mean.outputs[0])].shape == (1, 5)


def test_keras_dilated_conv_is_space_to_batch(converted: dict[str, Converted]) -> None:
    """Keras' dilated Conv2D / Conv1D / DepthwiseConv2D reach TFLite without a dilation factor: SPACE_TO_BATCH_ND,
    an undilated conv over 4 (2-D) or 2 (1-D) batches, BATCH_TO_SPACE_ND, then the bias as a broadcasting ADD
    (with the fused activation). The conv is still checked above, at its run-time batch."""
    kinds = {
        "conv2d_valid_dil2_relu6": ["SPACE_TO_BATCH_ND", "CONV_2D", "BATCH_TO_SPACE_ND", "ADD"],
        "conv1d_valid_dil2_relu6": [
            "SPACE_TO_BATCH_ND",
            "EXPAND_DIMS",
            "CONV_2D",
            "RESHAPE",
            "BATCH_TO_SPACE_ND",
            "ADD",
        ],
        "depthwise_m1_valid_dil2": ["SPACE_TO_BATCH_ND", "DEPTHWISE_CONV_2D", "BATCH_TO_SPACE_ND", "ADD"],
    }
    for key, expected in kinds.items():
        model = converted[key].int8
        assert [op.kind for op in model.ops] == expected, key
        conv = next(op for op in model.ops if "CONV" in op.kind)
        assert conv.ir is not None and conv.ir.dilation == (1, 1)
    raw = converted["conv2d_raw_dil2_same_s21_relu"].int8
    assert [op.kind for op in raw.ops] == ["CONV_2D"] and raw.ops[0].ir.dilation == (2, 2)


def test_gap2d_is_mean_over_axes_1_2(converted: dict[str, Converted]) -> None:
    model = converted["gap2d"].int8
    (mean,) = model.find("MEAN")
    ir = resolve(mean.ir, model.tensors)
    assert sorted(ir.axes) == [1, 2] and not ir.keep_dims
    # the MEAN really requantizes (otherwise the multiplier path would not be exercised)
    x, y = model.tensors[ir.inputs[0]], model.tensors[ir.outputs[0]]
    assert x.quant != y.quant


def test_dense_weights_are_per_channel(converted: dict[str, Converted]) -> None:
    """TF 2.21 quantizes Dense weights per output channel (so the per-channel FC path is the one tested)."""
    fc = converted["dense_none"].int8.find("FULLY_CONNECTED")[0]
    w = converted["dense_none"].int8.tensors[name(fc.inputs[1])]
    assert w.quant is not None and w.quant.per_channel and w.quant.axis == 0


@pytest.mark.parametrize(
    ("key", "kind"), [("dense_per_tensor", "FULLY_CONNECTED"), ("conv2d_per_tensor_relu", "CONV_2D")]
)
def test_per_tensor_weights_are_covered(converted: dict[str, Converted], key: str, kind: str) -> None:
    """The per-tensor weight path (one scale broadcast to every channel; for FC the float32 product of the
    scales) is exercised by the int8 comparisons above."""
    model = converted[key].int8
    w = model.tensors[name(model.find(kind)[0].inputs[1])]
    assert w.quant is not None and not w.quant.per_channel


def test_default_rounding_is_double_rounding(converted: dict[str, Converted]) -> None:
    """The interpreter runs the double-rounding MultiplyByQuantizedMultiplier. The two variants differ only
    where the first rounding lands exactly on a tie of the second (about 2^-(right shift + 1) of the
    outputs), so inputs are drawn until such outputs appear; there TFLite must agree with double rounding."""
    differs = 0
    rng = np.random.default_rng(5)
    for key in ("conv2d_same_s2_relu", "conv2d_raw_dil2_same_s21_relu", "conv2d_same_s21_none"):
        model = converted[key].int8
        op = model.find("CONV_2D")[0]
        params: Any
        params, ir = _op_params(model, op.index)
        for _ in range(MAX_ROUNDING_TRIALS):
            values = run_reference(model, [random_input(model.tensors[name(i)], rng) for i in model.inputs])
            x = values[int(ir.inputs[0][1:])]
            want = values[op.outputs[0]]
            np.testing.assert_array_equal(run(params, x).reshape(want.shape), want)
            single = multiply_by_quantized_multiplier_single_round(
                _accumulators(params, x), params.multiplier, params.shift
            )
            single = np.clip(single + params.output_zero_point, params.act_min, params.act_max)
            differs += int((single.reshape(want.shape) != want).sum())
            if differs >= 3:
                return
    pytest.fail(f"single and double rounding differed on only {differs} outputs: inputs cannot tell them apart")


MAX_ROUNDING_TRIALS = 40


def _accumulators(params: Any, x: np.ndarray) -> np.ndarray:
    """The int32 accumulators of a conv / FC (the numpy kernel's arithmetic before requantization)."""
    from tinyodl.reference.kernels_int8 import windows

    if params.family == "fully_connected":
        acc = (x.reshape(params.batches, -1).astype(np.int64) - params.input_zero_point) @ params.weights.astype(
            np.int64
        ).T
    else:
        win = windows(
            x.reshape(params.input_shape),
            (params.out_h, params.out_w),
            (params.k_h, params.k_w),
            (params.stride_h, params.stride_w),
            (params.dilation_h, params.dilation_w),
            (params.pad_top, params.pad_left),
            params.input_zero_point,
        )
        cols = win.reshape(-1, params.k_h * params.k_w * params.in_ch).astype(np.int64) - params.input_zero_point
        acc = (cols @ params.weights.reshape(params.out_ch, -1).astype(np.int64).T).reshape(params.output_shape)
    return acc + (params.bias if params.bias is not None else 0)


# ---- tflite-micro -----------------------------------------------------------------------------------


def _micro_runtime() -> Any:
    return pytest.importorskip(
        "tflite_micro.python.tflite_micro.runtime", reason="tflite-micro not installed (pip install -e .[tf])"
    )


@pytest.mark.parametrize(
    "key",
    [
        "conv2d_same_s2_relu",
        "conv2d_raw_dil2_same_s21_relu",
        "depthwise_m2_same_s2_relu",
        "depthwise_raw_m2_dil2_same_relu6",
        "dense_relu",
        "dense_none",
    ],
)
def test_int8_kernels_match_tflite_micro(converted: dict[str, Converted], key: str) -> None:
    """Single-op models: tflite-micro's whole-model output equals the numpy kernel's."""
    runtime = _micro_runtime()
    model = converted[key].int8
    (op,) = [op for op in model.ops if op.kind in COVERED]
    params, _ = _op_params(model, op.index)
    micro = runtime.Interpreter.from_bytes(model.buffer)
    rng = np.random.default_rng(11)
    for _ in range(INPUTS_PER_MODEL):
        x = random_input(model.tensors[name(model.inputs[0])], rng)
        micro.set_input(x, 0)
        micro.invoke()
        want = micro.get_output(0)
        np.testing.assert_array_equal(run(params, x).reshape(want.shape), want, err_msg=f"{key} on tflite-micro")


def test_stand_alone_activation_and_per_channel_add_are_checked(converted: dict[str, Converted]) -> None:
    """What a dynamic-batch dilated conv leaves after BATCH_TO_SPACE_ND: its bias as an ADD of a constant per
    channel (with the fused activation), or without bias a stand-alone RELU / RELU6 that requantizes."""
    assert "ADD" in _check_ops(converted["conv1d_valid_dil2_relu6"].int8, seed=1, compare=_exact)
    assert "ADD" in _check_ops(converted["conv1d_valid_dil2_relu6"].f32, seed=2, compare=_ulp)
    assert "RELU" in _check_ops(converted["conv1d_same_dil2_relu_nobias"].int8, seed=3, compare=_exact)
    assert "RELU6" in _check_ops(converted["conv2d_valid_dil2_relu6_nobias"].int8, seed=4, compare=_exact)
    assert "RELU6" in _check_ops(converted["conv2d_valid_dil2_relu6_nobias"].f32, seed=5, compare=_ulp)
    relu = converted["conv1d_same_dil2_relu_nobias"].int8
    (op,) = relu.find("RELU")
    x, y = (relu.tensors[name(op.inputs[0])], relu.tensors[name(op.outputs[0])])
    assert x.quant != y.quant  # a real requantization, not a clamp
