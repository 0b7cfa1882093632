"""The intermediate representation: typed tensors with explicit quantization, one frozen dataclass per op.

Frontends build it, passes transform it, lowering turns it into kernel calls. Everything is validated on
construction: an IR object that exists is well formed.
"""

from .graph import Graph, GraphError
from .ops import (
    Activation,
    Add,
    AvgPool2D,
    BatchToSpace,
    Conv2D,
    ConvPool,
    DepthwiseConv2D,
    Dequantize,
    FullyConnected,
    MaxPool2D,
    Mean,
    Op,
    Pad,
    Padding,
    Quantize,
    Relu,
    Reshape,
    ShapeArith,
    Softmax,
    SpaceToBatch,
)
from .tensor import DType, Quant, Tensor

__all__ = [
    "Activation",
    "Add",
    "AvgPool2D",
    "BatchToSpace",
    "Conv2D",
    "ConvPool",
    "DType",
    "Dequantize",
    "DepthwiseConv2D",
    "FullyConnected",
    "Graph",
    "GraphError",
    "MaxPool2D",
    "Mean",
    "Op",
    "Pad",
    "Padding",
    "Quant",
    "Quantize",
    "Relu",
    "Reshape",
    "ShapeArith",
    "Softmax",
    "SpaceToBatch",
    "Tensor",
]
