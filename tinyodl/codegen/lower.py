"""Lowering: IR graph + memory plan -> the kernel calls of one model, for one core.

Each op becomes one call into the hand-written kernel library (firmware/kernels) with a params struct
whose fields are exactly those of `tinyodl.reference.params` (same names in C). Reshapes become nothing:
their output aliases their input in the arena. The kernel variant is chosen here (`choose_kernel`, by the
board's DSP / FPU and the layer's params; see `variants.py`); the plain reference kernel is always
available and is the fallback. A variant's working memory is planned into the arena with the activations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ..boards import Board
from ..errors import TinyodlError
from ..ir import DType, Graph, Reshape
from ..passes import MemoryPlan, plan_memory
from ..reference import params as kp
from . import variants
from .names import NameTable, c_ident


class LoweringError(TinyodlError):
    """The model cannot be generated for this board."""


@dataclass(frozen=True)
class Layer:
    index: int
    op_name: str
    kind: str
    ident: str  # C identifier of the params struct
    function: str  # kernel function
    params_type: str
    params: kp.KernelParams
    inputs: tuple[str, ...]  # tensor names
    output: str
    macc: int
    note: str = ""  # the variant chosen, or why the reference kernel was kept
    omit: tuple[str, ...] = ()  # params fields the kernel never reads: emitted as NULL


@dataclass(frozen=True)
class LoweredModel:
    graph: Graph
    plan: MemoryPlan
    layers: tuple[Layer, ...]
    prefix: str
    input: str
    output: str
    hash32: int
    elem: str  # C element type of the activations ("int8_t" or "float")
    activation_bytes: int = 0  # the arena the activations alone would need (without kernel scratch)

    def offset(self, tensor: str) -> int:
        return self.plan.offset(tensor)

    def nbytes(self, tensor: str) -> int:
        return self.graph.tensors[tensor].nbytes


def kernel_suffix(params: kp.KernelParams) -> str:
    return "s8" if params.dtype is DType.INT8 else "f32"


def choose_kernel(params: kp.KernelParams, board: Board, optimise: bool = True) -> variants.Choice:
    """The kernel for these params on this board: the first optimised variant whose preconditions hold
    (with its generated fields filled in), else the reference kernel. `optimise=False` keeps the reference."""
    return variants.choose(params, board, optimise)


def lower(graph: Graph, board: Board, prefix: str | None = None, optimise: bool = True) -> LoweredModel:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise LoweringError(f"{graph.name}: one input and one output are supported")
    names = NameTable(prefix or graph.name)
    chosen: dict[int, variants.Choice] = {}
    for index, op in enumerate(graph.ops):
        if isinstance(op, Reshape):
            continue
        try:
            params = kp.from_ir(op, graph.tensors)
        except kp.ParamsError as exc:
            raise LoweringError(f"{graph.name}: {op.kind} {op.name}: {exc}") from None
        except (NotImplementedError, KeyError, TypeError):
            raise LoweringError(
                f"{graph.name}: {op.kind} {op.name} cannot be generated; the extractor supports "
                "CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D, MEAN, ADD, PAD"
            ) from None
        chosen[index] = choose_kernel(params, board, optimise)
    plan = plan_memory(graph, {i: c.scratch_bytes for i, c in chosen.items() if c.scratch_bytes})
    layers: list[Layer] = []
    for index, choice in chosen.items():
        op = graph.ops[index]
        chosen_params: kp.KernelParams = choice.params
        if index in plan.scratch:
            buffer = kp.ArenaBuffer(plan.scratch[index], choice.scratch_bytes, "int16_t")
            chosen_params = replace(chosen_params, scratch=buffer)  # type: ignore[call-arg]
        data_inputs = tuple(n for n in op.inputs if not graph.tensors[n].is_constant)
        layers.append(
            Layer(
                index=len(layers),
                op_name=op.name,
                kind=op.kind,
                ident=names.unique(op.name),
                function=choice.function,
                params_type=f"tl_{chosen_params.family}_{kernel_suffix(chosen_params)}_params_t",
                params=chosen_params,
                inputs=data_inputs,
                output=op.outputs[0],
                macc=op.macc(graph.tensors),
                note=choice.note,
                omit=choice.omit,
            )
        )
    if not layers:
        raise LoweringError(f"{graph.name}: nothing to generate (only reshapes)")
    dtype = graph.tensors[graph.inputs[0]].dtype
    elem = {DType.INT8: "int8_t", DType.FLOAT32: "float"}.get(dtype)
    if elem is None:
        raise LoweringError(f"{graph.name}: input type {dtype.value} is not supported")
    digest = hashlib.sha256(graph.source.encode() + b"|" + ",".join(op.name for op in graph.ops).encode())
    return LoweredModel(
        graph=graph,
        plan=plan,
        layers=tuple(layers),
        prefix=names.prefix,
        input=graph.inputs[0],
        output=graph.outputs[0],
        hash32=int.from_bytes(digest.digest()[:4], "little"),
        elem=elem,
        activation_bytes=plan_memory(graph).arena_bytes if plan.scratch else plan.arena_bytes,
    )


_C_ELEM = {
    np.dtype(np.int8): "int8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.float32): "float",
}


@dataclass(frozen=True)
class CArray:
    ident: str
    ctype: str
    values: np.ndarray


@dataclass(frozen=True)
class CField:
    name: str
    kind: str  # "int", "float", "ptr", "null", "list", "arena" (value: (C type, byte offset))
    value: Any


def params_fields(layer: Layer) -> tuple[list[CArray], list[CField]]:
    """The constant arrays and the initialiser fields of one layer's params struct."""
    arrays: list[CArray] = []
    out: list[CField] = []
    for f in fields(layer.params):
        value = getattr(layer.params, f.name)
        if value is None or f.name in layer.omit:
            out.append(CField(f.name, "null", None))
        elif isinstance(value, kp.ArenaBuffer):
            out.append(CField(f.name, "arena", (value.ctype, value.offset)))
        elif isinstance(value, np.ndarray):
            ctype = _C_ELEM.get(value.dtype)
            if ctype is None:
                raise LoweringError(f"{layer.op_name}: {f.name} has element type {value.dtype}")
            ident = f"{layer.ident}_{c_ident(f.name)}"
            arrays.append(CArray(ident, ctype, np.ascontiguousarray(value).reshape(-1)))
            out.append(CField(f.name, "ptr", ident))
        elif isinstance(value, tuple):
            out.append(CField(f.name, "list", value))
        elif isinstance(value, bool | int | np.integer):
            out.append(CField(f.name, "int", int(value)))
        elif isinstance(value, float | np.floating):
            out.append(CField(f.name, "float", float(value)))
        else:
            raise LoweringError(f"{layer.op_name}: field {f.name} of type {type(value).__name__}")
    return arrays, out
