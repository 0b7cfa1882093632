"""A graph: tensors by name, ops in execution order, graph inputs and outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .ops import Op
from .tensor import Tensor


class GraphError(ValueError):
    """The graph is not well formed."""


@dataclass(frozen=True, eq=False)
class Graph:
    name: str
    tensors: Mapping[str, Tensor]
    ops: tuple[Op, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    source: str = ""  # where it came from (file and its hash), for banners and messages
    _producer: dict[str, Op] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for name, tensor in self.tensors.items():
            if name != tensor.name:
                raise GraphError(f"tensor registered as {name!r} is named {tensor.name!r}")
        available = set(self.inputs) | {n for n, t in self.tensors.items() if t.is_constant}
        for n in (*self.inputs, *self.outputs):
            if n not in self.tensors:
                raise GraphError(f"graph {self.name}: unknown tensor {n!r}")
        for op in self.ops:
            for n in (*op.inputs, *op.outputs):
                if n not in self.tensors:
                    raise GraphError(f"{op.kind} {op.name}: unknown tensor {n!r}")
            missing = [n for n in op.inputs if n not in available]
            if missing:
                raise GraphError(f"{op.kind} {op.name}: input {missing[0]!r} is not computed before it")
            for n in op.outputs:
                if n in self._producer or n in self.inputs:
                    raise GraphError(f"{op.kind} {op.name}: tensor {n!r} is written twice")
                self._producer[n] = op
            available.update(op.outputs)
            try:
                op.check(self.tensors)
            except ValueError as exc:
                raise GraphError(str(exc)) from None
        for n in self.outputs:
            if n not in available:
                raise GraphError(f"graph {self.name}: output {n!r} is never computed")

    def producer(self, tensor: str) -> Op | None:
        return self._producer.get(tensor)

    def consumers(self, tensor: str) -> list[Op]:
        return [op for op in self.ops if tensor in op.inputs]

    def macc(self) -> int:
        return sum(op.macc(self.tensors) for op in self.ops)
