"""Parser of dlib's face ResNet file, and the embedder's preprocessing."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from facegate.errors import ModelUnavailable
from facegate.modelbuild.dlib_resnet import (
    ANET_WIRING,
    AddPrevRecord,
    AffineRecord,
    ConvRecord,
    FcRecord,
    InputRecord,
    LayerSpec,
    PoolRecord,
    ReluRecord,
    load_face_resnet,
    parse_dlib_net,
)
from facegate.modelbuild.dlib_serialize import DlibReader
from facegate.modelbuild.sources import DLIB_RESNET_FILE, dlib_model_file
from facegate.vision.embedder import MEAN_RGB, preprocess_chips


@pytest.fixture(scope="module")
def resnet_path() -> Path:
    try:
        return dlib_model_file(DLIB_RESNET_FILE)
    except ModelUnavailable as exc:
        pytest.skip(f"face-recognition-models is not installed: {exc}")


@pytest.fixture(scope="module")
def resnet_bytes(resnet_path: Path) -> bytes:
    return resnet_path.read_bytes()


def _kinds(layers: tuple[object, ...]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for layer in layers:
        if isinstance(layer, PoolRecord):
            counts[f"{layer.kind}_pool"] += 1
        else:
            counts[type(layer).__name__] += 1
    return counts


def test_real_file_parses_into_the_expected_layers(resnet_path: Path) -> None:
    # Given the ResNet file shipped by face-recognition-models 0.3.0
    # When it is parsed
    net = load_face_resnet(resnet_path)

    # Then the record counts match the network type
    counts = _kinds(net.layers)
    assert counts["ConvRecord"] == 29
    assert counts["AffineRecord"] == 29
    assert counts["ReluRecord"] == 29
    assert counts["max_pool"] == 1
    assert counts["avg_pool"] == 5
    assert counts["AddPrevRecord"] == 14
    assert counts["FcRecord"] == 1
    assert net.loss == "loss_metric_2"
    # And the input means equal the runtime's constants
    assert np.array_equal(np.array(net.input.mean_rgb, dtype=np.float32), MEAN_RGB)
    assert (net.input.rows, net.input.cols) == (150, 150)
    # And the stem conv and the fc have the documented shapes
    stem = net.layers[1]
    assert isinstance(stem, ConvRecord)
    assert stem.weights.shape == (32, 3, 7, 7)
    assert stem.stride == (2, 2)
    assert stem.padding == (0, 0)
    fc = net.layers[-1]
    assert isinstance(fc, FcRecord)
    assert fc.weights.shape == (256, 128)
    assert fc.bias is None
    down_convs = [layer for layer in net.layers if isinstance(layer, ConvRecord) and layer.stride == (2, 2)]
    assert [conv.padding for conv in down_convs[1:]] == [(0, 0)] * 4


@pytest.mark.parametrize("keep_fraction", [0.0, 0.00001, 0.3, 0.999999])
def test_truncated_file_raises_model_unavailable(resnet_bytes: bytes, keep_fraction: float) -> None:
    # Given the file cut short
    data = resnet_bytes[: int(len(resnet_bytes) * keep_fraction)]

    # When / Then parsing refuses it
    with pytest.raises(ModelUnavailable):
        parse_dlib_net(data)


def test_trailing_bytes_raise_model_unavailable(resnet_bytes: bytes) -> None:
    # Given the file with one extra byte
    # When / Then parsing refuses it
    with pytest.raises(ModelUnavailable, match="trailing"):
        parse_dlib_net(resnet_bytes + b"\x00")


def test_garbled_type_string_raises_model_unavailable(resnet_bytes: bytes) -> None:
    # Given the file where the first "affine_" record is renamed "affinx_"
    offset = resnet_bytes.index(b"affine_")
    data = resnet_bytes[:offset] + b"affinx_" + resnet_bytes[offset + 7 :]

    # When / Then parsing refuses it
    with pytest.raises(ModelUnavailable, match="affin"):
        parse_dlib_net(data)


def test_garbled_version_stack_raises_model_unavailable(resnet_bytes: bytes) -> None:
    # Given the file whose sixth wrapper version (a tag layer's 1) is changed to 2
    reader = DlibReader(resnet_bytes)
    reader.read_int(), reader.read_string(), reader.read_float(), reader.read_float()
    prefix_start = reader.pos
    versions = bytearray(resnet_bytes)
    assert versions[prefix_start + 2 * 5 : prefix_start + 2 * 6] == b"\x01\x01"
    versions[prefix_start + 2 * 5 + 1] = 2

    # When / Then parsing refuses it
    with pytest.raises(ModelUnavailable, match="version stack"):
        parse_dlib_net(bytes(versions))


def test_wrong_network_type_is_refused(resnet_bytes: bytes) -> None:
    # Given a wiring that claims a 64-filter stem conv
    wiring = (ANET_WIRING[0], LayerSpec("con", (64, 7, 7, 2, 2)), *ANET_WIRING[2:])

    # When / Then the hyper-parameter check refuses the file
    with pytest.raises(ModelUnavailable, match="network type"):
        parse_dlib_net(resnet_bytes, wiring)


# --- a tiny hand-written network exercising the record variants -------------------------------


def _int(value: int) -> bytes:
    magnitude = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude


def _float(value: float) -> bytes:
    fraction, exponent = math.frexp(float(np.float32(value)))
    return _int(int(math.ldexp(fraction, 24))) + _int(exponent - 24)


def _string(text: str) -> bytes:
    return _int(len(text)) + text.encode()


def _tensor(values: np.ndarray) -> bytes:
    flat = np.asarray(values, dtype="<f4").reshape(-1)
    return _int(2) + b"".join(_int(v) for v in (flat.size, 1, 1, 1)) + flat.tobytes()


def _empty_tensor() -> bytes:
    return _int(2) + _int(0) * 4


def _alias(*shape: int) -> bytes:
    return _int(1) + b"".join(_int(v) for v in shape)


def _trailer() -> bytes:
    return b"110" + _empty_tensor() * 3


def _tiny_net_bytes(weights: np.ndarray, bn: dict[str, np.ndarray], fc: np.ndarray, fc_bias: np.ndarray) -> bytes:
    multipliers = _float(1.0) * 4
    conv = (
        _string("con_6") + _tensor(np.concatenate([weights.reshape(-1), np.array([0.5, -0.5])]))
        + b"".join(_int(v) for v in (2, 3, 3, 1, 1, 1, 1))
        + _alias(2, 3, 3, 3) + _alias(1, 2, 1, 1) + multipliers + b"1" + b"1"
    )  # fmt: skip
    batch_norm = (
        _string("bn_con2") + _tensor(np.concatenate([bn["gamma"], bn["beta"]]))
        + _alias(1, 2, 1, 1) + _alias(1, 2, 1, 1)
        + _empty_tensor() * 2 + _tensor(bn["mean"]) + _tensor(bn["var"]) + _int(10) + _int(100)
        + multipliers + _float(0.5)
    )  # fmt: skip
    relu = _string("relu_2") + b"0"
    dense = (
        _string("fc_3") + _int(3) + _int(32) + _tensor(np.concatenate([fc.reshape(-1), fc_bias]))
        + _alias(32, 3, 1, 1) + _alias(1, 3, 1, 1) + _int(0) + multipliers + b"1"
    )  # fmt: skip
    input_layer = _string("input_rgb_image_sized") + _float(122.782) + _float(117.001) + _float(104.298) + _int(4) * 2
    return (
        _int(1) + _string("loss_metric_")
        + _int(2) + _int(2) + _int(2) + _int(3)  # fc, relu, bn, conv (innermost)
        + input_layer + conv + _trailer() + _int(1)
        + batch_norm + _trailer() + relu + _trailer() + dense + _trailer()
    )  # fmt: skip


def test_record_variants_parse_and_batch_norm_becomes_affine() -> None:
    # Given a tiny net written with con_6, bn_con2, relu_2 and fc_3 records
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(2, 3, 3, 3)).astype(np.float32)
    bn = {name: rng.uniform(0.5, 2.0, size=2).astype(np.float32) for name in ("gamma", "beta", "mean", "var")}
    fc = rng.normal(size=(32, 3)).astype(np.float32)
    fc_bias = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    data = _tiny_net_bytes(weights, bn, fc, fc_bias)
    wiring = (
        LayerSpec("input", (4, 4)),
        LayerSpec("con", (2, 3, 3, 1, 1)),
        LayerSpec("affine"),
        LayerSpec("relu"),
        LayerSpec("fc", (3,)),
    )

    # When it is parsed
    net = parse_dlib_net(data, wiring)

    # Then every record has the variant's fields
    input_layer, conv, affine, relu, dense = net.layers
    assert isinstance(input_layer, InputRecord)
    assert input_layer.mean_rgb == pytest.approx((122.782, 117.001, 104.298))
    assert isinstance(conv, ConvRecord)
    assert conv.fused_relu
    assert conv.padding == (1, 1)
    np.testing.assert_array_equal(conv.weights, weights)
    np.testing.assert_array_equal(conv.bias, [0.5, -0.5])
    # And the batch norm is converted with dlib's formula
    assert isinstance(affine, AffineRecord)
    assert affine.per_channel
    scale = bn["gamma"] / np.sqrt(bn["var"] + 0.5)
    np.testing.assert_allclose(affine.gamma.reshape(-1), scale, rtol=1e-6)
    np.testing.assert_allclose(affine.beta.reshape(-1), bn["beta"] - scale * bn["mean"], rtol=1e-6)
    assert isinstance(relu, ReluRecord)
    assert not relu.disabled
    assert isinstance(dense, FcRecord)
    np.testing.assert_array_equal(dense.weights, fc)
    assert dense.bias is not None
    np.testing.assert_array_equal(dense.bias, fc_bias)
    assert not any(isinstance(layer, AddPrevRecord) for layer in net.layers)


def test_float_encoding_matches_the_documented_example() -> None:
    # Given the documented encoding of 0.04
    # When the helper re-encodes it
    # Then the bytes agree (checks the test's own writer against the notes)
    assert _float(0.04) == bytes.fromhex("030ad7a3811c")


# --- preprocessing ----------------------------------------------------------------------------


def test_preprocess_chips_centres_scales_and_transposes() -> None:
    # Given two chips: one black, one with known pixels
    chips = np.zeros((2, 150, 150, 3), dtype=np.uint8)
    chips[1, 10, 20] = (255, 128, 0)

    # When they are preprocessed
    tensor = preprocess_chips(chips)

    # Then the layout is NCHW float32 and each value is (pixel - mean) / 256
    assert tensor.shape == (2, 3, 150, 150)
    assert tensor.dtype == np.float32
    assert tensor.flags.c_contiguous
    np.testing.assert_array_equal(tensor[0, :, 0, 0], (0.0 - MEAN_RGB) / 256.0)
    expected = (np.array([255.0, 128.0, 0.0], dtype=np.float32) - MEAN_RGB) / np.float32(256.0)
    np.testing.assert_array_equal(tensor[1, :, 10, 20], expected)
    assert tensor[1, 0, 10, 20] == pytest.approx((255 - 122.782) / 256, abs=1e-6)


def test_preprocess_chips_rejects_wrong_shapes_and_types() -> None:
    # Given chips of the wrong size or dtype
    # When / Then preprocessing refuses them
    with pytest.raises(ValueError, match="150"):
        preprocess_chips(np.zeros((1, 112, 112, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        preprocess_chips(np.zeros((1, 150, 150, 3), dtype=np.float32))
