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


def test_uint8_frames_give_the_float_inputs_outputs_bit_for_bit(fp32, tmp_path, monkeypatch):
    """onnxruntime-int8 takes the frames as uint8 NHWC: the same outputs as the quantized model fed float
    NCHW blobs (the model as quantize_static writes it), on a size that needs padding."""
    import onnxruntime as ort

    from faceoff.detectors.centerface import _blob, _OnnxRuntime

    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path / "cache"))
    model = quantize.int8_model_bytes(*fp32, ONNX_INPUT)
    float_input = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    assert float_input.get_inputs()[0].type == "tensor(float)"
    runtime = _OnnxRuntime(CenterFaceWeights.from_path(None), "cpu", None, int8=True)
    assert runtime.session.get_inputs()[0].type == "tensor(uint8)"
    frame = np.ascontiguousarray(skimage.data.astronaut()[:301, :333])[None]
    want = float_input.run(["537", "538", "539"], {ONNX_INPUT: _blob(frame)})
    got = runtime(frame)
    assert want[0].max() > 0.5  # the face is there
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)


def test_take_uint8_frames_refuses_a_model_whose_input_is_not_quantized_as_the_identity(fp32, tmp_path):
    model = onnx.load_from_string(quantize.build_int8(fp32[0](), ONNX_INPUT, tmp_path).read_bytes())
    (scale,) = [t for t in model.graph.initializer if t.name == f"{ONNX_INPUT}_scale"]
    scale.CopyFrom(onnx.numpy_helper.from_array(np.array(2.0, np.float32), scale.name))
    with pytest.raises(ValueError, match="scale 2.0"):
        quantize.take_uint8_frames(model.SerializeToString(), ONNX_INPUT)
