"""One frozen dataclass per operator. Layouts follow TFLite: activations NHWC, conv weights OHWI,
depthwise weights 1HW(C*M), fully-connected weights [out, in].

Each op validates its own attributes on construction and its tensors in `check()` (called by Graph).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from .tensor import DType, Tensor


class Padding(Enum):
    SAME = "same"
    VALID = "valid"


class Activation(Enum):
    NONE = "none"
    RELU = "relu"
    RELU6 = "relu6"


def _pair(value: tuple[int, int], what: str, op: str) -> None:
    if len(value) != 2 or any(v < 1 for v in value):
        raise ValueError(f"{op}: {what} {value} must be two integers >= 1")


@dataclass(frozen=True)
class Op:
    """Base: a named node reading `inputs` and writing `outputs` (tensor names)."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    kind: ClassVar[str] = "op"
    n_inputs: ClassVar[tuple[int, ...]] = (1,)

    def __post_init__(self) -> None:
        if len(self.inputs) not in self.n_inputs:
            raise ValueError(f"{self.kind} {self.name}: {len(self.inputs)} inputs, expected {self.n_inputs}")
        if len(self.outputs) != 1:
            raise ValueError(f"{self.kind} {self.name}: {len(self.outputs)} outputs, expected 1")

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        """Validate tensor shapes and types; raise ValueError naming the op."""

    def macc(self, tensors: Mapping[str, Tensor]) -> int:
        """Multiply-accumulate operations of one invocation."""
        return 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.kind} {self.name}: {message}")


def out_size(size: int, kernel: int, stride: int, dilation: int, padding: Padding) -> int:
    effective = (kernel - 1) * dilation + 1
    if padding is Padding.SAME:
        return (size + stride - 1) // stride
    return (size - effective + stride) // stride


def pad_before(size: int, kernel: int, stride: int, dilation: int, padding: Padding) -> int:
    """TFLite's padding: for SAME, the smaller half of the total padding goes before."""
    if padding is Padding.VALID:
        return 0
    out = out_size(size, kernel, stride, dilation, padding)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2


@dataclass(frozen=True)
class _Conv(Op):
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = Padding.VALID
    activation: Activation = Activation.NONE

    n_inputs: ClassVar[tuple[int, ...]] = (2, 3)  # input, weights[, bias]

    def __post_init__(self) -> None:
        super().__post_init__()
        _pair(self.stride, "stride", self.name)
        _pair(self.dilation, "dilation", self.name)

    def _common(self, t: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
        x, w = t[self.inputs[0]], t[self.inputs[1]]
        b = t[self.inputs[2]] if len(self.inputs) > 2 else None
        y = t[self.outputs[0]]
        if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
            raise self.error(f"expects 4-D input, weights and output, got {x.shape}, {w.shape}, {y.shape}")
        if not w.is_constant:
            raise self.error("weights must be constant")
        if x.dtype is DType.INT8:
            if w.dtype is not DType.INT8 or y.dtype is not DType.INT8:
                raise self.error("an int8 convolution needs int8 weights and output")
            if b is not None and b.dtype is not DType.INT32:
                raise self.error("an int8 convolution needs an int32 bias")
            assert w.quant is not None
            if any(z != 0 for z in w.quant.zero_point):
                raise self.error("int8 weights must be symmetric (zero point 0)")
        elif x.dtype is DType.FLOAT32:
            if w.dtype is not DType.FLOAT32 or y.dtype is not DType.FLOAT32:
                raise self.error("a float32 convolution needs float32 weights and output")
        else:
            raise self.error(f"unsupported input type {x.dtype.value}")
        return x, w, b, y

    def _check_spatial(self, x: Tensor, kh: int, kw: int, y: Tensor) -> None:
        oh = out_size(x.shape[1], kh, self.stride[0], self.dilation[0], self.padding)
        ow = out_size(x.shape[2], kw, self.stride[1], self.dilation[1], self.padding)
        if (y.shape[1], y.shape[2]) != (oh, ow) or y.shape[0] != x.shape[0]:
            raise self.error(f"output {y.shape} does not match input {x.shape} with kernel {kh}x{kw}")


@dataclass(frozen=True)
class Conv2D(_Conv):
    kind: ClassVar[str] = "CONV_2D"

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        x, w, b, y = self._common(tensors)
        oc, kh, kw, ic = w.shape
        if ic != x.shape[3] or oc != y.shape[3]:
            raise self.error(f"weights {w.shape} do not connect input {x.shape} to output {y.shape}")
        if b is not None and b.shape != (oc,):
            raise self.error(f"bias shape {b.shape}, expected ({oc},)")
        self._check_spatial(x, kh, kw, y)

    def macc(self, tensors: Mapping[str, Tensor]) -> int:
        w, y = tensors[self.inputs[1]], tensors[self.outputs[0]]
        _, kh, kw, ic = w.shape
        return y.size * kh * kw * ic


@dataclass(frozen=True)
class DepthwiseConv2D(_Conv):
    depth_multiplier: int = 1

    kind: ClassVar[str] = "DEPTHWISE_CONV_2D"

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        x, w, b, y = self._common(tensors)
        one, kh, kw, oc = w.shape
        if one != 1 or oc != x.shape[3] * self.depth_multiplier or oc != y.shape[3]:
            raise self.error(f"weights {w.shape} do not match input {x.shape} x {self.depth_multiplier}")
        if b is not None and b.shape != (oc,):
            raise self.error(f"bias shape {b.shape}, expected ({oc},)")
        self._check_spatial(x, kh, kw, y)

    def macc(self, tensors: Mapping[str, Tensor]) -> int:
        w, y = tensors[self.inputs[1]], tensors[self.outputs[0]]
        return y.size * w.shape[1] * w.shape[2]


@dataclass(frozen=True)
class FullyConnected(Op):
    activation: Activation = Activation.NONE

    kind: ClassVar[str] = "FULLY_CONNECTED"
    n_inputs: ClassVar[tuple[int, ...]] = (2, 3)

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        x, w, y = tensors[self.inputs[0]], tensors[self.inputs[1]], tensors[self.outputs[0]]
        if len(w.shape) != 2 or not w.is_constant:
            raise self.error(f"weights must be a constant [out, in] matrix, got {w.shape}")
        if x.size % w.shape[1] != 0:
            raise self.error(f"input {x.shape} is not a multiple of {w.shape[1]} features")
        if y.size != (x.size // w.shape[1]) * w.shape[0]:
            raise self.error(f"output {y.shape} does not match {x.shape} x {w.shape}")
        if x.dtype is DType.INT8 and (w.dtype is not DType.INT8 or y.dtype is not DType.INT8):
            raise self.error("an int8 fully-connected layer needs int8 weights and output")

    def macc(self, tensors: Mapping[str, Tensor]) -> int:
        w, y = tensors[self.inputs[1]], tensors[self.outputs[0]]
        return y.size * w.shape[1]


@dataclass(frozen=True)
class _Pool(Op):
    filter: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: Padding = Padding.VALID
    activation: Activation = Activation.NONE

    def __post_init__(self) -> None:
        super().__post_init__()
        _pair(self.filter, "filter", self.name)
        _pair(self.stride, "stride", self.name)

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        x, y = tensors[self.inputs[0]], tensors[self.outputs[0]]
        if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[3] != y.shape[3] or x.dtype is not y.dtype:
            raise self.error(f"input {x.shape} and output {y.shape} must be 4-D with the same channels and type")
        oh = out_size(x.shape[1], self.filter[0], self.stride[0], 1, self.padding)
        ow = out_size(x.shape[2], self.filter[1], self.stride[1], 1, self.padding)
        if (y.shape[1], y.shape[2]) != (oh, ow):
            raise self.error(f"output {y.shape} does not match input {x.shape} pooled {self.filter}/{self.stride}")
        if x.dtype is DType.INT8 and x.quant != y.quant:
            raise self.error("int8 pooling keeps the input's quantization")


@dataclass(frozen=True)
class MaxPool2D(_Pool):
    kind: ClassVar[str] = "MAX_POOL_2D"


@dataclass(frozen=True)
class AvgPool2D(_Pool):
    kind: ClassVar[str] = "AVERAGE_POOL_2D"


@dataclass(frozen=True)
class Mean(Op):
    axes: tuple[int, ...] = (1, 2)
    keep_dims: bool = False

    kind: ClassVar[str] = "MEAN"

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        x = tensors[self.inputs[0]]
        if not self.axes or any(not 0 <= a < len(x.shape) for a in self.axes):
            raise self.error(f"axes {self.axes} out of range for {x.shape}")


@dataclass(frozen=True)
class Add(Op):
    activation: Activation = Activation.NONE

    kind: ClassVar[str] = "ADD"
    n_inputs: ClassVar[tuple[int, ...]] = (2,)

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        a, b, y = (tensors[n] for n in (*self.inputs, self.outputs[0]))
        if a.shape != y.shape:
            raise self.error(f"operand {a.shape} must have the output's shape {y.shape}")
        if b.shape == y.shape:
            return
        per_channel = b.is_constant and b.size == y.shape[-1] and all(d == 1 for d in b.shape[:-1])
        if not per_channel:
            raise self.error(f"operand {b.shape} must have the output's shape {y.shape}, or be a constant per channel")

    def constant_operand(self, tensors: Mapping[str, Tensor]) -> bool:
        """The second operand is a constant, one value per channel (e.g. a bias added after a conv)."""
        return tensors[self.inputs[1]].is_constant


@dataclass(frozen=True)
class Pad(Op):
    paddings: tuple[tuple[int, int], ...] = ()

    kind: ClassVar[str] = "PAD"

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        x, y = tensors[self.inputs[0]], tensors[self.outputs[0]]
        if len(self.paddings) != len(x.shape) or any(p < 0 for pair in self.paddings for p in pair):
            raise self.error(f"paddings {self.paddings} do not fit {x.shape}")
        expected = tuple(d + a + b for d, (a, b) in zip(x.shape, self.paddings, strict=True))
        if y.shape != expected:
            raise self.error(f"output {y.shape}, expected {expected}")


@dataclass(frozen=True)
class Reshape(Op):
    """The same bytes in another shape. A second input, when present, is the target shape (a constant once
    shape arithmetic is folded); the output tensor's shape is authoritative."""

    kind: ClassVar[str] = "RESHAPE"
    n_inputs: ClassVar[tuple[int, ...]] = (1, 2)

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        x, y = tensors[self.inputs[0]], tensors[self.outputs[0]]
        if x.size != y.size:
            raise self.error(f"cannot reshape {x.shape} into {y.shape}")


@dataclass(frozen=True)
class Softmax(Op):
    beta: float = 1.0

    kind: ClassVar[str] = "SOFTMAX"


@dataclass(frozen=True)
class Quantize(Op):
    kind: ClassVar[str] = "QUANTIZE"


@dataclass(frozen=True)
class Dequantize(Op):
    kind: ClassVar[str] = "DEQUANTIZE"


@dataclass(frozen=True)
class ShapeArith(Op):
    """Integer arithmetic on shapes that a dynamic-batch export emits around Flatten/Reshape (SHAPE,
    STRIDED_SLICE, PACK, CONCATENATION of constants, ...). Never generated: `passes.fold_shapes`
    evaluates it at import with batch 1, or the import fails naming it. `function` is the TFLite op name,
    `options` its relevant options as (name, value) pairs."""

    function: str = ""
    options: tuple[tuple[str, int], ...] = ()

    kind: ClassVar[str] = "SHAPE_ARITH"
    n_inputs: ClassVar[tuple[int, ...]] = tuple(range(1, 17))

    def option(self, name: str, default: int = 0) -> int:
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class ConvPool(Op):
    """A convolution and the pooling that reads only its output, fused (passes.fuse_conv_pool): the pooled
    tensor is produced directly and the full-resolution one (`mid`) never exists in memory. `conv` and
    `pool` are the original ops, `pool` re-pointed at `mid`; inputs are the convolution's, the output the
    pool's."""

    conv: Conv2D | None = None
    pool: MaxPool2D | AvgPool2D | None = None
    mid: Tensor | None = None

    kind: ClassVar[str] = "CONV_POOL"
    n_inputs: ClassVar[tuple[int, ...]] = (2, 3)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.conv is None or self.pool is None or self.mid is None:
            raise ValueError(f"{self.kind} {self.name}: needs the convolution, the pooling and their tensor")
        if self.conv.outputs != (self.mid.name,) or self.pool.inputs != (self.mid.name,):
            raise ValueError(f"{self.kind} {self.name}: the pooling must read the convolution's output")
        if self.inputs != self.conv.inputs or self.outputs != self.pool.outputs:
            raise ValueError(f"{self.kind} {self.name}: inputs and output must be the convolution's and the pool's")

    def with_mid(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        assert self.mid is not None
        return {**tensors, self.mid.name: self.mid}

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        assert self.conv is not None and self.pool is not None
        full = self.with_mid(tensors)
        self.conv.check(full)
        self.pool.check(full)

    def macc(self, tensors: Mapping[str, Tensor]) -> int:
        assert self.conv is not None
        return self.conv.macc(self.with_mid(tensors))


@dataclass(frozen=True)
class Relu(Op):
    """A stand-alone RELU / RELU6 (one not fused into the op before it). int8: requantized from the
    input's scale to the output's, then clamped, as TFLite does."""

    activation: Activation = Activation.RELU

    kind: ClassVar[str] = "RELU"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.activation is Activation.NONE:
            raise self.error("a stand-alone activation must be RELU or RELU6")

    def check(self, tensors: Mapping[str, Tensor]) -> None:
        x, y = tensors[self.inputs[0]], tensors[self.outputs[0]]
        if x.shape != y.shape or x.dtype is not y.dtype:
            raise self.error(f"input {x.shape} and output {y.shape} must have the same shape and type")


@dataclass(frozen=True)
class SpaceToBatch(Op):
    """SPACE_TO_BATCH_ND (`block` per spatial axis, `paddings` (before, after) per spatial axis). Imported
    only to be rewritten: with its BATCH_TO_SPACE_ND around a convolution it is a dilated convolution
    (passes.dilate). Its static output shape is TFLite's, with the batch of the input."""

    block: tuple[int, ...] = ()
    paddings: tuple[tuple[int, int], ...] = ()

    kind: ClassVar[str] = "SPACE_TO_BATCH_ND"


@dataclass(frozen=True)
class BatchToSpace(Op):
    """BATCH_TO_SPACE_ND (`block`, `crops` (before, after) per spatial axis): see SpaceToBatch."""

    block: tuple[int, ...] = ()
    crops: tuple[tuple[int, int], ...] = ()

    kind: ClassVar[str] = "BATCH_TO_SPACE_ND"
