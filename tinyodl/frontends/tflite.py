"""TFLite flatbuffer -> IR.

Reads the ops the TFLite converter really emits for Conv1D/Conv2D CNNs (Conv1D arrives as
EXPAND_DIMS + CONV_2D + RESHAPE). Constant operands that are really attributes (reshape shapes, expand
axes, mean axes, paddings) become op attributes; weights and biases stay constant tensors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TinyodlError
from ..ir import (
    Activation,
    Add,
    AvgPool2D,
    BatchToSpace,
    Conv2D,
    DepthwiseConv2D,
    Dequantize,
    DType,
    FullyConnected,
    Graph,
    GraphError,
    MaxPool2D,
    Mean,
    Op,
    Pad,
    Padding,
    Quant,
    Quantize,
    Relu,
    Reshape,
    ShapeArith,
    Softmax,
    SpaceToBatch,
    Tensor,
)
from ..passes.dilate import fold_dilation
from ..passes.fold import fold_shapes
from ..passes.prune import prune


class FrontendError(TinyodlError):
    """The model file cannot be imported: corrupt, unknown format, or an unsupported op."""


_DTYPES = {0: DType.FLOAT32, 2: DType.INT32, 7: DType.INT16, 9: DType.INT8}
_NUMPY = {0: np.float32, 2: np.int32, 4: np.int64, 7: np.int16, 9: np.int8, 3: np.uint8}
_ACTIVATIONS = {0: Activation.NONE, 1: Activation.RELU, 3: Activation.RELU6}
_PADDING = {0: Padding.SAME, 1: Padding.VALID}


def _require_tflite() -> Any:
    try:
        import tflite
    except ImportError:  # pragma: no cover - depends on the installation
        raise FrontendError("reading .tflite files needs the 'tflite' package: pip install 'tinyodl[tf]'") from None
    return tflite


def supported_ops() -> list[str]:
    """The layers the frontend imports (shape arithmetic, folded at import, is listed by passes.fold; the
    SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND around a dilated convolution are read only to be rewritten)."""
    return sorted(k for k in _HANDLERS if k not in ("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"))


class _Reader:
    def __init__(self, path: Path, data: bytes) -> None:
        self.tfl = _require_tflite()
        self.path = path
        self.model = self.tfl.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise FrontendError(f"{path}: {self.model.SubgraphsLength()} subgraphs; only single-subgraph models")
        self.sg = self.model.Subgraphs(0)
        self.names: dict[int, str] = {}
        self.tensors: dict[str, Tensor] = {}
        self.op_names: dict[str, int] = {}
        self.dynamic: set[str] = set()  # tensors whose shape signature has an open (-1) dimension
        self.open: set[str] = set()  # ... beyond the batch: their static shape is not to be trusted

    # -- tensors ---------------------------------------------------------------------------------------
    def raw(self, index: int) -> Any:
        return self.sg.Tensors(index)

    def constant(self, index: int) -> np.ndarray | None:
        t = self.raw(index)
        buf = self.model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        np_type = _NUMPY.get(t.Type())
        if np_type is None:
            raise FrontendError(f"{self.path}: tensor {t.Name().decode()} has unsupported element type {t.Type()}")
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        return np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=np_type).reshape(shape).copy()

    def name(self, index: int) -> str:
        if index in self.names:
            return self.names[index]
        t = self.raw(index)
        dtype = _DTYPES.get(t.Type())
        base = t.Name().decode(errors="replace") or f"tensor{index}"
        name = base if base not in self.tensors else f"{base}#{index}"
        if dtype is None:
            raise FrontendError(f"{self.path}: tensor {base} has unsupported element type {t.Type()}")
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        q = t.Quantization()
        quant = None
        if q is not None and q.ScaleLength() > 0:
            scales = tuple(float(s) for s in q.ScaleAsNumpy())
            zps = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,) * len(scales)
            quant = Quant(scales, zps, int(q.QuantizedDimension()) if len(scales) > 1 else None)
        data = self.constant(index)
        signature = [int(d) for d in t.ShapeSignatureAsNumpy()] if t.ShapeSignatureLength() else []
        if any(d < 0 for d in signature):
            self.dynamic.add(name)
        if any(d < 0 for d in signature[1:]):
            self.open.add(name)
        try:
            tensor = Tensor(name, shape, dtype, quant, data)
        except ValueError as exc:
            raise FrontendError(f"{self.path}: {exc}") from None
        self.names[index] = name
        self.tensors[name] = tensor
        return name

    def attribute(self, index: int, what: str, op: str) -> np.ndarray:
        data = self.constant(index)
        if data is None:
            raise FrontendError(f"{self.path}: {op}: {what} must be a constant")
        return data

    # -- ops ---------------------------------------------------------------------------------------
    def op_name(self, kind: str, out_name: str) -> str:
        n = self.op_names.get(kind, 0)
        self.op_names[kind] = n + 1
        return f"{kind.lower()}_{n}"

    def options(self, op: Any, cls_name: str) -> Any:
        table = op.BuiltinOptions()
        opts = getattr(self.tfl, cls_name)()
        if table is not None:
            opts.Init(table.Bytes, table.Pos)
        return opts

    def activation(self, code: int, op: str) -> Activation:
        if code not in _ACTIVATIONS:
            raise FrontendError(f"{self.path}: {op}: fused activation {code} is not supported (none, relu, relu6)")
        return _ACTIVATIONS[code]


def _conv(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
    o = r.options(op, "Conv2DOptions")
    name = r.op_name("CONV_2D", outs[0])
    return Conv2D(
        name=name,
        inputs=tuple(r.name(i) for i in ins if i >= 0),
        outputs=tuple(outs),
        stride=(o.StrideH(), o.StrideW()),
        dilation=(o.DilationHFactor(), o.DilationWFactor()),
        padding=_PADDING[o.Padding()],
        activation=r.activation(o.FusedActivationFunction(), name),
    )


def _depthwise(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
    o = r.options(op, "DepthwiseConv2DOptions")
    name = r.op_name("DEPTHWISE_CONV_2D", outs[0])
    return DepthwiseConv2D(
        name=name,
        inputs=tuple(r.name(i) for i in ins if i >= 0),
        outputs=tuple(outs),
        stride=(o.StrideH(), o.StrideW()),
        dilation=(o.DilationHFactor(), o.DilationWFactor()),
        padding=_PADDING[o.Padding()],
        activation=r.activation(o.FusedActivationFunction(), name),
        depth_multiplier=max(1, o.DepthMultiplier()),
    )


def _pool(cls: type[MaxPool2D] | type[AvgPool2D], kind: str) -> Callable[[_Reader, Any, list[int], list[str]], Op]:
    def build(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
        o = r.options(op, "Pool2DOptions")
        name = r.op_name(kind, outs[0])
        return cls(
            name=name,
            inputs=(r.name(ins[0]),),
            outputs=tuple(outs),
            filter=(o.FilterHeight(), o.FilterWidth()),
            stride=(o.StrideH(), o.StrideW()),
            padding=_PADDING[o.Padding()],
            activation=r.activation(o.FusedActivationFunction(), name),
        )

    return build


def _fully_connected(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
    o = r.options(op, "FullyConnectedOptions")
    name = r.op_name("FULLY_CONNECTED", outs[0])
    if o.WeightsFormat() != 0:
        raise FrontendError(f"{r.path}: {name}: shuffled weight formats are not supported")
    return FullyConnected(
        name=name,
        inputs=tuple(r.name(i) for i in ins if i >= 0),
        outputs=tuple(outs),
        activation=r.activation(o.FusedActivationFunction(), name),
    )


def _reshape(kind: str) -> Callable[[_Reader, Any, list[int], list[str]], Op]:
    def build(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
        # RESHAPE keeps its target shape operand: where the file leaves the output's shape open, it says it
        target = (r.name(ins[1]),) if kind == "RESHAPE" and len(ins) > 1 and ins[1] >= 0 else ()
        return Reshape(name=r.op_name(kind, outs[0]), inputs=(r.name(ins[0]), *target), outputs=tuple(outs))

    return build


def _mean(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
    name = r.op_name("MEAN", outs[0])
    axes = r.attribute(ins[1], "axes", name).reshape(-1)
    rank = len(r.tensors[r.name(ins[0])].shape)
    o = r.options(op, "ReducerOptions")
    return Mean(
        name=name,
        inputs=(r.name(ins[0]),),
        outputs=tuple(outs),
        axes=tuple(sorted(int(a) % rank for a in axes)),
        keep_dims=bool(o.KeepDims()),
    )


def _add(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
    o = r.options(op, "AddOptions")
    name = r.op_name("ADD", outs[0])
    return Add(
        name=name,
        inputs=(r.name(ins[0]), r.name(ins[1])),
        outputs=tuple(outs),
        activation=r.activation(o.FusedActivationFunction(), name),
    )


def _pad(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
    name = r.op_name("PAD", outs[0])
    paddings = r.attribute(ins[1], "paddings", name).reshape(-1, 2)
    return Pad(
        name=name,
        inputs=(r.name(ins[0]),),
        outputs=tuple(outs),
        paddings=tuple((int(a), int(b)) for a, b in paddings),
    )


def _softmax(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
    o = r.options(op, "SoftmaxOptions")
    return Softmax(name=r.op_name("SOFTMAX", outs[0]), inputs=(r.name(ins[0]),), outputs=tuple(outs), beta=o.Beta())


def _relu(activation: Activation, kind: str) -> Callable[[_Reader, Any, list[int], list[str]], Op]:
    def build(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
        return Relu(name=r.op_name(kind, outs[0]), inputs=(r.name(ins[0]),), outputs=tuple(outs), activation=activation)

    return build


def _space_batch(kind: str) -> Callable[[_Reader, Any, list[int], list[str]], Op]:
    def build(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
        name = r.op_name(kind, outs[0])
        block = tuple(int(b) for b in r.attribute(ins[1], "block shape", name).reshape(-1))
        pairs = tuple((int(a), int(b)) for a, b in r.attribute(ins[2], "paddings or crops", name).reshape(-1, 2))
        if kind == "SPACE_TO_BATCH_ND":
            return SpaceToBatch(name=name, inputs=(r.name(ins[0]),), outputs=tuple(outs), block=block, paddings=pairs)
        return BatchToSpace(name=name, inputs=(r.name(ins[0]),), outputs=tuple(outs), block=block, crops=pairs)

    return build


def _unary(cls: type[Quantize] | type[Dequantize], kind: str) -> Callable[[_Reader, Any, list[int], list[str]], Op]:
    def build(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
        return cls(name=r.op_name(kind, outs[0]), inputs=(r.name(ins[0]),), outputs=tuple(outs))

    return build


_SHAPE_OPTIONS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    # TFLite op -> (options table, (option name, accessor) pairs) of the shape arithmetic folded at import
    "SHAPE": ("ShapeOptions", ()),
    "STRIDED_SLICE": ("StridedSliceOptions", (("begin_mask", "BeginMask"), ("end_mask", "EndMask"),
                      ("ellipsis_mask", "EllipsisMask"), ("new_axis_mask", "NewAxisMask"),
                      ("shrink_axis_mask", "ShrinkAxisMask"), ("offset", "Offset"))),
    "PACK": ("PackOptions", (("axis", "Axis"),)),
    "CONCATENATION": ("ConcatenationOptions", (("axis", "Axis"), ("fused_activation", "FusedActivationFunction"))),
    "GATHER": ("GatherOptions", (("axis", "Axis"), ("batch_dims", "BatchDims"))),
    "SLICE": ("SliceOptions", ()),
    "REDUCE_PROD": ("ReducerOptions", (("keep_dims", "KeepDims"),)),
    "CAST": ("CastOptions", ()),
    "ADD": ("AddOptions", (("fused_activation", "FusedActivationFunction"),)),
    "SUB": ("SubOptions", (("fused_activation", "FusedActivationFunction"),)),
    "MUL": ("MulOptions", (("fused_activation", "FusedActivationFunction"),)),
    "FLOOR_DIV": ("FloorDivOptions", ()),
}  # fmt: skip


def _shape_arith(kind: str) -> Callable[[_Reader, Any, list[int], list[str]], Op]:
    table, accessors = _SHAPE_OPTIONS[kind]

    def build(r: _Reader, op: Any, ins: list[int], outs: list[str]) -> Op:
        opts = r.options(op, table) if accessors else None
        options = tuple((name, int(getattr(opts, acc)())) for name, acc in accessors if hasattr(opts, acc))
        return ShapeArith(name=r.op_name(kind, outs[0]), inputs=tuple(r.name(i) for i in ins if i >= 0),
                          outputs=tuple(outs), function=kind, options=options)  # fmt: skip

    return build


def _is_shape_arith(r: _Reader, op: Any) -> bool:
    """An ADD/SUB/MUL on int32 tensors is shape arithmetic; on int8 or float32 it is a layer."""
    return all(r.raw(int(i)).Type() == 2 for i in op.OutputsAsNumpy())


_HANDLERS: dict[str, Callable[[_Reader, Any, list[int], list[str]], Op]] = {
    "ADD": _add,
    "AVERAGE_POOL_2D": _pool(AvgPool2D, "AVERAGE_POOL_2D"),
    "BATCH_TO_SPACE_ND": _space_batch("BATCH_TO_SPACE_ND"),
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _depthwise,
    "DEQUANTIZE": _unary(Dequantize, "DEQUANTIZE"),
    "EXPAND_DIMS": _reshape("EXPAND_DIMS"),
    "FULLY_CONNECTED": _fully_connected,
    "MAX_POOL_2D": _pool(MaxPool2D, "MAX_POOL_2D"),
    "MEAN": _mean,
    "PAD": _pad,
    "QUANTIZE": _unary(Quantize, "QUANTIZE"),
    "RELU": _relu(Activation.RELU, "RELU"),
    "RELU6": _relu(Activation.RELU6, "RELU6"),
    "RESHAPE": _reshape("RESHAPE"),
    "SOFTMAX": _softmax,
    "SPACE_TO_BATCH_ND": _space_batch("SPACE_TO_BATCH_ND"),
    "SQUEEZE": _reshape("SQUEEZE"),
}


def _builtin_names(tfl: Any) -> dict[int, str]:
    return {v: k for k, v in vars(tfl.BuiltinOperator).items() if isinstance(v, int) and not k.startswith("_")}


def load_tflite(path: Path) -> Graph:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FrontendError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise FrontendError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        reader = _Reader(path, data)
        graph = _convert(reader, path, data)
    except (FrontendError, GraphError):
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt flatbuffer fails in many ways
        raise FrontendError(f"{path}: corrupt TFLite model ({type(exc).__name__}: {exc})") from None
    return graph


def _convert(r: _Reader, path: Path, data: bytes) -> Graph:
    names = _builtin_names(r.tfl)
    ops: list[Op] = []
    for i in range(r.sg.OperatorsLength()):
        op = r.sg.Operators(i)
        code = r.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        kind = names.get(builtin, f"builtin {builtin}")
        if code.CustomCode():
            kind = f"custom op {code.CustomCode().decode(errors='replace')}"
        handler = _HANDLERS.get(kind)
        if kind in _SHAPE_OPTIONS and (handler is None or _is_shape_arith(r, op)):
            handler = _shape_arith(kind)
        if handler is None:
            raise FrontendError(
                f"{path}: operator {i} ({kind}) is not supported; supported: {', '.join(supported_ops())}"
            )
        ins = [int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [r.name(int(x)) for x in op.OutputsAsNumpy()]
        try:
            ops.append(handler(r, op, ins, outs))
        except ValueError as exc:
            raise FrontendError(f"{path}: operator {i} ({kind}): {exc}") from None
    inputs = tuple(r.name(int(i)) for i in r.sg.InputsAsNumpy())
    outputs = tuple(r.name(int(i)) for i in r.sg.OutputsAsNumpy())
    try:
        # the import's first pass: shape arithmetic -> constants, shapes the file leaves open -> inferred
        ops = fold_shapes(r.tensors, ops, r.dynamic, r.open)
    except GraphError as exc:
        raise FrontendError(f"{path}: {exc}") from None
    used = set(inputs) | set(outputs) | {n for o in ops for n in (*o.inputs, *o.outputs)}
    tensors = {n: t for n, t in r.tensors.items() if n in used}
    digest = hashlib.sha256(data).hexdigest()[:16]
    try:
        graph = Graph(
            name=path.stem,
            tensors=tensors,
            ops=tuple(ops),
            inputs=inputs,
            outputs=outputs,
            source=f"{path.name} sha256:{digest}",
        )
    except GraphError as exc:
        raise FrontendError(f"{path}: {exc}") from None
    try:
        # SPACE_TO_BATCH_ND + conv + BATCH_TO_SPACE_ND -> one dilated convolution
        return fold_dilation(prune(graph))
    except GraphError as exc:
        raise FrontendError(f"{path}: {exc}") from None
