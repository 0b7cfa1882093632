"""Lowering: IR graph + memory plan -> the kernel calls of one model, for one core.

Each op becomes one call into the hand-written kernel library (firmware/kernels) with a params struct
whose fields are exactly those of `tinyodl.reference.params` (same names in C). Reshapes become nothing:
their output aliases their input in the arena. The kernel variant is chosen here (`choose_kernel`, by the
board's DSP / FPU and the layer's params; see `variants.py`); the plain reference kernel is always
available and is the fallback. A variant's working memory is planned into the arena with the activations.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ..boards import Board
from ..errors import TinyodlError
from ..ir import DType, Graph, Reshape
from ..passes import MemoryPlan, check_plan, fuse_conv_pool, plan_memory
from ..passes.memory import ALIGN
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


def choose_kernel(
    params: kp.KernelParams, board: Board, optimise: bool = True, backend: str = "tinyodl", expand: bool = True
) -> variants.Choice:
    """The kernel for these params on this board: the first optimised variant whose preconditions hold
    (with its generated fields filled in), else the reference kernel. `optimise=False` keeps the reference;
    `expand=False` the variants that keep weights int8. `backend="cmsis-nn"`: CMSIS-NN's kernel where it has
    one (variants.choose)."""
    return variants.choose(params, board, optimise, backend, expand)


# Kernels that may write their output over an input (the planner decides whether it does): each reads
# every input element of an output element before writing it, in increasing order, and an output element
# lands on no input element a later output reads (element-wise; pooling with no padding before).
IN_PLACE_KERNELS = frozenset(
    {
        "tl_add_s8",
        "tl_add_s8_dsp",
        "tl_add_f32",
        "tl_add_const_s8",
        "tl_add_const_f32",
        "tl_relu_s8",
        "tl_relu_f32",
        "tl_softmax_s8",
        "tl_softmax_f32",
    }
)
IN_PLACE_POOLS = frozenset(
    {"tl_max_pool2d_s8", "tl_avg_pool2d_s8", "tl_avg_pool2d_s8_dsp", "tl_max_pool2d_f32", "tl_avg_pool2d_f32"}
)


def _in_place(choice: variants.Choice, inputs: tuple[str, ...]) -> tuple[str, ...]:
    """The inputs this layer's kernel may overwrite with its output."""
    if choice.function in IN_PLACE_KERNELS:
        return inputs
    p = choice.params
    if choice.function in IN_PLACE_POOLS and getattr(p, "pad_top", 1) == 0 and getattr(p, "pad_left", 1) == 0:
        return inputs[:1]
    return ()


FLASH_POLICIES = ("speed", "size", "balanced")
# Flash kept free for everything but the model's constants (runtime, kernels, application): no policy lets
# the int16 weight forms take it.
FLASH_RESERVE_BYTES = 96 * 1024
# `balanced`: the int16 weight forms may add at most this fraction of the model's constant bytes in their
# int8 forms (every layer's smallest choice): their extra weights and, for the first layer of a kernel
# that takes it, the int16 form's code (FORM_CODE_BYTES). CMSIS-NN's firmware holds the same int8 weights
# and about as much code, so the firmware stays within CMSIS-NN's flash + 10% (docs/kernels.md).
FLASH_ALLOWANCE = 0.05
# The code the int16 form of a kernel adds beside its int8 form (arm-none-eabi-gcc 12, -O2, Cortex-M4).
FORM_CODE_BYTES = {"tl_conv2d_s8_dsp": 5800, "tl_depthwise_conv2d_s8_dsp": 2700, "tl_fully_connected_s8_dsp": 800}
# Instructions per MAC the int16 form of a layer saves over its int8 form (measured on the MLPerf Tiny
# models, docs/kernels.md): the ranking of `balanced`. A variant whose only alternative is the reference
# kernel saves far more (DEFAULT_SAVED_PER_MAC).
SAVED_PER_MAC = {"tl_conv2d_s8_dsp": 0.21, "tl_fully_connected_s8_dsp": 0.44, "tl_depthwise_conv2d_s8_dsp": 0.5}
DEFAULT_SAVED_PER_MAC = 4.0


def constant_bytes(params: kp.KernelParams, omit: tuple[str, ...] = (), prefix: str = "") -> int:
    """The bytes of constant arrays the firmware holds for these params (fields in `omit` are not emitted)."""
    total = 0
    for f in fields(params):
        value = getattr(params, f.name)
        name = prefix + f.name
        if isinstance(value, kp.KernelParams):
            total += constant_bytes(value, omit, f"{name}.")
        elif isinstance(value, np.ndarray) and name not in omit:
            total += int(value.nbytes)
    return total


def _choice_bytes(choice: variants.Choice) -> int:
    return constant_bytes(choice.params, choice.omit)


def _kernel_of(choice: variants.Choice) -> str:
    """The kernel doing a layer's multiply-accumulates: the convolution's inside a fused layer."""
    conv_fn = getattr(choice.params, "conv_fn", None)
    return conv_fn.name if isinstance(conv_fn, kp.CFunction) else choice.function


def flash_allowance(size_bytes: int, board: Board, policy: str) -> int:
    """The constant bytes the int16 weight forms may add to a model whose constants take `size_bytes` in
    their smallest forms: none (`size`), FLASH_ALLOWANCE of them (`balanced`), all the board's flash
    (`speed`); never more than the board's flash minus FLASH_RESERVE_BYTES leaves."""
    board_left = max(board.target.memory.flash.length - FLASH_RESERVE_BYTES - size_bytes, 0)
    if policy == "size":
        return 0
    if policy == "balanced":
        return min(int(FLASH_ALLOWANCE * size_bytes), board_left)
    return board_left


def _flash_choices(
    speed: dict[int, variants.Choice], size: dict[int, variants.Choice], macc: dict[int, int], board: Board, policy: str
) -> dict[int, variants.Choice]:
    """Per layer the fastest choice (`speed`: weights expanded to int16 where a variant does so) or the one
    with the fewest constant bytes (`size`: int8 weight forms, or the reference kernel where a variant has
    none). `size` takes the smallest everywhere; `balanced` takes the smallest, then upgrades the layers whose
    int16 form saves the most instructions per extra byte while the extra bytes (and the int16 form's code,
    FORM_CODE_BYTES, with a kernel's first layer) stay within flash_allowance; `speed` upgrades every layer
    (the firmware may then overflow the board's flash, which the build reports). A model that fits with its
    smallest choices is never refused. The notes say why."""
    if policy not in FLASH_POLICIES:
        raise LoweringError(f"flash policy {policy!r}; choose one of {', '.join(FLASH_POLICIES)}")
    extra = {i: _choice_bytes(speed[i]) - _choice_bytes(size[i]) for i in speed}
    if policy == "speed" or not any(e > 0 for e in extra.values()):
        return dict(speed)
    small = {i: (size[i] if extra[i] > 0 else speed[i]) for i in speed}
    allowance = flash_allowance(sum(_choice_bytes(c) for c in small.values()), board, policy)
    out = dict(small)
    spent = 0
    linked = {_kernel_of(c) for c in small.values()}  # kernels whose code the firmware holds anyway

    def gain(i: int) -> float:
        return SAVED_PER_MAC.get(_kernel_of(speed[i]), DEFAULT_SAVED_PER_MAC) * max(macc[i], 1) / extra[i]

    for i in sorted((i for i in speed if extra[i] > 0), key=lambda i: (-gain(i), i)):
        kernel = _kernel_of(speed[i])
        cost = extra[i] + (0 if kernel in linked else FORM_CODE_BYTES.get(kernel, 0))
        if spent + cost <= allowance:
            out[i] = speed[i]
            spent += cost
            linked.add(kernel)
    for i, choice in out.items():
        if choice is size[i] and extra[i] > 0:
            why = f"{policy}: {_kernel_of(speed[i])} would add {extra[i]:,} B of constants"
            if choice.note == _kernel_of(choice) or choice.note.startswith("fused"):
                out[i] = replace(choice, note=f"{choice.note} ({why})")
            else:
                out[i] = replace(choice, note=f"kept for flash ({why}); {choice.note}")
    return out


FUSED_BANDS = 8  # a fused convolution + pooling runs in about this many bands (docs/kernels.md)


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _fused_choice(
    params: kp.KernelParams, board: Board, optimise: bool, expand: bool = True
) -> tuple[variants.Choice, int]:
    """A fused convolution + pooling: its inner kernels chosen as for the two layers alone, its band (about
    FUSED_BANDS bands, each of whole blocks of positions of the convolution variant), and its working memory
    (the convolution's, then the band buffer)."""
    assert isinstance(params, kp.ConvPoolS8Params | kp.ConvPoolF32Params)
    conv = choose_kernel(params.conv, board, optimise, expand=expand)
    pool = choose_kernel(params.pool, board, optimise, expand=expand)
    unit = params.band_unit
    block = variants.POSITIONS_PER_BLOCK.get(conv.function, 1)  # whole blocks of positions in every band
    unit = unit * block // math.gcd(unit, block)
    band = min(-(-params.band_length // (FUSED_BANDS * unit)) * unit, params.band_length)
    band = max(band, params.band_unit)
    fused = replace(
        params,
        conv=conv.params,
        pool=pool.params,
        band=band,
        buffer_bytes=params.band_bytes(band),
        conv_fn=kp.CFunction(conv.function),
        conv_check=kp.CFunction(f"{conv.function}_check"),
        pool_fn=kp.CFunction(pool.function),
        pool_check=kp.CFunction(f"{pool.function}_check"),
    )
    n_bands = -(-params.band_length // band)
    note = f"fused, {n_bands} bands of {band}; conv: {conv.note}; pool: {pool.note}"
    omit = tuple(f"conv.{f}" for f in conv.omit) + tuple(f"pool.{f}" for f in pool.omit)
    return variants.Choice(params.c_function, fused, note, omit), _align(conv.scratch_bytes) + fused.buffer_bytes


def _with_scratch(params: kp.KernelParams, offset: int) -> kp.KernelParams:
    """The params with their working memory placed at `offset` in the arena."""
    if isinstance(params, kp.ConvPoolS8Params | kp.ConvPoolF32Params):
        conv_bytes = int(getattr(params.conv, "scratch_bytes", 0))
        conv = (
            replace(params.conv, scratch=kp.ArenaBuffer(offset, conv_bytes, "int16_t")) if conv_bytes else params.conv
        )
        ctype = "int8_t" if params.dtype is DType.INT8 else "float"
        buffer = kp.ArenaBuffer(offset + _align(conv_bytes), params.buffer_bytes, ctype)
        return replace(params, conv=conv, buffer=buffer)
    return replace(params, scratch=kp.ArenaBuffer(offset, int(getattr(params, "scratch_bytes")), "int16_t"))  # type: ignore[call-arg]  # noqa: B009


def lower(
    graph: Graph,
    board: Board,
    prefix: str | None = None,
    optimise: bool = True,
    fuse: bool = True,
    backend: str = "tinyodl",
    flash: str = "balanced",
) -> LoweredModel:
    """`fuse`: a convolution and the pooling that reads its output become one layer (passes.fuse).
    `flash`: speed, size or balanced (the default), how much flash the int16 weight forms may take
    (_flash_choices).
    `backend="cmsis-nn"`: the layers CMSIS-NN covers call it, and nothing is fused (CMSIS-NN has no fused
    convolution + pooling)."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise LoweringError(f"{graph.name}: one input and one output are supported")
    if fuse and backend != "cmsis-nn":
        graph = fuse_conv_pool(graph)
    names = NameTable(prefix or graph.name)
    speed: dict[int, variants.Choice] = {}
    size: dict[int, variants.Choice] = {}
    fused_scratch: dict[int, tuple[int, int]] = {}  # index -> (optimised, reference) working memory
    macc: dict[int, int] = {}
    for index, op in enumerate(graph.ops):
        if isinstance(op, Reshape):
            continue
        try:
            params = kp.from_ir(op, graph.tensors)
        except kp.ParamsError as exc:
            where = graph.source.split()[0] if graph.source else graph.name  # the model file
            raise LoweringError(f"{where}: {exc}") from None
        macc[index] = op.macc(graph.tensors)
        if isinstance(params, kp.ConvPoolS8Params | kp.ConvPoolF32Params):
            speed[index], fast_bytes = _fused_choice(params, board, optimise)
            size[index], small_bytes = _fused_choice(params, board, optimise, expand=False)
            fused_scratch[index] = (fast_bytes, small_bytes)
        else:
            speed[index] = choose_kernel(params, board, optimise, backend)
            size[index] = choose_kernel(params, board, optimise, backend, expand=False)
    chosen = _flash_choices(speed, size, macc, board, flash)
    scratch: dict[int, int] = {}
    in_place: dict[int, tuple[str, ...]] = {}
    for index, choice in chosen.items():
        op = graph.ops[index]
        if index in fused_scratch:
            scratch_bytes = fused_scratch[index][0 if choice is speed[index] else 1]
        else:
            scratch_bytes = choice.scratch_bytes
        if scratch_bytes:
            scratch[index] = scratch_bytes
        overwritable = _in_place(chosen[index], tuple(n for n in op.inputs if not graph.tensors[n].is_constant))
        if overwritable:
            in_place[index] = overwritable
    plan = plan_memory(graph, scratch, in_place)
    check_plan(graph, plan)
    layers: list[Layer] = []
    for index, choice in chosen.items():
        op = graph.ops[index]
        chosen_params: kp.KernelParams = choice.params
        if index in plan.scratch:
            chosen_params = _with_scratch(chosen_params, plan.scratch[index])
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
        activation_bytes=plan_memory(graph, None, in_place).arena_bytes if plan.scratch else plan.arena_bytes,
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
    _fields_of(layer, layer.params, "", arrays, out)
    return arrays, out


def _fields_of(layer: Layer, params: kp.KernelParams, prefix: str, arrays: list[CArray], out: list[CField]) -> None:
    for f in fields(params):
        value = getattr(params, f.name)
        name = prefix + f.name
        if isinstance(value, kp.KernelParams):  # a struct inside the struct: `.conv.weights = ...`
            _fields_of(layer, value, f"{name}.", arrays, out)
            continue
        if isinstance(value, kp.CFunction):
            out.append(CField(name, "ptr", value.name))
            continue
        if value is None or name in layer.omit:
            out.append(CField(name, "null", None))
        elif isinstance(value, kp.ArenaBuffer):
            out.append(CField(name, "arena", (value.ctype, value.offset)))
        elif isinstance(value, np.ndarray):
            ctype = _C_ELEM.get(value.dtype)
            if ctype is None:
                raise LoweringError(f"{layer.op_name}: {name} has element type {value.dtype}")
            ident = f"{layer.ident}_{c_ident(name)}"
            arrays.append(CArray(ident, ctype, np.ascontiguousarray(value).reshape(-1)))
            out.append(CField(name, "ptr", ident))
        elif isinstance(value, tuple):
            out.append(CField(name, "list", value))
        elif isinstance(value, bool | int | np.integer):
            out.append(CField(name, "int", int(value)))
        elif isinstance(value, float | np.floating):
            out.append(CField(name, "float", float(value)))
        else:
            raise LoweringError(f"{layer.op_name}: field {name} of type {type(value).__name__}")
