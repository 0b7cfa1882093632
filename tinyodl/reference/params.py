"""Everything a kernel needs, computed once from the IR: one frozen dataclass per kernel family and type.

The numpy kernels (`kernels_int8`, `kernels_f32`) and the C code generator read the same objects, so the
field names are those of the C params structs in `firmware/kernels/tl_kernels.h`. Nothing is implicit:
padding is explicit (`pad_top`, `pad_left`), per-channel multipliers and shifts are arrays of length
`out_ch`, the fused activation is a clamp range, zero points are stored as they are (not negated).

Arrays are read-only numpy arrays in the C layout: conv weights OHWI `[out_ch, k_h, k_w, in_ch]`,
depthwise weights `[1, k_h, k_w, out_ch]` (out_ch = in_ch * depth_multiplier), fully-connected weights
`[out_features, in_features]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..ir import (
    Add,
    AvgPool2D,
    Conv2D,
    ConvPool,
    DepthwiseConv2D,
    DType,
    FullyConnected,
    MaxPool2D,
    Mean,
    Op,
    Pad,
    Quant,
    Relu,
    Softmax,
    Tensor,
)
from ..ir.ops import _Pool, pad_before
from . import quant as q
from .softmax import softmax_scaling


class ParamsError(ValueError):
    """Kernel parameters that no kernel can run (or that the IR cannot be lowered to)."""


@dataclass(frozen=True)
class ArenaBuffer:
    """Working memory of a kernel variant: `nbytes` at `offset` in the model's arena (placed by the memory
    planner, live only during the layer's call). The generated C initialises a pointer field with it."""

    offset: int
    nbytes: int
    ctype: str  # element type of the C pointer


def _optional_array(obj: Any, name: str, dtype: type) -> None:
    """A generated variant field: None, or a read-only one-dimensional array of `dtype`."""
    value = getattr(obj, name)
    if value is None:
        return
    array: np.ndarray = np.array(value, dtype=dtype, copy=True)
    if array.ndim != 1:
        raise ParamsError(f"{type(obj).__name__}.{name}: a flat array is expected, not shape {array.shape}")
    array.setflags(write=False)
    object.__setattr__(obj, name, array)


def _readonly(value: Any, dtype: type, name: str, shape: tuple[int, ...]) -> np.ndarray:
    array: np.ndarray = np.array(value, dtype=dtype, copy=True)
    if array.shape != shape:
        raise ParamsError(f"{name}: shape {array.shape}, expected {shape}")
    array.setflags(write=False)
    return array


def _positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or value < 1:
            raise ParamsError(f"{type(obj).__name__}.{name} = {value!r} must be an integer >= 1")


def _int8_value(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or not q.INT8_MIN <= value <= q.INT8_MAX:
            raise ParamsError(f"{type(obj).__name__}.{name} = {value!r} is not an int8 value")


def _act_range_int8(obj: Any) -> None:
    _int8_value(obj, "act_min", "act_max")
    if obj.act_min > obj.act_max:
        raise ParamsError(f"{type(obj).__name__}: act_min {obj.act_min} > act_max {obj.act_max}")


def _act_range_f32(obj: Any) -> None:
    lo, hi = float(obj.act_min), float(obj.act_max)
    if not (np.float32(lo) == lo and np.float32(hi) == hi) or not lo <= hi:
        raise ParamsError(f"{type(obj).__name__}: activation range [{lo}, {hi}] is not an ordered float32 pair")


def _multiplier_pair(obj: object, multiplier: int, shift: int, what: str) -> None:
    if not 0 <= multiplier <= q.INT32_MAX:
        raise ParamsError(f"{type(obj).__name__}: {what} multiplier {multiplier} is not in [0, 2^31)")
    if not q.SHIFT_MIN <= shift <= q.SHIFT_MAX:
        raise ParamsError(f"{type(obj).__name__}: {what} shift {shift} is not in [{q.SHIFT_MIN}, {q.SHIFT_MAX}]")


def _multiplier_arrays(obj: Any, n: int) -> None:
    object.__setattr__(obj, "multiplier", _readonly(obj.multiplier, np.int32, "multiplier", (n,)))
    object.__setattr__(obj, "shift", _readonly(obj.shift, np.int32, "shift", (n,)))
    if (obj.multiplier < 0).any():
        raise ParamsError(f"{type(obj).__name__}: negative multiplier")
    if ((obj.shift < q.SHIFT_MIN) | (obj.shift > q.SHIFT_MAX)).any():
        raise ParamsError(f"{type(obj).__name__}: a shift is outside [{q.SHIFT_MIN}, {q.SHIFT_MAX}]")


def _window(obj: Any, axis: str, size: int, out: int, k: int, stride: int, dilation: int, pad: int) -> None:
    """The explicit padding must describe a TFLite output: 0 <= before < window, -stride < after < window."""
    effective = (k - 1) * dilation + 1
    after = (out - 1) * stride + effective - size - pad
    if not 0 <= pad < effective or not -stride < after < effective:
        raise ParamsError(
            f"{type(obj).__name__}: {axis}: input {size}, window {k} (dilation {dilation}), stride {stride}, "
            f"padding {pad} before cannot give {out} outputs"
        )


def _accumulator_bound(obj: Any, taps: int, bias: np.ndarray | None) -> None:
    """The int32 accumulator must not overflow: |sum| <= taps * 255 * 128 + max|bias| < 2^31."""
    worst = taps * 255 * 128 + (int(np.abs(bias.astype(np.int64)).max()) if bias is not None else 0)
    if worst > q.INT32_MAX:
        raise ParamsError(f"{type(obj).__name__}: {taps} taps per output can overflow the int32 accumulator")


@dataclass(frozen=True, eq=False)
class KernelParams:
    """Base class. `family` names the kernel family (and the C function: `tl_<family>_<type>`)."""

    family: ClassVar[str] = ""
    dtype: ClassVar[DType] = DType.INT8

    @property
    def c_function(self) -> str:
        return f"tl_{self.family}_{'s8' if self.dtype is DType.INT8 else 'f32'}"


# ---- spatial families: CONV_2D, DEPTHWISE_CONV_2D ---------------------------------------------------


@dataclass(frozen=True, eq=False)
class _ConvGeometry(KernelParams):
    batches: int
    in_h: int
    in_w: int
    in_ch: int
    out_h: int
    out_w: int
    out_ch: int
    k_h: int
    k_w: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_top: int
    pad_left: int

    def _check_geometry(self) -> None:
        _positive(self, "batches", "in_h", "in_w", "in_ch", "out_h", "out_w", "out_ch", "k_h", "k_w")
        _positive(self, "stride_h", "stride_w", "dilation_h", "dilation_w")
        _window(self, "height", self.in_h, self.out_h, self.k_h, self.stride_h, self.dilation_h, self.pad_top)
        _window(self, "width", self.in_w, self.out_w, self.k_w, self.stride_w, self.dilation_w, self.pad_left)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.batches, self.in_h, self.in_w, self.in_ch)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.batches, self.out_h, self.out_w, self.out_ch)


@dataclass(frozen=True, eq=False)
class Conv2DS8Params(_ConvGeometry):
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    multiplier: np.ndarray  # int32 [out_ch]
    shift: np.ndarray  # int32 [out_ch]
    weights: np.ndarray  # int8 [out_ch, k_h, k_w, in_ch]
    bias: np.ndarray | None  # int32 [out_ch]
    # generated for the variant tl_conv2d_s8_dsp (tinyodl.codegen.variants); the reference ignores them
    dsp_weights: np.ndarray | None = None  # int16, re-laid-out and expanded weights
    dsp_bias: np.ndarray | None = None  # int32, bias with the input zero point folded in
    dsp_requant: np.ndarray | None = None  # int32, requantization constants
    scratch: ArenaBuffer | None = None  # the im2col buffer
    scratch_bytes: int = 0
    dsp_zero_point: int = 0  # tl_conv2d_s8_dsp: added after the requantization (0: folded into dsp_requant)
    dsp_weights8: np.ndarray | None = None  # int8, re-laid-out, for tl_conv2d_s8_dsp_w8 instead of dsp_weights

    family: ClassVar[str] = "conv2d"

    @property
    def weights_shape(self) -> tuple[int, ...]:
        return (self.out_ch, self.k_h, self.k_w, self.in_ch)

    def __post_init__(self) -> None:
        self._check_geometry()
        _int8_value(self, "input_zero_point", "output_zero_point")
        _act_range_int8(self)
        _multiplier_arrays(self, self.out_ch)
        object.__setattr__(self, "weights", _readonly(self.weights, np.int8, "weights", self.weights_shape))
        if self.bias is not None:
            object.__setattr__(self, "bias", _readonly(self.bias, np.int32, "bias", (self.out_ch,)))
        _accumulator_bound(self, self.weights[0].size, self.bias)
        _optional_array(self, "dsp_weights", np.int16)
        _optional_array(self, "dsp_bias", np.int32)
        _optional_array(self, "dsp_requant", np.int32)
        _optional_array(self, "dsp_weights8", np.int8)

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> Conv2DS8Params:
        return _as(_conv_from_ir(op, tensors, DType.INT8), cls)


@dataclass(frozen=True, eq=False)
class Conv2DF32Params(_ConvGeometry):
    act_min: float
    act_max: float
    weights: np.ndarray  # float32 [out_ch, k_h, k_w, in_ch]
    bias: np.ndarray | None  # float32 [out_ch]
    fpu_weights: np.ndarray | None = None  # generated for tl_conv2d_f32_fpu: 4 channels side by side

    family: ClassVar[str] = "conv2d"
    dtype: ClassVar[DType] = DType.FLOAT32

    @property
    def weights_shape(self) -> tuple[int, ...]:
        return (self.out_ch, self.k_h, self.k_w, self.in_ch)

    def __post_init__(self) -> None:
        self._check_geometry()
        _act_range_f32(self)
        object.__setattr__(self, "weights", _readonly(self.weights, np.float32, "weights", self.weights_shape))
        if self.bias is not None:
            object.__setattr__(self, "bias", _readonly(self.bias, np.float32, "bias", (self.out_ch,)))
        _optional_array(self, "fpu_weights", np.float32)

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> Conv2DF32Params:
        return _as(_conv_from_ir(op, tensors, DType.FLOAT32), cls)


@dataclass(frozen=True, eq=False)
class DepthwiseConv2DS8Params(_ConvGeometry):
    depth_multiplier: int
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    multiplier: np.ndarray  # int32 [out_ch]
    shift: np.ndarray  # int32 [out_ch]
    weights: np.ndarray  # int8 [1, k_h, k_w, out_ch]
    bias: np.ndarray | None  # int32 [out_ch]
    # generated for the variant tl_depthwise_conv2d_s8_dsp (tinyodl.codegen.variants); the reference ignores them
    dsp_weights: np.ndarray | None = None  # int16, 4 channels' weights per tap, expanded
    dsp_bias: np.ndarray | None = None  # int32, bias with the input zero point folded in
    dsp_requant: np.ndarray | None = None  # int32, requantization constants
    dsp_weights8: np.ndarray | None = None  # int8, 4 channels' weights per tap, for tl_depthwise_conv2d_s8_dsp_w8

    family: ClassVar[str] = "depthwise_conv2d"

    @property
    def weights_shape(self) -> tuple[int, ...]:
        return (1, self.k_h, self.k_w, self.out_ch)

    def __post_init__(self) -> None:
        self._check_geometry()
        _positive(self, "depth_multiplier")
        if self.out_ch != self.in_ch * self.depth_multiplier:
            raise ParamsError(f"depthwise: out_ch {self.out_ch} != in_ch {self.in_ch} x {self.depth_multiplier}")
        _int8_value(self, "input_zero_point", "output_zero_point")
        _act_range_int8(self)
        _multiplier_arrays(self, self.out_ch)
        object.__setattr__(self, "weights", _readonly(self.weights, np.int8, "weights", self.weights_shape))
        if self.bias is not None:
            object.__setattr__(self, "bias", _readonly(self.bias, np.int32, "bias", (self.out_ch,)))
        _accumulator_bound(self, self.k_h * self.k_w, self.bias)
        _optional_array(self, "dsp_weights", np.int16)
        _optional_array(self, "dsp_bias", np.int32)
        _optional_array(self, "dsp_requant", np.int32)
        _optional_array(self, "dsp_weights8", np.int8)

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> DepthwiseConv2DS8Params:
        return _as(_conv_from_ir(op, tensors, DType.INT8), cls)


@dataclass(frozen=True, eq=False)
class DepthwiseConv2DF32Params(_ConvGeometry):
    depth_multiplier: int
    act_min: float
    act_max: float
    weights: np.ndarray  # float32 [1, k_h, k_w, out_ch]
    bias: np.ndarray | None  # float32 [out_ch]

    family: ClassVar[str] = "depthwise_conv2d"
    dtype: ClassVar[DType] = DType.FLOAT32

    @property
    def weights_shape(self) -> tuple[int, ...]:
        return (1, self.k_h, self.k_w, self.out_ch)

    def __post_init__(self) -> None:
        self._check_geometry()
        _positive(self, "depth_multiplier")
        if self.out_ch != self.in_ch * self.depth_multiplier:
            raise ParamsError(f"depthwise: out_ch {self.out_ch} != in_ch {self.in_ch} x {self.depth_multiplier}")
        _act_range_f32(self)
        object.__setattr__(self, "weights", _readonly(self.weights, np.float32, "weights", self.weights_shape))
        if self.bias is not None:
            object.__setattr__(self, "bias", _readonly(self.bias, np.float32, "bias", (self.out_ch,)))

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> DepthwiseConv2DF32Params:
        return _as(_conv_from_ir(op, tensors, DType.FLOAT32), cls)


# ---- FULLY_CONNECTED --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FullyConnectedS8Params(KernelParams):
    batches: int
    in_features: int
    out_features: int
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    multiplier: np.ndarray  # int32 [out_features] (a per-tensor multiplier is repeated)
    shift: np.ndarray  # int32 [out_features]
    weights: np.ndarray  # int8 [out_features, in_features]
    bias: np.ndarray | None  # int32 [out_features]
    # generated for the variant tl_fully_connected_s8_dsp (tinyodl.codegen.variants)
    dsp_weights: np.ndarray | None = None  # int16
    dsp_bias: np.ndarray | None = None  # int32
    dsp_requant: np.ndarray | None = None  # int32
    dsp_weights8: np.ndarray | None = None  # int8, re-laid-out, for tl_fully_connected_s8_dsp_w8

    family: ClassVar[str] = "fully_connected"

    def __post_init__(self) -> None:
        _positive(self, "batches", "in_features", "out_features")
        _int8_value(self, "input_zero_point", "output_zero_point")
        _act_range_int8(self)
        _multiplier_arrays(self, self.out_features)
        shape = (self.out_features, self.in_features)
        object.__setattr__(self, "weights", _readonly(self.weights, np.int8, "weights", shape))
        if self.bias is not None:
            object.__setattr__(self, "bias", _readonly(self.bias, np.int32, "bias", (self.out_features,)))
        _accumulator_bound(self, self.in_features, self.bias)
        _optional_array(self, "dsp_weights", np.int16)
        _optional_array(self, "dsp_bias", np.int32)
        _optional_array(self, "dsp_requant", np.int32)
        _optional_array(self, "dsp_weights8", np.int8)

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> FullyConnectedS8Params:
        return _as(_fc_from_ir(op, tensors), cls)


@dataclass(frozen=True, eq=False)
class FullyConnectedF32Params(KernelParams):
    batches: int
    in_features: int
    out_features: int
    act_min: float
    act_max: float
    weights: np.ndarray  # float32 [out_features, in_features]
    bias: np.ndarray | None  # float32 [out_features]
    fpu_weights: np.ndarray | None = None  # generated for tl_fully_connected_f32_fpu: 8 outputs side by side

    family: ClassVar[str] = "fully_connected"
    dtype: ClassVar[DType] = DType.FLOAT32

    def __post_init__(self) -> None:
        _positive(self, "batches", "in_features", "out_features")
        _act_range_f32(self)
        shape = (self.out_features, self.in_features)
        object.__setattr__(self, "weights", _readonly(self.weights, np.float32, "weights", shape))
        if self.bias is not None:
            object.__setattr__(self, "bias", _readonly(self.bias, np.float32, "bias", (self.out_features,)))
        _optional_array(self, "fpu_weights", np.float32)

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> FullyConnectedF32Params:
        return _as(_fc_from_ir(op, tensors), cls)


# ---- MAX_POOL_2D, AVERAGE_POOL_2D -------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _PoolGeometry(KernelParams):
    batches: int
    in_h: int
    in_w: int
    channels: int
    out_h: int
    out_w: int
    k_h: int
    k_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int

    def _check_geometry(self) -> None:
        _positive(self, "batches", "in_h", "in_w", "channels", "out_h", "out_w", "k_h", "k_w")
        _positive(self, "stride_h", "stride_w")
        _window(self, "height", self.in_h, self.out_h, self.k_h, self.stride_h, 1, self.pad_top)
        _window(self, "width", self.in_w, self.out_w, self.k_w, self.stride_w, 1, self.pad_left)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.batches, self.in_h, self.in_w, self.channels)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.batches, self.out_h, self.out_w, self.channels)


@dataclass(frozen=True, eq=False)
class _PoolS8(_PoolGeometry):
    act_min: int
    act_max: int

    def __post_init__(self) -> None:
        self._check_geometry()
        _act_range_int8(self)


@dataclass(frozen=True, eq=False)
class _PoolF32(_PoolGeometry):
    act_min: float
    act_max: float

    dtype: ClassVar[DType] = DType.FLOAT32

    def __post_init__(self) -> None:
        self._check_geometry()
        _act_range_f32(self)


@dataclass(frozen=True, eq=False)
class MaxPool2DS8Params(_PoolS8):
    family: ClassVar[str] = "max_pool2d"

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> MaxPool2DS8Params:
        return _as(_pool_from_ir(op, tensors), cls)


@dataclass(frozen=True, eq=False)
class AvgPool2DS8Params(_PoolS8):
    family: ClassVar[str] = "avg_pool2d"

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> AvgPool2DS8Params:
        return _as(_pool_from_ir(op, tensors), cls)


@dataclass(frozen=True, eq=False)
class MaxPool2DF32Params(_PoolF32):
    family: ClassVar[str] = "max_pool2d"

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> MaxPool2DF32Params:
        return _as(_pool_from_ir(op, tensors), cls)


@dataclass(frozen=True, eq=False)
class AvgPool2DF32Params(_PoolF32):
    family: ClassVar[str] = "avg_pool2d"

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> AvgPool2DF32Params:
        return _as(_pool_from_ir(op, tensors), cls)


# ---- MEAN over the spatial axes ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MeanS8Params(KernelParams):
    """The input viewed as [batches, count, channels]; the mean runs over `count` (the reduced axes).

    `multiplier`/`shift` already hold the 1/count factor, folded in as TFLite's QuantizedMeanOrSum does.
    """

    batches: int
    count: int
    channels: int
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int

    family: ClassVar[str] = "mean"

    def __post_init__(self) -> None:
        _positive(self, "batches", "count", "channels")
        _int8_value(self, "input_zero_point", "output_zero_point")
        _multiplier_pair(self, self.multiplier, self.shift, "output")
        _act_range_int8(self)
        if self.count * 255 > q.INT32_MAX:
            raise ParamsError(f"MEAN over {self.count} elements can overflow the int32 sum")

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> MeanS8Params:
        return _as(_mean_from_ir(op, tensors), cls)


@dataclass(frozen=True, eq=False)
class MeanF32Params(KernelParams):
    batches: int
    count: int
    channels: int

    family: ClassVar[str] = "mean"
    dtype: ClassVar[DType] = DType.FLOAT32

    def __post_init__(self) -> None:
        _positive(self, "batches", "count", "channels")

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> MeanF32Params:
        return _as(_mean_from_ir(op, tensors), cls)


# ---- ADD ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AddS8Params(KernelParams):
    """Element-wise int8 ADD of two tensors of `size` elements (same shape), TFLite's scheme: both inputs
    are shifted left by `left_shift`, rescaled to twice the larger input scale, summed, rescaled."""

    size: int
    input1_zero_point: int
    input2_zero_point: int
    output_zero_point: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int

    family: ClassVar[str] = "add"

    def __post_init__(self) -> None:
        _positive(self, "size")
        _int8_value(self, "input1_zero_point", "input2_zero_point", "output_zero_point")
        if not 0 <= self.left_shift <= 22:  # 255 << 22 still fits in int32
            raise ParamsError(f"ADD left_shift {self.left_shift} is not in [0, 22]")
        for name in ("input1", "input2", "output"):
            shift = getattr(self, f"{name}_shift")
            _multiplier_pair(self, getattr(self, f"{name}_multiplier"), shift, name)
            if shift > 0:
                raise ParamsError(f"ADD {name} shift {shift} must be <= 0 (a multiplier below one)")
        _act_range_int8(self)

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> AddS8Params:
        return _as(_add_from_ir(op, tensors), cls)


@dataclass(frozen=True, eq=False)
class AddF32Params(KernelParams):
    size: int
    act_min: float
    act_max: float

    family: ClassVar[str] = "add"
    dtype: ClassVar[DType] = DType.FLOAT32

    def __post_init__(self) -> None:
        _positive(self, "size")
        _act_range_f32(self)

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> AddF32Params:
        return _as(_add_from_ir(op, tensors), cls)


def _per_channel_constant(obj: Any, dtype: type) -> None:
    """The `constant` of an ADD of a constant per channel: `channels` values, the output a whole number of
    rows of them."""
    _positive(obj, "channels")
    if obj.size % obj.channels:
        raise ParamsError(f"ADD: {obj.size} elements are not a multiple of {obj.channels} channels")
    object.__setattr__(obj, "constant", _readonly(obj.constant, dtype, "constant", (obj.channels,)))


@dataclass(frozen=True, eq=False)
class AddConstS8Params(AddS8Params):
    """ADD of a constant, one int8 value per channel (`constant`, quantized with the second input's
    parameters), repeated along the output: TFLite's broadcasting ADD, per element the same arithmetic."""

    channels: int
    constant: np.ndarray  # int8 [channels]

    family: ClassVar[str] = "add_const"

    def __post_init__(self) -> None:
        super().__post_init__()
        _per_channel_constant(self, np.int8)


@dataclass(frozen=True, eq=False)
class AddConstF32Params(AddF32Params):
    channels: int
    constant: np.ndarray  # float32 [channels]

    family: ClassVar[str] = "add_const"

    def __post_init__(self) -> None:
        super().__post_init__()
        _per_channel_constant(self, np.float32)


# ---- RELU / RELU6 (stand-alone) ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ReluS8Params(KernelParams):
    """A stand-alone RELU / RELU6 of `size` int8 elements, TFLite's way: the input requantized to the output's
    scale (`multiplier`, `shift` from float32 input scale / output scale), then clamped."""

    size: int
    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int

    family: ClassVar[str] = "relu"

    def __post_init__(self) -> None:
        _positive(self, "size")
        _int8_value(self, "input_zero_point", "output_zero_point")
        _multiplier_pair(self, self.multiplier, self.shift, "output")
        _act_range_int8(self)


@dataclass(frozen=True, eq=False)
class ReluF32Params(KernelParams):
    size: int
    act_min: float
    act_max: float

    family: ClassVar[str] = "relu"
    dtype: ClassVar[DType] = DType.FLOAT32

    def __post_init__(self) -> None:
        _positive(self, "size")
        _act_range_f32(self)


# ---- SOFTMAX (over the last axis) -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SoftmaxS8Params(KernelParams):
    """int8 SOFTMAX of `rows` rows of `depth` values, TFLite's fixed-point way (reference/softmax.py); the
    output is quantized with scale 1/256 and zero point -128."""

    rows: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    diff_min: int

    family: ClassVar[str] = "softmax"

    def __post_init__(self) -> None:
        _positive(self, "rows", "depth")
        if not 0 <= self.input_multiplier <= q.INT32_MAX or not 0 <= self.input_left_shift <= 31:
            raise ParamsError(f"softmax: multiplier {self.input_multiplier} << {self.input_left_shift} out of range")
        if self.diff_min > 0:
            raise ParamsError(f"softmax: diff_min {self.diff_min} must be <= 0")


@dataclass(frozen=True, eq=False)
class SoftmaxF32Params(KernelParams):
    rows: int
    depth: int
    beta: float

    family: ClassVar[str] = "softmax"
    dtype: ClassVar[DType] = DType.FLOAT32

    def __post_init__(self) -> None:
        _positive(self, "rows", "depth")
        if not (np.isfinite(self.beta) and np.float32(self.beta) == self.beta):
            raise ParamsError(f"softmax: beta {self.beta} is not a finite float32")


# ---- PAD ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _PadGeometry(KernelParams):
    """Constant padding of a 4-D tensor (lower ranks are extended with leading ones)."""

    in_dims: tuple[int, int, int, int]
    pad_before: tuple[int, int, int, int]
    pad_after: tuple[int, int, int, int]

    def _check_geometry(self) -> None:
        for name in ("in_dims", "pad_before", "pad_after"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != 4 or not all(isinstance(v, int) for v in value):
                raise ParamsError(f"PAD {name} {value!r} must be four integers")
        if any(d < 1 for d in self.in_dims) or any(p < 0 for p in (*self.pad_before, *self.pad_after)):
            raise ParamsError(f"PAD: dims {self.in_dims} must be >= 1 and paddings >= 0")

    @property
    def out_dims(self) -> tuple[int, int, int, int]:
        d, b, a = self.in_dims, self.pad_before, self.pad_after
        return (d[0] + b[0] + a[0], d[1] + b[1] + a[1], d[2] + b[2] + a[2], d[3] + b[3] + a[3])


@dataclass(frozen=True, eq=False)
class PadS8Params(_PadGeometry):
    pad_value: int  # the output zero point: padding holds the real value 0

    family: ClassVar[str] = "pad"

    def __post_init__(self) -> None:
        self._check_geometry()
        _int8_value(self, "pad_value")

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> PadS8Params:
        return _as(_pad_from_ir(op, tensors), cls)


@dataclass(frozen=True, eq=False)
class PadF32Params(_PadGeometry):
    pad_value: float = 0.0

    family: ClassVar[str] = "pad"
    dtype: ClassVar[DType] = DType.FLOAT32

    def __post_init__(self) -> None:
        self._check_geometry()
        if np.float32(self.pad_value) != self.pad_value:
            raise ParamsError(f"PAD value {self.pad_value} is not a float32")

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> PadF32Params:
        return _as(_pad_from_ir(op, tensors), cls)


# ---- CONV_2D fused with its pooling -------------------------------------------------------------------


@dataclass(frozen=True)
class CFunction:
    """A C function the generated params point at (a fused layer's inner kernels)."""

    name: str


@dataclass(frozen=True, eq=False)
class _ConvPool(KernelParams):
    """A convolution and its pooling run band by band (tl_conv_pool_*, passes.fuse). The numpy kernel
    runs the two whole; the band, the buffer and the inner kernels are the lowering's (defaults: one band,
    the reference kernels)."""

    conv: Any
    pool: Any
    band: int = 0
    buffer: ArenaBuffer | None = None
    buffer_bytes: int = 0
    conv_fn: CFunction | None = None
    conv_check: CFunction | None = None
    pool_fn: CFunction | None = None
    pool_check: CFunction | None = None

    family: ClassVar[str] = "conv_pool"

    @property
    def rows(self) -> bool:
        """Bands of rows (else of columns: a one-row output)."""
        return bool(self.conv.out_h > 1)

    @property
    def band_unit(self) -> int:
        return int(self.pool.stride_h if self.rows else self.pool.stride_w)

    @property
    def band_length(self) -> int:
        """Convolution outputs along the band axis that the pooling reads."""
        return int((self.pool.out_h if self.rows else self.pool.out_w) * self.band_unit)

    def band_bytes(self, band: int) -> int:
        across = self.conv.out_w * self.conv.out_ch if self.rows else self.conv.out_ch
        return int(band * across * self.dtype.bytes)

    def __post_init__(self) -> None:
        if self.band == 0:
            object.__setattr__(self, "band", self.band_length)
        if self.band % self.band_unit != 0 or self.band < 1:
            raise ParamsError(f"conv_pool: band {self.band} is not a multiple of the pooling stride {self.band_unit}")
        for name in ("conv_fn", "conv_check", "pool_fn", "pool_check"):
            if getattr(self, name) is None:
                kernel = self.conv if name.startswith("conv") else self.pool
                suffix = "_check" if name.endswith("check") else ""
                object.__setattr__(self, name, CFunction(kernel.c_function + suffix))


@dataclass(frozen=True, eq=False)
class ConvPoolS8Params(_ConvPool):
    dtype: ClassVar[DType] = DType.INT8

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> ConvPoolS8Params:
        return _as(_conv_pool_from_ir(op, tensors), cls)


@dataclass(frozen=True, eq=False)
class ConvPoolF32Params(_ConvPool):
    dtype: ClassVar[DType] = DType.FLOAT32

    @classmethod
    def from_ir(cls, op: Op, tensors: Mapping[str, Tensor]) -> ConvPoolF32Params:
        return _as(_conv_pool_from_ir(op, tensors), cls)


# ---- builders from the IR ---------------------------------------------------------------------------

Int8Params = (
    Conv2DS8Params
    | DepthwiseConv2DS8Params
    | FullyConnectedS8Params
    | MaxPool2DS8Params
    | AvgPool2DS8Params
    | MeanS8Params
    | AddS8Params
    | PadS8Params
    | ConvPoolS8Params
    | AddConstS8Params
    | ReluS8Params
    | SoftmaxS8Params
)
Float32Params = (
    Conv2DF32Params
    | DepthwiseConv2DF32Params
    | FullyConnectedF32Params
    | MaxPool2DF32Params
    | AvgPool2DF32Params
    | MeanF32Params
    | AddF32Params
    | PadF32Params
    | ConvPoolF32Params
    | AddConstF32Params
    | ReluF32Params
    | SoftmaxF32Params
)
AnyParams = Int8Params | Float32Params


def _as(params: KernelParams, cls: type) -> Any:
    if not isinstance(params, cls):
        raise ParamsError(f"the op lowers to {type(params).__name__}, not {cls.__name__}")
    return params


def _fail(op: Op, message: str) -> ParamsError:
    return ParamsError(f"{op.kind} {op.name}: {message}")


def _quant(op: Op, tensor: Tensor) -> Quant:
    if tensor.quant is None:
        raise _fail(op, f"tensor {tensor.name} has no quantization parameters")
    return tensor.quant


def _per_tensor(op: Op, tensor: Tensor) -> tuple[float, int]:
    qt = _quant(op, tensor)
    if qt.per_channel:
        raise _fail(op, f"tensor {tensor.name} must be quantized per tensor")
    return qt.scale[0], qt.zero_point[0]


def _dtype(op: Op, tensors: Mapping[str, Tensor]) -> DType:
    x, y = tensors[op.inputs[0]], tensors[op.outputs[0]]
    if x.dtype is not y.dtype or x.dtype not in (DType.INT8, DType.FLOAT32):
        raise _fail(op, f"input {x.dtype.value} -> output {y.dtype.value}: only int8 and float32 kernels exist")
    return x.dtype


def _constant(op: Op, tensor: Tensor) -> np.ndarray:
    if tensor.data is None:
        raise _fail(op, f"tensor {tensor.name} must be constant")
    return tensor.data


def _channel_scales(op: Op, weights: Tensor, channels: int, axis: int) -> list[float]:
    qt = _quant(op, weights)
    if any(z != 0 for z in qt.zero_point):
        raise _fail(op, "int8 weights must be symmetric (zero point 0)")
    if qt.per_channel:
        if qt.axis != axis or len(qt.scale) != channels:
            raise _fail(op, f"weights are quantized along axis {qt.axis}, expected {channels} scales on {axis}")
        return list(qt.scale)
    return [qt.scale[0]] * channels


def _conv_from_ir(op: Op, tensors: Mapping[str, Tensor], want: DType) -> KernelParams:
    if not isinstance(op, Conv2D | DepthwiseConv2D):
        raise _fail(op, "not a convolution")
    op.check(tensors)
    dtype = _dtype(op, tensors)
    if dtype is not want:
        raise _fail(op, f"is a {dtype.value} convolution, not {want.value}")
    x, w, y = tensors[op.inputs[0]], tensors[op.inputs[1]], tensors[op.outputs[0]]
    b = tensors[op.inputs[2]] if len(op.inputs) > 2 else None
    batches, in_h, in_w, in_ch = x.shape
    _, out_h, out_w, out_ch = y.shape
    k_h, k_w = w.shape[1], w.shape[2]
    geometry: dict[str, Any] = dict(
        batches=batches,
        in_h=in_h,
        in_w=in_w,
        in_ch=in_ch,
        out_h=out_h,
        out_w=out_w,
        out_ch=out_ch,
        k_h=k_h,
        k_w=k_w,
        stride_h=op.stride[0],
        stride_w=op.stride[1],
        dilation_h=op.dilation[0],
        dilation_w=op.dilation[1],
        pad_top=pad_before(in_h, k_h, op.stride[0], op.dilation[0], op.padding),
        pad_left=pad_before(in_w, k_w, op.stride[1], op.dilation[1], op.padding),
    )
    depthwise = isinstance(op, DepthwiseConv2D)
    if isinstance(op, DepthwiseConv2D):
        geometry["depth_multiplier"] = op.depth_multiplier
    weights = _constant(op, w)
    bias = _constant(op, b) if b is not None else None
    if dtype is DType.FLOAT32:
        lo, hi = q.float_activation_range(op.activation)
        cls_f: type = DepthwiseConv2DF32Params if depthwise else Conv2DF32Params
        return cls_f(**geometry, act_min=lo, act_max=hi, weights=weights, bias=bias)
    in_scale, in_zp = _per_tensor(op, x)
    out_scale, out_zp = _per_tensor(op, y)
    scales = _channel_scales(op, w, out_ch, axis=3 if depthwise else 0)
    multiplier, shift = q.quantize_multipliers([q.conv_effective_scale(in_scale, s, out_scale) for s in scales])
    act_min, act_max = q.activation_range(op.activation, out_scale, out_zp)
    cls_q: type = DepthwiseConv2DS8Params if depthwise else Conv2DS8Params
    return cls_q(
        **geometry,
        input_zero_point=in_zp,
        output_zero_point=out_zp,
        act_min=act_min,
        act_max=act_max,
        multiplier=multiplier,
        shift=shift,
        weights=weights,
        bias=bias,
    )


def _fc_from_ir(op: Op, tensors: Mapping[str, Tensor]) -> KernelParams:
    if not isinstance(op, FullyConnected):
        raise _fail(op, "not a fully-connected layer")
    op.check(tensors)
    dtype = _dtype(op, tensors)
    x, w, y = tensors[op.inputs[0]], tensors[op.inputs[1]], tensors[op.outputs[0]]
    b = tensors[op.inputs[2]] if len(op.inputs) > 2 else None
    out_features, in_features = w.shape
    batches = x.size // in_features
    weights = _constant(op, w)
    bias = _constant(op, b) if b is not None else None
    if dtype is DType.FLOAT32:
        lo, hi = q.float_activation_range(op.activation)
        return FullyConnectedF32Params(
            batches=batches,
            in_features=in_features,
            out_features=out_features,
            act_min=lo,
            act_max=hi,
            weights=weights,
            bias=bias,
        )
    if bias is not None and bias.dtype != np.int32:
        raise _fail(op, "an int8 fully-connected layer needs an int32 bias")
    in_scale, in_zp = _per_tensor(op, x)
    out_scale, out_zp = _per_tensor(op, y)
    scales = _channel_scales(op, w, out_features, axis=0)
    if _quant(op, w).per_channel:
        reals = [q.conv_effective_scale(in_scale, s, out_scale) for s in scales]
    else:
        reals = [q.fc_per_tensor_effective_scale(in_scale, scales[0], out_scale)] * out_features
    multiplier, shift = q.quantize_multipliers(reals)
    act_min, act_max = q.activation_range(op.activation, out_scale, out_zp)
    return FullyConnectedS8Params(
        batches=batches,
        in_features=in_features,
        out_features=out_features,
        input_zero_point=in_zp,
        output_zero_point=out_zp,
        act_min=act_min,
        act_max=act_max,
        multiplier=multiplier,
        shift=shift,
        weights=weights,
        bias=bias,
    )


def _pool_from_ir(op: Op, tensors: Mapping[str, Tensor]) -> KernelParams:
    if not isinstance(op, _Pool):
        raise _fail(op, "not a pooling layer")
    op.check(tensors)
    dtype = _dtype(op, tensors)
    x, y = tensors[op.inputs[0]], tensors[op.outputs[0]]
    batches, in_h, in_w, channels = x.shape
    geometry: dict[str, Any] = dict(
        batches=batches,
        in_h=in_h,
        in_w=in_w,
        channels=channels,
        out_h=y.shape[1],
        out_w=y.shape[2],
        k_h=op.filter[0],
        k_w=op.filter[1],
        stride_h=op.stride[0],
        stride_w=op.stride[1],
        pad_top=pad_before(in_h, op.filter[0], op.stride[0], 1, op.padding),
        pad_left=pad_before(in_w, op.filter[1], op.stride[1], 1, op.padding),
    )
    is_max = isinstance(op, MaxPool2D)
    if not is_max and not isinstance(op, AvgPool2D):
        raise _fail(op, "unknown pooling kind")
    if dtype is DType.FLOAT32:
        lo, hi = q.float_activation_range(op.activation)
        cls_f: type = MaxPool2DF32Params if is_max else AvgPool2DF32Params
        return cls_f(**geometry, act_min=lo, act_max=hi)
    out_scale, out_zp = _per_tensor(op, y)
    act_min, act_max = q.activation_range(op.activation, out_scale, out_zp)
    cls_q: type = MaxPool2DS8Params if is_max else AvgPool2DS8Params
    return cls_q(**geometry, act_min=act_min, act_max=act_max)


def _mean_from_ir(op: Op, tensors: Mapping[str, Tensor]) -> KernelParams:
    if not isinstance(op, Mean):
        raise _fail(op, "not a MEAN")
    op.check(tensors)
    dtype = _dtype(op, tensors)
    x, y = tensors[op.inputs[0]], tensors[op.outputs[0]]
    axes = sorted({a % len(x.shape) for a in op.axes})
    first, last = axes[0], axes[-1]
    if axes != list(range(first, last + 1)) or first < 1 or last > len(x.shape) - 2:
        raise _fail(op, f"axes {op.axes} of {x.shape}: only a contiguous run of spatial axes is supported")
    batches = int(np.prod(x.shape[:first]))
    count = int(np.prod(x.shape[first : last + 1]))
    channels = int(np.prod(x.shape[last + 1 :]))
    if y.size != batches * channels:
        raise _fail(op, f"output {y.shape} does not hold {batches} x {channels} means")
    if dtype is DType.FLOAT32:
        return MeanF32Params(batches=batches, count=count, channels=channels)
    in_scale, in_zp = _per_tensor(op, x)
    out_scale, out_zp = _per_tensor(op, y)
    multiplier, shift = q.quantize_multiplier(q.ratio_effective_scale(in_scale, out_scale))
    multiplier, shift = q.mean_multiplier(multiplier, shift, count)
    return MeanS8Params(
        batches=batches,
        count=count,
        channels=channels,
        input_zero_point=in_zp,
        output_zero_point=out_zp,
        multiplier=multiplier,
        shift=shift,
        act_min=q.INT8_MIN,
        act_max=q.INT8_MAX,
    )


def _add_from_ir(op: Op, tensors: Mapping[str, Tensor]) -> KernelParams:
    if not isinstance(op, Add):
        raise _fail(op, "not an ADD")
    op.check(tensors)
    dtype = _dtype(op, tensors)
    a, b, y = tensors[op.inputs[0]], tensors[op.inputs[1]], tensors[op.outputs[0]]
    if b.dtype is not dtype:
        raise _fail(op, "both operands must have the output's type")
    per_channel: dict[str, Any] = {}
    if b.shape != y.shape:  # a constant per channel (op.check): the ADD of a bias
        assert b.data is not None
        per_channel = dict(channels=b.size, constant=b.data.reshape(-1))
    if dtype is DType.FLOAT32:
        lo, hi = q.float_activation_range(op.activation)
        if per_channel:
            return AddConstF32Params(size=y.size, act_min=lo, act_max=hi, **per_channel)
        return AddF32Params(size=y.size, act_min=lo, act_max=hi)
    s1, z1 = _per_tensor(op, a)
    s2, z2 = _per_tensor(op, b)
    so, zo = _per_tensor(op, y)
    (m1, sh1), (m2, sh2), (mo, sho) = q.add_multipliers(s1, s2, so)
    act_min, act_max = q.activation_range(op.activation, so, zo)
    cls = AddConstS8Params if per_channel else AddS8Params
    return cls(
        **per_channel,
        size=y.size,
        input1_zero_point=z1,
        input2_zero_point=z2,
        output_zero_point=zo,
        left_shift=q.ADD_LEFT_SHIFT,
        input1_multiplier=m1,
        input1_shift=sh1,
        input2_multiplier=m2,
        input2_shift=sh2,
        output_multiplier=mo,
        output_shift=sho,
        act_min=act_min,
        act_max=act_max,
    )


def _pad_from_ir(op: Op, tensors: Mapping[str, Tensor]) -> KernelParams:
    if not isinstance(op, Pad):
        raise _fail(op, "not a PAD")
    op.check(tensors)
    dtype = _dtype(op, tensors)
    x, y = tensors[op.inputs[0]], tensors[op.outputs[0]]
    if len(x.shape) > 4:
        raise _fail(op, f"{len(x.shape)}-D input: at most 4 dimensions are supported")
    extra = 4 - len(x.shape)
    dims = (1,) * extra + tuple(x.shape)
    before = (0,) * extra + tuple(p[0] for p in op.paddings)
    after = (0,) * extra + tuple(p[1] for p in op.paddings)
    geometry: dict[str, Any] = dict(in_dims=dims, pad_before=before, pad_after=after)
    if dtype is DType.FLOAT32:
        return PadF32Params(**geometry, pad_value=0.0)
    in_scale, in_zp = _per_tensor(op, x)
    out_scale, out_zp = _per_tensor(op, y)
    if (np.float32(in_scale), in_zp) != (np.float32(out_scale), out_zp):
        raise _fail(op, "int8 PAD keeps the input's quantization")
    return PadS8Params(**geometry, pad_value=out_zp)


def _conv_pool_from_ir(op: Op, tensors: Mapping[str, Tensor]) -> KernelParams:
    assert isinstance(op, ConvPool) and op.conv is not None and op.pool is not None
    full = op.with_mid(tensors)
    conv, pool = from_ir(op.conv, full), from_ir(op.pool, full)
    cls = ConvPoolS8Params if conv.dtype is DType.INT8 else ConvPoolF32Params
    return cls(conv=conv, pool=pool)


def _relu_from_ir(op: Op, tensors: Mapping[str, Tensor]) -> KernelParams:
    if not isinstance(op, Relu):
        raise _fail(op, "not a RELU")
    op.check(tensors)
    dtype = _dtype(op, tensors)
    y = tensors[op.outputs[0]]
    if dtype is DType.FLOAT32:
        lo, hi = q.float_activation_range(op.activation)
        return ReluF32Params(size=y.size, act_min=lo, act_max=hi)
    s_in, z_in = _per_tensor(op, tensors[op.inputs[0]])
    s_out, z_out = _per_tensor(op, y)
    multiplier, shift = q.quantize_multiplier(q.relu_scale(s_in, s_out))
    act_min, act_max = q.activation_range(op.activation, s_out, z_out)
    return ReluS8Params(size=y.size, input_zero_point=z_in, output_zero_point=z_out, multiplier=multiplier,
                        shift=shift, act_min=act_min, act_max=act_max)  # fmt: skip


def _softmax_from_ir(op: Op, tensors: Mapping[str, Tensor]) -> KernelParams:
    if not isinstance(op, Softmax):
        raise _fail(op, "not a SOFTMAX")
    dtype = _dtype(op, tensors)
    x, y = tensors[op.inputs[0]], tensors[op.outputs[0]]
    if x.shape != y.shape or not x.shape:
        raise _fail(op, f"input {x.shape} and output {y.shape} must have the same shape")
    depth = x.shape[-1]
    if dtype is DType.FLOAT32:
        return SoftmaxF32Params(rows=x.size // depth, depth=depth, beta=float(np.float32(op.beta)))
    scale, _ = _per_tensor(op, x)
    out_scale, out_zp = _per_tensor(op, y)
    if (np.float32(out_scale), out_zp) != (np.float32(1 / 256), -128):
        raise _fail(op, f"an int8 softmax output must have scale 1/256 and zero point -128, not {out_scale}, {out_zp}")
    try:
        multiplier, left_shift, diff_min = softmax_scaling(float(np.float32(op.beta)), scale)
    except ValueError as exc:
        raise _fail(op, str(exc)) from None
    return SoftmaxS8Params(rows=x.size // depth, depth=depth, input_multiplier=multiplier,
                           input_left_shift=left_shift, diff_min=diff_min)  # fmt: skip


_BUILDERS: dict[type[Op], Any] = {
    Softmax: _softmax_from_ir,
    Relu: _relu_from_ir,
    ConvPool: _conv_pool_from_ir,
    Conv2D: lambda op, t: _conv_from_ir(op, t, _dtype(op, t)),
    DepthwiseConv2D: lambda op, t: _conv_from_ir(op, t, _dtype(op, t)),
    FullyConnected: _fc_from_ir,
    MaxPool2D: _pool_from_ir,
    AvgPool2D: _pool_from_ir,
    Mean: _mean_from_ir,
    Add: _add_from_ir,
    Pad: _pad_from_ir,
}


def from_ir(op: Op, tensors: Mapping[str, Tensor]) -> AnyParams:
    """The kernel params of one IR op (the family from the op, int8 or float32 from its input)."""
    builder = _BUILDERS.get(type(op))
    if builder is None:
        supported = ", ".join(sorted(cls.kind for cls in _BUILDERS if cls is not ConvPool))
        raise _fail(op, f"no kernel for this op (kernels exist for {supported})")
    return builder(op, tensors)
