"""OpenVINO against onnxruntime: the same faces, boxes and scores within a stated tolerance; ``auto`` falls
back to onnxruntime where OpenVINO is missing or does not load."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
import skimage.data

from faceoff.detectors import build_detector
from faceoff.detectors.centerface import CenterFace
from faceoff.metrics import iou_matrix
from faceoff.synth.demo import demo_frames
from tests.cpu import NATIVE_BF16

pytest.importorskip("openvino")

# (openvino runtime, onnxruntime runtime it is held to, min IoU of matched boxes, max score difference)
TOLERANCES = [
    ("openvino", "onnxruntime", 0.99, 0.01),  # the same fp32 model, fp32 arithmetic
    pytest.param(  # the same fp32 model, bf16 arithmetic (8-bit mantissa)
        "openvino-bf16",
        "onnxruntime",
        0.95,
        0.05,
        marks=pytest.mark.skipif(not NATIVE_BF16, reason="the CPU has no bf16 arithmetic"),
    ),
    ("openvino-int8", "onnxruntime-int8", 0.85, 0.1),  # the same int8 QDQ model, other int8 kernels
    # int8 against fp32, as tests/test_detectors.py; with the fp32 stem (QUANT_VERSION 4) one demo face
    # scored 0.67 against fp32's 0.77 here
    ("openvino-int8", "onnxruntime", 0.85, 0.12),
]


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """The astronaut; her face small on a coffee-cup background, and darker; 8 frames of the demo clip."""
    astronaut = skimage.data.astronaut()
    canvas = skimage.data.coffee().copy()
    canvas[40:296, 300:556] = astronaut[::2, ::2]
    dark = (canvas.astype(np.float32) * 0.45).astype(np.uint8)
    demo, _ = demo_frames()
    return [astronaut, canvas, dark, *demo[:: len(demo) // 8][:8]]


@pytest.fixture(scope="module")
def detectors() -> dict[str, CenterFace]:
    names = {"openvino", "openvino-int8", "onnxruntime", "onnxruntime-int8"} | (
        {"openvino-bf16"} if NATIVE_BF16 else set()
    )
    return {name: CenterFace(runtime=name, device="cpu", threads=2) for name in names}


@pytest.mark.parametrize(("ours", "reference", "min_iou", "max_score_diff"), TOLERANCES)
def test_openvino_finds_the_faces_onnxruntime_finds(
    detectors, images, ours, reference, min_iou, max_score_diff
):
    assert detectors[ours].runtime == ours
    found = 0
    for image in images:
        a = detectors[reference].detect(image[None], 0.3)[0]
        b = detectors[ours].detect(image[None], 0.3)[0]
        assert len(a) == len(b)
        if len(a) == 0:
            continue
        overlap = iou_matrix(a[:, :4], b[:, :4])
        match = overlap.argmax(axis=1)
        assert len(set(match)) == len(a)  # one to one
        assert overlap[np.arange(len(a)), match].min() > min_iou
        assert np.abs(a[:, 4] - b[match, 4]).max() < max_score_diff
        found += len(a)
    assert found >= 8  # the images hold faces: the comparison is not vacuous


def test_batches_and_odd_sizes_compile_per_padded_size(detectors):
    det = detectors["openvino-int8"]
    frames = np.stack([skimage.data.astronaut()[:301, :333]] * 3)
    out = det.detect(frames, 0.5)
    assert [len(b) for b in out] == [1, 1, 1]
    np.testing.assert_array_equal(out[0], out[2])
    det.detect(np.zeros((2, 100, 150, 3), np.uint8), 0.5)
    assert {(320, 352), (128, 160)} <= set(det._backend.infer_by_size)  # one compiled model per padded size


@pytest.mark.skipif(NATIVE_BF16, reason="the CPU has bf16 arithmetic")
def test_bf16_refuses_a_cpu_without_bf16_arithmetic():
    with pytest.raises(ValueError, match="bf16 arithmetic"):
        CenterFace(runtime="openvino-bf16", device="cpu")


def test_bf16_is_refused_where_openvino_reports_no_bf16(monkeypatch):
    """Whatever this CPU has: when OpenVINO reports no BF16 capability, openvino-bf16 is refused (OpenVINO
    would silently compute f32 instead, and the runtime's name would be untrue)."""
    import openvino

    real = openvino.Core.get_property

    def no_bf16(core, device, name, *args):
        value = real(core, device, name, *args)
        return [c for c in value if c != "BF16"] if name == "OPTIMIZATION_CAPABILITIES" else value

    monkeypatch.setattr(openvino.Core, "get_property", no_bf16)
    with pytest.raises(ValueError, match="bf16 arithmetic"):
        CenterFace(runtime="openvino-bf16", device="cpu")


def test_openvino_runs_on_cpu_only():
    with pytest.raises(ValueError, match="CPU only|CUDA is not available"):
        CenterFace(runtime="openvino", device="cuda")


def _without_openvino(monkeypatch) -> None:
    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError(f"No module named {name!r} (refused by the test)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)


def test_openvino_asked_for_by_name_is_never_substituted(monkeypatch):
    """auto on CPU is onnxruntime whether OpenVINO is there or not; a runtime named in the config
    that cannot load is an error, not a silent substitute."""
    assert build_detector("centerface", runtime="auto", device="cpu").runtime == "onnxruntime"
    _without_openvino(monkeypatch)
    assert build_detector("centerface", runtime="auto", device="cpu").runtime == "onnxruntime"
    with pytest.raises(ImportError, match="openvino"):
        build_detector("centerface", runtime="openvino-int8", device="cpu")


def test_compiled_models_are_cached_and_a_bad_entry_is_compiled_again(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path))
    frame = skimage.data.astronaut()[None]
    first = CenterFace(runtime="openvino", device="cpu", threads=2)
    expected = first.detect(frame, 0.3)
    (entry,) = tmp_path.glob("centerface-openvino-*-512x512.blob")

    second = CenterFace(runtime="openvino", device="cpu", threads=2)

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled although cached")

    monkeypatch.setattr(second._backend.core, "compile_model", no_compiling)
    np.testing.assert_array_equal(second.detect(frame, 0.3)[0], expected[0])  # imported, same boxes
    monkeypatch.undo()
    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path))

    entry.write_bytes(b"not a compiled model")
    third = CenterFace(runtime="openvino", device="cpu", threads=2)
    np.testing.assert_array_equal(third.detect(frame, 0.3)[0], expected[0])
    assert "does not import" in caplog.text
    assert entry.stat().st_size > 1000  # replaced by the model compiled again
