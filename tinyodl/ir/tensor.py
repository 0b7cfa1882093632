"""Tensors: shape, element type, quantization, and data for constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class DType(Enum):
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    FLOAT32 = "float32"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def bytes(self) -> int:
        return self.numpy.itemsize

    @property
    def c_type(self) -> str:
        return {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float"}[self.value]


@dataclass(frozen=True)
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per channel along `axis` when several scales."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    def __post_init__(self) -> None:
        if not self.scale:
            raise ValueError("quantization needs at least one scale")
        if len(self.scale) != len(self.zero_point):
            raise ValueError(f"{len(self.scale)} scales but {len(self.zero_point)} zero points")
        if any(not (s > 0 and np.isfinite(s)) for s in self.scale):
            raise ValueError(f"quantization scales must be finite and > 0, got {self.scale[:4]}")
        if len(self.scale) > 1 and self.axis is None:
            raise ValueError("per-channel quantization needs an axis")

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int) -> Quant:
        return cls((float(scale),), (int(zero_point),))


@dataclass(frozen=True, eq=False)
class Tensor:
    """A named tensor. `data` is set for constants (weights, biases) and matches shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: DType
    quant: Quant | None = None
    data: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("tensor without a name")
        if any((not isinstance(d, int)) or d < 1 for d in self.shape):
            raise ValueError(f"tensor {self.name}: shape {self.shape} must be positive integers")
        if self.dtype in (DType.INT8, DType.INT16) and self.quant is None:
            raise ValueError(f"tensor {self.name}: {self.dtype.value} without quantization parameters")
        if self.quant is not None and self.quant.per_channel:
            axis = self.quant.axis
            assert axis is not None
            if not 0 <= axis < len(self.shape) or self.shape[axis] != len(self.quant.scale):
                raise ValueError(
                    f"tensor {self.name}: {len(self.quant.scale)} channel scales along axis {axis} of {self.shape}"
                )
        if self.data is not None:
            if tuple(self.data.shape) != self.shape:
                raise ValueError(f"tensor {self.name}: data shape {self.data.shape} != {self.shape}")
            if self.data.dtype != self.dtype.numpy:
                raise ValueError(f"tensor {self.name}: data type {self.data.dtype} != {self.dtype.value}")
            self.data.setflags(write=False)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.bytes

    def with_shape(self, shape: tuple[int, ...]) -> Tensor:
        data = None if self.data is None else self.data.reshape(shape)
        quant = self.quant
        if quant is not None and quant.per_channel:
            raise ValueError(f"tensor {self.name}: cannot reshape a per-channel quantized tensor")
        return Tensor(self.name, shape, self.dtype, quant, data)
