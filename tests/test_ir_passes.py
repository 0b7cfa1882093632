"""IR validation and the passes, on hand-built 2-3 node graphs (no frameworks, no C)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyodl.ir import (
    Activation,
    Conv2D,
    DType,
    FullyConnected,
    Graph,
    GraphError,
    MaxPool2D,
    Padding,
    Quant,
    Reshape,
    Softmax,
    Tensor,
)
from tinyodl.ir.ops import out_size, pad_before
from tinyodl.passes import cut_at_features, head_input, learner_features, plan_memory, prune

Q = Quant.per_tensor(0.05, -3)


def act(name: str, shape: tuple[int, ...]) -> Tensor:
    return Tensor(name, shape, DType.INT8, Q)


def weights(name: str, shape: tuple[int, ...]) -> Tensor:
    data = np.arange(np.prod(shape), dtype=np.int64).reshape(shape).astype(np.int8)
    return Tensor(name, shape, DType.INT8, Quant((0.01,) * shape[0], (0,) * shape[0], 0), data)


def bias(name: str, n: int) -> Tensor:
    return Tensor(name, (n,), DType.INT32, Quant((0.0005,) * n, (0,) * n, 0) if n > 1 else None,
                  np.zeros(n, np.int32))  # fmt: skip


def conv_pool_fc() -> Graph:
    t = [
        act("x", (1, 1, 10, 3)),
        weights("w", (4, 1, 3, 3)),
        bias("b", 4),
        act("c", (1, 1, 10, 4)),
        act("p", (1, 1, 5, 4)),
        act("f", (1, 20)),
        Tensor("wf", (2, 20), DType.INT8, Quant.per_tensor(0.02, 0), np.ones((2, 20), np.int8)),
        act("y", (1, 2)),
        act("s", (1, 2)),
    ]
    ops = (
        Conv2D("conv", ("x", "w", "b"), ("c",), padding=Padding.SAME, activation=Activation.RELU),
        MaxPool2D("pool", ("c",), ("p",), filter=(1, 2), stride=(1, 2)),
        Reshape("flat", ("p",), ("f",)),
        FullyConnected("fc", ("f", "wf"), ("y",)),
        Softmax("softmax", ("y",), ("s",)),
    )
    return Graph("tiny", {x.name: x for x in t}, ops, ("x",), ("s",))


def test_padding_arithmetic_follows_tflite() -> None:
    assert out_size(10, 3, 1, 1, Padding.SAME) == 10 and pad_before(10, 3, 1, 1, Padding.SAME) == 1
    assert out_size(10, 4, 2, 1, Padding.SAME) == 5 and pad_before(10, 4, 2, 1, Padding.SAME) == 1
    assert out_size(10, 3, 2, 1, Padding.VALID) == 4 and pad_before(10, 3, 2, 1, Padding.VALID) == 0
    assert out_size(10, 3, 1, 2, Padding.SAME) == 10 and pad_before(10, 3, 1, 2, Padding.SAME) == 2
    assert out_size(7, 2, 2, 1, Padding.SAME) == 4 and pad_before(7, 2, 2, 1, Padding.SAME) == 0


def test_valid_graph_and_macc() -> None:
    g = conv_pool_fc()
    assert g.macc() == 10 * 4 * 3 * 3 + 2 * 20
    assert g.producer("p") is g.ops[1] and g.consumers("c") == [g.ops[1]]


def test_tensor_validation() -> None:
    with pytest.raises(ValueError, match="int8 without quantization"):
        Tensor("t", (2,), DType.INT8)
    with pytest.raises(ValueError, match="3 channel scales along axis 0"):
        Tensor("t", (4, 2), DType.INT8, Quant((1.0, 1.0, 1.0), (0, 0, 0), 0))
    with pytest.raises(ValueError, match="scales must be finite and > 0"):
        Quant.per_tensor(0.0, 0)
    with pytest.raises(ValueError, match="data shape"):
        Tensor("t", (2, 2), DType.FLOAT32, data=np.zeros(4, np.float32))


def test_graph_validation_names_the_op() -> None:
    g = conv_pool_fc()
    bad = dict(g.tensors)
    bad["c"] = act("c", (1, 1, 9, 4))
    with pytest.raises(GraphError, match="CONV_2D conv: output"):
        Graph("bad", bad, g.ops, g.inputs, g.outputs)
    with pytest.raises(GraphError, match="input 'p' is not computed before it"):
        Graph("bad", g.tensors, (g.ops[0], g.ops[2], g.ops[1], *g.ops[3:]), g.inputs, g.outputs)
    with pytest.raises(ValueError, match="stride"):
        Conv2D("c", ("x", "w"), ("y",), stride=(0, 1))
    with pytest.raises(ValueError, match="3 inputs, expected"):
        Reshape("r", ("a", "b", "s"), ("c",))  # the tensor and at most its target shape


def test_head_input_and_cut() -> None:
    g = conv_pool_fc()
    assert head_input(g) == "f"
    cut = cut_at_features(g)
    assert [op.name for op in cut.ops] == ["conv", "pool", "flat"] and cut.outputs == ("f",)
    assert "wf" not in cut.tensors and "s" not in cut.tensors
    by_op = cut_at_features(g, "pool")
    assert by_op.outputs == ("p",) and [op.name for op in by_op.ops] == ["conv", "pool"]
    with pytest.raises(GraphError, match="no tensor or op named 'nope'"):
        cut_at_features(g, "nope")


def test_learner_features_of_a_network_without_head() -> None:
    g = conv_pool_fc()
    assert learner_features(g) == "f" and learner_features(g, "pool") == "pool"
    headless = prune(g, ("p",))  # ends in the pool, as a random-weight extractor ends in its pooling
    with pytest.raises(GraphError, match="not a classifier head"):
        head_input(headless)
    assert learner_features(headless) == "p"


def test_prune_drops_dead_branches() -> None:
    g = conv_pool_fc()
    assert [op.name for op in prune(g, ("c",)).ops] == ["conv"]


def test_memory_plan_reuses_and_aliases() -> None:
    g = conv_pool_fc()
    plan = plan_memory(g)
    assert plan.alias_of == {"f": "p"} and plan.offset("f") == plan.offset("p")
    # conv output (40 B) and pool output (20 B) are alive together; x (30 B) dies at conv
    sizes = {n: g.tensors[n].nbytes for n in ("x", "c", "p", "y", "s")}
    assert plan.arena_bytes <= sizes["x"] + sizes["c"] + 8 + 8
    assert plan.naive_bytes == sum(sizes.values())
    for a in plan.lifetimes:  # no two tensors alive at the same time share bytes
        for b in plan.lifetimes:
            if a < b:
                (fa, la), (fb, lb) = plan.lifetimes[a], plan.lifetimes[b]
                if not (la < fb or lb < fa):
                    oa, ob = plan.offset(a), plan.offset(b)
                    assert oa + plan.sizes[a] <= ob or ob + plan.sizes[b] <= oa, (a, b)


def test_memory_plan_places_kernel_scratch() -> None:
    """A kernel's working memory lives only during its op: clear of that op's tensors, reusable elsewhere."""
    g = conv_pool_fc()
    plain = plan_memory(g)
    plan = plan_memory(g, {0: 24, 1: 4})
    assert plain.scratch == {} and set(plan.scratch) == {0, 1}
    assert plan.offsets == {n: plan.offset(n) for n in plain.offsets} and set(plan.sizes) == set(plain.sizes)
    for index, nbytes in ((0, 24), (1, 4)):
        start = plan.scratch[index]
        assert start % 8 == 0 and start + nbytes <= plan.arena_bytes
        for name, (first, last) in plan.lifetimes.items():
            if first <= index <= last:  # alive during the op: no shared bytes
                assert start + nbytes <= plan.offset(name) or plan.offset(name) + plan.sizes[name] <= start, name
    assert plan.arena_bytes >= plain.arena_bytes and plan.naive_bytes == plain.naive_bytes


def test_strip_edge_quantization() -> None:
    from tinyodl.ir import Dequantize, Quantize
    from tinyodl.passes import strip_edge_quantization

    g = conv_pool_fc()
    t = dict(g.tensors)
    t["xf"] = Tensor("xf", (1, 1, 10, 3), DType.FLOAT32)
    t["sf"] = Tensor("sf", (1, 2), DType.FLOAT32)
    ops = (Quantize("q", ("xf",), ("x",)), *g.ops, Dequantize("dq", ("s",), ("sf",)))
    wrapped = Graph("float_io", t, ops, ("xf",), ("sf",))
    inner = strip_edge_quantization(wrapped)
    assert inner.inputs == ("x",) and inner.outputs == ("s",)
    assert [op.name for op in inner.ops] == [op.name for op in g.ops]
    assert strip_edge_quantization(g) is g  # nothing to strip


# ---- in place, and the plan checker ---------------------------------------------------------------------


def test_in_place_pool_shares_its_input_and_the_checker_accepts_it() -> None:
    from dataclasses import replace

    from tinyodl.passes import PlanError, check_plan

    g = conv_pool_fc()
    plain = plan_memory(g)
    plan = plan_memory(g, in_place={1: ("c",)})  # the pool (op 1) may write over the convolution's output
    assert plan.in_place == {1: "c"} and plan.offset("p") == plan.offset("c")
    assert plan.arena_bytes <= plain.arena_bytes  # here the peak is the convolution's input and output
    check_plan(g, plan)
    check_plan(g, plain)
    # the input of the graph is never overwritten, nor a tensor read later
    assert plan_memory(g, in_place={0: ("x",)}).in_place == {}
    # a plan that puts the pool's output over the convolution's without the kernel's consent is refused
    with pytest.raises(PlanError, match="overwrites byte"):
        check_plan(g, replace(plan, in_place={}))
    # so is a scratch block over the op's own input
    with pytest.raises(PlanError, match="scratch of op 0"):
        check_plan(g, replace(plain, scratch={0: plain.offset("x")}, scratch_bytes={0: 8}))
    # and an output past the arena
    with pytest.raises(PlanError, match="past the arena"):
        check_plan(g, replace(plain, arena_bytes=plain.arena_bytes - 8))
