"""Kernel params built from hand-made IR ops (no TensorFlow): padding, multipliers, shapes, errors."""

from __future__ import annotations

import numpy as np
import pytest

from tinyodl.ir import (
    Activation,
    Add,
    AvgPool2D,
    Conv2D,
    DepthwiseConv2D,
    Dequantize,
    DType,
    FullyConnected,
    Mean,
    Pad,
    Padding,
    Quant,
    Softmax,
    Tensor,
)
from tinyodl.reference import (
    AvgPool2DS8Params,
    Conv2DF32Params,
    Conv2DS8Params,
    DepthwiseConv2DS8Params,
    FullyConnectedS8Params,
    MeanF32Params,
    MeanS8Params,
    PadS8Params,
    ParamsError,
    from_ir,
    quant,
    run,
)


def act(name: str, shape: tuple[int, ...], scale: float = 0.05, zp: int = -3) -> Tensor:
    return Tensor(name, shape, DType.INT8, Quant.per_tensor(scale, zp))


def weights(name: str, shape: tuple[int, ...], scales: tuple[float, ...], axis: int) -> Tensor:
    data = np.arange(np.prod(shape), dtype=np.int64).reshape(shape) % 7 - 3
    q = Quant(scales, (0,) * len(scales), axis if len(scales) > 1 else None)
    return Tensor(name, shape, DType.INT8, q, data.astype(np.int8))


def test_conv2d_same_stride2_padding_and_per_channel_multipliers() -> None:
    scales = (0.01, 0.02, 0.03)
    tensors = {
        "x": act("x", (1, 8, 7, 2)),
        "w": weights("w", (3, 3, 3, 2), scales, axis=0),
        "b": Tensor("b", (3,), DType.INT32, Quant((1e-4,) * 3, (0,) * 3, 0), np.array([5, -5, 0], np.int32)),
        "y": act("y", (1, 4, 4, 3), scale=0.1, zp=7),
    }
    op = Conv2D("c", ("x", "w", "b"), ("y",), stride=(2, 2), padding=Padding.SAME, activation=Activation.RELU6)
    p = from_ir(op, tensors)
    assert isinstance(p, Conv2DS8Params) and p.c_function == "tl_conv2d_s8"
    # SAME: height 8 -> 4 outputs, total padding (4-1)*2+3-8 = 1 -> 0 before; width 7 -> 4, total 2 -> 1 before
    assert (p.pad_top, p.pad_left, p.out_h, p.out_w) == (0, 1, 4, 4)
    assert (p.input_zero_point, p.output_zero_point) == (-3, 7)
    assert (p.act_min, p.act_max) == (7, 67)  # relu6: 7 + round(6 / 0.1)
    expected = [quant.quantize_multiplier(quant.conv_effective_scale(0.05, s, 0.1)) for s in scales]
    assert list(zip(p.multiplier.tolist(), p.shift.tolist(), strict=True)) == expected
    assert not p.weights.flags.writeable and not p.multiplier.flags.writeable
    assert p.bias is not None and p.bias.tolist() == [5, -5, 0]
    assert Conv2DS8Params.from_ir(op, tensors).multiplier.tolist() == p.multiplier.tolist()
    with pytest.raises(ParamsError):
        Conv2DF32Params.from_ir(op, tensors)


def test_per_tensor_weights_repeat_one_multiplier() -> None:
    tensors = {"x": act("x", (1, 3, 3, 2)), "w": weights("w", (4, 1, 1, 2), (0.02,), 0), "y": act("y", (1, 3, 3, 4))}
    p = from_ir(Conv2D("c", ("x", "w"), ("y",)), tensors)
    assert isinstance(p, Conv2DS8Params) and p.bias is None
    assert len(set(p.multiplier.tolist())) == 1 and p.multiplier.shape == (4,)


def test_depthwise_multiplier_and_channel_axis() -> None:
    tensors = {
        "x": act("x", (1, 5, 5, 2)),
        "w": weights("w", (1, 3, 3, 6), (0.01, 0.02, 0.03, 0.04, 0.05, 0.06), axis=3),
        "y": act("y", (1, 5, 5, 6)),
    }
    op = DepthwiseConv2D("d", ("x", "w"), ("y",), padding=Padding.SAME, depth_multiplier=3, dilation=(2, 1))
    p = from_ir(op, tensors)
    assert isinstance(p, DepthwiseConv2DS8Params)
    assert (p.depth_multiplier, p.dilation_h, p.pad_top, p.pad_left) == (3, 2, 2, 1)
    assert len(set(zip(p.multiplier.tolist(), p.shift.tolist(), strict=True))) == 6
    assert run(p, np.zeros((1, 5, 5, 2), np.int8)).shape == (1, 5, 5, 6)


def test_fully_connected_flattens_the_input() -> None:
    tensors = {"x": act("x", (1, 2, 3)), "w": weights("w", (4, 6), (0.01,) * 4, 0), "y": act("y", (1, 4))}
    p = from_ir(FullyConnected("f", ("x", "w"), ("y",)), tensors)
    assert isinstance(p, FullyConnectedS8Params) and (p.batches, p.in_features, p.out_features) == (1, 6, 4)
    # per-channel weights (even with equal scales) take the conv formula; per-tensor ones the float32 product
    assert p.multiplier[0] == quant.quantize_multiplier(quant.conv_effective_scale(0.05, 0.01, 0.05))[0]
    tensors["w"] = weights("w", (4, 6), (0.01,), 0)
    p = from_ir(FullyConnected("f", ("x", "w"), ("y",)), tensors)
    assert isinstance(p, FullyConnectedS8Params)
    assert p.multiplier[0] == quant.quantize_multiplier(quant.fc_per_tensor_effective_scale(0.05, 0.01, 0.05))[0]


def test_mean_over_spatial_axes_4d_and_3d() -> None:
    tensors = {"x": act("x", (1, 4, 5, 3)), "y": act("y", (1, 3), scale=0.02, zp=1)}
    p = from_ir(Mean("m", ("x",), ("y",), axes=(1, 2)), tensors)
    assert isinstance(p, MeanS8Params) and (p.batches, p.count, p.channels) == (1, 20, 3)
    m, s = quant.quantize_multiplier(quant.ratio_effective_scale(0.05, 0.02))
    assert (p.multiplier, p.shift) == quant.mean_multiplier(m, s, 20)
    tensors = {"x": act("x", (1, 10, 5)), "y": act("y", (1, 5))}
    p = from_ir(Mean("m", ("x",), ("y",), axes=(1,)), tensors)
    assert isinstance(p, MeanS8Params) and (p.count, p.channels) == (10, 5)
    f32 = {"x": Tensor("x", (1, 10, 5), DType.FLOAT32), "y": Tensor("y", (1, 5), DType.FLOAT32)}
    assert isinstance(from_ir(Mean("m", ("x",), ("y",), axes=(1,)), f32), MeanF32Params)
    for axes in ((0,), (2,), (0, 1)):
        with pytest.raises(ParamsError, match="spatial"):
            from_ir(Mean("m", ("x",), ("y",), axes=axes), tensors)


def test_pad_extends_rank_and_keeps_quantization() -> None:
    tensors = {"x": act("x", (1, 4, 3)), "y": act("y", (1, 7, 3))}
    p = from_ir(Pad("p", ("x",), ("y",), paddings=((0, 0), (2, 1), (0, 0))), tensors)
    assert isinstance(p, PadS8Params)
    assert (p.in_dims, p.pad_before, p.pad_after, p.pad_value) == ((1, 1, 4, 3), (0, 0, 2, 0), (0, 0, 1, 0), -3)
    tensors["y"] = act("y", (1, 7, 3), zp=4)
    with pytest.raises(ParamsError, match="quantization"):
        from_ir(Pad("p", ("x",), ("y",), paddings=((0, 0), (2, 1), (0, 0))), tensors)


def test_avg_pool_same() -> None:
    tensors = {"x": act("x", (1, 5, 5, 3)), "y": act("y", (1, 3, 3, 3))}
    p = from_ir(AvgPool2D("a", ("x",), ("y",), filter=(3, 3), stride=(2, 2), padding=Padding.SAME), tensors)
    assert isinstance(p, AvgPool2DS8Params) and (p.pad_top, p.pad_left) == (1, 1)


def test_errors_name_the_op() -> None:
    tensors = {"x": act("x", (1, 4)), "y": Tensor("y", (1, 4), DType.FLOAT32)}
    with pytest.raises(ParamsError, match="DEQUANTIZE d: no kernel .*CONV_2D"):
        from_ir(Dequantize("d", ("x",), ("y",)), tensors)
    with pytest.raises(ParamsError, match="SOFTMAX s: input int8 -> output float32"):
        from_ir(Softmax("s", ("x",), ("y",)), tensors)
    with pytest.raises(ParamsError, match="ADD a: input int8 -> output float32"):
        from_ir(Add("a", ("x", "x"), ("y",)), tensors)


def test_params_validate_geometry_and_ranges() -> None:
    good = dict(batches=1, in_h=3, in_w=3, in_ch=1, out_h=3, out_w=3, out_ch=1, k_h=3, k_w=3, stride_h=1,
                stride_w=1, dilation_h=1, dilation_w=1, pad_top=1, pad_left=1, input_zero_point=0,
                output_zero_point=0, act_min=-128, act_max=127, multiplier=[1 << 30], shift=[0],
                weights=np.ones((1, 3, 3, 1), np.int8), bias=None)  # fmt: skip
    Conv2DS8Params(**good)
    for change, message in [
        ({"out_h": 5}, "cannot give 5 outputs"),
        ({"pad_top": 3}, "padding 3"),
        ({"input_zero_point": 128}, "not an int8"),
        ({"act_min": 10, "act_max": 0}, "act_min"),
        ({"shift": [31]}, "shift"),
        ({"weights": np.ones((1, 3, 3, 2), np.int8)}, "shape"),
        ({"bias": [2**31 - 10]}, "overflow"),
        ({"batches": 0}, "batches"),
    ]:
        with pytest.raises(ParamsError, match=message):
            Conv2DS8Params(**{**good, **change})
