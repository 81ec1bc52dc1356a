"""The int8 CenterFace model: built deterministically, cached atomically, usable without a writable cache."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest
import skimage.data

from faceoff.detectors import quantize
from faceoff.detectors.centerface import CenterFace
from faceoff.detectors.centerface_onnx import ONNX_INPUT, CenterFaceWeights, dynamic_model_bytes


@pytest.fixture(scope="module")
def fp32() -> tuple[Callable[[], bytes], str]:
    weights = CenterFaceWeights.from_path(None)
    model = dynamic_model_bytes(weights.path)
    return lambda: model, weights.sha256


def test_built_once_then_read_from_cache(fp32, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path / "cache"))
    model = quantize.int8_model_bytes(*fp32, ONNX_INPUT)
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].startswith("centerface-int8-") and files[0].endswith(".onnx")
    graph = onnx.load_from_string(model).graph
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)

    def fail(*args, **kwargs):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(quantize, "build_int8", fail)
    assert quantize.int8_model_bytes(*fp32, ONNX_INPUT) == model
    # other weights are another cache entry, never the cached model of these
    with pytest.raises(AssertionError, match="rebuilt"):
        quantize.int8_model_bytes(fp32[0], "0" * 64, ONNX_INPUT)


def test_deterministic_and_works_without_writable_cache(fp32, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path / "a"))
    first = quantize.int8_model_bytes(*fp32, ONNX_INPUT)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("FACEOFF_CACHE", str(blocker / "cache"))
    second = quantize.int8_model_bytes(*fp32, ONNX_INPUT)
    assert second == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "not-a-folder"]
    # and the detector runs from the in-memory model
    (boxes,) = CenterFace(runtime="onnxruntime-int8", device="cpu").detect(
        skimage.data.astronaut()[None], 0.5
    )
    assert len(boxes) == 1 and boxes[0, 4] > 0.5


def test_cache_key_names_the_quantization(monkeypatch):
    """A model quantized another way is another cache entry: users' older int8 models are not reused."""
    key = quantize._cache_key("0" * 64)
    monkeypatch.setattr(quantize, "QUANT_VERSION", quantize.QUANT_VERSION - 1)
    assert quantize._cache_key("0" * 64) != key


def test_int8_refused_on_cuda_request():
    with pytest.raises(ValueError, match="CPU only|CUDA is not available"):
        CenterFace(runtime="onnxruntime-int8", device="cuda")


def test_calibration_frames_are_centerface_blobs():
    blobs = list(quantize.calibration_frames())
    assert len(blobs) == quantize.CALIBRATION_DEMO_FRAMES + 4
    for blob in blobs:
        assert blob.dtype == np.float32 and blob.shape[:2] == (1, 3)
        assert blob.shape[2] % 32 == 0 and blob.shape[3] % 32 == 0
        assert blob.min() >= 0 and blob.max() <= 255 and blob.std() > 10


def test_first_and_high_resolution_depthwise_convolutions_stay_fp32(fp32, tmp_path, monkeypatch):
    """The convolution reading the frame and the depthwise ones whose output is at stride <= 2 keep float
    weights (quantized, they lost small faces in noise and in the dark); every other convolution reads
    int8 weights through a DequantizeLinear. Strides from ONNX shape inference on a 256x256 input."""
    from onnx import helper, shape_inference

    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path / "cache"))
    model = onnx.load_from_string(quantize.int8_model_bytes(*fp32, ONNX_INPUT))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, 3, 256, 256), strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = value
    graph = shape_inference.infer_shapes(model).graph
    height = {
        v.name: v.type.tensor_type.shape.dim[2].dim_value
        for v in graph.value_info
        if len(v.type.tensor_type.shape.dim) == 4
    }
    initializers = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    want_float = {
        node.name: ONNX_INPUT in node.input
        or (
            any(a.name == "group" and helper.get_attribute_value(a) > 1 for a in node.attribute)
            and 256 // height[node.output[0]] <= quantize.FLOAT_DEPTHWISE_STRIDE
        )
        for node in convs
    }
    assert 1 < sum(want_float.values()) < len(convs) // 4  # the stem, not most
    assert len(convs) == sum(n.op_type == "Conv" for n in onnx.load_from_string(fp32[0]()).graph.node)
    for node in convs:
        weights = node.input[1]
        if want_float[node.name]:
            assert initializers[weights].data_type == onnx.TensorProto.FLOAT, node.name
        else:
            dequantize = producers[weights]
            assert dequantize.op_type == "DequantizeLinear", node.name
            assert initializers[dequantize.input[0]].data_type == onnx.TensorProto.INT8, node.name


def test_equalization_keeps_the_fp32_function_and_raises_faint_channels(fp32):
    """Evening out the channels before quantizing changes no fp32 output (a dark frame included), and
    after it each channel feeding a depthwise convolution reaches the tensor's top on the calibration
    frames, or EQUALIZE_MAX_GAIN times its own top (maxima measured again on the changed model)."""
    import onnxruntime

    before = onnx.load_from_string(fp32[0]())
    after = onnx.load_from_string(fp32[0]())
    assert quantize.equalize_ranges(after, ONNX_INPUT) > 30  # a ReLU pair in every block
    pairs = [(between, dw) for _, between, _, dw in quantize._relu_pairs(before.graph)]
    assert sum(dw for _, dw in pairs) >= 17 and not all(dw for _, dw in pairs)

    frame = skimage.data.astronaut()[:256, :256].astype(np.float32)
    blobs = [frame.transpose(2, 0, 1)[None].copy(), (frame * 0.1).transpose(2, 0, 1)[None].copy()]
    run = [onnxruntime.InferenceSession(m.SerializeToString()) for m in (before, after)]
    for blob in blobs:
        for a, b in zip(
            run[0].run(None, {ONNX_INPUT: blob}), run[1].run(None, {ONNX_INPUT: blob}), strict=True
        ):
            np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)

    names = [between for between, _ in pairs]
    old = quantize._channel_maxima(before, names, ONNX_INPUT)
    new = quantize._channel_maxima(after, names, ONNX_INPUT)
    for between, depthwise in pairs:
        if depthwise:
            top = old[between].max()
            want = np.minimum(top, quantize.EQUALIZE_MAX_GAIN * np.maximum(old[between], 1e-6))
            np.testing.assert_allclose(new[between], want, rtol=1e-3, atol=1e-5)
            assert np.median(new[between]) > 2 * np.median(old[between])  # faint channels raised
