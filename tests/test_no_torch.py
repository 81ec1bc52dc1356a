"""A process that detects on the CPU runtimes imports neither torch nor torchvision (seconds of start-up
each): CenterFace built through the registry, wrapped in the zoom, run on a frame, in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faceoff.detectors.device import _driver_present
from tests.cpu import NATIVE_BF16

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
import skimage.data
from faceoff.config import DetectConfig
from faceoff.detectors import build_detector
from faceoff.zoom import ZoomDetector, ZoomParams

runtime, device = sys.argv[1:3]
cfg = DetectConfig()
zoom = ZoomParams.from_config(cfg)
detector = ZoomDetector(build_detector("centerface", runtime=runtime, device=device), zoom)
(boxes,) = detector.detect(skimage.data.astronaut()[None], cfg.threshold)
print(json.dumps({
    "runtime": detector.runtime,
    "faces": len(boxes),
    "loaded": sorted(m for m in ("torch", "torchvision") if m in sys.modules),
}))
"""


def detect_in_a_fresh_process(runtime: str, device: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, runtime, device], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("runtime", "device", "expected"),
    [
        ("auto", "cpu", "onnxruntime"),
        ("openvino-int8", "cpu", "openvino-int8"),
        ("onnxruntime", "cpu", "onnxruntime"),
        ("onnxruntime-int8", "cpu", "onnxruntime-int8"),
        ("openvino", "cpu", "openvino"),
        *([("openvino-bf16", "cpu", "openvino-bf16")] if NATIVE_BF16 else []),
    ],
)
def test_cpu_detection_imports_no_torch(runtime, device, expected):
    result = detect_in_a_fresh_process(runtime, device)
    assert result["runtime"] == expected
    assert result["faces"] == 1  # it did detect: the astronaut's face
    assert result["loaded"] == []


@pytest.mark.skipif(_driver_present(), reason="an NVIDIA driver is here: 'auto' asks torch about CUDA")
def test_auto_device_without_a_gpu_imports_no_torch():
    result = detect_in_a_fresh_process("auto", "auto")
    assert result["runtime"] == "onnxruntime" and result["faces"] == 1
    assert result["loaded"] == []


def test_the_torch_runtime_does_import_torch():
    """The check above can fail: the same process on the torch runtime shows torch loaded."""
    result = detect_in_a_fresh_process("torch", "cpu")
    assert result["runtime"] == "torch-cpu-fp32" and result["faces"] == 1
    assert result["loaded"] == ["torch"]
