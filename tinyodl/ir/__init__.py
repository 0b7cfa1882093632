"""The intermediate representation: typed tensors with explicit quantization, one frozen dataclass per op.

Frontends build it, passes transform it, lowering turns it into kernel calls. Everything is validated on
construction: an IR object that exists is well formed.
"""

from .graph import Graph, GraphError
from .ops import (
    Activation,
    Add,
    AvgPool2D,
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
    Reshape,
    ShapeArith,
    Softmax,
)
from .tensor import DType, Quant, Tensor

__all__ = [
    "Activation",
    "Add",
    "AvgPool2D",
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
    "Reshape",
    "ShapeArith",
    "Softmax",
    "Tensor",
]
