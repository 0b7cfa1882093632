"""Test helpers: build single-op Keras models, convert them to TFLite, read the .tflite back into IR ops and
tensors (with the `tflite` flatbuffer classes, independent of any frontend), and run them on LiteRT's
interpreter with TFLite's reference kernels, keeping every intermediate tensor.

Imports TensorFlow lazily: importing this module is cheap, calling its builders is not.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyodl.ir import (
    Activation,
    Add,
    AvgPool2D,
    Conv2D,
    DepthwiseConv2D,
    DType,
    FullyConnected,
    MaxPool2D,
    Mean,
    Op,
    Pad,
    Padding,
    Quant,
    Relu,
    Tensor,
)

REPRESENTATIVE_SAMPLES = 48

_TENSOR_TYPES = {0: DType.FLOAT32, 2: DType.INT32, 9: DType.INT8, 7: DType.INT16}
_ACTIVATIONS = {0: Activation.NONE, 1: Activation.RELU, 3: Activation.RELU6}
_PADDINGS = {0: Padding.SAME, 1: Padding.VALID}


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def convert(model: Any, input_shape: tuple[int, ...], int8: bool, seed: int = 0, per_tensor: bool = False) -> bytes:
    """Keras model, or (tf.Module, tf.function), -> .tflite bytes.

    int8: full integer quantization calibrated on a seeded representative dataset; per_tensor: one weight
    scale per tensor instead of per output channel (the converter's experimental switches)."""
    import tensorflow as tf

    if isinstance(model, tuple):
        module, function = model
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], module)
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(seed)

        def representative() -> Iterator[list[np.ndarray]]:
            for _ in range(REPRESENTATIVE_SAMPLES):
                yield [rng.standard_normal((1, *input_shape)).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        if per_tensor:
            converter._experimental_disable_per_channel = True
            converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(converter.convert())


@dataclass
class TfliteOp:
    """One operator of a .tflite file as an IR op (or None for ops the kernels do not cover)."""

    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    ir: Op | None


@dataclass
class TfliteModel:
    buffer: bytes
    tensors: dict[str, Tensor]
    ops: list[TfliteOp]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    values: dict[int, np.ndarray] = field(default_factory=dict)  # filled by `run_reference`

    def find(self, kind: str) -> list[TfliteOp]:
        return [op for op in self.ops if op.kind == kind]


def name(index: int) -> str:
    return f"t{index}"


def _options(op: Any, cls: Any) -> Any:
    table = op.BuiltinOptions()
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return options


def read_tflite(buffer: bytes) -> TfliteModel:
    """Parse the flatbuffer: tensors with quantization and constant data, ops with their options."""
    import tflite

    model = tflite.Model.GetRootAs(buffer, 0)
    graph = model.Subgraphs(0)
    kinds = {v: k for k, v in vars(tflite.BuiltinOperator).items() if isinstance(v, int)}
    tensors: dict[str, Tensor] = {}
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        dtype = _TENSOR_TYPES.get(t.Type())
        if dtype is None:
            continue
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        quant = None
        qp = t.Quantization()
        if qp is not None and qp.ScaleLength() > 0:
            scales = tuple(float(s) for s in qp.ScaleAsNumpy())
            zero_points = tuple(int(z) for z in qp.ZeroPointAsNumpy())
            quant = Quant(scales, zero_points, qp.QuantizedDimension() if len(scales) > 1 else None)
        data = None
        raw = model.Buffers(t.Buffer()).DataAsNumpy() if t.Buffer() > 0 else 0
        if not isinstance(raw, int) and raw.size:
            data = np.frombuffer(raw.tobytes(), dtype=dtype.numpy).reshape(shape).copy()
        tensors[name(i)] = Tensor(name(i), shape, dtype, quant, data)
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = kinds[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins = tuple(int(v) for v in op.InputsAsNumpy())
        outs = tuple(int(v) for v in op.OutputsAsNumpy())
        ops.append(TfliteOp(i, kind, ins, outs, _to_ir(op, kind, ins, outs, tflite)))
    return TfliteModel(
        buffer,
        tensors,
        ops,
        tuple(int(v) for v in graph.InputsAsNumpy()),
        tuple(int(v) for v in graph.OutputsAsNumpy()),
    )


def _to_ir(op: Any, kind: str, ins: tuple[int, ...], outs: tuple[int, ...], tflite: Any) -> Op | None:
    tensor_ins = tuple(name(i) for i in ins if i >= 0)
    tensor_outs = tuple(name(i) for i in outs)
    label = f"{kind.lower()}_{outs[0]}"
    if kind == "CONV_2D":
        o = _options(op, tflite.Conv2DOptions)
        return Conv2D(
            label,
            tensor_ins,
            tensor_outs,
            stride=(o.StrideH(), o.StrideW()),
            dilation=(o.DilationHFactor(), o.DilationWFactor()),
            padding=_PADDINGS[o.Padding()],
            activation=_ACTIVATIONS[o.FusedActivationFunction()],
        )
    if kind == "DEPTHWISE_CONV_2D":
        o = _options(op, tflite.DepthwiseConv2DOptions)
        return DepthwiseConv2D(
            label,
            tensor_ins,
            tensor_outs,
            stride=(o.StrideH(), o.StrideW()),
            dilation=(o.DilationHFactor(), o.DilationWFactor()),
            padding=_PADDINGS[o.Padding()],
            activation=_ACTIVATIONS[o.FusedActivationFunction()],
            depth_multiplier=o.DepthMultiplier(),
        )
    if kind == "FULLY_CONNECTED":
        o = _options(op, tflite.FullyConnectedOptions)
        return FullyConnected(label, tensor_ins, tensor_outs, activation=_ACTIVATIONS[o.FusedActivationFunction()])
    if kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        o = _options(op, tflite.Pool2DOptions)
        cls = MaxPool2D if kind == "MAX_POOL_2D" else AvgPool2D
        return cls(
            label,
            tensor_ins,
            tensor_outs,
            filter=(o.FilterHeight(), o.FilterWidth()),
            stride=(o.StrideH(), o.StrideW()),
            padding=_PADDINGS[o.Padding()],
            activation=_ACTIVATIONS[o.FusedActivationFunction()],
        )
    if kind == "ADD":
        o = _options(op, tflite.AddOptions)
        return Add(label, tensor_ins, tensor_outs, activation=_ACTIVATIONS[o.FusedActivationFunction()])
    if kind == "MEAN":
        o = _options(op, tflite.ReducerOptions)
        return _MeanLater(label, tensor_ins, tensor_outs, keep_dims=bool(o.KeepDims()))
    if kind == "PAD":
        return _PadLater(label, tensor_ins, tensor_outs)
    if kind in ("RELU", "RELU6"):
        activation = Activation.RELU if kind == "RELU" else Activation.RELU6
        return Relu(label, tensor_ins[:1], tensor_outs, activation=activation)
    return None


@dataclass(frozen=True)
class _MeanLater(Op):
    """MEAN whose axes live in a constant tensor: resolved by `resolve` once the tensors are known."""

    keep_dims: bool = False
    n_inputs = (2,)


@dataclass(frozen=True)
class _PadLater(Op):
    n_inputs = (2,)


def resolve(op: Op, tensors: dict[str, Tensor]) -> Op:
    """Turn MEAN / PAD with constant operands into the IR ops (axes and paddings as attributes)."""
    if isinstance(op, _MeanLater):
        axes = tensors[op.inputs[1]].data
        assert axes is not None
        return Mean(
            op.name, op.inputs[:1], op.outputs, axes=tuple(int(a) for a in axes.reshape(-1)), keep_dims=op.keep_dims
        )
    if isinstance(op, _PadLater):
        pads = tensors[op.inputs[1]].data
        assert pads is not None
        return Pad(op.name, op.inputs[:1], op.outputs, paddings=tuple((int(a), int(b)) for a, b in pads))
    return op


def interpreter(buffer: bytes) -> Any:
    """LiteRT's interpreter with TFLite's reference kernels (the default resolver would use XNNPACK)."""
    from ai_edge_litert import interpreter as litert

    it = litert.Interpreter(
        model_content=buffer,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    it.allocate_tensors()
    return it


def run_reference(model: TfliteModel, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Invoke once; every tensor's value by index (constants included)."""
    it = interpreter(model.buffer)
    for index, value in zip(model.inputs, inputs, strict=True):
        it.set_tensor(index, value)
    it.invoke()
    values = {}
    for detail in it.get_tensor_details():
        try:
            values[detail["index"]] = np.array(it.get_tensor(detail["index"]))
        except ValueError:
            continue
    return values


def runtime_tensors(model: TfliteModel, values: dict[int, np.ndarray]) -> dict[str, Tensor]:
    """The tensors with the shapes they had at run time: a dilated Keras conv becomes SPACE_TO_BATCH_ND +
    CONV_2D + BATCH_TO_SPACE_ND, and the file gives that CONV_2D batch 1 where it really runs on 4."""
    out = {}
    for key, t in model.tensors.items():
        value = values.get(int(key[1:]))
        if value is not None and not t.is_constant and value.shape != t.shape:
            t = Tensor(t.name, tuple(int(d) for d in value.shape), t.dtype, t.quant)
        out[key] = t
    return out


def random_input(tensor: Tensor, rng: np.random.Generator) -> np.ndarray:
    shape = (1, *tensor.shape[1:])
    if tensor.dtype is DType.INT8:
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    return rng.standard_normal(shape).astype(np.float32)


ModelBuilder = Callable[[], tuple[Any, tuple[int, ...]]]
