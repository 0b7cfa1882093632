"""The numpy oracle: one function per kernel family and type, integer-exact with TFLite for int8.

`params.from_ir(op, tensors)` turns an IR op into the kernel's params; `run(params, *inputs)` runs the
matching numpy kernel. The C kernels in `firmware/kernels/` take the same params (tl_kernels.h).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import kernels_f32, kernels_int8, quant
from .params import (
    AddConstF32Params,
    AddConstS8Params,
    AddF32Params,
    AddS8Params,
    AnyParams,
    AvgPool2DF32Params,
    AvgPool2DS8Params,
    Conv2DF32Params,
    Conv2DS8Params,
    ConvPoolF32Params,
    ConvPoolS8Params,
    DepthwiseConv2DF32Params,
    DepthwiseConv2DS8Params,
    FullyConnectedF32Params,
    FullyConnectedS8Params,
    KernelParams,
    MaxPool2DF32Params,
    MaxPool2DS8Params,
    MeanF32Params,
    MeanS8Params,
    PadF32Params,
    PadS8Params,
    ParamsError,
    ReluF32Params,
    ReluS8Params,
    SoftmaxF32Params,
    SoftmaxS8Params,
    from_ir,
)

KERNELS: dict[type, Callable[..., np.ndarray]] = {
    Conv2DS8Params: kernels_int8.conv2d,
    DepthwiseConv2DS8Params: kernels_int8.depthwise_conv2d,
    FullyConnectedS8Params: kernels_int8.fully_connected,
    MaxPool2DS8Params: kernels_int8.max_pool2d,
    AvgPool2DS8Params: kernels_int8.avg_pool2d,
    MeanS8Params: kernels_int8.mean,
    AddS8Params: kernels_int8.add,
    PadS8Params: kernels_int8.pad,
    Conv2DF32Params: kernels_f32.conv2d,
    DepthwiseConv2DF32Params: kernels_f32.depthwise_conv2d,
    FullyConnectedF32Params: kernels_f32.fully_connected,
    MaxPool2DF32Params: kernels_f32.max_pool2d,
    AvgPool2DF32Params: kernels_f32.avg_pool2d,
    MeanF32Params: kernels_f32.mean,
    AddF32Params: kernels_f32.add,
    PadF32Params: kernels_f32.pad,
    ConvPoolS8Params: lambda p, x: run(p.pool, run(p.conv, x)),
    AddConstS8Params: kernels_int8.add_const,
    AddConstF32Params: kernels_f32.add_const,
    ReluS8Params: kernels_int8.relu,
    SoftmaxS8Params: kernels_int8.softmax,
    SoftmaxF32Params: kernels_f32.softmax,
    ReluF32Params: kernels_f32.relu,
    ConvPoolF32Params: lambda p, x: run(p.pool, run(p.conv, x)),
}


def run(params: KernelParams, *inputs: Any) -> np.ndarray:
    """Run the numpy kernel of `params` on its input array(s)."""
    kernel = KERNELS.get(type(params))
    if kernel is None:
        raise ParamsError(f"no numpy kernel for {type(params).__name__}")
    return kernel(params, *inputs)


__all__ = [
    "KERNELS",
    "AddConstF32Params",
    "AddConstS8Params",
    "AddF32Params",
    "AddS8Params",
    "AnyParams",
    "AvgPool2DF32Params",
    "AvgPool2DS8Params",
    "Conv2DF32Params",
    "Conv2DS8Params",
    "DepthwiseConv2DF32Params",
    "DepthwiseConv2DS8Params",
    "FullyConnectedF32Params",
    "FullyConnectedS8Params",
    "KernelParams",
    "MaxPool2DF32Params",
    "MaxPool2DS8Params",
    "MeanF32Params",
    "MeanS8Params",
    "PadF32Params",
    "PadS8Params",
    "ParamsError",
    "ReluF32Params",
    "ReluS8Params",
    "SoftmaxF32Params",
    "SoftmaxS8Params",
    "from_ir",
    "kernels_f32",
    "kernels_int8",
    "quant",
    "run",
]
